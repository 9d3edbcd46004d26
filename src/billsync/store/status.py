"""Statuses of events, runs, steps and attempts, and the run state machine.

Run transitions (the only ones any code may make; `RUN_TRANSITIONS` below is the table the
repositories build their WHERE clauses from):

    queued ──claim──► running ──all steps done──► succeeded
      ▲  │              │ │ │
      │  │              │ │ └─retryable error──► retry_wait ──due, claim──► running
      │  │              │ └───permanent error──► failed ──replay──► queued
      │  │              └─────retries exhausted─► dead   ──replay──► queued
      │  │              └─lease expired (reconciler) / released on shutdown──► queued
      │  └─cancel──► cancelled ◄──cancel── retry_wait
      └──────────────────────────────────────── replay (failed | dead)
"""

from __future__ import annotations

import enum
from collections.abc import Collection


class EventStatus(enum.StrEnum):
    RECEIVED = "received"  #: stored; its runs are not all finished yet
    IGNORED = "ignored"  #: no enabled flow matched (or the trigger is unknown)
    PROCESSED = "processed"  #: every run of the event reached a final status


class RunStatus(enum.StrEnum):
    QUEUED = "queued"  #: waiting for a worker (new, replayed or lease expired)
    RUNNING = "running"  #: leased by an executor
    RETRY_WAIT = "retry_wait"  #: a step failed transiently; due again at next_attempt_at
    SUCCEEDED = "succeeded"  #: every step succeeded or was skipped
    FAILED = "failed"  #: a step failed permanently; replay resumes at that step
    DEAD = "dead"  #: retries exhausted; replay resumes at that step
    CANCELLED = "cancelled"  #: stopped by a user before it finished


RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED}),
    RunStatus.RUNNING: frozenset(
        {
            RunStatus.SUCCEEDED,
            RunStatus.RETRY_WAIT,
            RunStatus.FAILED,
            RunStatus.DEAD,
            RunStatus.QUEUED,  # lease expired (reconciler) or released at shutdown
            RunStatus.RUNNING,  # an expired lease taken over by another executor
        }
    ),
    RunStatus.RETRY_WAIT: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED}),
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.FAILED: frozenset({RunStatus.QUEUED}),
    RunStatus.DEAD: frozenset({RunStatus.QUEUED}),
    RunStatus.CANCELLED: frozenset(),
}


def sources_of(target: RunStatus) -> frozenset[RunStatus]:
    """Every status from which `target` may be reached."""
    return frozenset(src for src, targets in RUN_TRANSITIONS.items() if target in targets)


def status_values(statuses: Collection[enum.StrEnum]) -> list[str]:
    """The statuses' stored values, sorted so the generated SQL is stable."""
    return sorted(s.value for s in statuses)


#: Runs that still hold their entity's place in line (per-entity FIFO).
UNFINISHED_RUN = frozenset({RunStatus.QUEUED, RunStatus.RETRY_WAIT, RunStatus.RUNNING})
#: Runs a worker may claim once due.
CLAIMABLE_RUN = frozenset({RunStatus.QUEUED, RunStatus.RETRY_WAIT})
#: Runs a user may queue again (they resume at the step that did not succeed).
REPLAYABLE_RUN = frozenset({RunStatus.FAILED, RunStatus.DEAD})
FINAL_RUN = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.DEAD, RunStatus.CANCELLED})


class StepStatus(enum.StrEnum):
    PENDING = "pending"  #: not attempted yet
    RUNNING = "running"  #: an attempt is in flight
    RETRY_WAIT = "retry_wait"  #: the last attempt failed transiently
    SUCCEEDED = "succeeded"  #: done; never executed again (design invariant 3)
    SKIPPED = "skipped"  #: `when` was false, or the action skipped the event
    FAILED = "failed"  #: failed permanently
    DEAD = "dead"  #: retries exhausted


#: A step in one of these statuses is never executed again.
DONE_STEP = frozenset({StepStatus.SUCCEEDED, StepStatus.SKIPPED})


class AttemptOutcome(enum.StrEnum):
    RUNNING = "running"  #: started, not finished (a crash leaves it so)
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    RETRY = "retry"  #: failed; the step will be tried again
    FAILED = "failed"  #: failed permanently
    DEAD = "dead"  #: failed; no attempts left
    INTERRUPTED = "interrupted"  #: the executor died or lost its lease mid-call
