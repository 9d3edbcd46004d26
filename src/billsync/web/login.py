"""Log in with an admin API token (`billsync tokens create`), log out.

The token is checked against its stored SHA-256 digest and forgotten: the session cookie
keeps only the token's name.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from billsync.app import tokens
from billsync.web import session as sessions
from billsync.web.ui import PREFIX, Ui, text


def router(ui: Ui) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    def login_page(request: Request, found: sessions.Session, error: str = "") -> Response:
        request.state.session = found
        response = ui.render(
            request, "login.html", {"error": error}, status_code=401 if error else 200
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
        token = text(data, "token")
        if not token:
            return login_page(request, found, "Enter an API token.")
        name = await tokens.authenticate(ui.app, token)
        if name is None:
            return login_page(request, found, "That token is not valid (or was revoked).")
        response = RedirectResponse(f"{PREFIX}/", status_code=303)
        # A fresh session (and CSRF token) after login: nothing seen before it stays valid.
        sessions.write(ui.codec, request, response, sessions.new_session(name))
        return response

    @routes.post(f"{PREFIX}/logout")
    async def logout(request: Request) -> Response:
        await ui.form(request)
        response = RedirectResponse(ui.login_url, status_code=303)
        sessions.clear(response)
        return response

    @routes.get("/")
    async def root() -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=303)

    return routes
