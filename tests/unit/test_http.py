"""http.request classification over httpx.MockTransport: transport failures and bodies."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from billsync import errors
from billsync.connectors import http

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
