"""An httpx transport that sends requests with aiohttp: httpx's API, aiohttp's CPU cost.

httpx's own transport (httpcore + anyio) costs ~2 ms of client CPU per request here, aiohttp
~0.1 ms; this adapter keeps the `httpx.AsyncClient` API (auth, base URL, MockTransport in
tests) and sends through an `aiohttp.ClientSession`. See docs/architecture.md, "HTTP
transport".

What matters most is that failures keep their meaning. `http.request` decides from the httpx
exception whether a request may have reached the provider (ambiguous), so aiohttp's errors
are mapped to the httpx class with the same meaning:

- nothing was sent: `ClientConnectorError` (refused, DNS, TLS, proxy) → `httpx.ConnectError`;
  `ConnectionTimeoutError` (connecting, or waiting for a pooled connection) →
  `httpx.ConnectTimeout`;
- the request may have been applied: any other timeout (`SocketTimeoutError`,
  `ServerTimeoutError`, `asyncio.TimeoutError`) → `httpx.ReadTimeout`;
  `ServerDisconnectedError`, `ClientPayloadError` and unparseable responses →
  `httpx.RemoteProtocolError`; every other aiohttp or OS error → `httpx.ReadError`.

Order matters: `ClientConnectorError` is a `ClientOSError`, and `ConnectionTimeoutError` a
`ServerTimeoutError`. Anything not known to be harmless is ambiguous, which costs a lookup,
never a duplicate.

The whole body is read here and handed to httpx as bytes (bodies are small JSON). aiohttp
does not decompress (`auto_decompress=False`): httpx decodes by the unchanged
Content-Encoding header, so headers and content always agree. No retries, no redirects, no
cookies, no proxies from the environment, nothing logged.

No retries includes aiohttp's own: it sends a GET, HEAD, OPTIONS, TRACE, PUT or DELETE a
second time when the first try fails with `ClientOSError` or `ServerDisconnectedError` (a
pooled connection the server had closed), and the engine owns retries (each attempt in run
history, a lookup after an ambiguous failure). `_no_resend`, a client middleware (public API
since aiohttp 3.12), carries those two failures past aiohttp's retry loop inside `_NotResent`,
which that loop re-raises; `handle_async_request` unwraps them. Only public names are used;
tests/unit/test_http.py checks over a real socket that a GET on a dead pooled connection
reaches the server once.
"""

from __future__ import annotations

import aiohttp
import httpx
import yarl

#: Idle keep-alive connections are dropped before uvicorn's 5 s server-side timeout, so a
#: request is not written into a connection the server is closing (that would be ambiguous).
KEEPALIVE_SECONDS = 4.0
_DROP_REQUEST_HEADERS = frozenset({"transfer-encoding"})


class _NotResent(aiohttp.ClientError):
    """A failure aiohttp would have answered by sending the request again; its cause is the
    original error. Not a `ClientOSError` nor a `ServerDisconnectedError`, so aiohttp's retry
    loop lets it through."""


async def _no_resend(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    try:
        return await handler(request)
    except aiohttp.ClientConnectorError:
        raise  # nothing was sent; aiohttp does not resend these either
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
        raise _NotResent(str(exc)) from exc


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx transport over one lazily created aiohttp session (sessions are loop-bound)."""

    def __init__(self, *, limit: int = 100, keepalive_seconds: float = KEEPALIVE_SECONDS):
        self._limit = limit
        self._keepalive = keepalive_seconds
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _get_session(self) -> aiohttp.ClientSession:
        # Called inside the running loop; no await between the check and the assignment.
        if self._session is None or self._session.closed:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._limit, keepalive_timeout=self._keepalive
                ),
                cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the cookies, if any
                auto_decompress=False,
                trust_env=False,
                raise_for_status=False,
                middlewares=(_no_resend,),  # the engine owns retries (module docstring)
            )
            self._session = session
        return self._session

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        t = request.extensions.get("timeout") or {}
        key = (t.get("pool"), t.get("connect"), t.get("read"))
        found = self._timeouts.get(key)
        if found is None:
            # aiohttp's `connect` covers waiting for a pooled connection plus connecting,
            # `sock_connect` the TCP connect, `sock_read` each wait for data. aiohttp has no
            # write timeout (request bodies are small and go to the socket buffer).
            found = aiohttp.ClientTimeout(
                total=None, connect=key[0], sock_connect=key[1], sock_read=key[2]
            )
            self._timeouts[key] = found
        return found

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._get_session()
        body = await request.aread()
        headers = [
            (k, v)
            for k, v in request.headers.multi_items()
            if k.lower() not in _DROP_REQUEST_HEADERS
        ]
        try:
            async with session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),  # send httpx's encoding unchanged
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=self._timeout(request),
            ) as response:
                content = await response.read()
                # The body is complete now: chunked framing no longer describes it.
                raw_headers = [
                    (k, v) for k, v in response.raw_headers if k.lower() != b"transfer-encoding"
                ]
                return httpx.Response(
                    response.status,
                    headers=raw_headers,
                    content=content,
                    request=request,
                    extensions={
                        "http_version": _http_version(response.version),
                        "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
                    },
                )
        except _NotResent as wrapped:
            cause = wrapped.__cause__ or wrapped
            raise map_error(cause, request) from cause
        except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
            raise map_error(exc, request) from exc

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _http_version(version: aiohttp.HttpVersion | None) -> bytes:
    return b"HTTP/1.1" if version is None else f"HTTP/{version.major}.{version.minor}".encode()


def map_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception that means what `exc` means (see the module docstring)."""
    message = f"{type(exc).__name__}: {exc}"
    cls: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        cls = httpx.ConnectTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):
        cls = httpx.ConnectError
    elif isinstance(exc, TimeoutError):  # SocketTimeoutError, ServerTimeoutError, asyncio's
        cls = httpx.ReadTimeout
    elif isinstance(
        exc,
        aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError,
    ):
        cls = httpx.RemoteProtocolError
    elif isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        cls = httpx.UnsupportedProtocol  # refused before anything was sent
    else:  # ClientOSError after connecting, a reset, "Connection closed", ...: may have landed
        cls = httpx.ReadError
    return cls(message, request=request)
