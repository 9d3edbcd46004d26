"""The shipped registry and `billsync apps` (text and --json)."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from billsync.cli import apps
from billsync.connectors import catalogue

# The command on its own Typer app: its output, independent of the other command groups.
cli_app = typer.Typer()
cli_app.command("apps")(apps.apps)
cli_app.command("other")(lambda: None)  # two commands, so "apps" stays a subcommand


def test_default_registry_lists_togai_then_razorpay_fresh_each_call() -> None:
    registry = catalogue.default_registry()
    assert [a.name for a in registry.apps] == ["togai", "razorpay"]
    assert registry.app("togai").action("record_payment").key == "record_payment"
    assert catalogue.default_registry() == registry


def test_every_action_and_trigger_has_a_one_line_description() -> None:
    for app in catalogue.default_registry().apps:
        for item in (*app.triggers, *app.actions):
            assert item.description and "\n" not in item.description, (app.name, item.key)


def test_apps_command_prints_apps_triggers_and_actions() -> None:
    result = CliRunner().invoke(cli_app, ["apps"])
    assert result.exit_code == 0, result.output
    assert "togai: Togai." in result.output
    assert "razorpay: Razorpay." in result.output
    for line in ("invoice.generated", "record_payment", "create_customer", "invoice.paid"):
        assert line in result.output
    assert "api_token (secret)" in result.output


def test_apps_command_json() -> None:
    result = CliRunner().invoke(cli_app, ["apps", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    togai = next(a for a in data if a["name"] == "togai")
    assert [t["key"] for t in togai["triggers"]] == [
        "account.created",
        "invoice.generated",
        "invoice.voided",
    ]
    assert all(t["polling"] and t["webhook"] for t in togai["triggers"])
    record = next(a for a in togai["actions"] if a["key"] == "record_payment")
    assert record["writes"] is True
    assert record["input"][:3] == ["razorpay_payment_id", "amount", "currency"]
    assert record["default_input"]["razorpay_payment_id"] == "event.payment.id"
    assert togai["webhook_signature"] is False
    assert next(f for f in togai["fields"] if f["name"] == "payment_mode")["choices"] == [
        "payments",
        "legacy_patch",
    ]
