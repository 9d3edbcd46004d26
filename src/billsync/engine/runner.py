"""Execute one run: lease it, run each step not yet done, record every attempt.

Run state machine (the table is `billsync.store.status.RUN_TRANSITIONS`; the store's
conditional UPDATEs are the only code that changes a run's status):

    queued ──lease──► running ──all steps succeeded/skipped──► succeeded
    retry_wait ──due, lease──► running
    running ──retryable error──► retry_wait (next_attempt_at = now + backoff/Retry-After)
    running ──permanent error──► failed          failed | dead ──replay──► queued
    running ──retries exhausted─► dead           queued | retry_wait ──cancel──► cancelled
    running ──lease expired (reconciler) / released at shutdown──► queued

The lease is a compare-and-set (`store.runs.take_lease`): a run delivered twice (worker
claim + scale-out job, or a redelivery after a crash) executes in one place only. While a
run executes, a heartbeat extends its lease; if the lease is lost, the runner stops before
the next step and leaves the run to its new holder.

Per step (design §"Idempotency"): a step that succeeded or was skipped is never executed
again (invariant 3); its stored output feeds later steps. Otherwise: evaluate `when`,
resolve the input, record the attempt *before* calling (a crash leaves it "running", which
the next attempt treats as ambiguous), take a rate-limit token, call the action, then store
output + id mappings + attempt end in one transaction (invariant 4). Failures are decided
by `RetryPolicy`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from pydantic import BaseModel

from billsync import errors
from billsync.clock import Clock, SystemClock
from billsync.connectors import spec
from billsync.engine import mapping
from billsync.engine.clients import ClientCache
from billsync.engine.flow import StepDef, parse_flow
from billsync.engine.inputs import resolve_step_input, step_applies
from billsync.engine.ratelimit import TOGAI_DEFAULT_RATE_PER_S, UNLIMITED, RateLimiters
from billsync.engine.retry import RetryDecision, RetryKind, RetryPolicy
from billsync.store import connections, events, flows, runs, steps
from billsync.store.database import Database
from billsync.store.models import Connection, Run
from billsync.store.status import DONE_STEP, AttemptOutcome, RunStatus, StepStatus

log = structlog.get_logger(__name__)

#: Requests per second when a connection sets no rate limit (Togai documents 10/s per key;
#: Razorpay documents none, so only its 429s slow us down).
DEFAULT_RATES: Mapping[str, float] = {"togai": TOGAI_DEFAULT_RATE_PER_S}


def new_owner_id() -> str:
    """A lease owner id unique to this executor instance."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class _Attempt:
    id: int
    number: int
    after_ambiguous_failure: bool


