"""Flows, mappings, cursors, tokens and the audit log round-trip on both backends."""

from __future__ import annotations

from datetime import UTC

import pytest
from sqlalchemy.exc import IntegrityError

from billsync.clock import FakeClock
from billsync.domain import IdLink, LinkKind, Side
from billsync.store import audit, cursors, flows, mappings, tokens
from billsync.store.database import Database
from billsync.store.vault import Vault
from tests.integration.store import seed


async def test_flow_versions_are_immutable_and_current_moves(
    db: Database, clock: FakeClock
) -> None:
    async with db.write() as session:
        flow = await flows.create(session, name="outbound", definition={"v": 1}, now=clock.now())
        v2 = await flows.add_version(session, flow.id, definition={"v": 2}, now=clock.now())
        assert v2 is not None and v2.version == 2
        await flows.set_enabled(session, flow.id, True, now=clock.now())
    async with db.read() as session:
        current = await flows.current(session, flow.id)
        assert current is not None and current[1].definition == {"v": 2}
        v1 = await flows.get_version(session, flow.id, 1)
        assert v1 is not None and v1.definition == {"v": 1}
        assert [f.id for f, _ in await flows.enabled_current(session)] == [flow.id]
        assert [v.version for v in await flows.versions(session, flow.id)] == [2, 1]


async def test_mapping_is_unique_on_each_side(db: Database, clock: FakeClock) -> None:
    link = IdLink(LinkKind.ACCOUNT_CUSTOMER, "acc_1", "cust_1")
    async with db.write() as session:
        assert await mappings.insert_new(session, link, run_id=None, now=clock.now())
        assert not await mappings.insert_new(session, link, run_id=None, now=clock.now())
        other = IdLink(LinkKind.ACCOUNT_CUSTOMER, "acc_1", "cust_2")
        assert not await mappings.insert_new(session, other, run_id=None, now=clock.now())
        # The same ids under another kind are a different mapping.
        assert await mappings.insert_new(
            session,
            IdLink(LinkKind.INVOICE_INVOICE, "acc_1", "cust_1"),
            run_id=None,
            now=clock.now(),
        )
    async with db.read() as session:
        assert await mappings.find(session, LinkKind.ACCOUNT_CUSTOMER, Side.TOGAI, "acc_1") == (
            "cust_1"
        )
        assert await mappings.find(session, LinkKind.ACCOUNT_CUSTOMER, Side.RAZORPAY, "cust_1") == (
            "acc_1"
        )
        assert await mappings.find(session, LinkKind.ACCOUNT_CUSTOMER, Side.TOGAI, "acc_9") is None
        assert len(await mappings.touching(session, other)) == 1


async def test_cursor_upsert(db: Database, vault: Vault, clock: FakeClock) -> None:
    conn_id = await seed.connection(db, vault, clock)
    async with db.write() as session:
        assert await cursors.get(session, conn_id, "invoice.generated") is None
        await cursors.put(session, conn_id, "invoice.generated", {"after": "1"}, now=clock.now())
    async with db.write() as session:
        await cursors.put(session, conn_id, "invoice.generated", {"after": "2"}, now=clock.now())
    async with db.read() as session:
        assert await cursors.get(session, conn_id, "invoice.generated") == {"after": "2"}


async def test_tokens_store_only_a_digest(db: Database, clock: FakeClock) -> None:
    async with db.write() as session:
        row, token = await tokens.create(session, "ci", now=clock.now())
        assert token.startswith(tokens.TOKEN_PREFIX) and token not in row.token_hash
    clock.advance(5)
    async with db.write() as session:
        used = await tokens.authenticate(session, token, now=clock.now())
        assert used is not None and used.last_used_at == clock.now()
        assert await tokens.authenticate(session, token + "x", now=clock.now()) is None
        assert await tokens.revoke(session, "ci", now=clock.now())
    async with db.write() as session:
        assert await tokens.authenticate(session, token, now=clock.now()) is None
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            await tokens.create(session, "ci", now=clock.now())


async def test_audit_log_keeps_timestamps_in_utc(db: Database, clock: FakeClock) -> None:
    async with db.write() as session:
        await audit.record(
            session,
            actor="cli",
            action="flow.enable",
            target="flow:1",
            detail={"enabled": True},
            now=clock.now(),
        )
    async with db.read() as session:
        (entry,) = await audit.list_recent(session)
    assert entry.at == clock.now() and entry.at.tzinfo == UTC
    assert entry.detail == {"enabled": True}
