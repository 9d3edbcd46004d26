"""What every page handler shares: the App, templates, the session checks, CSRF on POST.

`Ui.admin(request)` returns the logged-in session or raises a redirect to the login page;
`Ui.form(request)` does the same and then checks the CSRF token of a POST, so a handler
that reads its form through it cannot forget the check.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from billsync.app import App, tokens
from billsync.web import session as sessions

PREFIX = "/ui"
HERE = Path(__file__).parent
#: Admin pages are never framed (clickjacking), cached, or leaked through the Referer.
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
}


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = int((datetime.now(UTC) - value).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def templates() -> Jinja2Templates:
    env = Jinja2Templates(directory=str(HERE / "templates"))
    env.env.filters["when"] = _when
    env.env.filters["ago"] = _ago
    env.env.filters["pretty"] = _pretty
    env.env.globals["prefix"] = PREFIX
    return env


class Ui:
    def __init__(self, app: App, codec: sessions.SessionCodec | None = None) -> None:
        self.app = app
        self.codec = codec or sessions.SessionCodec(app.vault.derived_key("ui-session"))
        self.templates = templates()
        self.login_url = f"{PREFIX}/login"

    async def admin(self, request: Request) -> sessions.Session:
        """The session of a logged-in admin whose token is still live."""
        found = sessions.read(self.codec, request)
        if found is None or found.token_name is None:
            raise sessions.LoginRequiredError(self.login_url)
        # A revoked token ends its sessions at once, not when the cookie expires; so does a
        # logout (it moved the token to a new session epoch).
        live = await tokens.session_epochs(self.app)
        if live.get(found.token_name) != found.epoch:
            raise sessions.LoginRequiredError(self.login_url)
        request.state.session = found
        request.state.session_seen = sessions.seen(found)
        return found

    async def form(self, request: Request) -> FormData:
        """The POSTed form of a logged-in admin, after checking its CSRF token."""
        found = await self.admin(request)
        return await self.checked_form(request, found)

    async def checked_form(self, request: Request, found: sessions.Session) -> FormData:
        data = await request.form()
        submitted = data.get(sessions.CSRF_FIELD) or request.headers.get(sessions.CSRF_HEADER)
        if not sessions.csrf_ok(found, submitted if isinstance(submitted, str) else None):
            raise HTTPException(status_code=403, detail="missing or wrong CSRF token")
        return data

    def render(
        self,
        request: Request,
        name: str,
        context: dict[str, Any] | None = None,
        *,
        status_code: int = 200,
        nav: str = "",
    ) -> HTMLResponse:
        found: sessions.Session | None = getattr(request.state, "session", None)
        values = {
            "session": found,
            "csrf": found.csrf if found else "",
            "nav": nav,
            **(context or {}),
        }
        response = self.templates.TemplateResponse(request, name, values, status_code=status_code)
        response.headers.update(PAGE_HEADERS)
        renewed: sessions.Session | None = getattr(request.state, "session_seen", None)
        if renewed is not None:
            # Idle expiry counts from the last page served.
            sessions.write(self.codec, request, response, renewed)
        return response


def text(data: FormData, name: str) -> str:
    """A form field as stripped text ('' when absent or a file)."""
    value = data.get(name)
    return value.strip() if isinstance(value, str) else ""
