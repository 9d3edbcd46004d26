"""How a sandbox sends one webhook: over one long-lived aiohttp session on real sockets, or
through httpx when a test injects a transport (everything in-process via ASGITransport).

A sandbox shares the CPU with whatever it tests, and an httpx client costs it an order of
magnitude more per request than aiohttp. Errors are named the way httpx names them, so a
delivery's `last_error` reads the same with either client.
"""

from __future__ import annotations

import aiohttp
import httpx

__all__ = ["WebhookSender"]


class WebhookSender:
    def __init__(self, *, timeout: float, transport: httpx.AsyncBaseTransport | None) -> None:
        self.timeout = timeout
        self._transport = transport
        self.session: aiohttp.ClientSession | None = None
        self._httpx: httpx.AsyncClient | None = None

    async def post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        """(status, None) for any answer, (None, error) for none."""
        if self._transport is not None:
            if self._httpx is None:
                self._httpx = httpx.AsyncClient(timeout=self.timeout, transport=self._transport)
            try:
                response = await self._httpx.post(url, content=body, headers=headers)
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                return None, f"{type(exc).__name__}: {exc}"
            return response.status_code, None
        session = self.session
        if session is None or session.closed:
            session = self.session = self._new_session()
        try:
            async with session.post(url, data=body, headers=headers) as reply:
                await reply.read()
                return reply.status, None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return None, f"{_error_name(exc)}: {exc}"

    def forget(self) -> None:
        """Drop the clients without closing them (their event loop is gone)."""
        self.session = self._httpx = None

    async def aclose(self) -> None:
        session, self.session = self.session, None
        client, self._httpx = self._httpx, None
        if session is not None and not session.closed:
            await session.close()
        if client is not None:
            await client.aclose()

    def _new_session(self) -> aiohttp.ClientSession:
        # Per phase, like httpx's Timeout(timeout): pool wait + connect, then each read.
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self.timeout, sock_connect=self.timeout, sock_read=self.timeout
        )
        # Idle connections are dropped before uvicorn's 5 s keep-alive closes them under us.
        connector = aiohttp.TCPConnector(keepalive_timeout=4.0)
        return aiohttp.ClientSession(connector=connector, timeout=timeout)


def _error_name(exc: BaseException) -> str:
    """httpx's name for what went wrong."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "ConnectTimeout"
    if isinstance(exc, TimeoutError):
        return "ReadTimeout"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "ConnectError"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "RemoteProtocolError"
    if isinstance(exc, aiohttp.InvalidURL | ValueError):
        return "InvalidURL"
    return type(exc).__name__
