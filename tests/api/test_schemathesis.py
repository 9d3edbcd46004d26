"""Schemathesis over the whole OpenAPI schema with every check (`st run --checks all`, as
a user would run it) against billsync served on a real socket, with a valid admin token:
no 5xx, every status code, content type, header and body is the one the schema declares,
schema-violating requests are refused, schema-valid ones accepted, and undocumented
methods answer 405 with the right Allow header. Nothing is relaxed per operation
(schemathesis.toml says why each kind of refusal passes).

The one thing no schema can state is which credentials a provider accepts: the sandboxes
stand behind a transport that presents the sandbox's own credentials whatever the
connection holds, so fuzzed credentials are accepted as real ones would be (a refused
credential is 422, tested in test_connections.py). A bounded number of examples per
operation keeps it to a few minutes; BILLSYNC_SCHEMATHESIS_EXAMPLES and
BILLSYNC_SCHEMATHESIS_SEED change it."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from pydantic import SecretStr

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
from tests.api.conftest import RAZORPAY_VALUES, TOGAI_TOKEN, TOGAI_VALUES
from tests.servers import serve

HERE = Path(__file__).parent
EXAMPLES = os.environ.get("BILLSYNC_SCHEMATHESIS_EXAMPLES", "8")
SEED = os.environ.get("BILLSYNC_SCHEMATHESIS_SEED", "11")


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


class _AcceptAnyCredentials(httpx.ASGITransport):
    """A sandbox that takes any credentials: each request reaches it with its own."""

    def __init__(self, app: Any, authorization: str) -> None:
        super().__init__(app=app)
        self.authorization = authorization

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["Authorization"] = self.authorization
        return await super().handle_async_request(request)


def _settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_keys=SecretStr(Vault.generate_key()),
        public_url="http://billsync.test",
        # schemathesis presents a wrong token once per operation (ignored_auth), all from
        # 127.0.0.1: the throttle would answer 429 to the rest of the run (its own test is
        # test_auth.py).
        auth_failures=10_000,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """billsync's API on a real socket over a seeded SQLite file, and an admin token."""
    togai_app = togai_sandbox.create_app(togai_sandbox.TogaiSandboxConfig())
    razorpay_app = razorpay_sandbox.create_app(razorpay_sandbox.RazorpaySandboxConfig())

    def transport_for(connection: Connection) -> httpx.AsyncBaseTransport:
        if connection.app == "togai":
            return _AcceptAnyCredentials(togai_app, f"Bearer {TOGAI_TOKEN}")
        rzp = razorpay_sandbox.RazorpaySandboxConfig()
        basic = base64.b64encode(f"{rzp.key_id}:{rzp.key_secret}".encode()).decode()
        return _AcceptAnyCredentials(razorpay_app, f"Basic {basic}")

    url = f"sqlite+aiosqlite:///{quote(str(tmp_path / 'st.db'))}"
    app = build(_settings(url), clock=FakeClock(), transport_for=transport_for)
    token = asyncio.run(_seed(app))
    with serve(create_api(app, start_worker=False, start_poller=False)) as base:
        yield base, token


def test_api_conforms_to_its_schema_with_every_check(
    served: tuple[str, str], tmp_path: Path
) -> None:
    base, token = served
    command = [
        str(Path(sys.executable).parent / "st"),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        f"{base}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        EXAMPLES,
        "--seed",
        SEED,
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {token}",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=1200, check=False, cwd=tmp_path
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-30000:]
    assert "0 failures" in output or "No issues found" in output or "passed" in output, output
