"""The one module that talks HTTP: builds clients, sends requests, classifies failures.

Classification is data: DEFAULT_ERROR_MAP maps a status to an error class, and each
connector passes an overlay (a dict merged over it) plus a parser for its error body.
No retries here: the engine owns retries so every attempt shows in run history.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from billsync import errors
from billsync.connectors.transport import AiohttpTransport

ErrorMap = Mapping[int, type[errors.ConnectorError]]

#: Default status → class. Unlisted 5xx are UnavailableError, other unlisted 4xx RejectedError.
DEFAULT_ERROR_MAP: dict[int, type[errors.ConnectorError]] = {
    400: errors.RejectedError,
    401: errors.AuthError,
    403: errors.AuthError,
    404: errors.NotFoundError,
    408: errors.UnavailableError,
    409: errors.RejectedError,
    422: errors.RejectedError,
    429: errors.RateLimitedError,
    500: errors.UnavailableError,
    502: errors.UnavailableError,
    503: errors.UnavailableError,
    504: errors.UnavailableError,
}


@dataclass(frozen=True)
class ErrorDetail:
    """What a connector read out of an error body."""

    message: str
    code: str | None = None
    field: str | None = None
    reason: str | None = None
    #: Lets a connector override the status class, e.g. Razorpay's 400 "id does not exist".
    error_class: type[errors.ConnectorError] | None = None


ErrorParser = Callable[[int, Any], ErrorDetail]


def classify_status(status: int, overlay: ErrorMap | None = None) -> type[errors.ConnectorError]:
    table = {**DEFAULT_ERROR_MAP, **(overlay or {})}
    if status in table:
        return table[status]
    if status >= 500:
        return errors.UnavailableError
    return errors.RejectedError


# The optional scheme word keeps "Authorization: Bearer <token>" from scrubbing only "Bearer".
_SECRETISH = re.compile(
    r"(?i)(authorization|bearer|basic|secret|token|password|key_secret)"
    r"([\"'=:\s]+(?:(?:bearer|basic)\s+)?)([^\s\"',&}]+)"
)


#: Known secret values shorter than this are not searched for in text: a short value
#: ("abc", "1234") also occurs inside unrelated words and numbers, which masking would
#: mangle while hiding nothing worth hiding. Credentials are caught by structure anyway.
MIN_MASKED_SECRET = 8
#: What may not touch a masked value on either side: it must stand as a whole token.
_TOKEN_CHAR = r"A-Za-z0-9_\-"


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove credentials from text meant for logs or users: by structure (an
    Authorization header, `secret=...`, `"key_secret": "..."`) and every exact occurrence
    of a known secret of at least MIN_MASKED_SECRET characters standing as a whole token
    (not inside a longer word or number)."""
    for secret in secrets:
        if secret and len(secret) >= MIN_MASKED_SECRET:
            exact = rf"(?<![{_TOKEN_CHAR}]){re.escape(secret)}(?![{_TOKEN_CHAR}])"
            text = re.sub(exact, "***", text)
    return _SECRETISH.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


def default_transport() -> httpx.AsyncBaseTransport:
    """What a client sends through unless a test injects another transport."""
    return AiohttpTransport()


def make_client(
    base_url: str,
    *,
    headers: Mapping[str, str] | None = None,
    auth: httpx.Auth | tuple[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 10.0,
) -> httpx.AsyncClient:
    """An httpx client; without `transport` it sends through aiohttp (connectors/transport.py).

    Tests pass `httpx.ASGITransport`/`MockTransport` to reach in-process apps.
    """
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        headers=dict(headers or {}),
        auth=auth,
        transport=transport if transport is not None else default_transport(),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        follow_redirects=False,
    )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def request(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    app: str,
    operation: str,
    parse_error: ErrorParser,
    overlay: ErrorMap | None = None,
    secrets: tuple[str, ...] = (),
    params: Mapping[str, Any] | None = None,
    json_body: Any = None,
) -> Any:
    """Send one request and return its decoded JSON, or raise a classified ConnectorError."""
    ctx: dict[str, Any] = {"app": app, "operation": operation}
    try:
        response = await client.request(method, path, params=params, json=json_body)
    except httpx.ConnectError as exc:
        # Nothing reached the server: a retry cannot duplicate anything.
        raise errors.UnavailableError(
            f"{app} is unreachable", internal_message=scrub(repr(exc), secrets), **ctx
        ) from exc
    except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as exc:
        # The request may have been applied and only the answer lost.
        raise errors.UnavailableError(
            f"{app} did not answer in time",
            ambiguous=not isinstance(exc, httpx.ConnectTimeout),
            internal_message=scrub(repr(exc), secrets),
            **ctx,
        ) from exc
    except httpx.TransportError as exc:
        raise errors.UnavailableError(
            f"{app} connection failed", internal_message=scrub(repr(exc), secrets), **ctx
        ) from exc

    try:
        body: Any = response.json() if response.content else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = _NOT_JSON
    if response.is_success and body is not _NOT_JSON:
        return body

    status = response.status_code
    internal = scrub(f"{method} {path} → {status}: {response.text[:500]}", secrets)
    if body is _NOT_JSON:
        # Gateways answer 502/503 with HTML; a non-JSON body is never a verdict on the request.
        raise errors.UnavailableError(
            f"{app} returned a non-JSON {status} response",
            status=status,
            internal_message=internal,
            **ctx,
        )
    detail = parse_error(status, body)
    cls = detail.error_class or classify_status(status, overlay)
    kwargs: dict[str, Any] = dict(
        status=status,
        code=detail.code,
        field=detail.field,
        reason=detail.reason,
        internal_message=internal,
        **ctx,
    )
    message = scrub(f"{app} {operation}: {detail.message}", secrets)
    if issubclass(cls, errors.RateLimitedError):
        raise cls(message, retry_after=_retry_after(response), **kwargs)
    raise cls(message, **kwargs)


_NOT_JSON = object()
