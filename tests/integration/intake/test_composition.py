"""The composition root's settings and the connection operations behind the webhook URLs."""

from __future__ import annotations

import pytest

from billsync import errors
from billsync.app import build, load_settings
from billsync.app import connections as connection_ops
from billsync.app.root import listening_url
from billsync.config import Settings
from billsync.store import connections
from tests.integration.intake.conftest import WEBHOOK_SECRET, Env


def test_settings_come_from_the_environment_then_overrides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BILLSYNC_PORT", "9100")
    monkeypatch.setenv("BILLSYNC_POLL_INTERVAL", "5")
    settings = load_settings()
    assert (settings.port, settings.poll_interval) == (9100, 5.0)
    # Not configured: the public URL is the listening address (App.public_url picks it).
    assert "public_url" not in settings.model_fields_set
    assert listening_url(settings) == "http://127.0.0.1:9100"

    overridden = load_settings(host="0.0.0.0", port=9200, database_url="sqlite+aiosqlite:///x.db")
    assert (overridden.host, overridden.port) == ("0.0.0.0", 9200)
    assert overridden.database_url == "sqlite+aiosqlite:///x.db"
    assert listening_url(overridden) == "http://127.0.0.1:9200"
    assert "public_url" not in overridden.model_fields_set

    monkeypatch.setenv("BILLSYNC_PUBLIC_URL", "https://sync.example.com")
    configured = load_settings(port=9300)
    assert "public_url" in configured.model_fields_set
    assert configured.public_url == "https://sync.example.com"


async def test_public_url_is_configured_then_served_then_listening(env: Env) -> None:
    """BILLSYNC_PUBLIC_URL > the URL the running/last serve recorded > the listening one."""
    unset = Settings(
        database_url=env.app.settings.database_url,
        secret_keys=env.app.settings.secret_keys,
        port=9400,
    )
    app = build(unset)
    try:
        assert app.public_url == "http://127.0.0.1:9400"
        await app.load_served_url()
        assert app.served_url is None and app.public_url == "http://127.0.0.1:9400"
        # env.app was built with public_url="http://billsync.test"; a serving process
        # records its public URL when it starts (hints on: it takes webhooks).
        await env.app._record_served_url()
        await app.load_served_url()
        assert app.public_url == "http://billsync.test"
        configured = build(unset.model_copy(update={"public_url": "https://sync.example.com/"}))
        try:
            await configured.load_served_url()
            assert configured.public_url == "https://sync.example.com"
        finally:
            await configured.stop()
    finally:
        await app.stop()


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
