"""The /_sandbox control routes shared by both sandboxes. Test use only: no auth."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from billsync.sandbox.common.faults import Faults, FaultSettingsError
from billsync.sandbox.common.stats import Stats
from billsync.sandbox.common.webhooks import WebhookDispatcher

ObjectCounts = Callable[[], Mapping[str, int]]


def control_routes(
    *,
    faults: Faults,
    dispatcher: WebhookDispatcher,
    stats: Stats,
    objects: ObjectCounts,
    reset: Callable[[], None],
    prefix: str = "/_sandbox",
) -> list[Route]:
    """Routes for faults, webhook targets and deliveries, stats and reset.

    `objects` counts the sandbox's stored objects per type; `reset` clears its state (the
    common parts — faults, stats, deliveries, targets — are reset here as well).
    """

    async def get_faults(request: Request) -> JSONResponse:
        return JSONResponse(faults.to_dict())

    async def set_faults(request: Request) -> JSONResponse:
        body = await _json_object(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            faults.update(body)
        except FaultSettingsError as exc:
            return _error(400, str(exc))
        return JSONResponse(faults.to_dict())

    async def clear_faults(request: Request) -> JSONResponse:
        faults.clear()
        return JSONResponse(faults.to_dict())

    async def list_targets(request: Request) -> JSONResponse:
        return JSONResponse({"targets": [t.public() for t in dispatcher.targets]})

    async def add_target(request: Request) -> JSONResponse:
        body = await _json_object(request)
        if isinstance(body, JSONResponse):
            return body
        url, secret = body.get("url"), body.get("secret")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return _error(400, "url must be an http(s) URL")
        if secret is not None and not isinstance(secret, str):
            return _error(400, "secret must be a string")
        target = dispatcher.add_target(url, secret)
        return JSONResponse(target.public(), status_code=201)

    async def clear_targets(request: Request) -> JSONResponse:
        dispatcher.clear_targets()
        return JSONResponse({"targets": []})

    async def list_deliveries(request: Request) -> JSONResponse:
        status = request.query_params.get("status")
        return JSONResponse({"deliveries": dispatcher.deliveries(status)})

    async def get_stats(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "requests": stats.requests(),
                "total_requests": stats.total(),
                "objects": dict(objects()),
                "webhooks": dispatcher.counts(),
            }
        )

    async def do_reset(request: Request) -> JSONResponse:
        reset()
        faults.clear()
        stats.reset()
        dispatcher.reset()
        return JSONResponse({"reset": True})

    return [
        Route(f"{prefix}/faults", get_faults, methods=["GET"]),
        Route(f"{prefix}/faults", set_faults, methods=["POST"]),
        Route(f"{prefix}/faults", clear_faults, methods=["DELETE"]),
        Route(f"{prefix}/webhooks", list_targets, methods=["GET"]),
        Route(f"{prefix}/webhooks", add_target, methods=["POST"]),
        Route(f"{prefix}/webhooks", clear_targets, methods=["DELETE"]),
        Route(f"{prefix}/webhooks/deliveries", list_deliveries, methods=["GET"]),
        Route(f"{prefix}/stats", get_stats, methods=["GET"]),
        Route(f"{prefix}/reset", do_reset, methods=["POST"]),
    ]


async def _json_object(request: Request) -> dict[str, Any] | JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "body must be a JSON object")
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object")
    return body


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
