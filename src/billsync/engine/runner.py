"""Execute one run: lease it, run each step not yet done, record every attempt.

Run state machine (the table is `billsync.store.status.RUN_TRANSITIONS`; the store's
conditional UPDATEs are the only code that changes a run's status):

    queued ──lease──► running ──all steps succeeded/skipped──► succeeded
    retry_wait ──due, lease──► running
    running ──retryable error──► retry_wait (next_attempt_at = now + backoff/Retry-After)
    running ──permanent error──► failed          failed | dead ──replay──► queued
    running ──retries exhausted─► dead           queued | retry_wait ──cancel──► cancelled
    running ──lease expired (reconciler) / released at shutdown──► queued

The lease is a compare-and-set (`store.leases.take_lease`): a run delivered twice (worker
claim + scale-out job, or a redelivery after a crash) executes in one place only. While a
run executes, a heartbeat extends its lease; if the lease is lost, the runner stops before
the next step and leaves the run to its new holder.

Steps that succeeded or were skipped are never executed again (invariant 3): their stored
outputs feed later steps. Every other step goes to `engine.step.StepExecutor`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Mapping
from typing import Any

import structlog

from billsync.clock import Clock, SystemClock
from billsync.connectors import spec
from billsync.engine.clients import ClientCache
from billsync.engine.definitions import DefinitionCache
from billsync.engine.dispatch import Dispatcher
from billsync.engine.flow import FlowDefinition, StepDef
from billsync.engine.ratelimit import RateLimiters
from billsync.engine.resolver import Begun
from billsync.engine.retry import RetryPolicy
from billsync.engine.step import StepExecutor
from billsync.store import events, flows, leases, runs, steps
from billsync.store.database import Database
from billsync.store.models import Run
from billsync.store.status import DONE_STEP, RunStatus
from billsync.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

__all__ = ["LeaseLostError", "Runner", "new_owner_id"]


def new_owner_id() -> str:
    """A lease owner id unique to this executor instance."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseLostError(Exception):
    """Another executor holds the run now; this one must stop touching it."""


