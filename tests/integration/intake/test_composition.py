"""The composition root's settings and the connection operations behind the webhook URLs."""

from __future__ import annotations

import pytest

from billsync import errors
from billsync.app import connections as connection_ops
from billsync.app import load_settings
from billsync.store import connections
from tests.integration.intake.conftest import WEBHOOK_SECRET, Env


def test_settings_come_from_the_environment_then_overrides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BILLSYNC_PORT", "9100")
    monkeypatch.setenv("BILLSYNC_POLL_INTERVAL", "5")
    settings = load_settings()
    assert (settings.port, settings.poll_interval) == (9100, 5.0)
    assert settings.public_url == "http://127.0.0.1:9100"

    overridden = load_settings(host="0.0.0.0", port=9200, database_url="sqlite+aiosqlite:///x.db")
    assert (overridden.host, overridden.port) == ("0.0.0.0", 9200)
    assert overridden.database_url == "sqlite+aiosqlite:///x.db"
    assert overridden.public_url == "http://127.0.0.1:9200"

    monkeypatch.setenv("BILLSYNC_PUBLIC_URL", "https://sync.example.com")
    assert load_settings(port=9300).public_url == "https://sync.example.com"


async def test_webhook_urls_and_secrets_at_rest(env: Env) -> None:
    togai = await connection_ops.get(env.app, env.togai_id)
    razorpay = await connection_ops.get(env.app, env.razorpay_id)
    assert togai is not None and razorpay is not None
    assert razorpay.webhook_url == f"http://billsync.test/webhooks/razorpay/{env.razorpay_id}"
    prefix = f"http://billsync.test/webhooks/togai/{env.togai_id}/"
    # The token was shown whole at creation; a later read shows only its first characters.
    token = env.togai_hook.rsplit("/", 1)[-1]
    assert len(token) >= 32
    assert togai.webhook_url == f"{prefix}{token[:4]}..."
    # secrets are not among the options a face may show
    assert "api_token" not in togai.options and "webhook_secret" not in razorpay.options
    async with env.app.db.read() as session:
        row = await connections.get(session, env.razorpay_id)
    assert row is not None
    assert WEBHOOK_SECRET not in row.secrets and "sandbox_secret" not in row.secrets
    assert connections.secret_values(env.app.vault, row)["webhook_secret"] == WEBHOOK_SECRET


async def test_credentials_are_verified_before_anything_is_saved(env: Env) -> None:
    with pytest.raises(errors.AuthError):
        await connection_ops.create(
            env.app,
            app_name="togai",
            name="Wrong token",
            values={"api_token": "not-the-token", "base_url": "https://togai.test"},
        )
    assert await connection_ops.find(env.app, "togai", "Wrong token") is None


async def test_missing_and_unknown_fields_are_refused(env: Env) -> None:
    with pytest.raises(connection_ops.InvalidConnectionError) as missing:
        await connection_ops.create(
            env.app, app_name="razorpay", name="No key", values={"key_id": "rzp_test_x"}
        )
    assert [field for field, _ in missing.value.problems] == ["key_secret"]
    with pytest.raises(connection_ops.InvalidConnectionError):
        await connection_ops.create(
            env.app, app_name="togai", name="Extra", values={"api_token": "t", "colour": "red"}
        )


async def test_ensure_reuses_an_unchanged_connection(env: Env) -> None:
    again = await connection_ops.ensure(
        env.app,
        app_name="togai",
        name="Togai",
        values={"api_token": "togai_sandbox_token", "base_url": "https://togai.test"},
    )
    assert again.id == env.togai_id
    assert again.webhook_url.endswith(env.togai_hook)
