"""UI sessions end server-side at logout, expire when idle, and logins are throttled and
logged without the token (issue 11)."""

from __future__ import annotations

import logging
import re
import time

import pytest
import structlog

from billsync.app.throttle import FailureThrottle
from billsync.web import session as sessions
from tests.unit.web.test_web_pages import CSRF, Ui, _login, ui  # noqa: F401 (fixture)


async def test_the_old_cookie_no_longer_opens_pages_after_logout(ui: Ui) -> None:  # noqa: F811
    csrf = await _login(ui)
    old_cookie = ui.http.cookies.get(sessions.COOKIE)
    assert old_cookie
    assert (await ui.http.get("/ui/flows")).status_code == 200
    out = await ui.http.post("/ui/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 303
    # An attacker who kept a copy of the cookie replays it: the session is over.
    ui.http.cookies.clear()
    ui.http.cookies.set(sessions.COOKIE, old_cookie)
    replayed = await ui.http.get("/ui/flows")
    assert replayed.status_code == 303 and replayed.headers["location"] == "/ui/login"
    # Logging in again opens a new session that works.
    ui.http.cookies.clear()
    await _login(ui)
    assert (await ui.http.get("/ui/flows")).status_code == 200


def test_an_idle_session_expires_and_a_used_one_is_renewed() -> None:
    codec = sessions.SessionCodec(idle=600, max_age=3600)
    opened = sessions.new_session("ops")
    cookie = codec.encode(opened)
    start = opened.issued_at
    assert codec.decode(cookie, now=start + 599) is not None
    assert codec.decode(cookie, now=start + 601) is None
    # A request at +500 renews `seen`; the session then lasts until +1100.
    renewed = sessions.seen(opened, now=start + 500)
    assert renewed is not None
    again = codec.encode(renewed)
    assert codec.decode(again, now=start + 1000) is not None
    assert codec.decode(again, now=start + 1101) is None
    # However busy, a session ends max_age after login.
    late = sessions.seen(renewed, now=start + 3590)
    assert late is not None
    assert codec.decode(codec.encode(late), now=start + 3601) is None


def test_the_throttle_counts_failures_per_address_in_a_window() -> None:
    throttle = FailureThrottle(max_failures=3, window=60)
    for i in range(3):
        assert throttle.retry_after("10.0.0.1", now=100 + i) == 0
        throttle.failed("10.0.0.1", now=100 + i)
    assert throttle.retry_after("10.0.0.1", now=103) > 0
    assert throttle.retry_after("10.0.0.2", now=103) == 0
    assert throttle.retry_after("10.0.0.1", now=161) == 0


async def test_failed_logins_are_throttled_and_logged_without_the_token(
    ui: Ui,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    form = await ui.http.get("/ui/login")
    found = CSRF.search(form.text)
    assert found is not None
    csrf = found.group(1)
    guesses = [f"bst_guess_{i}_{time.time_ns()}" for i in range(5)]
    with structlog.testing.capture_logs() as logs, caplog.at_level(logging.WARNING):
        for guess in guesses:
            r = await ui.http.post("/ui/login", data={"csrf": csrf, "token": guess})
            assert r.status_code == 401
        # The sixth try is refused before the token is even checked, the right one too.
        r = await ui.http.post("/ui/login", data={"csrf": csrf, "token": ui.token})
    assert r.status_code == 429 and "Too many failed logins" in r.text
    assert int(r.headers["Retry-After"]) > 0
    failed = [e for e in logs if e["event"] == "ui login failed"]
    assert len(failed) == 5 and all(e["client"] for e in failed)
    text = repr(logs) + caplog.text
    assert not any(g in text for g in guesses) and ui.token not in text


async def test_the_togai_webhook_url_is_shown_whole_only_when_made(ui: Ui) -> None:  # noqa: F811
    from billsync.app import connections as connection_ops

    created = await connection_ops.create(
        ui.app,
        app_name="togai",
        name="Togai",
        values={"api_token": "togai-token-value"},
        verify=False,
    )
    token = created.webhook_url.rsplit("/", 1)[-1]
    assert len(token) >= 32
    csrf = await _login(ui)
    page = await ui.http.get(f"/ui/connections/{created.id}")
    assert token not in page.text and f"/{token[:4]}..." in page.text
    rotated = await ui.http.post(
        f"/ui/connections/{created.id}/rotate-webhook-url", data={"csrf": csrf}
    )
    assert rotated.status_code == 200 and "shown only this once" in rotated.text
    found = re.search(
        r'id="webhook-url">[^<]*/webhooks/togai/\d+/([A-Za-z0-9_-]{32,})<', rotated.text
    )
    assert found is not None and found.group(1) != token
    later = await ui.http.get(f"/ui/connections/{created.id}")
    assert found.group(1) not in later.text
    # The API and CLI read the same ConnectionInfo: only the prefix.
    shown = await connection_ops.get(ui.app, created.id)
    assert shown is not None and shown.webhook_url.endswith(f"/{found.group(1)[:4]}...")