class Runner:
    """Executes runs. One instance serves every worker slot (clients and buckets shared)."""

    def __init__(
        self,
        db: Database,
        registry: spec.Registry,
        clients: ClientCache,
        *,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        limiters: RateLimiters | None = None,
        lease_seconds: float = 60.0,
        heartbeat_seconds: float = 15.0,
        owner: str | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self._db = db
        self._clients = clients
        self._clock = clock or SystemClock()
        self._lease_seconds = lease_seconds
        self._heartbeat_seconds = heartbeat_seconds
        self._steps = StepExecutor(
            db,
            registry,
            clients,
            clock=self._clock,
            policy=policy or RetryPolicy(),
            limiters=limiters or RateLimiters(),
            lease_seconds=lease_seconds,
            dispatcher=dispatcher,
        )
        self.owner = owner or new_owner_id()
        self._definitions = DefinitionCache()

    async def aclose(self) -> None:
        await self._clients.aclose()

    async def execute(
        self, run_id: int, *, owner: str | None = None, leased: bool = False
    ) -> RunStatus | None:
        """Run `run_id` as far as it goes now; the status it reached, or None when another
        executor holds it (or it is not due, or already final).

        `leased`: the caller has just leased the run for `owner` (the worker's claim), so the
        lease compare-and-set is skipped; every write below still checks the lease."""
        owner = owner or self.owner
        if not leased:
            async with self._db.write() as session:
                leased = await leases.take_lease(
                    session,
                    run_id,
                    owner=owner,
                    now=self._clock.now(),
                    lease_seconds=self._lease_seconds,
                )
        if not leased:
            return None
        bound = log.bind(run_id=run_id, owner=owner)
        lost = asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat(run_id, owner, lost))
        try:
            return await self._execute_leased(run_id, owner, lost)
        except LeaseLostError:
            bound.warning("lease lost; leaving the run to its new holder")
            return None
        finally:
            await cancel_and_wait(heartbeat)

    async def _heartbeat(self, run_id: int, owner: str, lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            try:
                async with self._db.write() as session:
                    held = await leases.renew_leases(
                        session,
                        [run_id],
                        owner=owner,
                        now=self._clock.now(),
                        lease_seconds=self._lease_seconds,
                    )
            except Exception:
                # A transient DB error: the lease still has time left; try again next beat.
                log.exception("lease heartbeat failed", run_id=run_id)
                continue
            if run_id not in held:
                lost.set()
                return

    async def _execute_leased(
        self, run_id: int, owner: str, lost: asyncio.Event
    ) -> RunStatus | None:
        # A write transaction: besides reading the run, it records the first step's attempt
        # (and any skips before it), which would otherwise take a transaction of its own.
        outputs: dict[str, Any] = {}
        idx = 0
        begun: Begun | None = None  # the attempt of step `idx`, already recorded
        async with self._db.write() as session:
            found = await runs.execution(session, run_id)
            if found is None:
                return None
            run, payload, stamp = found
            definition: FlowDefinition | str | None = None
            if stamp is not None:
                definition = self._definitions.get(stamp)
                if definition is None:
                    version = await flows.get_version(session, run.flow_id, run.flow_version)
                    if version is not None:
                        definition = self._definitions.parse(stamp, version.definition)
            done = await steps.states(session, run_id)
            if isinstance(definition, FlowDefinition) and payload is not None:
                idx = _done_prefix(definition, done, outputs)
                upcoming = _new_steps(definition, done, idx)
                if upcoming and await leases.holds_lease(
                    session, run_id, owner=owner, now=self._clock.now()
                ):
                    skips, begun = await self._steps.begin_ahead(
                        session, run, owner, upcoming, payload, outputs
                    )
                    for step_id in skips:
                        outputs[step_id] = None
                    idx += len(skips)
        if definition is None or payload is None:
            return await self._fail_run(run, owner, "the run's flow version or event is gone")
        if isinstance(definition, str):
            return await self._fail_run(run, owner, f"invalid flow definition: {definition}")

        flow_steps = definition.steps
        last = len(flow_steps) - 1
        while idx <= last:
            step = flow_steps[idx]
            row = done.get(idx)
            if begun is None and row is not None and row.status in DONE_STEP:
                outputs[step.id] = row.output
                idx += 1
                continue
            if lost.is_set():
                raise LeaseLostError
            upcoming = _new_steps(definition, done, idx + 1)
            result = await self._steps.execute(
                run,
                owner,
                idx,
                step,
                payload,
                outputs,
                finish_run=idx == last,
                new_step=row is None,
                begun=begun,
                upcoming=upcoming,
            )
            if result.lost_lease:
                raise LeaseLostError
            if result.stop is not None:
                return result.stop
            if result.run_finished:
                log.info("run succeeded", run_id=run.id, flow_id=run.flow_id)
                return RunStatus.SUCCEEDED
            outputs[step.id] = result.output
            for skipped in result.skipped:
                outputs[skipped] = None
            idx += 1 + len(result.skipped)
            begun = result.begun

        now = self._clock.now()
        async with self._db.write() as session:
            if not await runs.succeed(session, run.id, owner=owner, now=now):
                raise LeaseLostError
            await events.mark_processed_if_done(session, run.event_id)
        log.info("run succeeded", run_id=run.id, flow_id=run.flow_id)
        return RunStatus.SUCCEEDED

    async def _fail_run(self, run: Run, owner: str, reason: str) -> RunStatus | None:
        now = self._clock.now()
        async with self._db.write() as session:
            if not await runs.fail(session, run.id, owner=owner, now=now, error=reason, dead=False):
                return None
            await events.mark_processed_if_done(session, run.event_id)
        log.error("run failed", run_id=run.id, reason=reason)
        return RunStatus.FAILED


def _done_prefix(
    definition: FlowDefinition, done: Mapping[int, steps.StepState], outputs: dict[str, Any]
) -> int:
    """Feed the outputs of the leading done steps into `outputs`; the first other index."""
    for idx, step in enumerate(definition.steps):
        row = done.get(idx)
        if row is None or row.status not in DONE_STEP:
            return idx
        outputs[step.id] = row.output
    return len(definition.steps)


def _new_steps(
    definition: FlowDefinition, done: Mapping[int, steps.StepState], start: int
) -> list[tuple[int, StepDef]]:
    """The steps from `start` on that have no row yet, up to the first that has one (a
    replay has rows)."""
    found = []
    for idx in range(start, len(definition.steps)):
        if idx in done:
            break
        found.append((idx, definition.steps[idx]))
    return found
