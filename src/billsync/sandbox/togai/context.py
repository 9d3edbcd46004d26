"""What every Togai route needs: config, state, ids, events, and the auth guard."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from billsync.sandbox.common.ids import IdGenerator
from billsync.sandbox.togai.config import TogaiSandboxConfig
from billsync.sandbox.togai.errors import ApiError
from billsync.sandbox.togai.events import TogaiEvents
from billsync.sandbox.togai.store import TogaiStore
from billsync.sandbox.togai.validation import Schema, check, parse_json

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class TogaiContext:
    config: TogaiSandboxConfig
    store: TogaiStore
    ids: IdGenerator
    events: TogaiEvents

    def togai_id(self, prefix: str) -> str:
        """Togai-generated ids look like `inv.1zYnCiM9Bpg.lv25y`."""
        return f"{prefix}.{self.ids.token(11)}.{self.ids.token(5).lower()}"

    def guard(self, handler: Endpoint) -> Endpoint:
        """Wrap an API endpoint with the Bearer-token check."""
        expected = f"Bearer {self.config.token}".encode()

        async def endpoint(request: Request) -> Response:
            for name, value in request.scope["headers"]:
                if name == b"authorization":
                    if hmac.compare_digest(value, expected):
                        return await handler(request)
                    break
            raise ApiError(401, "Unauthorized")

        return endpoint

    async def body(
        self, request: Request, schema: Schema, *, optional: bool = False
    ) -> dict[str, Any]:
        """The checked JSON body; `optional`: no body at all reads as `{}` (the official
        client sends none when a method's body parameter is left out)."""
        data = parse_json(await request.body())
        if data is None and optional:
            data = {}
        return check(data, schema, strict=self.config.reject_unknown_fields)
