"""App clients per connection, built once from decrypted values and reused.

A client is rebuilt when its connection changes (edited credentials, rotated keys), and the
old one closed. `transport_for` is the seam tests use to route a connection's traffic to an
in-process sandbox (None = the real network).

Every request a client sends takes a token from its connection's bucket first
(`PacedTransport`): an action, a webhook re-fetch or a poll may make several requests, and a
token per operation let a rate-limited burst exceed the provider's limit (two 429s per run).
The same transport counts every request by purpose (engine/calls.py).

The cache also keeps the connection rows the runner reads for every step (a database read
per step was a tenth of a sync's transactions). A row is kept for `row_ttl_seconds`;
`forget()`, which the connection admin calls on every edit or delete, drops it at once, so
an edit made in this process applies to the next step and one made in another process (a
scale-out API) within the TTL.

A client is reused only for the very row it was built from: same `updated_at`, key and
options (the base URL among them). A client built with one host's credentials is never
pointed at another host; a connection moved to a new host carries the secrets entered for
it (app/connection_admin.update), and its next client is built from both at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from billsync.connectors import spec
from billsync.connectors.http import default_transport
from billsync.engine import calls
from billsync.engine.ratelimit import Bucket, RateLimiters, connection_rate
from billsync.store import connections
from billsync.store.models import Connection
from billsync.store.vault import Vault

TransportFor = Callable[[Connection], httpx.AsyncBaseTransport | None]


def real_network(_connection: Connection) -> httpx.AsyncBaseTransport | None:
    return None


async def close_client(client: Any) -> None:
    aclose = getattr(client, "aclose", None)
    if callable(aclose):
        await aclose()


class PacedTransport(httpx.AsyncBaseTransport):
    """Takes a token from the connection's bucket (if any) before each request it forwards,
    and counts the request by purpose (engine/calls.py) under `app`."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        bucket: Callable[[], Bucket] | None,
        app: str = "",
    ) -> None:
        self._inner = inner
        self._bucket = bucket
        self._app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._bucket is not None:
            await self._bucket().acquire()
        if self._app:
            calls.count(self._app, request.method)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _stamp(connection: Connection) -> tuple[datetime, str, str]:
    """What a cached client must have been built from to be reused."""
    return (
        connection.updated_at,
        connection.key_id,
        json.dumps(connection.options, sort_keys=True, default=str),
    )


class ClientCache:
    def __init__(
        self,
        registry: spec.Registry,
        vault: Vault,
        *,
        transport_for: TransportFor = real_network,
        timeout: float = 10.0,
        row_ttl_seconds: float = 5.0,
        limiters: RateLimiters | None = None,
    ) -> None:
        self._registry = registry
        self._vault = vault
        self._transport_for = transport_for
        self._timeout = timeout
        self._clients: dict[int, tuple[tuple[datetime, str, str], Any]] = {}
        self._row_ttl = row_ttl_seconds
        self._rows: dict[int, tuple[float, Connection]] = {}
        self._limiters = limiters

    def cached_row(self, connection_id: int) -> Connection | None:
        """The connection row remembered less than the TTL ago, if any."""
        cached = self._rows.get(connection_id)
        if cached is None:
            return None
        if time.monotonic() - cached[0] > self._row_ttl:
            del self._rows[connection_id]
            return None
        return cached[1]

    def remember_row(self, connection: Connection) -> None:
        self._rows[connection.id] = (time.monotonic(), connection)

    async def get(self, connection: Connection) -> Any:
        stamp = _stamp(connection)
        cached = self._clients.get(connection.id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        app = self._registry.app(connection.app)
        inner = self._transport_for(connection) or default_transport()
        bucket: Callable[[], Bucket] | None = None
        if self._limiters is not None:
            limiters, key, rate = self._limiters, str(connection.id), connection_rate(connection)
            bucket = lambda: limiters.get(key, rate)  # noqa: E731
        transport = PacedTransport(inner, bucket, connection.app)
        client = app.make_client(
            connections.values(self._vault, connection),
            transport=transport,
            timeout=self._timeout,
        )
        # Swap before awaiting, so concurrent callers never build (and leak) a second one.
        self._clients[connection.id] = (stamp, client)
        if cached is not None:
            await close_client(cached[1])
        return client

    async def forget(self, connection_id: int) -> None:
        self._rows.pop(connection_id, None)
        cached = self._clients.pop(connection_id, None)
        if cached is not None:
            await close_client(cached[1])

    async def aclose(self) -> None:
        clients = list(self._clients.values())
        self._clients.clear()
        self._rows.clear()
        for _, client in clients:
            await close_client(client)
