"""http.request classification (over httpx.MockTransport) and the default aiohttp transport
(over real sockets on 127.0.0.1): transport failures and bodies."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
import httpx
import pytest

from billsync import errors
from billsync.connectors import http
from billsync.connectors.transport import AiohttpTransport, map_error
from tests.servers import free_port

SECRET = "sk_live_9f8e7d6c5b4a"


def parse(status: int, body: Any) -> http.ErrorDetail:
    message = body.get("message", "") if isinstance(body, dict) else ""
    return http.ErrorDetail(message=message or f"HTTP {status}")


async def call(handler: Any, **kw: Any) -> Any:
    async with http.make_client("http://app.test", transport=httpx.MockTransport(handler)) as c:
        return await http.request(
            c,
            kw.pop("method", "POST"),
            "/things",
            app="demo",
            operation="create_thing",
            parse_error=parse,
            secrets=(SECRET,),
            **kw,
        )


def raising(exc_type: type[httpx.TransportError]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("boom", request=request)

    return handler


async def test_success_returns_decoded_json_and_sends_params_and_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "t1"})

    assert await call(handler, params={"a": "1"}, json_body={"x": 1}) == {"id": "t1"}
    assert seen[0].url.params["a"] == "1" and seen[0].content == b'{"x":1}'


async def test_empty_success_body_is_none() -> None:
    assert await call(lambda r: httpx.Response(204)) is None


@pytest.mark.parametrize("exc_type", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout])
async def test_timeouts_after_connecting_are_ambiguous(
    exc_type: type[httpx.TransportError],
) -> None:
    with pytest.raises(errors.UnavailableError, match="did not answer in time") as info:
        await call(raising(exc_type))
    assert info.value.ambiguous is True


@pytest.mark.parametrize("exc_type", [httpx.RemoteProtocolError, httpx.ReadError])
async def test_lost_responses_are_ambiguous(exc_type: type[httpx.TransportError]) -> None:
    with pytest.raises(errors.UnavailableError) as info:
        await call(raising(exc_type))
    assert info.value.ambiguous is True


async def test_connect_timeout_is_not_ambiguous() -> None:
    with pytest.raises(errors.UnavailableError) as info:
        await call(raising(httpx.ConnectTimeout))
    assert info.value.ambiguous is False


async def test_connect_error_is_unreachable_and_not_ambiguous() -> None:
    with pytest.raises(errors.UnavailableError, match="unreachable") as info:
        await call(raising(httpx.ConnectError))
    assert info.value.ambiguous is False
    assert info.value.app == "demo" and info.value.operation == "create_thing"


async def test_other_transport_errors_are_unavailable() -> None:
    with pytest.raises(errors.UnavailableError, match="connection failed"):
        await call(raising(httpx.ProxyError))


async def test_html_503_is_unavailable_with_the_status() -> None:
    html = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
    handler = lambda r: httpx.Response(503, text=html, headers={"content-type": "text/html"})  # noqa: E731
    with pytest.raises(errors.UnavailableError, match="non-JSON 503") as info:
        await call(handler)
    assert info.value.status == 503
    assert "Service Temporarily Unavailable" in (info.value.internal_message or "")


async def test_html_body_on_a_2xx_is_not_taken_as_success() -> None:
    with pytest.raises(errors.UnavailableError, match="non-JSON 200"):
        await call(lambda r: httpx.Response(200, text="<html>ok</html>"))


async def test_html_400_is_still_unavailable_not_a_verdict() -> None:
    with pytest.raises(errors.UnavailableError):
        await call(lambda r: httpx.Response(400, text="<html>bad gateway config</html>"))


@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), ("0.5", 0.5), ("-3", 0.0)])
async def test_retry_after_seconds_is_parsed(header: str, expected: float) -> None:
    handler = lambda r: httpx.Response(  # noqa: E731
        429, json={"message": "slow down"}, headers={"Retry-After": header}
    )
    with pytest.raises(errors.RateLimitedError) as info:
        await call(handler)
    assert info.value.retry_after == expected
    assert "slow down" in str(info.value)


@pytest.mark.parametrize("header", [None, "Wed, 21 Oct 2015 07:28:00 GMT", "soon"])
async def test_missing_or_unparseable_retry_after_is_none(header: str | None) -> None:
    headers = {"Retry-After": header} if header else {}
    handler = lambda r: httpx.Response(429, json={}, headers=headers)  # noqa: E731
    with pytest.raises(errors.RateLimitedError) as info:
        await call(handler)
    assert info.value.retry_after is None


async def test_parser_may_override_the_status_class() -> None:
    def parser(status: int, body: Any) -> http.ErrorDetail:
        return http.ErrorDetail(message="gone", error_class=errors.NotFoundError, field="id")

    async with http.make_client(
        "http://app.test", transport=httpx.MockTransport(lambda r: httpx.Response(400, json={}))
    ) as client:
        with pytest.raises(errors.NotFoundError) as info:
            await http.request(client, "GET", "/x", app="demo", operation="get", parse_error=parser)
    assert info.value.field == "id" and info.value.status == 400


async def test_secrets_are_scrubbed_from_messages_and_internal_messages() -> None:
    body = {"message": f"invalid key {SECRET}; Authorization: Bearer abc.def"}
    with pytest.raises(errors.RejectedError) as info:
        await call(lambda r: httpx.Response(400, json=body))
    assert SECRET not in str(info.value)
    assert "abc.def" not in str(info.value)
    assert SECRET not in (info.value.internal_message or "")
    assert "***" in str(info.value)


async def test_secrets_are_scrubbed_from_transport_failures() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"failed with token={SECRET}", request=request)

    with pytest.raises(errors.UnavailableError) as info:
        await call(handler)
    assert SECRET not in (info.value.internal_message or "")
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("Authorization: Basic cnpwOnNlY3JldA==", "cnpwOnNlY3JldA=="),
        ('{"key_secret": "s3cr3t"}', "s3cr3t"),
        ("password=hunter2&x=1", "hunter2"),
        ("token: t0k3n", "t0k3n"),
    ],
)
def test_scrub_patterns(text: str, leaked: str) -> None:
    assert leaked not in http.scrub(text)


def test_make_client_strips_trailing_slash_and_sets_timeouts() -> None:
    client = http.make_client("http://app.test/api/", timeout=30)
    assert str(client.base_url) == "http://app.test/api/"  # httpx normalises to one slash
    assert client.timeout.read == 30 and client.timeout.connect == 5.0
    assert client.follow_redirects is False


# The default transport (connectors/transport.py, aiohttp) over real sockets: every failure
# keeps the meaning `http.request` gives it (ambiguous or not).


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Server:
    url: str
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


@asynccontextmanager
async def tcp_server(handler: Handler) -> AsyncIterator[Server]:
    """A raw HTTP/1.1 server on 127.0.0.1:<free port>; `handler` writes whatever it likes."""
    tasks: set[asyncio.Task[None]] = set()
    server = Server("")

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.connections += 1
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away, or the test is over
        finally:
            writer.close()

    listener = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    try:
        yield server
    finally:
        listener.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await listener.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + (await reader.readexactly(length) if length else b"")


def answering(status_line: bytes, headers: bytes, body: bytes, delay: float = 0) -> Handler:
    """Answer every request on the connection with the given bytes (keep-alive)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            await asyncio.sleep(delay)
            writer.write(status_line + b"\r\n" + headers + b"\r\n" + body)
            await writer.drain()

    return handler


