"""Flows and their immutable versions. A run pins the version it started with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.store import prepared
from billsync.store.models import Flow, FlowVersion


async def create(
    session: AsyncSession,
    *,
    name: str,
    definition: Mapping[str, Any],
    now: datetime,
    enabled: bool = False,
    template_key: str | None = None,
) -> Flow:
    flow = Flow(
        name=name,
        enabled=enabled,
        current_version=1,
        template_key=template_key,
        created_at=now,
        updated_at=now,
    )
    session.add(flow)
    await session.flush()
    session.add(
        FlowVersion(flow_id=flow.id, version=1, definition=dict(definition), created_at=now)
    )
    await session.flush()
    return flow


async def add_version(
    session: AsyncSession,
    flow_id: int,
    *,
    definition: Mapping[str, Any],
    now: datetime,
    name: str | None = None,
) -> FlowVersion | None:
    """Store a new version and make it current; runs already created keep theirs."""
    flow = await session.get(Flow, flow_id, with_for_update=True)
    if flow is None:
        return None
    latest = await session.scalar(
        sa.select(sa.func.max(FlowVersion.version)).where(FlowVersion.flow_id == flow_id)
    )
    version = FlowVersion(
        flow_id=flow_id, version=(latest or 0) + 1, definition=dict(definition), created_at=now
    )
    session.add(version)
    flow.current_version = version.version
    if name is not None:
        flow.name = name
    flow.updated_at = now
    await session.flush()
    return version


async def get(session: AsyncSession, flow_id: int) -> Flow | None:
    return await session.get(Flow, flow_id)


async def by_name(session: AsyncSession, name: str) -> Flow | None:
    return (await session.execute(sa.select(Flow).where(Flow.name == name))).scalar_one_or_none()


async def list_all(session: AsyncSession) -> Sequence[Flow]:
    return (await session.execute(sa.select(Flow).order_by(Flow.id))).scalars().all()


#: What identifies one stored flow version for good: (row id, created_at).
VersionStamp = tuple[int, datetime]

# The hot-path statements are built once, with named parameters (see store/leases.py).
_FLOW: sa.Table = Flow.__table__  # type: ignore[assignment]  # declarative maps a Table
_VERSION: sa.Table = FlowVersion.__table__  # type: ignore[assignment]

_VERSION_STAMP = sa.select(_VERSION.c.id, _VERSION.c.created_at).where(
    _VERSION.c.flow_id == sa.bindparam("flow_id"), _VERSION.c.version == sa.bindparam("version")
)

_ENABLED_CURRENT_STAMPS = (
    sa.select(_FLOW.c.id, _VERSION.c.version, _VERSION.c.id, _VERSION.c.created_at)
    .join(_VERSION, _VERSION.c.flow_id == _FLOW.c.id)
    .where(_FLOW.c.enabled.is_(True), _VERSION.c.version == _FLOW.c.current_version)
    .order_by(_FLOW.c.id)
)


async def version_stamp(session: AsyncSession, flow_id: int, version: int) -> VersionStamp | None:
    """The version row's id and creation time, without loading its definition."""
    result = await prepared.run(session, _VERSION_STAMP, {"flow_id": flow_id, "version": version})
    row = result.first()
    return None if row is None else (int(row[0]), row[1])


async def get_version(session: AsyncSession, flow_id: int, version: int) -> FlowVersion | None:
    stmt = sa.select(FlowVersion).where(
        FlowVersion.flow_id == flow_id, FlowVersion.version == version
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def versions(session: AsyncSession, flow_id: int) -> Sequence[FlowVersion]:
    stmt = (
        sa.select(FlowVersion)
        .where(FlowVersion.flow_id == flow_id)
        .order_by(FlowVersion.version.desc())
    )
    return (await session.execute(stmt)).scalars().all()


async def current(session: AsyncSession, flow_id: int) -> tuple[Flow, FlowVersion] | None:
    stmt = (
        sa.select(Flow, FlowVersion)
        .join(FlowVersion, FlowVersion.flow_id == Flow.id)
        .where(Flow.id == flow_id, FlowVersion.version == Flow.current_version)
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else (row[0], row[1])


async def enabled_current(session: AsyncSession) -> Sequence[tuple[Flow, FlowVersion]]:
    """Every enabled flow with its current version: what intake matches events against."""
    stmt = (
        sa.select(Flow, FlowVersion)
        .join(FlowVersion, FlowVersion.flow_id == Flow.id)
        .where(Flow.enabled.is_(True), FlowVersion.version == Flow.current_version)
        .order_by(Flow.id)
    )
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


async def enabled_current_stamps(session: AsyncSession) -> list[tuple[int, int, VersionStamp]]:
    """`enabled_current` without the definitions: (flow id, version, version stamp)."""
    rows = (await prepared.run(session, _ENABLED_CURRENT_STAMPS, {})).all()
    return [(int(r[0]), int(r[1]), (int(r[2]), r[3])) for r in rows]


async def definition_of(session: AsyncSession, version_id: int) -> dict[str, Any] | None:
    stmt = sa.select(FlowVersion.definition).where(FlowVersion.id == version_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def set_enabled(
    session: AsyncSession, flow_id: int, enabled: bool, *, now: datetime
) -> Flow | None:
    flow = await session.get(Flow, flow_id)
    if flow is None:
        return None
    flow.enabled = enabled
    flow.updated_at = now
    await session.flush()
    return flow
