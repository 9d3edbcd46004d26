"""`billsync tokens` and `billsync keys rotate` on a temp SQLite database."""

from __future__ import annotations

from billsync.app import audit, tokens
from tests.cli.conftest import Cli


def test_create_list_revoke(run: Cli) -> None:
    created = run("tokens", "create", "ci")
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("bst_")
    listed = run.json("tokens", "list")
    assert [t["name"] for t in listed] == ["ci"]
    assert token not in run("tokens", "list").stdout
    assert run.in_app(lambda app: tokens.authenticate(app, token)) == "ci"
    assert "ci" in run("tokens", "revoke", "ci").stdout
    assert run.in_app(lambda app: tokens.authenticate(app, token)) is None
    again = run("tokens", "revoke", "ci", ok=False)
    assert again.exit_code == 1
    assert "no live token" in again.stderr
    duplicate = run("tokens", "create", "ci", ok=False)
    assert duplicate.exit_code == 1
    entries = run.in_app(lambda app: audit.recent(app))
    assert [(e.actor, e.action) for e in entries] == [
        ("cli", "token.revoke"),
        ("cli", "token.create"),
    ]


def test_json_create_shows_the_token_once(run: Cli) -> None:
    body = run.json("tokens", "create", "robot")
    assert body["name"] == "robot"
    assert body["token"].startswith("bst_")


def test_keys_rotate_reencrypts_every_connection(run: Cli) -> None:
    togai_id, razorpay_id = run.add_connections()
    key_file = run.db.parent / "billsync.key"
    first = key_file.read_text().split()
    report = run.json("keys", "rotate")
    assert report["rows"] == 2
    keys = key_file.read_text().split()
    assert len(keys) == 2 and keys[1] == first[0]
    assert (key_file.stat().st_mode & 0o777) == 0o600
    # Secrets still decrypt: the stored credentials still work.
    for connection_id in (togai_id, razorpay_id):
        assert run.json("connections", "test", str(connection_id))["ok"] is True
    retired = run.json("keys", "rotate", "--retire-old")
    assert retired["retired"] == 2
    assert key_file.read_text().split() == [key_file.read_text().split()[0]]
    assert run.json("connections", "test", str(togai_id))["ok"] is True
    actions = [e.action for e in run.in_app(lambda app: audit.recent(app, limit=2))]
    assert actions == ["vault.rotate", "vault.rotate"]