def json_ok(body: bytes) -> Handler:
    headers = b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return answering(b"HTTP/1.1 200 OK", headers, body)


async def send(url: str, method: str = "POST", client_timeout: float = 5.0, **kw: Any) -> Any:
    async with http.make_client(url, timeout=client_timeout) as client:
        return await http.request(
            client, method, "/things", app="demo", operation="op", parse_error=parse, **kw
        )


async def test_default_transport_is_aiohttp_and_sends_headers_params_and_body() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        body = b'{"id": "t1"}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()

    async with tcp_server(handler) as server:
        async with http.make_client(
            server.url, headers={"X-Key": "k"}, auth=("user", "pw")
        ) as client:
            assert isinstance(client._transport, AiohttpTransport)
            got = await http.request(
                client,
                "POST",
                "/v1/a%2Fb",
                app="demo",
                operation="op",
                parse_error=parse,
                params={"q": "x y"},
                json_body={"x": 1},
            )
    assert got == {"id": "t1"}
    head, _, body = seen[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/a%2Fb?q=x+y HTTP/1.1\r\n")  # httpx's encoding, unchanged
    assert b"\r\nx-key: k" in head.lower() and b"\r\nauthorization: basic " in head.lower()
    assert body == b'{"x":1}'


async def test_connections_are_kept_alive_and_reused() -> None:
    async with tcp_server(json_ok(b"{}")) as server:
        async with http.make_client(server.url) as client:
            for _ in range(3):
                (await client.get("/x")).raise_for_status()
    assert server.connections == 1


async def test_gzip_and_chunked_bodies_are_decoded_once() -> None:
    payload = gzip.compress(b'{"ok": true}')
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload)
    headers = b"Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
    headers += b"Transfer-Encoding: chunked\r\n"
    async with tcp_server(answering(b"HTTP/1.1 200 OK", headers, chunked)) as server:
        async with http.make_client(server.url) as client:
            response = await client.get("/x")
    assert response.json() == {"ok": True}
    assert "transfer-encoding" not in response.headers


