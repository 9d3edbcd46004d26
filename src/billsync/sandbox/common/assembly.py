"""Put a sandbox together: API routes + control routes, faults and stats around them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from billsync.sandbox.common.control import ObjectCounts, control_routes
from billsync.sandbox.common.faults import Faults
from billsync.sandbox.common.middleware import ErrorRenderer, SandboxMiddleware
from billsync.sandbox.common.stats import Stats
from billsync.sandbox.common.webhooks import WebhookDispatcher


class SandboxApp(SandboxMiddleware):
    """The ASGI app a sandbox's `create_app` returns; its parts stay reachable for tests."""

    def __init__(
        self,
        api_routes: Sequence[BaseRoute],
        *,
        faults: Faults,
        dispatcher: WebhookDispatcher,
        render_error: ErrorRenderer,
        objects: ObjectCounts,
        reset: Callable[[], None],
        state: Any = None,
        exception_handlers: dict[Any, Any] | None = None,
        control_prefix: str = "/_sandbox",
        redirect_slashes: bool = True,
    ) -> None:
        stats = Stats()
        # API routes first: they are the hot path, and Starlette tries routes in order.
        routes = [
            *api_routes,
            *control_routes(
                faults=faults,
                dispatcher=dispatcher,
                stats=stats,
                objects=objects,
                reset=reset,
                prefix=control_prefix,
            ),
        ]
        starlette = Starlette(
            routes=routes, exception_handlers=exception_handlers, lifespan=dispatcher.lifespan
        )
        # Starlette answers `/path/` with a redirect to `/path`; a provider that refuses
        # such URLs instead (Razorpay) switches that off.
        starlette.router.redirect_slashes = redirect_slashes
        super().__init__(
            starlette,
            faults=faults,
            stats=stats,
            render_error=render_error,
            control_prefix=control_prefix,
            routes=starlette.routes,
        )
        self.dispatcher = dispatcher
        self.state = state

    async def aclose(self) -> None:
        """Stop webhook delivery; needed in-process, where no lifespan runs."""
        await self.dispatcher.aclose()
