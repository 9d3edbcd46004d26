"""Rows the store and engine tests build on."""

from __future__ import annotations

from typing import Any

from billsync.clock import FakeClock
from billsync.domain import IncomingEvent
from billsync.store import connections, events, flows, runs
from billsync.store.database import Database
from billsync.store.models import Run
from billsync.store.vault import Vault


async def connection(db: Database, vault: Vault, clock: FakeClock, app: str = "togai") -> int:
    async with db.write() as session:
        row = await connections.create(
            session, vault, app=app, name=f"{app}-main", secrets={"api_key": "x"}, now=clock.now()
        )
        return row.id


async def flow(
    db: Database, clock: FakeClock, name: str = "f", definition: dict[str, Any] | None = None
) -> int:
    async with db.write() as session:
        row = await flows.create(
            session,
            name=name,
            definition=definition or {"steps": []},
            enabled=True,
            now=clock.now(),
        )
        return row.id


async def queued_run(
    db: Database,
    clock: FakeClock,
    *,
    connection_id: int,
    flow_id: int,
    external_id: str,
    entity_key: str,
    payload: dict[str, Any] | None = None,
) -> Run:
    incoming = IncomingEvent(
        trigger="account.created",
        event_type="account.created",
        external_id=external_id,
        entity_key=entity_key,
        payload=payload or {},
    )
    async with db.write() as session:
        event = await events.insert(session, connection_id, incoming, now=clock.now())
        assert event is not None
        run = await runs.create(
            session,
            flow_id=flow_id,
            flow_version=1,
            event_id=event.id,
            entity_key=entity_key,
            now=clock.now(),
        )
        assert run is not None
        return run
