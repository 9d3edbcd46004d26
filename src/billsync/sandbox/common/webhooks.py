"""Asynchronous, at-least-once webhook delivery with exponential backoff and delivery faults.

Sending one request is `sender.WebhookSender`'s job (aiohttp on real sockets, httpx with an
injected transport); its clients live in the loop that delivers and close with the
dispatcher.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from billsync.sandbox.common.faults import Faults
from billsync.sandbox.common.ids import IdGenerator
from billsync.sandbox.common.sender import WebhookSender


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: str | None = None

    def public(self) -> dict[str, Any]:
        # The secret never leaves the process: say only whether there is one.
        return {"url": self.url, "has_secret": self.secret is not None}


Signer = Callable[[bytes, str, WebhookTarget], Mapping[str, str]]
"""(body, event id, target) -> extra headers, e.g. an HMAC signature and the event id."""


@dataclass(eq=False)
class Delivery:
    id: str
    url: str
    event_type: str
    event_id: str
    body: bytes = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    created_at: float
    status: str = "pending"  # pending -> delivered | failed (max attempts spent)
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    next_attempt_at: float = 0.0
    seq: int = field(default=0, repr=False)  # queue order
    logged: bool = field(default=True, repr=False)  # still in the delivery log (counts)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "event_type": self.event_type,
            "event_id": self.event_id,
            "status": self.status,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "created_at": self.created_at,
        }


class WebhookDispatcher:
    """Queues one delivery per (event, target) and POSTs it until a 2xx or `max_attempts`.

    The worker task starts on the first emit, inside whatever loop is running then, so the
    dispatcher works under uvicorn and in-process under httpx.ASGITransport alike.

    Per target URL at most `concurrency` deliveries are in flight. Deliveries that are due
    together form a batch that is started in queue order (shuffled under the shuffle fault)
    before deliveries that became due later; targets never wait for each other.
    """

    def __init__(
        self,
        *,
        faults: Faults,
        signer: Signer | None = None,
        targets: Iterable[WebhookTarget] = (),
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        max_attempts: int = 10,
        timeout: float = 5.0,
        shuffle_window: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
        ids: IdGenerator | None = None,
        user_agent: str = "billsync-sandbox",
        history: int = 10_000,
        concurrency: int = 1,
    ) -> None:
        if concurrency < 1:
            raise ValueError("webhook concurrency must be at least 1")
        self.faults = faults
        self.signer = signer
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.shuffle_window = shuffle_window
        self.user_agent = user_agent
        self.concurrency = concurrency
        self._ids = ids or IdGenerator()
        self._initial_targets = tuple(targets)
        self.targets: list[WebhookTarget] = list(self._initial_targets)
        self._log: deque[Delivery] = deque(maxlen=history)
        self._counts = {"pending": 0, "delivered": 0, "failed": 0}  # over the log
        self._pending: dict[Delivery, None] = {}  # not yet delivered or given up, in order
        self._ready: dict[str, list[Delivery]] = {}  # due, per URL, not yet in a batch
        self._batches: dict[str, deque[Delivery]] = {}  # per URL, the batch being started
        self._backoff: list[tuple[float, int, Delivery]] = []  # heap of retries not yet due
        self._in_flight: dict[str, int] = {}
        self._attempts: set[asyncio.Task[None]] = set()
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.sender = WebhookSender(timeout=timeout, transport=transport)

    def add_target(self, url: str, secret: str | None = None) -> WebhookTarget:
        target = WebhookTarget(url, secret)
        if target not in self.targets:
            self.targets.append(target)
        return target

    def clear_targets(self) -> None:
        self.targets.clear()

    def emit(self, event_type: str, event_id: str, body: bytes) -> list[Delivery]:
        """Queue `body` for every target (twice, sometimes, under the duplicate fault)."""
        created = []
        now = time.monotonic()
        for target in self.targets:
            copies = 2 if self.faults.roll(self.faults.webhook_duplicate_rate) else 1
            for _ in range(copies):
                headers = {"Content-Type": "application/json", "User-Agent": self.user_agent}
                if self.signer is not None:
                    headers.update(self.signer(body, event_id, target))
                delivery = Delivery(
                    id=self._ids.new("dlv_"),
                    url=target.url,
                    event_type=event_type,
                    event_id=event_id,
                    body=body,
                    headers=headers,
                    created_at=time.time(),
                    next_attempt_at=now,
                    seq=next(self._seq),
                )
                self._record(delivery)
                self._pending[delivery] = None
                self._ready.setdefault(delivery.url, []).append(delivery)
                created.append(delivery)
        if created:
            self._ensure_worker()
            self._wake.set()
        return created

    def deliveries(self, status: str | None = None) -> list[dict[str, Any]]:
        return [d.public() for d in self._log if status is None or d.status == status]

    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    async def wait_idle(self, within: float = 10.0) -> bool:
        """Wait until nothing is pending (delivered or given up); False on timeout."""
        deadline = time.monotonic() + within
        while self._pending:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def reset(self) -> None:
        """Forget deliveries (pending ones are dropped) and go back to the startup targets."""
        self._pending.clear()
        self._ready.clear()
        self._batches.clear()
        self._backoff.clear()
        for delivery in self._log:
            delivery.logged = False
        self._log.clear()
        self._counts = dict.fromkeys(self._counts, 0)
        self.targets = list(self._initial_targets)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is None or task.done():
            await self.sender.aclose()
            return
        task.cancel()
        if task.get_loop() is asyncio.get_running_loop():
            try:
                await task
            except asyncio.CancelledError:
                pass

    @asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        """A Starlette lifespan that closes the dispatcher on shutdown."""
        try:
            yield
        finally:
            await self.aclose()

    def _record(self, delivery: Delivery) -> None:
        log = self._log
        if log.maxlen is not None and len(log) == log.maxlen:
            dropped = log[0]
            dropped.logged = False
            self._counts[dropped.status] -= 1
        log.append(delivery)
        self._counts[delivery.status] += 1

    def _settle(self, delivery: Delivery, status: str) -> None:
        if delivery.logged:
            self._counts[delivery.status] -= 1
            self._counts[status] += 1
        delivery.status = status
        self._pending.pop(delivery, None)

    def _ensure_worker(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: the next emit from inside one starts the worker
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            if task is not None and task.get_loop() is not loop:
                # The old loop's attempts and clients are gone with it.
                self._in_flight.clear()
                self.sender.forget()
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run())

    async def _run(self) -> None:
        try:
            while True:
                self._wake.clear()
                self._release_due(time.monotonic())
                if self.faults.webhook_shuffle and self._batch_due():
                    # Let a few events pile up so there is an order to break.
                    await asyncio.sleep(self.shuffle_window)
                    self._release_due(time.monotonic())
                self._start_attempts()
                await self._sleep_until_due()
        finally:
            attempts = list(self._attempts)
            for attempt in attempts:
                attempt.cancel()
            await asyncio.gather(*attempts, return_exceptions=True)
            await self.sender.aclose()

    def _release_due(self, now: float) -> None:
        backoff = self._backoff
        while backoff and backoff[0][0] <= now:
            delivery = heapq.heappop(backoff)[2]
            if delivery in self._pending:
                self._ready.setdefault(delivery.url, []).append(delivery)

    def _batch_due(self) -> bool:
        """Is there a target with a free slot, no batch left and something due?"""
        return any(
            ready and not self._batches.get(url) and self._in_flight.get(url, 0) < self.concurrency
            for url, ready in self._ready.items()
        )

    def _start_attempts(self) -> None:
        loop = asyncio.get_running_loop()
        for url, ready in self._ready.items():
            batch = self._batches.setdefault(url, deque())
            while self._in_flight.get(url, 0) < self.concurrency:
                if not batch:
                    if not ready:
                        break
                    due = sorted(ready, key=lambda d: d.seq)
                    ready.clear()
                    if self.faults.webhook_shuffle:
                        self.faults.rng.shuffle(due)
                    batch.extend(due)
                delivery = batch.popleft()
                if delivery not in self._pending:
                    continue  # dropped by a reset
                self._in_flight[url] = self._in_flight.get(url, 0) + 1
                task = loop.create_task(self._attempt_in_slot(delivery))
                self._attempts.add(task)
                task.add_done_callback(self._attempts.discard)

    async def _sleep_until_due(self) -> None:
        if self._wake.is_set():
            return
        if not self._backoff:
            await self._wake.wait()
            return
        delay = max(0.0, self._backoff[0][0] - time.monotonic())
        try:
            await asyncio.wait_for(self._wake.wait(), delay)
        except TimeoutError:
            pass

    async def _attempt_in_slot(self, delivery: Delivery) -> None:
        try:
            await self._attempt(delivery)
        except asyncio.CancelledError:
            # Stopped mid-attempt: a worker started later tries it again.
            if delivery in self._pending:
                self._ready.setdefault(delivery.url, []).append(delivery)
            raise
        finally:
            self._in_flight[delivery.url] = max(0, self._in_flight.get(delivery.url, 0) - 1)
            self._wake.set()

    async def _attempt(self, delivery: Delivery) -> None:
        if delivery not in self._pending:
            return  # dropped by a reset before its turn
        delivery.attempts += 1
        ok = False
        if self.faults.roll(self.faults.webhook_failure_rate):
            delivery.last_status = None
            delivery.last_error = "injected failure (not sent)"
        else:
            status, error = await self.sender.post(delivery.url, delivery.body, delivery.headers)
            delivery.last_status = status
            if status is None:
                delivery.last_error = error
            else:
                ok = 200 <= status < 300
                delivery.last_error = None if ok else f"HTTP {status}"
        if delivery not in self._pending:
            return  # dropped by a reset while in flight
        if ok:
            self._settle(delivery, "delivered")
        elif delivery.attempts >= self.max_attempts:
            self._settle(delivery, "failed")
        else:
            backoff = min(self.base_delay * 2 ** (delivery.attempts - 1), self.max_delay)
            delivery.next_attempt_at = time.monotonic() + backoff
            heapq.heappush(self._backoff, (delivery.next_attempt_at, delivery.seq, delivery))