async def test_refused_connection_is_unreachable_not_ambiguous() -> None:
    with pytest.raises(errors.UnavailableError, match="unreachable") as info:
        await send(f"http://127.0.0.1:{free_port()}")
    assert info.value.ambiguous is False
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_dns_failure_is_not_ambiguous() -> None:
    # NXDOMAIN is a ConnectError; a resolver that never answers ends as a ConnectTimeout.
    with pytest.raises(errors.UnavailableError) as info:
        await send("http://billsync-no-such-host.invalid", client_timeout=2.0)
    assert info.value.ambiguous is False
    assert isinstance(info.value.__cause__, httpx.ConnectError | httpx.ConnectTimeout)


async def test_connect_timeout_over_a_socket_is_not_ambiguous() -> None:
    # A listener whose accept queue is full: Linux drops the SYN, connecting never finishes.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        for filler in fillers:
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        try:
            with pytest.raises(errors.UnavailableError) as info:
                await send(f"http://127.0.0.1:{port}", client_timeout=0.3)
        finally:
            for filler in fillers:
                filler.close()
    assert info.value.ambiguous is False
    assert isinstance(info.value.__cause__, httpx.ConnectTimeout)


async def test_waiting_for_a_pooled_connection_times_out_as_connect_timeout() -> None:
    release, arrived = asyncio.Event(), asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        arrived.set()
        await release.wait()

    async with tcp_server(hold) as server:
        transport = AiohttpTransport(limit=1)
        async with http.make_client(server.url, transport=transport, timeout=5.0) as client:
            busy = asyncio.create_task(client.get("/busy"))
            await arrived.wait()
            with pytest.raises(httpx.ConnectTimeout):
                await client.get("/queued", timeout=httpx.Timeout(5.0, pool=0.2))
            busy.cancel()
            await asyncio.gather(busy, return_exceptions=True)
            release.set()
    assert server.connections == 1  # the queued request never got a connection


async def close_after_reading(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_connection_closed_without_answer_is_ambiguous_and_not_retried(method: str) -> None:
    async with tcp_server(close_after_reading) as server:
        with pytest.raises(errors.UnavailableError) as info:
            await send(server.url, method=method)
    assert info.value.ambiguous is True
    assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)
    assert server.connections == 1  # aiohttp's own retry of idempotent methods is off


