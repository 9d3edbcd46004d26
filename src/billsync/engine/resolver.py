"""Resolving steps: a step's connection, app and action, and the steps after the current one.

The steps ahead are resolved so that a transaction the caller already holds (a step's
result, or the read of a run) can also record what comes next: the following steps whose
`when` is false as skipped, and the attempt of the first one that runs, with its input
resolved from the outputs so far. That attempt is durable before its call, as every attempt
is (engine/attempts.py), without a transaction of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from billsync import errors
from billsync.connectors import spec
from billsync.engine import attempts
from billsync.engine.clients import ClientCache
from billsync.engine.flow import StepDef
from billsync.engine.inputs import resolve_step_input, step_applies
from billsync.store import connections, steps
from billsync.store.database import Database
from billsync.store.models import Connection
from billsync.store.status import StepStatus

WHEN_FALSE = "skipped: `when` is false"


@dataclass(frozen=True)
class Begun:
    """A step whose attempt is already recorded, ready to call."""

    idx: int
    connection: Connection
    app: spec.AppSpec
    action: spec.ActionSpec
    data: BaseModel
    input_json: dict[str, Any]
    attempt: attempts.Attempt


@dataclass
class Ahead:
    """The steps after the current one: those skipped, then the first that runs."""

    skips: list[tuple[int, StepDef]] = field(default_factory=list)
    begin: tuple[int, StepDef, Connection, spec.AppSpec, spec.ActionSpec, BaseModel] | None = None


class StepResolver:
    def __init__(self, db: Database, registry: spec.Registry, clients: ClientCache) -> None:
        self._db = db
        self._registry = registry
        self._clients = clients

    async def resolve(
        self, step: StepDef, session: AsyncSession | None = None
    ) -> tuple[Connection, spec.AppSpec, spec.ActionSpec]:
        """The step's connection (through the cache), app and action. `session`: the
        caller's open transaction, to read a connection missing from the cache through."""
        connection: Connection | None = None
        if step.connection_id.isdigit():
            connection_id = int(step.connection_id)
            connection = self._clients.cached_row(connection_id)
            if connection is None and session is not None:
                # Inside the caller's transaction: a second pooled connection per task
                # would deadlock a pool smaller than the worker's slots.
                connection = await connections.get(session, connection_id)
            elif connection is None:
                async with self._db.read() as own:
                    connection = await connections.get(own, connection_id)
            if connection is not None:
                self._clients.remember_row(connection)
        if connection is None:
            raise errors.ConfigError(f"connection {step.connection_id} no longer exists")
        try:
            app = self._registry.app(connection.app)
            action = app.action(step.action)
        except KeyError as exc:
            raise errors.ConfigError(
                f"{connection.app} has no action {step.action!r} in this version"
            ) from exc
        return connection, app, action

    async def look_ahead(
        self,
        upcoming: Sequence[tuple[int, StepDef]],
        payload: Mapping[str, Any],
        outputs: Mapping[str, Any],
        session: AsyncSession | None = None,
    ) -> Ahead:
        """Which of `upcoming` (new steps, in order) are skipped, and the first one that
        runs, resolved. A step whose condition or input fails to resolve ends the
        lookahead: executing it the ordinary way records that error on its own attempt."""
        ahead = Ahead()
        scope = dict(outputs)
        for idx, step in upcoming:
            try:
                if not step_applies(step, payload, scope):
                    ahead.skips.append((idx, step))
                    scope[step.id] = None
                    continue
                connection, app, action = await self.resolve(step, session)
                data = resolve_step_input(step, action, payload, scope)
            except Exception:
                return ahead
            ahead.begin = (idx, step, connection, app, action, data)
            return ahead
        return ahead

    async def record(
        self, session: AsyncSession, run_id: int, owner: str, ahead: Ahead, *, now: datetime
    ) -> tuple[tuple[str, ...], Begun | None]:
        """In the caller's transaction, which has checked the lease: the skips, then the
        next attempt. Returns the skipped step ids and the begun step."""
        for idx, step in ahead.skips:
            await save_skip(session, run_id, idx, step, now=now)
        skipped = tuple(step.id for _, step in ahead.skips)
        if ahead.begin is None:
            return skipped, None
        idx, step, connection, app, action, data = ahead.begin
        input_json = data.model_dump(mode="json")
        attempt = await attempts.begin(
            session,
            run_id,
            idx,
            owner=owner,
            step_id=step.id,
            action=f"{app.name}.{action.key}",
            connection_id=connection.id,
            input_json=input_json,
            now=now,
            new_step=True,
            lease_checked=True,
        )
        assert attempt is not None  # the caller checked the lease in this transaction
        return skipped, Begun(idx, connection, app, action, data, input_json, attempt)


async def save_skip(
    session: AsyncSession,
    run_id: int,
    idx: int,
    step: StepDef,
    *,
    now: datetime,
    reason: str = WHEN_FALSE,
    connection_id: int | None = None,
) -> None:
    await steps.save(
        session,
        run_id,
        idx,
        step_id=step.id,
        action=step.action,
        connection_id=connection_id,
        status=StepStatus.SKIPPED,
        error=reason,
        now=now,
        finished=True,
    )
