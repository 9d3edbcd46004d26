"""The UI session: a signed cookie holding who logged in and the session's CSRF token.

The cookie is `base64url(json).base64url(hmac-sha256)`, httponly and SameSite=Strict. The
signing key is derived from the newest secret key (`Vault.derived_key`): nothing more to
store, a restart keeps admins logged in, and `billsync keys rotate` (a new newest key) logs
everyone out. The payload holds no secret beyond the CSRF token (which the page carries
anyway): never the API token.

Every session, even before login, has a CSRF token; every POST must echo it in the
`csrf` form field or the `X-CSRF-Token` header (HTMX sends the header), and a login
issues a fresh session so a token seen before login is worthless after it.

Sessions end server-side: the cookie carries the session epoch of the token it was opened
with (`api_token.session_epoch`), and logging out increments that epoch, so the old cookie
(and every other session of that token) stops opening pages at once. A session also ends
after IDLE_SECONDS without a request (the cookie's `seen` time is renewed at most once a
minute) and MAX_AGE after login whatever happens.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from fastapi import HTTPException, Request, Response

COOKIE = "billsync_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
#: Seconds a login lasts at most.
MAX_AGE = 12 * 3600
#: Seconds without a request after which a session ends.
IDLE_SECONDS = 30 * 60
#: The cookie's `seen` time is renewed when it is older than this (not on every request).
SEEN_PRECISION = 60


@dataclass(frozen=True)
class Session:
    csrf: str
    issued_at: int
    #: The name of the API token the admin logged in with (names are unique).
    token_name: str | None = None
    #: The token's session epoch at login; a logout increments it (ending this session).
    epoch: int = 0
    #: When the session last served a request (idle expiry); issued_at when unset.
    seen_at: int = 0

    @property
    def last_seen(self) -> int:
        return max(self.seen_at, self.issued_at)

    @property
    def logged_in(self) -> bool:
        return self.token_name is not None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    """Signs and verifies session cookies (a random key when none is given: tests)."""

    def __init__(
        self, key: bytes | None = None, *, max_age: int = MAX_AGE, idle: int = IDLE_SECONDS
    ) -> None:
        self._key = key or secrets.token_bytes(32)
        self.max_age = max_age
        self.idle = idle

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def encode(self, session: Session) -> str:
        payload = {
            "c": session.csrf,
            "i": session.issued_at,
            "n": session.token_name,
            "e": session.epoch,
            "s": session.seen_at,
        }
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}"

    def decode(self, cookie: str, *, now: float | None = None) -> Session | None:
        body, _, signature = cookie.partition(".")
        if not body or not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            payload = json.loads(_unb64(body))
        except (ValueError, binascii.Error):
            return None
        if not isinstance(payload, dict):
            return None
        issued = payload.get("i")
        csrf = payload.get("c")
        if not isinstance(issued, int) or not isinstance(csrf, str):
            return None
        epoch = payload.get("e", 0)
        seen = payload.get("s", 0)
        if not isinstance(epoch, int) or not isinstance(seen, int):
            return None
        current = now if now is not None else time.time()
        if current - issued > self.max_age or current - max(seen, issued) > self.idle:
            return None
        name = payload.get("n")
        return Session(
            csrf=csrf,
            issued_at=issued,
            token_name=name if isinstance(name, str) else None,
            epoch=epoch,
            seen_at=seen,
        )


def new_session(token_name: str | None = None, epoch: int = 0) -> Session:
    return Session(
        csrf=secrets.token_urlsafe(24),
        issued_at=int(time.time()),
        token_name=token_name,
        epoch=epoch,
    )


def seen(found: Session, *, now: float | None = None) -> Session | None:
    """The session with its `seen` time renewed, or None when it is recent enough."""
    current = int(now if now is not None else time.time())
    if current - found.last_seen < SEEN_PRECISION:
        return None
    return dataclasses.replace(found, seen_at=current)


def read(codec: SessionCodec, request: Request) -> Session | None:
    cookie = request.cookies.get(COOKIE)
    return codec.decode(cookie) if cookie else None


def write(codec: SessionCodec, request: Request, response: Response, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        codec.encode(session),
        max_age=codec.max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


class LoginRequiredError(HTTPException):
    """Answered as a redirect to the login page (HTMX follows HX-Redirect instead)."""

    def __init__(self, login_url: str) -> None:
        super().__init__(status_code=303, headers={"Location": login_url, "HX-Redirect": login_url})


def csrf_ok(session: Session, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(str(submitted), session.csrf)
