"""Asynchronous, at-least-once webhook delivery with exponential backoff and delivery faults."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from billsync.sandbox.common.faults import Faults
from billsync.sandbox.common.ids import IdGenerator


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
    ) -> None:
        self.faults = faults
        self.signer = signer
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.shuffle_window = shuffle_window
        self.user_agent = user_agent
        self._transport = transport
        self._ids = ids or IdGenerator()
        self._initial_targets = tuple(targets)
        self.targets: list[WebhookTarget] = list(self._initial_targets)
        self._log: deque[Delivery] = deque(maxlen=history)
        self._pending: list[Delivery] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

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
                )
                self._log.append(delivery)
                self._pending.append(delivery)
                created.append(delivery)
        if created:
            self._ensure_worker()
            self._wake.set()
        return created

    def deliveries(self, status: str | None = None) -> list[dict[str, Any]]:
        return [d.public() for d in self._log if status is None or d.status == status]

    def counts(self) -> dict[str, int]:
        counts = {"pending": 0, "delivered": 0, "failed": 0}
        for delivery in self._log:
            counts[delivery.status] += 1
        return counts

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
        self._log.clear()
        self.targets = list(self._initial_targets)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is None or task.done():
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

    def _ensure_worker(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: the next emit from inside one starts the worker
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run())

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout, transport=self._transport) as client:
            while True:
                self._wake.clear()
                now = time.monotonic()
                ready = [d for d in self._pending if d.next_attempt_at <= now]
                if not ready:
                    await self._sleep_until_due(now)
                    continue
                if self.faults.webhook_shuffle:
                    # Let a few events pile up so there is an order to break.
                    await asyncio.sleep(self.shuffle_window)
                    now = time.monotonic()
                    ready = [d for d in self._pending if d.next_attempt_at <= now]
                    self.faults.rng.shuffle(ready)
                by_url: dict[str, list[Delivery]] = {}
                for delivery in ready:
                    by_url.setdefault(delivery.url, []).append(delivery)
                # One slow target must not hold the others back; per target, keep the order.
                await asyncio.gather(*(self._send_all(client, batch) for batch in by_url.values()))

    async def _sleep_until_due(self, now: float) -> None:
        due = min((d.next_attempt_at for d in self._pending), default=None)
        try:
            await asyncio.wait_for(self._wake.wait(), None if due is None else max(0.0, due - now))
        except TimeoutError:
            pass

    async def _send_all(self, client: httpx.AsyncClient, batch: list[Delivery]) -> None:
        for delivery in batch:
            await self._attempt(client, delivery)

    async def _attempt(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        if delivery not in self._pending:
            return  # dropped by a reset while this batch was running
        delivery.attempts += 1
        ok = False
        if self.faults.roll(self.faults.webhook_failure_rate):
            delivery.last_status = None
            delivery.last_error = "injected failure (not sent)"
        else:
            try:
                response = await client.post(
                    delivery.url, content=delivery.body, headers=delivery.headers
                )
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                delivery.last_status = None
                delivery.last_error = f"{type(exc).__name__}: {exc}"
            else:
                delivery.last_status = response.status_code
                ok = response.is_success
                delivery.last_error = None if ok else f"HTTP {response.status_code}"
        if ok:
            delivery.status = "delivered"
        elif delivery.attempts >= self.max_attempts:
            delivery.status = "failed"
        else:
            backoff = min(self.base_delay * 2 ** (delivery.attempts - 1), self.max_delay)
            delivery.next_attempt_at = time.monotonic() + backoff
            return
        if delivery in self._pending:
            self._pending.remove(delivery)
