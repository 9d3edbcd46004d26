"""create_app: the Razorpay API and its control plane on the shared sandbox machinery."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException

from billsync.sandbox.common.assembly import SandboxApp
from billsync.sandbox.common.faults import Faults
from billsync.sandbox.common.ids import IdGenerator
from billsync.sandbox.common.webhooks import WebhookDispatcher, WebhookTarget
from billsync.sandbox.razorpay import api, control, error, event
from billsync.sandbox.razorpay.config import RazorpaySandboxConfig
from billsync.sandbox.razorpay.state import State

_CODES = {500: "SERVER_ERROR", 502: "GATEWAY_ERROR", 503: "GATEWAY_ERROR", 504: "GATEWAY_ERROR"}


def render_error(status: int, message: str) -> dict[str, Any]:
    """Bodies for injected faults. UNCONFIRMED for 429: Razorpay documents the status only;
    BAD_REQUEST_ERROR makes the SDK raise BadRequestError, as for any 4xx."""
    return error.RazorpayError(
        message,
        status=status,
        code=_CODES.get(status, error.BAD_REQUEST),
        source="NA",
        step="NA",
        reason="NA",
    ).body()


def create_app(config: RazorpaySandboxConfig | None = None) -> SandboxApp:
    config = config or RazorpaySandboxConfig()
    state = State(config)
    faults = Faults(latency_ms=config.latency_ms, rate_limit=config.rate_limit, seed=config.seed)
    dispatcher = WebhookDispatcher(
        faults=faults,
        signer=event.signer(config.webhook_secret),
        targets=[WebhookTarget(url) for url in config.webhook_urls],
        timeout=config.webhook_timeout_s,
        base_delay=config.webhook_retry_base_s,
        max_delay=config.webhook_retry_max_s,
        max_attempts=config.webhook_max_attempts,
        concurrency=config.webhook_concurrency,
        ids=IdGenerator(config.seed),
        user_agent="Razorpay-Webhook/v1",
    )
    state.emit = event.sink(state, dispatcher)
    return SandboxApp(
        [*control.routes(state), *api.routes(state)],
        faults=faults,
        dispatcher=dispatcher,
        render_error=render_error,
        objects=state.counts,
        reset=state.reset,
        state=state,
        # Razorpay answers `GET /v1/customers/` with its 400 "The requested URL was not found
        # on the server." (razorpay-api.md §2), never a redirect.
        redirect_slashes=False,
        exception_handlers={
            error.RazorpayError: error.handle,
            HTTPException: error.handle_http,
        },
    )
