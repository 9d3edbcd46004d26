"""A small fake app with scripted, counting actions, and the wiring around the runner.

The fake app is a true boundary (an AppSpec built here), so these tests exercise the real
store, runner, worker and retry policy without any HTTP.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from billsync.clock import FakeClock
from billsync.connectors import spec
from billsync.domain import IdLink, IncomingEvent, LinkKind
from billsync.engine.clients import ClientCache
from billsync.engine.dispatch import EmbeddedDispatcher
from billsync.engine.ratelimit import RateLimiters
from billsync.engine.retry import RetryPolicy
from billsync.engine.runner import Runner
from billsync.engine.worker import Worker
from billsync.store import connections, events, flows, runs, steps
from billsync.store.database import Database
from billsync.store.models import Run, RunStep, StepAttempt
from billsync.store.status import RunStatus
from billsync.store.vault import Vault


class EchoIn(BaseModel):
    key: str
    value: str | None = None
    link_to: str | None = None


class EchoOut(BaseModel):
    key: str
    value: str | None
    call: int


@dataclass
class Call:
    step: str
    key: str
    idempotency_key: str
    after_ambiguous_failure: bool
    earlier_attempt: bool = False


@dataclass
class Script:
    """What the fake action does, per key: queued outcomes (an exception or None = succeed),
    optional gates to hold a call open, and the record of every call."""

    plan: dict[str, list[BaseException | None]] = field(default_factory=dict)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    started: dict[str, asyncio.Event] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  #: "start:<key>" / "end:<key>"
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_calls(self, n: int) -> None:
        while len(self.calls) < n:
            self.changed.clear()
            await self.changed.wait()

    def count(self, key: str | None = None, step: str | None = None) -> int:
        return sum(
            1
            for c in self.calls
            if (key is None or c.key == key) and (step is None or c.step == step)
        )

    def started_event(self, key: str) -> asyncio.Event:
        return self.started.setdefault(key, asyncio.Event())


def build_registry(script: Script) -> spec.Registry:
    def make_action(step_name: str) -> spec.ActionFn:
        async def run(ctx: spec.ActionContext, data: Any) -> spec.ActionResult:
            assert isinstance(data, EchoIn)
            script.calls.append(
                Call(
                    step_name,
                    data.key,
                    ctx.idempotency_key,
                    ctx.after_ambiguous_failure,
                    ctx.earlier_attempt,
                )
            )
            script.order.append(f"start:{data.key}")
            script.changed.set()
            script.started_event(data.key).set()
            gate = script.gates.get(data.key)
            if gate is not None:
                await gate.wait()
            planned = script.plan.get(data.key)
            outcome = planned.pop(0) if planned else None
            script.order.append(f"end:{data.key}")
            if outcome is not None:
                raise outcome
            links: tuple[IdLink, ...] = ()
            if data.link_to:
                links = (IdLink(LinkKind.ACCOUNT_CUSTOMER, data.key, data.link_to),)
            out = EchoOut(key=data.key, value=data.value, call=script.count(data.key))
            return spec.ActionResult(output=out, links=links)

        return run

    def client(
        values: Mapping[str, str],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> Any:
        return dict(values)

    async def verify(_client: Any) -> None:
        return None

    async def parse(_client: Any, _headers: Mapping[str, str], _body: bytes) -> Sequence[Any]:
        return []

    def action(key: str) -> spec.ActionSpec:
        return spec.ActionSpec(
            key=key,
            title=key,
            description=f"fake {key}",
            input_model=EchoIn,
            output_model=EchoOut,
            run=make_action(key),
            idempotency=spec.Idempotency.NATURAL_KEY,
            default_input={"key": "event.key"},
        )

    src = spec.AppSpec(
        name="src",
        title="Source",
        description="fake source app",
        fields=(spec.ConnectionField("api_key", "API key", secret=True),),
        triggers=(spec.TriggerSpec("thing.created", "Thing created", "a thing was created"),),
        actions=(),
        make_client=client,
        verify=verify,
        parse_webhook=parse,
    )
    dst = spec.AppSpec(
        name="dst",
        title="Destination",
        description="fake destination app",
        fields=(spec.ConnectionField("api_key", "API key", secret=True),),
        triggers=(),
        actions=(action("echo"), action("second")),
        make_client=client,
        verify=verify,
        parse_webhook=parse,
    )
    return spec.Registry((src, dst))


@dataclass
class Harness:
    db: Database
    clock: FakeClock
    vault: Vault
    script: Script
    registry: spec.Registry
    dispatcher: EmbeddedDispatcher
    policy: RetryPolicy
    src_id: int = 0
    dst_id: int = 0
    _runners: list[Runner] = field(default_factory=list)
    _events: int = 0

    async def setup(self) -> Harness:
        async with self.db.write() as session:
            src = await connections.create(
                session,
                self.vault,
                app="src",
                name="s",
                secrets={"api_key": "a"},
                now=self.clock.now(),
            )
            dst = await connections.create(
                session,
                self.vault,
                app="dst",
                name="d",
                secrets={"api_key": "b"},
                rate_limit=0.0,
                now=self.clock.now(),
            )
        self.src_id, self.dst_id = src.id, dst.id
        return self

    def runner(self, owner: str | None = None, **kw: Any) -> Runner:
        runner = Runner(
            self.db,
            self.registry,
            ClientCache(self.registry, self.vault),
            clock=self.clock,
            policy=self.policy,
            limiters=RateLimiters(clock=self._monotonic, sleep=self._sleep),
            owner=owner,
            **kw,
        )
        self._runners.append(runner)
        return runner

    async def crash_during_call(
        self, run_id: int, key: str, *, owner: str = "crashed", lease_seconds: float = 30
    ) -> None:
        """An executor dies while the call for `key` is in flight: its attempt stays
        'running' and its lease runs until it expires."""
        self.script.gates[key] = asyncio.Event()
        crashed = self.runner(owner=owner, lease_seconds=lease_seconds)
        task = asyncio.create_task(crashed.execute(run_id))
        await asyncio.wait_for(self.script.started_event(key).wait(), timeout=10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        self.script.gates.pop(key).set()

    def _monotonic(self) -> float:
        return self.clock.now().timestamp()

    async def _sleep(self, seconds: float) -> None:
        # Rate-limit waits pass on the fake clock, so a Retry-After costs no real time.
        self.clock.advance(seconds)
        await asyncio.sleep(0)

    def worker(self, runner: Runner | None = None, **kw: Any) -> Worker:
        return Worker(self.db, runner or self.runner(), self.dispatcher, clock=self.clock, **kw)

    def step(self, id: str, action: str = "echo", **kw: Any) -> dict[str, Any]:
        return {"id": id, "connection_id": str(self.dst_id), "action": action, **kw}

    async def flow(self, *step_defs: dict[str, Any], name: str = "flow") -> int:
        definition = {
            "name": name,
            "direction": "outbound",
            "trigger": {"connection_id": str(self.src_id), "trigger": "thing.created"},
            "steps": list(step_defs) or [self.step("one")],
        }
        async with self.db.write() as session:
            row = await flows.create(
                session, name=name, definition=definition, enabled=True, now=self.clock.now()
            )
        return row.id

    async def queue(
        self, flow_id: int, *, entity: str = "E", payload: dict[str, Any] | None = None
    ) -> int:
        """Store an event and queue its run (what intake does), returning the run id."""
        self._events += 1
        incoming = IncomingEvent(
            trigger="thing.created",
            event_type="thing.created",
            external_id=f"ev-{self._events}",
            entity_key=entity,
            payload=payload if payload is not None else {"key": f"k{self._events}"},
        )
        async with self.db.write() as session:
            event = await events.insert(session, self.src_id, incoming, now=self.clock.now())
            assert event is not None
            run = await runs.create(
                session,
                flow_id=flow_id,
                flow_version=1,
                event_id=event.id,
                entity_key=entity,
                now=self.clock.now(),
            )
            assert run is not None
            await self.dispatcher.wake(session, [run.id])
        self.dispatcher.notify()
        return run.id

    async def run(self, run_id: int) -> Run:
        async with self.db.read() as session:
            row = await runs.get(session, run_id, fresh=True)
        assert row is not None
        return row

    async def status(self, run_id: int) -> RunStatus:
        return RunStatus((await self.run(run_id)).status)

    async def steps(self, run_id: int) -> dict[int, RunStep]:
        async with self.db.read() as session:
            return await steps.for_run(session, run_id)

    async def attempts(self, run_id: int) -> Sequence[StepAttempt]:
        async with self.db.read() as session:
            return await steps.attempts(session, run_id)

    async def close(self) -> None:
        for runner in self._runners:
            await runner.aclose()


def harness_for(db: Database, clock: FakeClock, vault: Vault, *, max_attempts: int = 3) -> Harness:
    script = Script()
    return Harness(
        db=db,
        clock=clock,
        vault=vault,
        script=script,
        registry=build_registry(script),
        dispatcher=EmbeddedDispatcher(),
        policy=RetryPolicy(max_attempts=max_attempts, base=1.0, cap=5.0, rng=random.Random(7)),
    )
