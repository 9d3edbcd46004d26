"""Webhook routes: the raw body goes to intake, which answers only after the commit.

    POST /webhooks/razorpay/{connection_id}            X-Razorpay-Signature, webhook secret
    POST /webhooks/togai/{connection_id}/{token}       the connection's secret URL token

401 wrong or missing signature/token, or no such connection of that app (nothing stored;
the same answer, so connection ids cannot be enumerated), 413 body over 1 MiB, 400 not
JSON, 503 the entity could not be re-fetched (the provider retries; the poller is the
safety net), 200 stored or duplicate (unknown event types are stored as ignored).
A Togai delivery is a hint: 200 once the hint is stored (`"hints": 1`); its events and runs
follow when engine/hints.py has re-fetched the entity.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from billsync import errors
from billsync.app import App
from billsync.engine import intake

log = structlog.get_logger(__name__)


_TOKEN_IN_PATH = re.compile(r"(/webhooks/togai/[^/\s]+/)[^/?\s]+")


def redact(path: str) -> str:
    """The path with a Togai webhook token replaced: the token is a secret."""
    return _TOKEN_IN_PATH.sub(r"\1***", path)


class RedactTokens(logging.Filter):
    """Keeps webhook tokens out of uvicorn's access log (its args hold the full path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in access.filters):
        access.addFilter(RedactTokens())


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


REFUSED = "invalid webhook signature or token"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _receive(
    app: App, request: Request, app_name: str, connection_id: int, token: str | None
) -> JSONResponse:
    try:
        body = await _read_body(request, intake.MAX_BODY_BYTES)
    except _TooLarge:
        intake.WEBHOOKS.labels(app_name, "rejected").inc()
        return _error(413, "webhook body is larger than 1 MiB")
    headers: Mapping[str, str] = dict(request.headers)
    try:
        result = await app.intake.receive_webhook(
            app_name, connection_id, headers, body, token=token
        )
    except errors.SignatureError as exc:
        log.warning("webhook refused", app=app_name, connection_id=connection_id, reason=str(exc))
        return _error(401, REFUSED)
    except intake.UnknownConnectionError:
        # The same answer as a bad signature: which ids exist is nobody's business.
        log.warning("webhook refused", app=app_name, connection_id=connection_id, reason="unknown")
        return _error(401, REFUSED)
    except intake.PayloadTooLargeError:
        return _error(413, "webhook body is larger than 1 MiB")
    except intake.MalformedWebhookError as exc:
        return _error(400, exc.message)
    except errors.ConnectorError as exc:
        log.warning(
            "webhook entity could not be fetched; asking the provider to retry",
            app=app_name,
            connection_id=connection_id,
            error=exc.message,
        )
        return _error(503, "temporarily unable to process the webhook; retry later")
    answer = {"stored": result.stored, "duplicates": result.duplicates, "runs": len(result.run_ids)}
    if result.hinted:
        answer["hints"] = result.hints
    return JSONResponse(answer)


#: Ids beyond a BIGINT cannot name a connection (and would overflow the driver): 422.
ConnectionId = Annotated[int, Path(ge=1, le=2**63 - 1)]

_REFUSAL = {"type": "object", "properties": {"error": {"type": "string"}}}
#: Declared in OpenAPI: what a provider (or a schema-driven test) may get back.
RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {"application/json": {"schema": _REFUSAL}}}
    for code, text in (
        (400, "The body is not JSON"),
        (401, "Wrong or missing signature or token, or no such connection; nothing stored"),
        (413, "Body over 1 MiB"),
        (503, "The entity could not be re-fetched; the provider should retry"),
    )
}


def router(app: App) -> APIRouter:
    routes = APIRouter(tags=["webhooks"], responses=RESPONSES)

    @routes.post("/webhooks/razorpay/{connection_id}")
    async def razorpay_webhook(connection_id: ConnectionId, request: Request) -> JSONResponse:
        return await _receive(app, request, "razorpay", connection_id, None)

    @routes.post("/webhooks/togai/{connection_id}/{token}")
    async def togai_webhook(
        connection_id: ConnectionId, token: str, request: Request
    ) -> JSONResponse:
        return await _receive(app, request, "togai", connection_id, token)

    return routes
