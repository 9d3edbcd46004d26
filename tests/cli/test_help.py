"""`--help` of every command reads as a user types it: no `<bool>` on flags, no `<list[str]>`."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from billsync.cli import app


def _command_paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths: list[list[str]] = [[]]

    def walk(command: Any, prefix: list[str]) -> None:
        # Typer 0.29 ships its own copy of click: a group is whatever has sub-commands.
        for name, sub in getattr(command, "commands", {}).items():
            paths.append([*prefix, name])
            walk(sub, [*prefix, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "billsync")
def test_help_has_no_python_type_placeholders(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "<list[" not in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80


def test_flags_show_no_type_but_valued_options_do() -> None:
    result = CliRunner().invoke(app, ["flows", "add", "--help"], env={"COLUMNS": "100"})
    lines = {
        line.split()[1]: line for line in result.output.splitlines() if line.startswith("│ --")
    }
    assert "<" not in lines["--json"]
    assert "<str>" in lines["--connection"]
    assert "<path>" in lines["--file"]
