"""What a new user trips over in the first hour, checked in Chromium (issue #12): /docs and
ReDoc without internet, every wizard error at once beside its field, two connections of
one app told apart, a step skipped by its `when` shown as skipped.

Its own stack (module-scoped fixtures): two Togai connections and one Razorpay connection
are created up front through the app operations, as `billsync connections add` would.
"""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Request, Response, Route, expect

from billsync.app import App, build
from billsync.app import connections as connection_ops
from billsync.app import flows as flow_ops
from tests.browser.conftest import (
    RAZORPAY_KEY_ID,
    RAZORPAY_KEY_SECRET,
    RAZORPAY_WEBHOOK_SECRET,
    TOGAI_TOKEN,
    Stack,
    screenshot,
)

pytestmark = pytest.mark.browser

SEEN: dict[str, Any] = {}
RUN_TIMEOUT = 30_000


async def _setup(stack: Stack) -> dict[str, Any]:
    """Connections and a flow whose second step's `when` is false, with a throwaway App
    (its engine is disposed: the served App's loop never sees its connections)."""
    setup: App = build(stack.app.settings)
    try:
        togai = {"api_token": TOGAI_TOKEN, "base_url": stack.togai, "sandbox": "yes"}
        main = await connection_ops.create(setup, app_name="togai", name="Togai main", values=togai)
        backup = await connection_ops.create(
            setup, app_name="togai", name="Togai backup", values=togai
        )
        razorpay = await connection_ops.create(
            setup,
            app_name="razorpay",
            name="Razorpay live",
            values={
                "key_id": RAZORPAY_KEY_ID,
                "key_secret": RAZORPAY_KEY_SECRET,
                "webhook_secret": RAZORPAY_WEBHOOK_SECRET,
                "base_url": stack.razorpay,
                "sandbox": "yes",
            },
        )
        flow = await flow_ops.create(
            setup,
            {
                "name": "Customers, setting only for nobody",
                "direction": "outbound",
                "trigger": {"connection_id": main.id, "trigger": "account.created"},
                "steps": [
                    {"id": "customer", "connection_id": razorpay.id, "action": "create_customer"},
                    {
                        "id": "setting",
                        "connection_id": main.id,
                        "action": "set_account_setting",
                        "input": {"value": "steps.customer.customer_id"},
                        "when": "event.account.id == 'nobody'",
                    },
                ],
            },
            enabled=True,
        )
        return {"main": main, "backup": backup, "razorpay": razorpay, "flow": flow.id}
    finally:
        await setup.db.dispose()


@pytest.fixture(scope="module")
def wired(stack: Stack) -> dict[str, Any]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        made = pool.submit(lambda: asyncio.run(_setup(stack))).result()
    httpx.post(
        f"{stack.togai}/_sandbox/webhooks", json={"url": made["main"].webhook_url}
    ).raise_for_status()
    return made


def test_docs_and_redoc_render_with_every_outside_host_blocked(page: Page, stack: Stack) -> None:
    local = urlsplit(stack.billsync).netloc
    outside: list[str] = []
    missing: list[str] = []

    def only_billsync(route: Route, request: Request) -> None:
        if urlsplit(request.url).netloc == local:
            route.continue_()
        else:
            outside.append(request.url)
            route.abort()

    def note_missing(response: Response) -> None:
        if response.status == 404:
            missing.append(response.url)

    page.route("**/*", only_billsync)
    page.on("response", note_missing)
    try:
        page.goto("/docs")
        # Swagger UI drew the operations from /openapi.json with its local script (1.5 MB
        # of JavaScript: a loaded machine needs more than the default 15 s).
        expect(page.locator(".opblock").first).to_be_visible(timeout=60_000)
        expect(
            page.locator(".opblock-summary-path", has_text="/api/v1/flows").first
        ).to_be_visible()
        screenshot(page, "docs-offline")
        page.goto("/redoc")
        expect(page.locator("h1", has_text="billsync")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("/api/v1/runs").first).to_be_attached()
        screenshot(page, "redoc-offline")
        icon = page.request.get("/favicon.ico")
        assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg")
    finally:
        page.unroute("**/*")
        page.remove_listener("response", note_missing)
    assert outside == []
    assert missing == []


def test_login(page: Page, stack: Stack, wired: dict[str, Any]) -> None:
    page.goto("/ui/login")
    page.fill("#token", stack.admin_token)
    page.click("button:has-text('Log in')")
    expect(page.locator("h1")).to_have_text("Sync health")


