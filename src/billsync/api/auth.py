"""Bearer admin tokens (`billsync tokens create`): every /api/v1 route but health needs one.

The dependency answers 401 with `WWW-Authenticate: Bearer` when the header is missing,
malformed, unknown or revoked, and otherwise yields the audit actor ("api:<token name>").
A token that is presented but refused is logged with the client address (never the token)
and counted: after BILLSYNC_AUTH_FAILURES of them in 5 minutes the address is answered 429
with Retry-After, its tokens unchecked, until the window passes (app/throttle.py). A
request without a token is not a guess and is not counted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import structlog
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from billsync.app import App, audit, tokens
from billsync.app.throttle import FailureThrottle

log = structlog.get_logger(__name__)

ActorDependency = Callable[..., Awaitable[str]]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="An admin token made with `billsync tokens create NAME`.",
)

UNAUTHORIZED = HTTPException(
    status_code=401,
    detail="a valid admin token is required (Authorization: Bearer <token>)",
    headers={"WWW-Authenticate": "Bearer"},
)


def actor_dependency(app: App) -> ActorDependency:
    """The dependency authenticating requests to `app`; it returns the audit actor."""
    attempts = FailureThrottle(max_failures=app.settings.auth_failures)

    async def require_token(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise UNAUTHORIZED
        address = request.client.host if request.client else "unknown"
        wait = attempts.retry_after(address)
        if wait:
            raise HTTPException(
                status_code=429,
                detail=f"too many refused tokens from your address; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        name = await tokens.authenticate(app, credentials.credentials)
        if name is None:
            attempts.failed(address)
            log.warning("api token refused", client=address, path=request.url.path)
            if attempts.retry_after(address):
                log.warning("api token throttled", client=address, window=attempts.window)
            raise UNAUTHORIZED
        return audit.api_actor(name)

    return require_token
