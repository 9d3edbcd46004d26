"""`billsync connections ...` and `billsync flows ...` against sandboxes on free ports."""

from __future__ import annotations

import json
from pathlib import Path

from billsync.app import audit
from billsync.cli import app as cli
from tests.cli.conftest import RZP, TOGAI, Cli

ACCOUNT_TEMPLATE = "togai-account-to-razorpay-customer"


def test_connections_add_list_show_test_rotate_remove(run: Cli) -> None:
    togai_id, razorpay_id = run.add_connections()
    listed = run.json("connections", "list")
    assert [(c["app"], c["name"]) for c in listed] == [("razorpay", "Razorpay"), ("togai", "Togai")]
    table = run("connections", "list").stdout
    assert "Razorpay" in table and "webhook" in table.lower()
    shown = run.json("connections", "show", str(razorpay_id))
    assert shown["options"]["key_id"] == RZP.key_id
    every_output = run("connections", "show", str(razorpay_id)).stdout + json.dumps(listed)
    for secret in (RZP.key_secret, "cli-test-webhook-secret", TOGAI.token):
        assert secret not in every_output
    assert "OK" in run("connections", "test", str(togai_id)).stdout
    before = run.json("connections", "show", str(togai_id))["webhook_url"]
    rotated = run("connections", "rotate-secret", str(togai_id)).stdout
    after = run.json("connections", "show", str(togai_id))["webhook_url"]
    # show gives only the token's first characters; rotate-secret shows the new URL once.
    assert after != before and after.endswith("...")
    assert after.removesuffix("...") in rotated.replace("\n", "")
    run("connections", "rotate-secret", str(razorpay_id), "--webhook-secret", "fresh-secret")
    assert "removed" in run("connections", "remove", str(togai_id)).stdout
    missing = run("connections", "show", str(togai_id), ok=False)
    assert (missing.exit_code, "no connection" in missing.stderr) == (1, True)
    actions = [e.action for e in run.in_app(lambda app: audit.recent(app))]
    assert actions[:3] == [
        "connection.delete",
        "connection.rotate_webhook_secret",
        "connection.rotate_webhook_secret",
    ]


def test_connections_add_refuses_bad_credentials(run: Cli) -> None:
    result = run(
        "connections",
        "add",
        "togai",
        "T",
        "-v",
        "api_token=wrong",
        "-v",
        f"base_url={run.togai_url}",
        "-v",
        "sandbox=yes",
        ok=False,
    )
    assert result.exit_code == 1
    assert "error" in result.stderr
    assert run.json("connections", "list") == []


def test_connections_add_prompts_for_missing_secrets(run: Cli) -> None:
    result = run.runner.invoke(
        cli,
        [
            "connections",
            "add",
            "togai",
            "T",
            "-v",
            f"base_url={run.togai_url}",
            "-v",
            "sandbox=yes",
            "--db",
            str(run.db),
        ],
        input=f"{TOGAI.token}\n",
    )
    assert result.exit_code == 0, result.stderr
    assert TOGAI.token not in result.stdout
    assert run.json("connections", "list")[0]["name"] == "T"


def test_flows_lifecycle(run: Cli, tmp_path: Path) -> None:
    togai_id, razorpay_id = run.add_connections()
    keys = [t["key"] for t in run.json("flows", "templates")]
    assert ACCOUNT_TEMPLATE in keys
    created = run.json(
        "flows",
        "add",
        "--template",
        "razorpay-invoice-paid-to-togai",
        "-c",
        f"togai={togai_id}",
        "-c",
        f"razorpay={razorpay_id}",
        "--enable",
    )
    assert [f["template_key"] for f in created] == [
        "razorpay-invoice-paid-to-togai",
        "razorpay-invoice-partially-paid-to-togai",
    ]
    assert all(f["enabled"] for f in created)
    account = run.json(
        "flows",
        "add",
        "--template",
        ACCOUNT_TEMPLATE,
        "-c",
        f"togai={togai_id}",
        "-c",
        f"razorpay={razorpay_id}",
        "--name",
        "Accounts",
    )[0]
    flow_id = str(account["id"])
    assert len(run.json("flows", "list")) == 3
    assert run.json("flows", "show", flow_id)["definition"]["name"] == "Accounts"
    run("flows", "enable", flow_id)
    assert run.json("flows", "show", flow_id)["enabled"] is True
    run("flows", "disable", flow_id)
    assert run.json("flows", "show", flow_id)["enabled"] is False
    payload = tmp_path / "account.json"
    payload.write_text(
        json.dumps(
            {
                "account": {
                    "id": "acc_7",
                    "name": "Acme",
                    "primaryEmail": "billing@acme.example",
                    "address": {"phoneNumber": "+919999999999"},
                }
            }
        )
    )
    preview = run.json("flows", "preview", flow_id, "--payload", str(payload))
    assert preview["trigger_matched"] is True
    assert [s["status"] for s in preview["steps"]] == ["ok", "ok"]
    assert preview["steps"][0]["input"]["togai_account_id"] == "acc_7"
    with run.razorpay_http() as razorpay:
        assert razorpay.get("/v1/customers").json()["items"] == []
    assert "customer" in run("flows", "preview", flow_id, "--payload", str(payload)).stdout
    assert "removed" in run("flows", "remove", flow_id).stdout
    assert len(run.json("flows", "list")) == 2
    actions = [e.action for e in run.in_app(lambda app: audit.recent(app, limit=4))]
    assert actions == ["flow.delete", "flow.disable", "flow.enable", "flow.create"]


def test_flows_add_invalid_definition_names_every_field(run: Cli, tmp_path: Path) -> None:
    togai_id, razorpay_id = run.add_connections()
    bad = tmp_path / "flow.json"
    bad.write_text(
        json.dumps(
            {
                "name": "broken",
                "direction": "inbound",
                "trigger": {"connection_id": str(togai_id), "trigger": "account.created"},
                "steps": [
                    {"id": "a", "connection_id": str(razorpay_id), "action": "nope"},
                    {"id": "b", "connection_id": "99", "action": "create_customer"},
                ],
            }
        )
    )
    result = run("flows", "add", "--file", str(bad), ok=False)
    assert result.exit_code == 1
    for field in ("direction", "steps[0].action", "steps[1].connection_id"):
        assert f"error: {field}:" in result.stderr
    assert run.json("flows", "list") == []
    neither = run("flows", "add", ok=False)
    assert neither.exit_code == 2