def answer_once_then_drop(received: list[bytes], how: str) -> Handler:
    """Answer a connection's first request (keep-alive), then read the next one and drop the
    connection without an answer: a pooled connection the server gave up on (a FIN, or a
    reset). A retried request arrives on a new connection and is answered."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            received.append((await read_request(reader)).split(b" HTTP/")[0])
            if len(received) == 2:
                if how == "reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()

    return handler


@pytest.mark.parametrize(
    ("how", "expected"),
    [("closed", httpx.RemoteProtocolError), ("reset", httpx.ReadError)],
)
async def test_a_get_on_a_dead_pooled_connection_is_not_resent(
    how: str, expected: type[Exception]
) -> None:
    received: list[bytes] = []
    async with tcp_server(answer_once_then_drop(received, how)) as server:
        async with http.make_client(server.url) as client:
            (await client.get("/first")).raise_for_status()
            with pytest.raises(httpx.TransportError) as info:
                await client.get("/second")
    assert received == [b"GET /first", b"GET /second"], (
        "aiohttp resent a GET after its pooled connection died: connectors/transport.py's "
        "_no_resend middleware no longer stops aiohttp's own retry of idempotent methods "
        f"(requests received: {received})"
    )
    assert server.connections == 1
    assert type(info.value) is expected  # ambiguous for http.request: the engine decides


@pytest.mark.parametrize("how", ["closed", "reset"])
async def test_plain_aiohttp_resends_that_get(how: str) -> None:
    # What the test above guards against, seen on the same server: without the transport's
    # middleware aiohttp sends the GET again on a new connection. When this fails, aiohttp
    # stopped doing that and connectors/transport.py's _no_resend can go.
    received: list[bytes] = []
    async with tcp_server(answer_once_then_drop(received, how)) as server:
        async with aiohttp.ClientSession() as session:
            for path in ("/first", "/second"):
                async with session.get(server.url + path) as response:
                    assert response.status == 200
    assert received == [b"GET /first", b"GET /second", b"GET /second"], (
        f"aiohttp no longer resends a GET on a dead pooled connection (received {received}): "
        "connectors/transport.py's _no_resend middleware is no longer needed"
    )
    assert server.connections == 2


async def test_answer_after_the_read_timeout_is_ambiguous() -> None:
    slow = answering(b"HTTP/1.1 200 OK", b"Content-Length: 2\r\n", b"{}", delay=2.0)
    async with tcp_server(slow) as server:
        with pytest.raises(errors.UnavailableError, match="did not answer in time") as info:
            await send(server.url, client_timeout=0.3)
    assert info.value.ambiguous is True
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


async def test_truncated_body_is_ambiguous() -> None:
    async def truncated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b'HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\n{"id": "t')
        await writer.drain()

    async with tcp_server(truncated) as server:
        with pytest.raises(errors.UnavailableError) as info:
            await send(server.url)
    assert info.value.ambiguous is True
    assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)


async def test_unparseable_response_is_ambiguous() -> None:
    async with tcp_server(answering(b"HELLO THERE", b"", b"")) as server:
        with pytest.raises(errors.UnavailableError) as info:
            await send(server.url)
    assert info.value.ambiguous is True
    assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)


async def test_html_502_from_a_gateway_is_unavailable_not_ambiguous() -> None:
    html = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    headers = b"Content-Type: text/html\r\nContent-Length: %d\r\n" % len(html)
    async with tcp_server(answering(b"HTTP/1.1 502 Bad Gateway", headers, html)) as server:
        with pytest.raises(errors.UnavailableError, match="non-JSON 502") as info:
            await send(server.url)
    assert info.value.ambiguous is False and info.value.status == 502


async def test_redirects_are_not_followed() -> None:
    headers = b"Location: /elsewhere\r\nContent-Length: 0\r\n"
    async with tcp_server(answering(b"HTTP/1.1 302 Found", headers, b"")) as server:
        async with http.make_client(server.url) as client:
            response = await client.get("/x")
    assert response.status_code == 302 and server.connections == 1


async def test_session_is_created_lazily_and_closed_with_the_client() -> None:
    transport = AiohttpTransport()
    async with tcp_server(json_ok(b"{}")) as server:
        client = http.make_client(server.url, transport=transport)
        assert transport._session is None
        await client.get("/x")
        session = transport._session
        assert session is not None and not session.closed
        await client.aclose()
    assert session.closed and transport._session is None


def _key() -> Any:
    return SimpleNamespace(host="h", port=1, ssl=False)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (aiohttp.ClientConnectorError(_key(), OSError(111, "refused")), httpx.ConnectError),
        (aiohttp.ClientConnectorDNSError(_key(), OSError(-2, "dns")), httpx.ConnectError),
        (aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
        (aiohttp.ServerTimeoutError("read"), httpx.ReadTimeout),
        (TimeoutError(), httpx.ReadTimeout),  # what asyncio.TimeoutError is
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError("short"), httpx.RemoteProtocolError),
        (aiohttp.ClientOSError(32, "broken pipe"), httpx.ReadError),
        (aiohttp.ClientConnectionResetError("reset"), httpx.ReadError),
        (aiohttp.ClientConnectionError("Connection closed"), httpx.ReadError),
        (ConnectionResetError(104, "reset"), httpx.ReadError),
    ],
)
def test_error_map_keeps_the_meaning(exc: BaseException, expected: type[Exception]) -> None:
    request = httpx.Request("POST", "http://h:1/x")
    mapped = map_error(exc, request)
    assert type(mapped) is expected
    assert mapped.request is request


def test_masking_leaves_unrelated_text_alone() -> None:
    # Issue 11: a short secret ("Acme", "1234") must not be cut out of unrelated words.
    text = "customer Acme Corp paid 12345 for invoice 1234-A; see /v1/payments"
    assert http.scrub(text, ("Acme", "1234", "pay")) == text
    # A long secret is masked where it stands as a whole token, not inside another token.
    secret = "s3cr3t-value-42"
    masked = http.scrub(f"got {secret}, and x{secret}y and ({secret})", (secret,))
    assert masked == f"got ***, and x{secret}y and (***)"
    # Structure still catches credentials whatever their length.
    assert "abc" not in http.scrub("Authorization: Bearer abc", ("abc",))
