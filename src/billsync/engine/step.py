"""Execute one step of a leased run: resolve, record the attempt, call, store the result.

A step that succeeded or was skipped is never executed again (invariant 3): the runner
skips those and feeds their stored outputs to later steps. For the others: evaluate `when`,
resolve the input, record the attempt *before* calling (a crash leaves it "running", which
the next attempt treats as ambiguous), take a rate-limit token, call the action, then store
output + id mappings + attempt end in one transaction (invariant 4). Failures are decided
by `RetryPolicy` and move the run to retry_wait, failed or dead (see engine/runner.py).
Recording attempts and judging whether a failed one was ambiguous: engine/attempts.py.
A success also records the skips after the step and the next step's attempt, resolved by
engine/resolver.py: one write transaction per step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from billsync import errors
from billsync.clock import Clock
from billsync.connectors import spec
from billsync.engine import attempts, calls, mapping
from billsync.engine.clients import ClientCache
from billsync.engine.dispatch import Dispatcher
from billsync.engine.flow import StepDef
from billsync.engine.inputs import resolve_step_input, step_applies
from billsync.engine.ratelimit import RateLimiters, connection_rate
from billsync.engine.resolver import Ahead, Begun, StepResolver, save_skip
from billsync.engine.retry import RetryDecision, RetryKind, RetryPolicy
from billsync.store import events, leases, runs, steps
from billsync.store.database import Database
from billsync.store.models import Connection, Run
from billsync.store.status import AttemptOutcome, RunStatus, StepStatus

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StepResult:
    """What a step's execution means for the run: continue (with an output) or stop."""

    stop: RunStatus | None = None  #: final/waiting status the run reached, if it stops
    lost_lease: bool = False
    output: dict[str, Any] | None = None
    #: the step was the run's last and its result transaction also finished the run
    run_finished: bool = False
    #: ids of the steps right after this one recorded as skipped in its result transaction
    skipped: tuple[str, ...] = ()
    #: the step after those, begun in the same transaction
    begun: Begun | None = None


