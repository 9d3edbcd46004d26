"""Pure-ASGI middleware that counts API requests and injects the configured faults.

It wraps the whole Starlette app (outermost), because a lost response needs to reach the
server: returning a non-None value from the ASGI callable is the only way to make uvicorn
close the connection without writing a status line.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billsync.sandbox.common.faults import Faults
from billsync.sandbox.common.stats import LOST, Stats

ErrorRenderer = Callable[[int, str], Any]
"""(status, message) -> the provider's JSON error body for that status."""

_GATEWAY_HTML = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_REASONS = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


class _LostResponse:
    def __repr__(self) -> str:
        return "<sandbox fault: response lost>"


LOST_RESPONSE = _LostResponse()


class _DropLostResponseLog(logging.Filter):
    """uvicorn logs an error for the sentinel we return on purpose; that one is not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.args, tuple) and LOST_RESPONSE in record.args)


_LOG_FILTER = _DropLostResponseLog()


class SandboxMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        faults: Faults,
        stats: Stats,
        render_error: ErrorRenderer,
        control_prefix: str = "/_sandbox",
        routes: Sequence[BaseRoute] = (),
    ) -> None:
        self.app = app
        self.routes = routes
        self.faults = faults
        self.stats = stats
        self.render_error = render_error
        self.control_prefix = control_prefix
        logging.getLogger("uvicorn.error").addFilter(_LOG_FILTER)  # a no-op when already there

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        if scope["type"] != "http" or scope["path"].startswith(self.control_prefix):
            await self.app(scope, receive, send)
            return None
        if not self.faults.active:
            await self._call_counted(scope, receive, send)
            return None
        return await self._call_with_faults(scope, receive, send)

    async def _call_counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 0

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            self._record(scope, status or 500)

    async def _call_with_faults(self, scope: Scope, receive: Receive, send: Send) -> Any:
        faults = self.faults
        if faults.bucket is not None:
            wait = faults.bucket.take()
            if wait > 0:
                headers = []
                if faults.retry_after is not None:
                    headers.append((b"retry-after", str(faults.retry_after).encode()))
                body = self.render_error(429, "Too many requests")
                await _send_json(send, 429, body, headers)
                self._record(scope, 429)
                return None
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.roll(faults.error_rate):
            await self._send_error(send, faults.error_status)
            self._record(scope, faults.error_status)
            return None
        if faults.roll(faults.timeout_rate):
            await self._hold(receive, send, faults.timeout_seconds)
            self._record(scope, 504)
            return None
        if faults.roll(faults.lost_response_rate):
            return await self._lose_response(scope, receive)
        await self._call_counted(scope, receive, send)
        return None

    async def _send_error(self, send: Send, status: int) -> None:
        if status == 500:
            await _send_json(send, 500, self.render_error(500, "Internal server error"), [])
        else:
            await _send_html(send, status)

    async def _hold(self, receive: Receive, send: Send, seconds: float) -> None:
        """Keep the request open without applying it; stop early if the client gives up."""

        async def until_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        try:
            await asyncio.wait_for(until_disconnect(), seconds)
        except TimeoutError:
            await _send_html(send, 504)

    async def _lose_response(self, scope: Scope, receive: Receive) -> Any:
        """Apply the request, then drop the answer on the floor."""

        async def discard(message: Message) -> None:
            return None

        await self.app(scope, receive, discard)
        self._record(scope, LOST)
        if "spec_version" in scope.get("asgi", {}):
            return LOST_RESPONSE
        # In-process (httpx.ASGITransport) there is no socket to close: raise what an
        # httpx client would raise for a server that hung up.
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    def _record(self, scope: Scope, status: int | str) -> None:
        route = scope.get("route") or self._match(scope)
        template = getattr(route, "path", None) or "(unmatched)"
        self.stats.record(scope["method"], template, status)

    def _match(self, scope: Scope) -> BaseRoute | None:
        """The route a faulted request would have reached (the app never routed it)."""
        for route in self.routes:
            if route.matches(scope)[0] is Match.FULL:
                return route
        return None


async def _send_json(
    send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]]
) -> None:
    payload = json.dumps(body).encode()
    await _send(send, status, payload, b"application/json", headers)


async def _send_html(send: Send, status: int) -> None:
    page = _GATEWAY_HTML.format(status=status, reason=_REASONS.get(status, "Error")).encode()
    await _send(send, status, page, b"text/html", [])


async def _send(
    send: Send, status: int, body: bytes, content_type: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