@dataclass(frozen=True)
class _StepResult:
    """What a step's execution means for the run: continue (with an output) or stop."""

    stop: RunStatus | None = None  #: final/waiting status the run reached, if it stops
    lost_lease: bool = False
    output: dict[str, Any] | None = None


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
    ) -> None:
        self._db = db
        self._registry = registry
        self._clients = clients
        self._clock = clock or SystemClock()
        self._policy = policy or RetryPolicy()
        self._limiters = limiters or RateLimiters()
        self._lease_seconds = lease_seconds
        self._heartbeat_seconds = heartbeat_seconds
        self._ids = mapping.StoreIdLookup(db)
        self.owner = owner or new_owner_id()

    async def aclose(self) -> None:
        await self._clients.aclose()

    async def execute(self, run_id: int, *, owner: str | None = None) -> RunStatus | None:
        """Run `run_id` as far as it goes now; the status it reached, or None when another
        executor holds it (or it is not due, or already final)."""
        owner = owner or self.owner
        async with self._db.write() as session:
            leased = await runs.take_lease(
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
            heartbeat.cancel()
            try:
                await heartbeat
            except asyncio.CancelledError:
                pass

    async def _heartbeat(self, run_id: int, owner: str, lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            try:
                async with self._db.write() as session:
                    held = await runs.renew_leases(
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
        async with self._db.read() as session:
            run = await runs.get(session, run_id, fresh=True)
            if run is None:
                return None
            version = await flows.get_version(session, run.flow_id, run.flow_version)
            event = await events.get(session, run.event_id)
            done = await steps.for_run(session, run_id)
        if version is None or event is None:
            return await self._fail_run(run, owner, "the run's flow version or event is gone")
        try:
            definition = parse_flow(version.definition)
        except errors.FlowError as exc:
            return await self._fail_run(run, owner, f"invalid flow definition: {exc.message}")

        outputs: dict[str, Any] = {}
        for idx, step in enumerate(definition.steps):
            row = done.get(idx)
            if row is not None and row.status in DONE_STEP:
                outputs[step.id] = row.output
                continue
            if lost.is_set():
                raise LeaseLostError
            result = await self._execute_step(run, owner, idx, step, event.payload, outputs)
            if result.lost_lease:
                raise LeaseLostError
            if result.stop is not None:
                return result.stop
            outputs[step.id] = result.output

        now = self._clock.now()
        async with self._db.write() as session:
            if not await runs.succeed(session, run.id, owner=owner, now=now):
                raise LeaseLostError
            await events.mark_processed_if_done(session, run.event_id)
        log.info("run succeeded", run_id=run.id, flow_id=run.flow_id)
        return RunStatus.SUCCEEDED

    async def _execute_step(
        self,
        run: Run,
        owner: str,
        idx: int,
        step: StepDef,
        payload: Mapping[str, Any],
        outputs: Mapping[str, Any],
    ) -> _StepResult:
        action_name = step.action
        connection: Connection | None = None
        attempt: _Attempt | None = None
        input_json: dict[str, Any] | None = None
        try:
            if not step_applies(step, payload, outputs):
                return await self._skip_step(run, owner, idx, step, action_name, None, "when")
            connection, app, action = await self._resolve(step)
            action_name = f"{app.name}.{action.key}"
            data = resolve_step_input(step, action, payload, outputs)
            input_json = data.model_dump(mode="json")
            attempt = await self._start_attempt(
                run, owner, idx, step, action_name, connection.id, input_json
            )
            if attempt is None:
                return _StepResult(lost_lease=True)
            result = await self._call(run, idx, connection, app, action, data, attempt)
            return await self._succeed_step(
                run, owner, idx, step, action_name, connection.id, input_json, attempt, result
            )
        except LeaseLostError:
            return _StepResult(lost_lease=True)
        except Exception as exc:
            if attempt is None:
                attempt = await self._start_attempt(
                    run,
                    owner,
                    idx,
                    step,
                    action_name,
                    connection.id if connection else None,
                    input_json,
                )
                if attempt is None:
                    return _StepResult(lost_lease=True)
            return await self._handle_error(
                run,
                owner,
                idx,
                step,
                action_name,
                connection,
                input_json,
                attempt,
                exc,
            )

    async def _resolve(self, step: StepDef) -> tuple[Connection, spec.AppSpec, spec.ActionSpec]:
        connection: Connection | None = None
        if step.connection_id.isdigit():
            async with self._db.read() as session:
                connection = await connections.get(session, int(step.connection_id))
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

    async def _start_attempt(
        self,
        run: Run,
        owner: str,
        idx: int,
        step: StepDef,
        action_name: str,
        connection_id: int | None,
        input_json: dict[str, Any] | None,
    ) -> _Attempt | None:
        """Record the attempt before the call; None if the lease is gone."""
        now = self._clock.now()
        async with self._db.write() as session:
            if not await runs.holds_lease(session, run.id, owner=owner, now=now):
                return None
            previous = await steps.last_attempt(session, run.id, idx)
            ambiguous = False
            if previous is not None:
                ambiguous = previous.ambiguous
                if previous.outcome == AttemptOutcome.RUNNING:
                    # The executor died (or lost its lease) mid-call: the call may have
                    # reached the provider.
                    ambiguous = True
                    await steps.finish_attempt(
                        session,
                        previous.id,
                        outcome=AttemptOutcome.INTERRUPTED,
                        now=now,
                        message="the executor stopped during this attempt",
                        ambiguous=True,
                    )
            row = await steps.start_attempt(session, run.id, idx, now=now)
            await steps.upsert(
                session,
                run.id,
                idx,
                step_id=step.id,
                action=action_name,
                connection_id=connection_id,
                status=StepStatus.RUNNING,
                input=input_json,
                now=now,
                new_attempt=True,
            )
            return _Attempt(row.id, row.attempt, ambiguous)

    async def _call(
        self,
        run: Run,
        idx: int,
        connection: Connection,
        app: spec.AppSpec,
        action: spec.ActionSpec,
        data: BaseModel,
        attempt: _Attempt,
    ) -> spec.ActionResult:
        client = await self._clients.get(connection)
        rate = connection.rate_limit
        if rate is None:
            rate = DEFAULT_RATES.get(app.name, UNLIMITED)
        bucket = self._limiters.get(str(connection.id), rate)
        await bucket.acquire()
        ctx = spec.ActionContext(
            client=client,
            options={k: str(v) for k, v in connection.options.items() if v is not None},
            ids=self._ids,
            idempotency_key=f"{run.id}:{idx}",
            after_ambiguous_failure=attempt.after_ambiguous_failure,
        )
        try:
            result = await action.run(ctx, data)
        except errors.RateLimitedError as exc:
            bucket.penalize(exc.retry_after)
            raise
        if not isinstance(result, spec.ActionResult):
            raise TypeError(f"{app.name}.{action.key} returned {type(result).__name__}")
        return result

    async def _succeed_step(
        self,
        run: Run,
        owner: str,
        idx: int,
        step: StepDef,
        action_name: str,
        connection_id: int,
        input_json: dict[str, Any],
        attempt: _Attempt,
        result: spec.ActionResult,
    ) -> _StepResult:
        output = result.output.model_dump(mode="json")
        now = self._clock.now()
        async with self._db.write() as session:
            # The effect happened: record it even if the lease was lost meanwhile, so the
            # next holder sees the step as done instead of calling the app again.
            await mapping.write_links(session, result.links, run_id=run.id, now=now)
            await steps.upsert(
                session,
                run.id,
                idx,
                step_id=step.id,
                action=action_name,
                connection_id=connection_id,
                status=StepStatus.SUCCEEDED,
                input=input_json,
                output=output,
                now=now,
                finished=True,
            )
            await steps.finish_attempt(
                session, attempt.id, outcome=AttemptOutcome.SUCCEEDED, now=now
            )
            held = await runs.renew_leases(
                session, [run.id], owner=owner, now=now, lease_seconds=self._lease_seconds
            )
        if run.id not in held:
            return _StepResult(lost_lease=True)
        return _StepResult(output=output)

    async def _skip_step(
        self,
        run: Run,
        owner: str,
        idx: int,
        step: StepDef,
        action_name: str,
        connection_id: int | None,
        reason: str,
    ) -> _StepResult:
        now = self._clock.now()
        async with self._db.write() as session:
            if not await runs.holds_lease(session, run.id, owner=owner, now=now):
                return _StepResult(lost_lease=True)
            await steps.upsert(
                session,
                run.id,
                idx,
                step_id=step.id,
                action=action_name,
                connection_id=connection_id,
                status=StepStatus.SKIPPED,
                error="skipped: `when` is false" if reason == "when" else reason,
                now=now,
                finished=True,
            )
        return _StepResult(output=None)

    async def _handle_error(
        self,
        run: Run,
        owner: str,
        idx: int,
        step: StepDef,
        action_name: str,
        connection: Connection | None,
        input_json: dict[str, Any] | None,
        attempt: _Attempt,
        exc: Exception,
    ) -> _StepResult:
        decision = self._policy.decide(exc, attempt.number)
        ambiguous = isinstance(exc, errors.UnavailableError) and exc.ambiguous
        self._log_failure(run, idx, action_name, exc, decision)
        outcome, step_status, run_status = _OUTCOMES[decision.kind]
        now = self._clock.now()
        async with self._db.write() as session:
            await steps.finish_attempt(
                session,
                attempt.id,
                outcome=outcome,
                now=now,
                error_class=type(exc).__name__,
                message=decision.reason,
                ambiguous=ambiguous,
            )
            await steps.upsert(
                session,
                run.id,
                idx,
                step_id=step.id,
                action=action_name,
                connection_id=connection.id if connection else None,
                status=step_status,
                input=input_json,
                error=decision.reason,
                now=now,
                finished=decision.kind is not RetryKind.RETRY,
            )
            if decision.kind is RetryKind.SKIP:
                if not await runs.holds_lease(session, run.id, owner=owner, now=now):
                    return _StepResult(lost_lease=True)
                return _StepResult(output=None)
            if decision.kind is RetryKind.RETRY:
                moved = await runs.schedule_retry(
                    session,
                    run.id,
                    owner=owner,
                    now=now,
                    at=now + timedelta(seconds=decision.delay),
                    error=decision.reason,
                )
            else:
                moved = await runs.fail(
                    session,
                    run.id,
                    owner=owner,
                    now=now,
                    error=decision.reason,
                    dead=decision.kind is RetryKind.DEAD,
                )
                if moved:
                    await events.mark_processed_if_done(session, run.event_id)
        if not moved:
            return _StepResult(lost_lease=True)
        return _StepResult(stop=run_status)

    async def _fail_run(self, run: Run, owner: str, reason: str) -> RunStatus | None:
        now = self._clock.now()
        async with self._db.write() as session:
            if not await runs.fail(session, run.id, owner=owner, now=now, error=reason, dead=False):
                return None
            await events.mark_processed_if_done(session, run.event_id)
        log.error("run failed", run_id=run.id, reason=reason)
        return RunStatus.FAILED

    def _log_failure(
        self, run: Run, idx: int, action: str, exc: Exception, decision: RetryDecision
    ) -> None:
        fields: dict[str, Any] = {
            "run_id": run.id,
            "step": idx,
            "action": action,
            "decision": decision.kind.value,
            "delay": round(decision.delay, 3),
            "reason": decision.reason,
        }
        if isinstance(exc, errors.ConnectorError) and exc.internal_message:
            fields["detail"] = exc.internal_message  # scrubbed by the connector
        if decision.system:
            log.error("step failed with an unexpected error", exc_info=exc, **fields)
        else:
            log.warning("step failed", **fields)


#: decision → (attempt outcome, step status, run status)
_OUTCOMES: Mapping[RetryKind, tuple[AttemptOutcome, StepStatus, RunStatus]] = {
    RetryKind.RETRY: (AttemptOutcome.RETRY, StepStatus.RETRY_WAIT, RunStatus.RETRY_WAIT),
    RetryKind.FAIL: (AttemptOutcome.FAILED, StepStatus.FAILED, RunStatus.FAILED),
    RetryKind.DEAD: (AttemptOutcome.DEAD, StepStatus.DEAD, RunStatus.DEAD),
    RetryKind.SKIP: (AttemptOutcome.SKIPPED, StepStatus.SKIPPED, RunStatus.RUNNING),
}
