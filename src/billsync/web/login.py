"""Log in with an admin API token (`billsync tokens create`), log out.

The token is checked against its stored SHA-256 digest and forgotten: the session cookie
keeps only the token's name (and its session epoch). Failed logins are logged with the
client address, never the token typed, and throttled per address (app/throttle.py).
Logging out ends the session server-side: every session of that token (web/session.py).
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from billsync.app import tokens
from billsync.app.throttle import FailureThrottle
from billsync.web import session as sessions
from billsync.web.ui import PREFIX, Ui, text

log = structlog.get_logger(__name__)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def router(ui: Ui, throttle: FailureThrottle | None = None) -> APIRouter:
    routes = APIRouter(include_in_schema=False)
    attempts = throttle or FailureThrottle(max_failures=ui.app.settings.auth_failures)

    def login_page(
        request: Request, found: sessions.Session, error: str = "", status_code: int = 401
    ) -> Response:
        request.state.session = found
        response = ui.render(
            request, "login.html", {"error": error}, status_code=status_code if error else 200
        )
        sessions.write(ui.codec, request, response, found)
        return response

    @routes.get(f"{PREFIX}/login")
    async def login_form(request: Request) -> Response:
        found = sessions.read(ui.codec, request)
        if found is not None and found.logged_in:
            return RedirectResponse(f"{PREFIX}/", status_code=303)
        return login_page(request, found or sessions.new_session())

    @routes.post(f"{PREFIX}/login")
    async def login(request: Request) -> Response:
        found = sessions.read(ui.codec, request)
        if found is None:
            # No cookie (expired, or cookies blocked): show the form again with a new one.
            return login_page(request, sessions.new_session(), "Your session expired; try again.")
        try:
            data = await ui.checked_form(request, found)
        except HTTPException:
            return login_page(request, sessions.new_session(), "Your session expired; try again.")
        address = _address(request)
        wait = attempts.retry_after(address)
        if wait:
            log.warning("ui login throttled", client=address, retry_after=wait)
            response = login_page(
                request,
                found,
                f"Too many failed logins from your address; try again in {wait} s.",
                status_code=429,
            )
            response.headers["Retry-After"] = str(wait)
            return response
        token = text(data, "token")
        if not token:
            return login_page(request, found, "Enter an API token.")
        name = await tokens.authenticate(ui.app, token)
        if name is None:
            attempts.failed(address)
            # Never the token typed: it may be a real token with one character wrong.
            log.warning("ui login failed", client=address)
            return login_page(request, found, "That token is not valid (or was revoked).")
        attempts.succeeded(address)
        epoch = (await tokens.session_epochs(ui.app)).get(name, 0)
        log.info("ui login", client=address, token_name=name)
        response = RedirectResponse(f"{PREFIX}/", status_code=303)
        # A fresh session (and CSRF token) after login: nothing seen before it stays valid.
        sessions.write(ui.codec, request, response, sessions.new_session(name, epoch))
        return response

    @routes.post(f"{PREFIX}/logout")
    async def logout(request: Request) -> Response:
        await ui.form(request)
        found: sessions.Session = request.state.session
        assert found.token_name is not None  # ui.form admits logged-in sessions only
        # Server-side: the token's next epoch, so this cookie (and any copy of it) is over.
        await tokens.end_sessions(ui.app, found.token_name, actor=f"web:{found.token_name}")
        response = RedirectResponse(ui.login_url, status_code=303)
        sessions.clear(response)
        return response

    @routes.get("/")
    async def root() -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=303)

    return routes
