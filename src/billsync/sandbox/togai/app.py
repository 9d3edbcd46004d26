"""`create_app(config)`: the Togai sandbox as one ASGI app (API at the root, /_sandbox control)."""

from __future__ import annotations

from starlette.exceptions import HTTPException

from billsync.sandbox.common.assembly import SandboxApp
from billsync.sandbox.common.faults import Faults
from billsync.sandbox.common.ids import IdGenerator
from billsync.sandbox.common.webhooks import WebhookDispatcher, WebhookTarget
from billsync.sandbox.togai import accounts, control, customers, events, invoices, payments
from billsync.sandbox.togai import settings as settings_routes
from billsync.sandbox.togai.config import TogaiSandboxConfig
from billsync.sandbox.togai.context import TogaiContext
from billsync.sandbox.togai.errors import (
    ApiError,
    handle_api_error,
    handle_http_error,
    render_error,
)
from billsync.sandbox.togai.store import TogaiStore


def create_app(config: TogaiSandboxConfig | None = None) -> SandboxApp:
    config = config or TogaiSandboxConfig()
    faults = Faults(
        latency_ms=config.latency_ms,
        rate_limit=config.rate_limit,
        retry_after=config.retry_after,
        seed=config.seed,
    )
    ids = IdGenerator(config.seed)
    dispatcher = WebhookDispatcher(
        faults=faults,
        signer=events.sign,
        targets=[WebhookTarget(url) for url in config.webhook_urls],
        base_delay=config.webhook_base_delay,
        max_delay=config.webhook_max_delay,
        max_attempts=config.webhook_max_attempts,
        timeout=config.webhook_timeout,
        concurrency=config.webhook_concurrency,
        ids=ids,
        user_agent="togai-sandbox (billsync)",
    )
    store = TogaiStore()
    ctx = TogaiContext(config, store, ids, events.TogaiEvents(dispatcher, ids))
    api_routes = [
        *customers.routes(ctx),
        *accounts.routes(ctx),
        *settings_routes.routes(ctx),
        *invoices.routes(ctx),
        *payments.routes(ctx),
        *control.routes(ctx),
    ]
    return SandboxApp(
        api_routes,
        faults=faults,
        dispatcher=dispatcher,
        render_error=render_error,
        objects=store.counts,
        reset=store.clear,
        state=ctx,
        exception_handlers={ApiError: handle_api_error, HTTPException: handle_http_error},
    )