class StepExecutor:
    """Runs single steps; shared by every run a Runner executes."""

    def __init__(
        self,
        db: Database,
        registry: spec.Registry,
        clients: ClientCache,
        *,
        clock: Clock,
        policy: RetryPolicy,
        limiters: RateLimiters,
        lease_seconds: float,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self._db = db
        self._dispatcher = dispatcher
        self._registry = registry
        self._clients = clients
        self._clock = clock
        self._policy = policy
        self._limiters = limiters
        self._lease_seconds = lease_seconds
        self._ids = mapping.StoreIdLookup(db)
        self._resolver = StepResolver(db, registry, clients)

    async def execute(
        self,
        run: Run,
        owner: str,
        idx: int,
        step: StepDef,
        payload: Mapping[str, Any],
        outputs: Mapping[str, Any],
        *,
        finish_run: bool = False,
        new_step: bool = False,
        begun: Begun | None = None,
        upcoming: Sequence[tuple[int, StepDef]] = (),
    ) -> StepResult:
        """Execute one step. `finish_run`: it is the run's last step, so a success also
        marks the run succeeded, in the transaction that stores the step's result.
        `new_step`: the run (read under this lease) has no row for the step yet, so there
        is no earlier attempt to look up and the step row is inserted, not updated.
        `begun`: the previous step's result transaction already recorded this attempt.
        `upcoming`: the steps after this one that have no row yet, in order; a success
        records skips and the next attempt for them in its own transaction."""
        action_name = step.action
        connection: Connection | None = None
        attempt: attempts.Attempt | None = None
        input_json: dict[str, Any] | None = None
        called = False  # from here on the app may have applied the request
        try:
            if begun is not None:
                connection, app, action = begun.connection, begun.app, begun.action
                data, input_json, attempt = begun.data, begun.input_json, begun.attempt
                action_name = f"{app.name}.{action.key}"
            else:
                if not step_applies(step, payload, outputs):
                    return await self._skip_step(run, owner, idx, step)
                connection, app, action = await self._resolver.resolve(step)
                action_name = f"{app.name}.{action.key}"
                data = resolve_step_input(step, action, payload, outputs)
                input_json = data.model_dump(mode="json")
                attempt = await self._start_attempt(
                    run, owner, idx, step, action_name, connection.id, input_json, new_step=new_step
                )
                if attempt is None:
                    return StepResult(lost_lease=True)
            called = True
            result = await self._call(run, idx, connection, app, action, data, attempt)
            output = result.output.model_dump(mode="json")
            ahead = None
            if not finish_run and upcoming:
                ahead = await self._resolver.look_ahead(
                    upcoming, payload, {**outputs, step.id: output}
                )
            return await self._succeed_step(
                run,
                owner,
                idx,
                step,
                action_name,
                connection.id,
                input_json,
                attempt,
                result,
                output,
                finish_run=finish_run,
                ahead=ahead,
            )
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
                    return StepResult(lost_lease=True)
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
                ambiguous=attempts.ambiguous(exc, called=called),
            )

    async def _start_attempt(
        self,
        run: Run,
        owner: str,
        idx: int,
        step: StepDef,
        action_name: str,
        connection_id: int | None,
        input_json: dict[str, Any] | None,
        *,
        new_step: bool = False,
    ) -> attempts.Attempt | None:
        """Record the attempt before the call; None if the lease is gone."""
        now = self._clock.now()
        async with self._db.write() as session:
            return await attempts.begin(
                session,
                run.id,
                idx,
                owner=owner,
                step_id=step.id,
                action=action_name,
                connection_id=connection_id,
                input_json=input_json,
                now=now,
                new_step=new_step,
            )

    async def _call(
        self,
        run: Run,
        idx: int,
        connection: Connection,
        app: spec.AppSpec,
        action: spec.ActionSpec,
        data: BaseModel,
        attempt: attempts.Attempt,
    ) -> spec.ActionResult:
        client = await self._clients.get(connection)
        # Each request takes its own token in the client's transport (engine/clients.py).
        bucket = self._limiters.get(str(connection.id), connection_rate(connection))
        ctx = spec.ActionContext(
            client=client,
            options={k: str(v) for k, v in connection.options.items() if v is not None},
            ids=self._ids,
            idempotency_key=f"{run.id}:{idx}",
            after_ambiguous_failure=attempt.after_ambiguous_failure,
            earlier_attempt=attempt.earlier_attempt,
        )
        try:
            with calls.purpose("action"):
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
        attempt: attempts.Attempt,
        result: spec.ActionResult,
        output: dict[str, Any],
        *,
        finish_run: bool,
        ahead: Ahead | None,
    ) -> StepResult:
        now = self._clock.now()
        async with self._db.write() as session:
            # The effect happened: record it even if the lease was lost meanwhile, so the
            # next holder sees the step as done instead of calling the app again.
            await mapping.write_links(session, result.links, run_id=run.id, now=now)
            await steps.save(
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
            if finish_run:
                if not await runs.succeed(session, run.id, owner=owner, now=now):
                    return StepResult(lost_lease=True)
                await events.mark_processed_if_done(session, run.event_id)
                return StepResult(output=output, run_finished=True)
            if not await leases.renew_lease(
                session, run.id, owner=owner, now=now, lease_seconds=self._lease_seconds
            ):
                return StepResult(lost_lease=True)
            if ahead is None:
                return StepResult(output=output)
            skipped, begun = await self._resolver.record(session, run.id, owner, ahead, now=now)
        return StepResult(output=output, skipped=skipped, begun=begun)

    async def begin_ahead(
        self,
        session: AsyncSession,
        run: Run,
        owner: str,
        upcoming: Sequence[tuple[int, StepDef]],
        payload: Mapping[str, Any],
        outputs: Mapping[str, Any],
    ) -> tuple[tuple[str, ...], Begun | None]:
        """In the caller's write transaction, under a lease it holds: record the skips at
        the head of `upcoming` (new steps, in order) and begin the first step that runs."""
        ahead = await self._resolver.look_ahead(upcoming, payload, outputs, session)
        return await self._resolver.record(session, run.id, owner, ahead, now=self._clock.now())

    async def _skip_step(self, run: Run, owner: str, idx: int, step: StepDef) -> StepResult:
        now = self._clock.now()
        async with self._db.write() as session:
            if not await leases.holds_lease(session, run.id, owner=owner, now=now):
                return StepResult(lost_lease=True)
            await save_skip(session, run.id, idx, step, now=now)
        return StepResult(output=None)

    async def _handle_error(
        self,
        run: Run,
        owner: str,
        idx: int,
        step: StepDef,
        action_name: str,
        connection: Connection | None,
        input_json: dict[str, Any] | None,
        attempt: attempts.Attempt,
        exc: Exception,
        *,
        ambiguous: bool,
    ) -> StepResult:
        decision = self._policy.decide(exc, attempt.number)
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
            await steps.save(
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
                if not await leases.holds_lease(session, run.id, owner=owner, now=now):
                    return StepResult(lost_lease=True)
                return StepResult(output=None)
            if decision.kind is RetryKind.RETRY:
                moved = await runs.schedule_retry(
                    session,
                    run.id,
                    owner=owner,
                    now=now,
                    at=now + timedelta(seconds=decision.delay),
                    error=decision.reason,
                )
                if moved and self._dispatcher is not None:
                    # The retry's wake-up, due at the backoff/Retry-After time, commits with
                    # the retry_wait status (a scale-out job; embedded: nothing to write).
                    await self._dispatcher.wake(session, [run.id])
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
            return StepResult(lost_lease=True)
        return StepResult(stop=run_status)

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
