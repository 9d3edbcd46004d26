"""What the CLI says when something is wrong (issue #12, item 6)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from billsync.cli import app as cli
from tests.cli.conftest import Cli
from tests.docs_examples import flow_examples


def test_unknown_connection_field_is_reported_before_any_prompt(tmp_path: Path) -> None:
    db = tmp_path / "billsync.db"
    # No input: a prompt would read end of file and abort with a different message.
    result = CliRunner(env={"COLUMNS": "400"}).invoke(
        cli, ["connections", "add", "togai", "T", "-v", "api_tokn=abc", "--db", str(db)]
    )
    assert result.exit_code == 1
    assert "togai has no connection field 'api_tokn': did you mean 'api_token'?" in result.stderr
    assert "API token" not in result.output  # the secret prompt's label
    assert not db.exists()


def test_unknown_app_is_reported_before_any_prompt(tmp_path: Path) -> None:
    db = tmp_path / "billsync.db"
    result = CliRunner(env={"COLUMNS": "400"}).invoke(
        cli, ["connections", "add", "stripe", "S", "--db", str(db)]
    )
    assert result.exit_code == 1
    assert "unknown app 'stripe' (apps: togai, razorpay)" in result.stderr
    assert not db.exists()


def test_base_url_ending_in_v1_gets_a_hint(run: Cli) -> None:
    result = run(
        "connections",
        "add",
        "togai",
        "Togai",
        "-v",
        "api_token=togai_sandbox_token",
        "-v",
        f"base_url={run.togai_url}/v1",
        "-v",
        "sandbox=yes",
        ok=False,
    )
    assert result.exit_code == 1
    assert "remove '/v1' from the end of base_url" in result.stderr
    assert "togai verify: Not Found" not in result.stderr


def test_mappings_show_says_nothing_matched(run: Cli) -> None:
    run.create_database()
    result = run("mappings", "show", "NOPE", ok=False)
    assert result.exit_code == 1
    assert "no mapping matches 'NOPE'" in result.stderr
    as_json = run("mappings", "show", "NOPE", "--json", ok=False)
    assert as_json.exit_code == 1
    assert as_json.stdout.strip() == "[]"


def test_flows_add_takes_every_docs_example_in_both_shapes(run: Cli, tmp_path: Path) -> None:
    examples = flow_examples()
    assert examples
    assert run.add_connections() == (1, 2)  # the ids the examples bind
    for where, example in examples:
        bare = tmp_path / "bare.json"
        bare.write_text(json.dumps(example))
        created = run.json("flows", "add", "-f", str(bare))
        assert created[0]["definition"]["name"] == example["name"], where
        run("flows", "remove", str(created[0]["id"]))
        wrapped = tmp_path / "wrapped.json"
        wrapped.write_text(json.dumps({"definition": example, "enabled": True}))
        created = run.json("flows", "add", "-f", str(wrapped))
        assert created[0]["enabled"] is True, where
        run("flows", "remove", str(created[0]["id"]))
