"""store.prepared.run: the SQLite shortcut returns what session.execute returns, raises
SQLAlchemy's exceptions, sees pending ORM changes, and falls back where it must."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from billsync.store import prepared
from billsync.store.database import Database
from billsync.store.models import AuditLog

_LOG: sa.Table = AuditLog.__table__  # type: ignore[assignment]
_INSERT = sa.insert(_LOG).returning(_LOG.c.id)
_RENAME = sa.update(_LOG).where(_LOG.c.actor == sa.bindparam("old")).values(actor=sa.bindparam("b"))
_ACTORS = (
    sa.select(_LOG.c.id, _LOG.c.actor)
    .where(_LOG.c.action == sa.bindparam("action"))
    .order_by(_LOG.c.id)
)
_IN = sa.select(_LOG.c.id).where(_LOG.c.id.in_(sa.bindparam("ids", expanding=True)))
_AT = sa.select(_LOG.c.at, _LOG.c.detail).where(_LOG.c.id == sa.bindparam("id"))
#: an IN list whose values are part of the statement
_FIXED_IN = sa.select(_LOG.c.id).where(_LOG.c.actor.in_(["amy", "bob"])).order_by(_LOG.c.id)


def _row(actor: str, action: str = "a") -> dict[str, object]:
    return {
        "at": datetime(2026, 11, 26, 12, tzinfo=UTC),
        "actor": actor,
        "action": action,
        "target": "t",
        "detail": {"k": [1, "two"]},
    }


async def test_results_match_session_execute(db: Database) -> None:
    async with db.write() as session:
        first = (await prepared.run(session, _INSERT, _row("ann"))).scalar_one()
        second = (await prepared.run(session, _INSERT, _row("bob"))).scalar_one()
        renamed = await prepared.run(session, _RENAME, {"old": "ann", "b": "amy"})
        assert renamed.rowcount == 1
        missing = await prepared.run(session, _RENAME, {"old": "nobody", "b": "x"})
        assert missing.rowcount == 0
    async with db.read() as session:
        result = await prepared.run(session, _ACTORS, {"action": "a"})
        # the shortcut, on sqlite3 or psycopg
        assert isinstance(result, prepared.Rows)
        fast = result.all()
        slow = (await session.execute(_ACTORS, {"action": "a"})).all()
        assert (
            [tuple(r) for r in fast]
            == [tuple(r) for r in slow]
            == [(first, "amy"), (second, "bob")]
        )
        # IN lists the caller passes take the regular path; same answers
        in_list = await prepared.run(session, _IN, {"ids": [second]})
        assert not isinstance(in_list, prepared.Rows)
        assert list(in_list.scalars().all()) == [second]
        # IN lists fixed in the statement and converted columns take the shortcut
        fixed = await prepared.run(session, _FIXED_IN, {})
        assert isinstance(fixed, prepared.Rows)
        assert fixed.scalars().all() == [first, second]  # scalars, not 1-tuples
        at = await prepared.run(session, _AT, {"id": first})
        assert isinstance(at, prepared.Rows)
        assert tuple(at.first()) == (
            datetime(2026, 11, 26, 12, tzinfo=UTC),
            {"k": [1, "two"]},
        )
        # JSON written through the shortcut reads back through the ORM
        [entry] = (await session.execute(sa.select(AuditLog).where(AuditLog.id == first))).scalars()
        assert entry.detail == {"k": [1, "two"]}


async def test_errors_are_sqlalchemy_errors_and_roll_back(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            await prepared.run(session, _INSERT, _row("kept?"))
            await prepared.run(session, _INSERT, {**_row("bad"), "actor": None})
    async with db.read() as session:
        assert (await prepared.run(session, _ACTORS, {"action": "a"})).all() == []


async def test_pending_orm_changes_are_flushed_first(db: Database) -> None:
    async with db.write() as session:
        session.add(AuditLog(**_row("pending", action="p")))
        rows = (await prepared.run(session, _ACTORS, {"action": "p"})).all()
        assert [r[1] for r in rows] == ["pending"]
