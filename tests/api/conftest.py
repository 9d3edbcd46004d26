"""The API over a real store: an App on a fresh SQLite file (or a PostgreSQL schema), its
connections routed to in-process sandboxes, and an admin token."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from billsync.api.server import create_api
from billsync.app import App, build, tokens
from billsync.app import connections as connection_ops
from billsync.clock import FakeClock
from billsync.config import Settings
from billsync.domain import IncomingEvent
from billsync.sandbox import razorpay as razorpay_sandbox
from billsync.sandbox import togai as togai_sandbox
from billsync.store import events, leases, runs
from billsync.store.models import Connection
from billsync.store.vault import Vault

TOGAI_TOKEN = togai_sandbox.TogaiSandboxConfig().token
RZP = razorpay_sandbox.RazorpaySandboxConfig()
TOGAI_VALUES = {"api_token": TOGAI_TOKEN, "base_url": "https://togai.test"}
RAZORPAY_VALUES = {
    "key_id": RZP.key_id,
    "key_secret": RZP.key_secret,
    "webhook_secret": "api-test-webhook-secret",
    "base_url": "https://razorpay.test",
}


@dataclass
class Env:
    app: App
    api: FastAPI
    http: httpx.AsyncClient  #: authenticated with `token`
    anon: httpx.AsyncClient  #: no Authorization header
    token: str
    clock: FakeClock
    togai: Any
    razorpay: Any

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def connections(self) -> tuple[int, int]:
        """A Togai and a Razorpay connection (verified against the sandboxes)."""
        togai = await connection_ops.create(
            self.app, app_name="togai", name="Togai", values=TOGAI_VALUES
        )
        razorpay = await connection_ops.create(
            self.app, app_name="razorpay", name="Razorpay", values=RAZORPAY_VALUES
        )
        return togai.id, razorpay.id

    async def event_with_run(
        self,
        connection_id: int,
        flow_id: int,
        external_id: str,
        entity_key: str,
        payload: dict[str, Any] | None = None,
    ) -> tuple[int, int]:
        """A stored account.created event and its queued run (what intake would write)."""
        incoming = IncomingEvent(
            trigger="account.created",
            event_type="account.created",
            external_id=external_id,
            entity_key=entity_key,
            payload=payload or {"account": {"id": entity_key.split(":")[-1], "name": "Acme"}},
        )
        async with self.app.db.write() as session:
            event = await events.insert(session, connection_id, incoming, now=self.clock.now())
            assert event is not None
            run = await runs.create(
                session,
                flow_id=flow_id,
                flow_version=1,
                event_id=event.id,
                entity_key=entity_key,
                now=self.clock.now(),
            )
            assert run is not None
        return event.id, run.id

    async def fail_run(self, run_id: int, *, dead: bool = False) -> None:
        """Drive a queued run to failed (or dead), as a worker would."""
        async with self.app.db.write() as session:
            assert await leases.take_lease(
                session, run_id, owner="test", now=self.clock.now(), lease_seconds=60
            )
            assert await runs.fail(
                session, run_id, owner="test", now=self.clock.now(), error="boom", dead=dead
            )


async def _pg_url(base_url: str) -> tuple[str, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base_url)
    try:
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    finally:
        await admin.dispose()
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


async def _drop_pg_schema(base_url: str, schema: str) -> None:
    admin = create_async_engine(base_url)
    try:
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await admin.dispose()


async def make_env(database_url: str) -> AsyncIterator[Env]:
    togai_app = togai_sandbox.create_app(togai_sandbox.TogaiSandboxConfig())
    razorpay_app = razorpay_sandbox.create_app(RZP)

    def transport_for(connection: Connection) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(app=togai_app if connection.app == "togai" else razorpay_app)

    clock = FakeClock()
    settings = Settings(
        database_url=database_url,
        secret_keys=SecretStr(Vault.generate_key()),
        public_url="http://billsync.test",
    )
    app = build(settings, clock=clock, transport_for=transport_for)
    await app.migrate()
    _, token = await tokens.create(app, "tester")
    api = create_api(app, start_worker=False, start_poller=False)
    transport = httpx.ASGITransport(app=api)
    async with (
        httpx.AsyncClient(
            transport=transport,
            base_url="http://billsync.test",
            headers={"Authorization": f"Bearer {token}"},
        ) as http,
        httpx.AsyncClient(transport=transport, base_url="http://billsync.test") as anon,
    ):
        yield Env(app, api, http, anon, token, clock, togai_app, razorpay_app)
    await app.stop()
    await togai_app.aclose()
    await razorpay_app.aclose()


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async for value in make_env(f"sqlite+aiosqlite:///{quote(str(tmp_path / 'api.db'))}"):
        yield value


@pytest.fixture
async def pg_env(postgres_url: str) -> AsyncIterator[Env]:
    url, schema = await _pg_url(postgres_url)
    try:
        async for value in make_env(url):
            yield value
    finally:
        await _drop_pg_schema(postgres_url, schema)
