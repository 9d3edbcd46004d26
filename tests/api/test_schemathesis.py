"""Property-based run over the whole OpenAPI schema, in-process, with a valid admin token:
no 5xx, and every status code, content type and body is the one the schema declares."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis import checks

from billsync.api.server import create_api
from billsync.app import App, build, tokens
from billsync.app import connections as connection_ops
from billsync.app import flows as flow_ops
from billsync.clock import FakeClock
from billsync.config import Settings
from billsync.domain import IncomingEvent
from billsync.sandbox import razorpay as razorpay_sandbox
from billsync.sandbox import togai as togai_sandbox
from billsync.store import events, runs
from billsync.store.models import Connection
from billsync.store.vault import Vault
from tests.api.conftest import RAZORPAY_VALUES, TOGAI_VALUES

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


async def _seed(app: App) -> str:
    """Migrate, make a token and something for ids 1 to point at."""
    await app.migrate()
    _, token = await tokens.create(app, "schemathesis")
    togai = await connection_ops.create(app, app_name="togai", name="T", values=TOGAI_VALUES)
    razorpay = await connection_ops.create(
        app, app_name="razorpay", name="R", values=RAZORPAY_VALUES
    )
    flow = await flow_ops.create_from_template(
        app, "togai-account-to-razorpay-customer", {"togai": togai.id, "razorpay": razorpay.id}
    )
    incoming = IncomingEvent(
        trigger="account.created",
        event_type="account.created",
        external_id="e1",
        entity_key="togai-account:a1",
        payload={"account": {"id": "a1"}},
    )
    async with app.db.write() as session:
        event = await events.insert(session, togai.id, incoming, now=app.clock.now())
        assert event is not None
        await runs.create(
            session,
            flow_id=flow.id,
            flow_version=1,
            event_id=event.id,
            entity_key="togai-account:a1",
            now=app.clock.now(),
        )
    # The requests run on the test client's own event loop: no pooled connection may
    # outlive this one.
    await app.db.dispose()
    return token


def _settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_keys=SecretStr(Vault.generate_key()),
        public_url="http://billsync.test",
    )


def _without_lifespan(api: Any) -> Any:
    """The API with lifespan acknowledged but not run: the test client opens one per call,
    and the App (migrated by the fixture) must not start or stop its loops each time."""

    async def wrapper(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await api(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    return wrapper


# The schema comes from an App that is never started (building one does no I/O).
schema = schemathesis.openapi.from_dict(
    create_api(build(_settings("sqlite+aiosqlite://"))).openapi()
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """An admin token and the API over a seeded SQLite file."""
    togai_app = togai_sandbox.create_app(togai_sandbox.TogaiSandboxConfig())
    razorpay_app = razorpay_sandbox.create_app(razorpay_sandbox.RazorpaySandboxConfig())

    def transport_for(connection: Connection) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(app=togai_app if connection.app == "togai" else razorpay_app)

    url = f"sqlite+aiosqlite:///{quote(str(tmp_path / 'st.db'))}"
    app = build(_settings(url), clock=FakeClock(), transport_for=transport_for)
    token = asyncio.run(_seed(app))
    yield token, _without_lifespan(create_api(app, start_worker=False, start_poller=False))
    asyncio.run(app.db.dispose())


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, served: tuple[str, Any]) -> None:
    token, api = served
    case.call_and_validate(app=api, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
