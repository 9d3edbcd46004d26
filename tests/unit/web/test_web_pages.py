"""UI pages in-process (no browser): login, CSRF on every POST, revoked tokens, secrets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from billsync import web
from billsync.api.server import create_api
from billsync.app import App, build, tokens
from billsync.app import connections as connection_ops
from billsync.config import Settings
from billsync.sandbox import razorpay as razorpay_sandbox
from billsync.store import connections as connection_store
from billsync.store.models import Connection

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Ui:
    app: App
    http: httpx.AsyncClient
    token: str


@pytest.fixture
async def ui(tmp_path: Path) -> AsyncIterator[Ui]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ui.db'}",
        key_file=tmp_path / "ui.key",
        public_url="http://billsync.test",
    )
    razorpay = razorpay_sandbox.create_app(razorpay_sandbox.RazorpaySandboxConfig())

    def transport_for(connection: Connection) -> httpx.AsyncBaseTransport | None:
        # Razorpay calls (credential checks) go to an in-process sandbox.
        return httpx.ASGITransport(app=razorpay) if connection.app == "razorpay" else None

    app = build(settings, transport_for=transport_for)
    await app.migrate()
    _, token = await tokens.create(app, "ops", actor="test")
    api = create_api(app, extra_routers=(web.router,))
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://billsync.test") as http:
        yield Ui(app, http, token)
    await app.clients.aclose()
    await app.db.dispose()
    await razorpay.aclose()


async def _login(ui: Ui) -> str:
    """Log in; returns the session's CSRF token (from a page's hx-headers)."""
    form = await ui.http.get("/ui/login")
    csrf = CSRF.search(form.text)
    assert csrf is not None
    done = await ui.http.post("/ui/login", data={"csrf": csrf.group(1), "token": ui.token})
    assert done.status_code == 303 and done.headers["location"] == "/ui/"
    page = await ui.http.get("/ui/flows")
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert found is not None
    assert found.group(1) != csrf.group(1), "login must issue a fresh CSRF token"
    return found.group(1)


async def test_pages_need_a_login_and_htmx_is_told_where_to_go(ui: Ui) -> None:
    page = await ui.http.get("/ui/runs")
    assert page.status_code == 303 and page.headers["location"] == "/ui/login"
    fragment = await ui.http.get("/ui/runs/table", headers={"HX-Request": "true"})
    assert fragment.headers["HX-Redirect"] == "/ui/login"


async def test_a_wrong_token_is_refused_and_the_right_one_logs_in(ui: Ui) -> None:
    form = await ui.http.get("/ui/login")
    csrf = CSRF.search(form.text)
    assert csrf is not None
    refused = await ui.http.post("/ui/login", data={"csrf": csrf.group(1), "token": "bst_nope"})
    assert refused.status_code == 401 and "not valid" in refused.text
    await _login(ui)
    page = await ui.http.get("/ui/")
    assert page.status_code == 200
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"


async def test_a_login_without_its_csrf_token_is_not_accepted(ui: Ui) -> None:
    await ui.http.get("/ui/login")
    attempt = await ui.http.post("/ui/login", data={"token": ui.token})
    assert attempt.status_code == 401
    assert (await ui.http.get("/ui/")).status_code == 303


async def test_every_post_checks_the_csrf_token(ui: Ui) -> None:
    csrf = await _login(ui)
    for path in ("/ui/flows/new", "/ui/logout", "/ui/runs/1/replay", "/ui/flows/preview"):
        refused = await ui.http.post(path, data={"csrf": "wrong"})
        assert refused.status_code == 403, path
    # The header HTMX sends counts as well as the form field.
    accepted = await ui.http.post("/ui/logout", headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 303 and accepted.headers["location"] == "/ui/login"
    assert (await ui.http.get("/ui/")).status_code == 303


async def test_revoking_the_token_ends_its_sessions(ui: Ui) -> None:
    await _login(ui)
    assert await tokens.revoke(ui.app, "ops", actor="test")
    page = await ui.http.get("/ui/")
    assert page.status_code == 303 and page.headers["location"] == "/ui/login"


async def test_secrets_are_never_rendered(ui: Ui) -> None:
    created = await connection_ops.create(
        ui.app,
        app_name="razorpay",
        name="Razorpay live",
        values={
            "key_id": "rzp_live_visible",
            "key_secret": "super-secret-key",
            "webhook_secret": "super-secret-hook",
        },
        verify=False,
    )
    await _login(ui)
    page = await ui.http.get(f"/ui/connections/{created.id}")
    assert page.status_code == 200
    assert "rzp_live_visible" in page.text
    assert "super-secret" not in page.text
    assert f"/webhooks/razorpay/{created.id}" in page.text


async def test_a_secret_is_replaced_only_after_the_new_value_is_tested(ui: Ui) -> None:
    created = await connection_ops.create(
        ui.app,
        app_name="razorpay",
        name="Razorpay sandbox",
        values={
            "key_id": "rzp_test_sandbox",
            "key_secret": "sandbox_secret",
            "webhook_secret": "hook-secret",
            "base_url": "https://razorpay.sandbox",
        },
    )
    csrf = await _login(ui)
    form = {
        "csrf": csrf,
        "field-key_id": "rzp_test_sandbox",
        "field-key_secret": "not-the-secret",
        "field-webhook_secret": "",
        "field-base_url": "https://razorpay.sandbox",
    }
    refused = await ui.http.post(f"/ui/connections/{created.id}", data=form)
    assert refused.status_code == 422
    # Said once, as one sentence, then what happened.
    assert (
        "Razorpay rejected the key id/secret: check key_id (rzp_test_… or rzp_live_…) and "
        "key_secret, and that both belong to the same mode. Nothing was changed."
    ) in refused.text
    assert refused.text.count("rejected") == 1
    assert "not-the-secret" not in refused.text

    # An empty secret keeps its value; the rotated webhook secret is tested and stored.
    form["field-key_secret"] = ""
    form["field-webhook_secret"] = "new-hook-secret"
    accepted = await ui.http.post(f"/ui/connections/{created.id}", data=form)
    assert accepted.status_code == 200 and "tested and saved" in accepted.text
    assert "new-hook-secret" not in accepted.text
    async with ui.app.db.read() as db:
        row = await connection_store.get(db, created.id)
        assert row is not None
        stored = connection_store.secret_values(ui.app.vault, row)
    assert stored == {"key_secret": "sandbox_secret", "webhook_secret": "new-hook-secret"}


async def test_only_the_known_static_files_are_served(ui: Ui) -> None:
    css = await ui.http.get("/ui/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    htmx = await ui.http.get("/ui/static/htmx.min.js")
    assert htmx.status_code == 200 and "htmx" in htmx.text[:200]
    for name in ("README.md", "..%2Fui.py", "nope.js"):
        assert (await ui.http.get(f"/ui/static/{name}")).status_code == 404


async def test_unknown_run_and_flow_are_404(ui: Ui) -> None:
    await _login(ui)
    assert (await ui.http.get("/ui/runs/999")).status_code == 404
    assert (await ui.http.get("/ui/flows/999")).status_code == 404
    assert (await ui.http.get("/ui/flows/999/edit")).status_code == 404
