"""The README stays true where a test can tell (issue #12, item 12): it opens with the two
set-up commands, every `billsync …` command it shows parses (known command, known options,
values of the right type), `make run` is the demo it describes, and every screenshot the
README and docs/ show exists, PNG, about 1280 px wide and small.

The walk-through itself is replayed against a real demo in tests/e2e/test_readme_walkthrough.py.
"""

from __future__ import annotations

import re
import shlex
import struct
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from billsync.cli import app

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
_FENCE = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)
_INLINE = re.compile(r"`(billsync [^`]+)`")
_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")


def _blocks(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _FENCE.finditer(text)]


def _shown_commands() -> list[list[str]]:
    """Each `billsync` command line in the README's sh blocks and inline code, as argv
    (comments, pipes and `[optional]` brackets dropped)."""
    text = README.read_text()
    lines = [
        line
        for language, body in _blocks(text)
        if language == "sh"
        for line in body.replace("\\\n", " ").splitlines()
    ]
    lines += _INLINE.findall(_FENCE.sub("", text))
    commands = []
    for line in lines:
        if not line.startswith(("billsync ", ".venv/bin/billsync ")):
            continue
        words = shlex.split(line.replace("[", "").replace("]", ""), comments=True)
        for end, word in enumerate(words):
            if word in ("|", ";", "&&"):
                words = words[:end]
                break
        if words and words[0] in ("billsync", ".venv/bin/billsync"):
            commands.append(words[1:])
    return commands


def _resolve(argv: list[str]) -> tuple[list[str], Any, list[str]]:
    """(command path, click command, the rest of argv)."""
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    rest = list(argv)
    while rest and rest[0] in getattr(command, "commands", {}):
        path.append(rest[0])
        command = command.commands[rest.pop(0)]
    return path, command, rest


COMMANDS = _shown_commands()


def test_the_readme_shows_commands() -> None:
    shown = {" ".join(_resolve(argv)[0]) for argv in COMMANDS}
    # the walk-through's commands and the production set-up's, at least
    assert {"demo", "runs list", "mappings show", "reconcile", "serve", "tokens create"} <= shown


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv))
def test_every_billsync_command_in_the_readme_parses(argv: list[str]) -> None:
    path, command, rest = _resolve(argv)
    assert path, f"not a billsync command: {argv}"
    assert not hasattr(command, "commands"), f"`billsync {' '.join(path)}` needs a sub-command"
    help_run = CliRunner().invoke(app, [*path, "--help"])
    assert help_run.exit_code == 0, help_run.output
    # Parsing validates the options and their values without running the command.
    with command.make_context(" ".join(["billsync", *path]), rest, resilient_parsing=False):
        pass


def test_the_readme_opens_with_the_two_set_up_commands() -> None:
    text = README.read_text()
    language, first = _blocks(text)[0]
    assert language == "sh"
    commands = [line.split("#", 1)[0].strip() for line in first.strip().splitlines()]
    assert commands == ["make run", "make test"]
    # nothing but the title and one sentence comes before them
    assert text.index("```") < text.index("\n## ")


def test_make_run_is_the_demo_the_readme_describes() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "billsync demo --seed 5" in recipe
    assert "`make run` (= `billsync demo --seed 5`)" in README.read_text()


def _pages() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def test_every_screenshot_shown_exists_and_is_a_small_png_1280_wide() -> None:
    shown: set[Path] = set()
    for page in _pages():
        for target in _IMAGE.findall(page.read_text()):
            path = (page.parent / target).resolve()
            assert path.is_file(), f"{page.name} shows {target}, which does not exist"
            shown.add(path)
    readme_images = set(_IMAGE.findall(README.read_text()))
    assert {
        f"docs/screenshots/{name}.png" for name in ("dashboard", "run", "wizard", "reconciliation")
    } <= readme_images
    for path in shown:
        width, _ = _png_size(path)
        assert width == 1280, f"{path.name} is {width} px wide"
        assert path.stat().st_size < 250_000, f"{path.name} is {path.stat().st_size} bytes"