def test_two_connections_of_one_app_are_told_apart(page: Page, wired: dict[str, Any]) -> None:
    page.goto("/ui/flows/new")
    triggers = page.locator("#trigger_target option").all_inner_texts()
    assert "Togai · Togai main · Account created (account.created)" in triggers
    assert "Togai · Togai backup · Account created (account.created)" in triggers
    actions = page.locator("#steps-0-target option").all_inner_texts()
    assert "Togai · Togai main · Get account (get_account)" in actions
    assert "Togai · Togai backup · Get account (get_account)" in actions
    assert len(set(triggers)) == len(triggers) and len(set(actions)) == len(actions)


def test_the_wizard_reports_every_error_at_once(page: Page, wired: dict[str, Any]) -> None:
    main, razorpay = wired["main"], wired["razorpay"]
    page.goto("/ui/flows/new")
    page.fill("#name", "Everything wrong")
    page.select_option("#trigger_target", value=f"{main.id}:account.created")
    page.fill("#filter", "event.account.balance > 100")
    page.fill("#steps-0-id", "Customer")
    page.select_option("#steps-0-target", value=f"{razorpay.id}:create_customer")
    expect(page.locator("#steps-0-input-name")).to_be_visible()
    page.fill("#steps-0-input-name", "steps.later.name")
    page.click("#add-step")
    page.fill("#steps-1-id", "later")
    page.select_option("#steps-1-target", value=f"{main.id}:get_account")
    page.uncheck("input[name=enabled]")
    page.click("#save")

    expect(page.locator(".error[role=alert]")).to_contain_text("The flow was not saved")
    shown = {
        "filter": ["a bare number (100) is not allowed here", "^", "`100`"],
        "steps-0-id": ["use lowercase letters, digits and _", "'Customer'"],
        "steps-0-input-name": ["does not run before this one"],
    }
    for field, words in shown.items():
        message = page.locator(f"[data-field='{field}']")
        expect(message).to_be_visible()
        for word in words:
            expect(message).to_contain_text(word)
    # Every message at once, in plain words: no regex, no pydantic wording.
    body = page.locator("#wizard").inner_text()
    assert "pattern" not in body and "String should" not in body
    # The caret sits under its column: the expression's error keeps its line breaks.
    caret = page.locator("[data-field='filter']")
    assert caret.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"
    assert "\n  event.account.balance > 100\n" in caret.inner_text()
    screenshot(page, "wizard-every-error")


def test_a_step_skipped_by_its_when_reads_as_skipped(
    page: Page, stack: Stack, wired: dict[str, Any]
) -> None:
    account_id = f"acc-skip-{secrets.token_hex(3)}"
    created = httpx.post(
        f"{stack.togai}/customers",
        headers={"Authorization": f"Bearer {TOGAI_TOKEN}"},
        json={
            "id": account_id,
            "name": "Skip Co",
            "primaryEmail": f"{account_id}@example.com",
            "address": {"line1": "1 MG Road", "city": "Bengaluru", "country": "IN"},
            "account": {
                "id": account_id,
                "name": "Skip Co account",
                "primaryEmail": f"{account_id}@example.com",
                "invoiceCurrency": "INR",
            },
        },
        timeout=10,
    )
    created.raise_for_status()
    page.goto(f"/ui/runs?entity={account_id}")
    row = page.locator(".run-row", has_text=account_id)
    expect(row).to_have_attribute("data-status", "succeeded", timeout=RUN_TIMEOUT)
    row.locator("a").click()
    skipped = page.locator(".run-step[data-step='setting']")
    expect(skipped).to_have_attribute("data-status", "skipped")
    expect(skipped.locator(".skip-reason")).to_have_text("Skipped: `when` is false")
    expect(skipped.locator(".error")).to_have_count(0)
    expect(skipped).to_contain_text("Not executed: skipped.")
    expect(skipped).not_to_contain_text("No attempt yet.")
    assert float(skipped.evaluate("e => getComputedStyle(e).opacity")) < 1
    # A real run's output carries no preview-only field.
    customer = page.locator(".run-step[data-step='customer']")
    expect(customer).to_have_attribute("data-status", "succeeded")
    expect(customer).to_contain_text('"source": "created"')
    expect(customer).not_to_contain_text("would_send")
    screenshot(page, "run-skipped-step")
