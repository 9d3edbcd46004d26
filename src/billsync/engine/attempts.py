"""Attempts of a step: recording one before the call, and whether a failed one may have
changed something at the provider.

An attempt is recorded *before* the call, so a crash leaves it "running"; the next attempt
marks that one interrupted and treats it as ambiguous (the call may have reached the app).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billsync import errors
from billsync.store import leases, steps
from billsync.store.status import AttemptOutcome, StepStatus


@dataclass(frozen=True)
class Attempt:
    id: int
    #: attempts since the run was last queued by hand (what the retry budget counts)
    number: int
    after_ambiguous_failure: bool
    #: an earlier attempt of this step exists (whatever its outcome)
    earlier_attempt: bool = False


async def begin(
    session: AsyncSession,
    run_id: int,
    idx: int,
    *,
    owner: str,
    step_id: str,
    action: str,
    connection_id: int | None,
    input_json: dict[str, Any] | None,
    now: datetime,
    new_step: bool = False,
    lease_checked: bool = False,
) -> Attempt | None:
    """Record the attempt before the call; None if the lease is gone. `new_step`: the run
    has no row for the step yet, so it is inserted and there is no earlier attempt.
    `lease_checked`: this transaction has already confirmed (or renewed) the lease."""
    if not lease_checked and not await leases.holds_lease(session, run_id, owner=owner, now=now):
        return None
    if new_step:
        attempt_id = await steps.begin_attempt(session, run_id, idx, number=1, now=now)
        await steps.insert_new(
            session,
            run_id,
            idx,
            step_id=step_id,
            action=action,
            connection_id=connection_id,
            status=StepStatus.RUNNING,
            input=input_json,
            now=now,
        )
        return Attempt(attempt_id, 1, after_ambiguous_failure=False)
    previous = await steps.previous_attempt(session, run_id, idx)
    after_ambiguous = False
    if previous is not None:
        after_ambiguous = previous.ambiguous
        if previous.outcome == AttemptOutcome.RUNNING.value:
            # The executor died (or lost its lease) mid-call: the call may have
            # reached the provider.
            after_ambiguous = True
            await steps.finish_attempt(
                session,
                previous.id,
                outcome=AttemptOutcome.INTERRUPTED,
                now=now,
                message="the executor stopped during this attempt",
                ambiguous=True,
            )
    attempt_id = await steps.begin_attempt(
        session, run_id, idx, number=(previous.attempt if previous else 0) + 1, now=now
    )
    counted = await steps.save(
        session,
        run_id,
        idx,
        step_id=step_id,
        action=action,
        connection_id=connection_id,
        status=StepStatus.RUNNING,
        input=input_json,
        now=now,
        new_attempt=True,
    )
    # The retry budget counts attempts since the run was last queued by hand (a replay
    # resets it); the attempt rows keep numbering across replays for the history.
    return Attempt(attempt_id, counted, after_ambiguous, earlier_attempt=previous is not None)


def ambiguous(exc: Exception, *, called: bool) -> bool:
    """Whether the failed attempt may have changed something at the provider."""
    if isinstance(exc, errors.UnavailableError):
        return exc.ambiguous
    if isinstance(exc, errors.ConnectorError):
        # The app answered (or the engine refused before sending): nothing was applied.
        return False
    # Our bug inside the action, or the store failing after the call returned: the request
    # may well have been applied, so the next attempt must check before writing again.
    return called
