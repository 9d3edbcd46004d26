"""The admin UI end to end in Chromium: an operator's first hour with billsync.

The tests share one stack and one browser tab and run in file order, each starting where
the previous one left off: log in, add both connections, bind the account-sync flow,
watch a Togai account become a Razorpay customer, break Razorpay and replay the dead run,
build a custom two-action flow with a preview, and find the customer mapping.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    RAZORPAY_KEY_ID,
    RAZORPAY_KEY_SECRET,
    RAZORPAY_WEBHOOK_SECRET,
    TOGAI_TOKEN,
    Stack,
    screenshot,
)

pytestmark = pytest.mark.browser

#: Ids created along the way, read by later tests.
SEEN: dict[str, Any] = {}
RUN_TIMEOUT = 30_000


def _togai_account(stack: Stack, label: str) -> str:
    """Create a customer with its account in the Togai sandbox; returns the account id."""
    account_id = f"acc-{label}-{secrets.token_hex(3)}"
    phone = f"+9198{secrets.randbelow(10**8):08d}"
    response = httpx.post(
        f"{stack.togai}/customers",
        headers={"Authorization": f"Bearer {TOGAI_TOKEN}"},
        json={
            "id": account_id,
            "name": f"Browser {label}",
            "primaryEmail": f"{account_id}@example.com",
            "address": {"line1": "1 MG Road", "city": "Bengaluru", "country": "IN"},
            "account": {
                "id": account_id,
                "name": f"Browser {label} account",
                "primaryEmail": f"{account_id}@example.com",
                "invoiceCurrency": "INR",
                "address": {"phoneNumber": phone},
            },
        },
        timeout=10,
    )
    response.raise_for_status()
    return account_id


def _login(page: Page, token: str) -> None:
    page.fill("#token", token)
    page.click("button:has-text('Log in')")


def test_login_rejects_a_wrong_token_then_accepts_the_admin_token(page: Page, stack: Stack) -> None:
    page.goto("/ui/runs")
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    screenshot(page, "login")
    _login(page, "bst_not-a-real-token")
    expect(page.locator(".error")).to_contain_text("not valid")
    _login(page, stack.admin_token)
    expect(page.locator("h1")).to_have_text("Sync health")
    cookie = next(c for c in page.context.cookies() if c["name"] == "billsync_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert stack.admin_token not in cookie["value"]


def test_add_both_connections_tested_on_save(page: Page, stack: Stack) -> None:
    page.goto("/ui/apps")
    page.click("#app-togai >> text=+Add connection")
    page.fill("#name", "Togai sandbox")
    page.fill("#field-api_token", TOGAI_TOKEN)
    page.fill("#field-base_url", stack.togai)
    page.select_option("#field-sandbox", "yes")
    page.click("button:has-text('Test and save')")
    expect(page.locator(".notice", has_text="tested and saved")).to_be_visible()
    togai_hook = page.locator("#webhook-url").inner_text()
    assert togai_hook.startswith(f"{stack.billsync}/webhooks/togai/")
    # The secret field is never rendered back.
    assert TOGAI_TOKEN not in page.content()
    screenshot(page, "connection")
    httpx.post(f"{stack.togai}/_sandbox/webhooks", json={"url": togai_hook}).raise_for_status()

    page.goto("/ui/apps")
    page.click("#app-razorpay >> text=+Add connection")
    page.fill("#name", "Razorpay sandbox")
    page.fill("#field-key_id", RAZORPAY_KEY_ID)
    page.fill("#field-key_secret", "wrong-secret")
    page.fill("#field-webhook_secret", RAZORPAY_WEBHOOK_SECRET)
    page.fill("#field-base_url", stack.razorpay)
    page.select_option("#field-sandbox", "yes")
    page.click("button:has-text('Test and save')")
    expect(page.locator(".error")).to_contain_text("Razorpay rejected the key id/secret")
    expect(page.locator(".error")).not_to_contain_text("rejected these credentials")
    screenshot(page, "connection-error")
    # Typed non-secret values survive the error; secrets must be typed again.
    expect(page.locator("#field-key_id")).to_have_value(RAZORPAY_KEY_ID)
    expect(page.locator("#field-key_secret")).to_have_value("")
    page.fill("#field-key_secret", RAZORPAY_KEY_SECRET)
    page.fill("#field-webhook_secret", RAZORPAY_WEBHOOK_SECRET)
    page.click("button:has-text('Test and save')")
    expect(page.locator(".notice", has_text="tested and saved")).to_be_visible()
    razorpay_hook = page.locator("#webhook-url").inner_text()
    assert re.fullmatch(rf"{stack.billsync}/webhooks/razorpay/\d+", razorpay_hook)
    httpx.post(
        f"{stack.razorpay}/_sandbox/webhooks",
        json={"url": razorpay_hook, "secret": RAZORPAY_WEBHOOK_SECRET},
    ).raise_for_status()

    page.goto("/ui/apps")
    expect(page.locator("#app-togai")).to_contain_text("Togai sandbox")
    expect(page.locator("#app-razorpay")).to_contain_text("invoice.paid")
    screenshot(page, "apps")


def test_bind_the_account_sync_template(page: Page) -> None:
    page.goto("/ui/flows")
    card = page.locator("#template-togai-account-to-razorpay-customer")
    card.locator("button:has-text('+Add connection')").click()
    expect(page.locator(".notice")).to_contain_text("Togai account → Razorpay customer")
    row = page.locator("#flows tr", has_text="Togai account → Razorpay customer")
    expect(row).to_contain_text("enabled")
    expect(page.locator("#template-togai-account-to-razorpay-customer")).to_contain_text("bound")


def test_a_new_togai_account_runs_and_succeeds(page: Page, stack: Stack) -> None:
    account_id = _togai_account(stack, "first")
    SEEN["account"] = account_id
    page.goto("/ui/runs")
    row = page.locator(".run-row", has_text=account_id)
    expect(row).to_have_attribute("data-status", "succeeded", timeout=RUN_TIMEOUT)
    screenshot(page, "runs")
    row.locator("a").click()
    expect(page.locator("#run-status")).to_have_text("succeeded")
    for step in ("customer", "customer_setting"):
        expect(page.locator(f".run-step[data-step='{step}']")).to_have_attribute(
            "data-status", "succeeded"
        )
    customer = page.locator(".run-step[data-step='customer']")
    expect(customer).to_contain_text(account_id)  # the resolved input
    expect(customer).to_contain_text("cust_")  # the output
    expect(customer.locator(".attempts")).to_contain_text("succeeded")
    screenshot(page, "run")


def test_a_dead_run_is_replayed_to_success(page: Page, stack: Stack) -> None:
    faults = f"{stack.razorpay}/_sandbox/faults"
    httpx.post(faults, json={"error_rate": 1.0, "error_status": 503}).raise_for_status()
    try:
        account_id = _togai_account(stack, "faulted")
        page.goto(f"/ui/runs?entity={account_id}")
        row = page.locator(".run-row", has_text=account_id)
        expect(row).to_have_attribute("data-status", "dead", timeout=RUN_TIMEOUT)
        row.locator("a").click()
        expect(page.locator("#run-status")).to_have_text("dead")
        step = page.locator(".run-step[data-step='customer']")
        expect(step).to_have_attribute("data-status", "dead")
        expect(step.locator(".attempts tbody tr")).to_have_count(2)
        screenshot(page, "run-dead")
    finally:
        httpx.delete(faults).raise_for_status()
    page.click("#replay")
    expect(page.locator(".notice")).to_contain_text("Replay queued")
    expect(page.locator("#run-status")).to_have_text("succeeded", timeout=RUN_TIMEOUT)
    # The failed attempts stay in the history; the replay added the successful one.
    expect(page.locator(".run-step[data-step='customer'] .attempts tbody tr")).to_have_count(3)
    screenshot(page, "run-replayed")


def test_a_post_without_the_csrf_token_is_refused(page: Page) -> None:
    response = page.request.post("/ui/flows/1/enabled", form={"enabled": "0"})
    assert response.status == 403
    page.goto("/ui/flows/1")
    expect(page.locator(".badge", has_text="enabled").first).to_be_visible()


def test_custom_flow_with_two_actions_validation_and_preview(page: Page) -> None:
    page.goto("/ui/flows")
    page.click("text=Create New Flow+")
    page.fill("#name", "Account check, then customer")
    page.fill("#description", "Reads the account back, then names the customer after it")
    page.check("input[name=direction][value=outbound]")
    page.select_option(
        "#trigger_target", label="Togai · Togai sandbox · Account created (account.created)"
    )
    page.fill("#steps-0-id", "account")
    page.select_option("#steps-0-target", label="Togai · Togai sandbox · Get account (get_account)")
    expect(page.locator("#steps-0-input-account_id")).to_have_attribute(
        "placeholder", "default: event.account.id"
    )
    page.click("#add-step")
    page.fill("#steps-1-id", "customer")
    page.select_option(
        "#steps-1-target", label="Razorpay · Razorpay sandbox · Create customer (create_customer)"
    )
    # A path that forgets its root: refused on save, next to the field it names.
    page.fill("#steps-1-input-name", "account.name")
    page.uncheck("input[name=enabled]")
    page.click("#save")
    error = page.locator("[data-field='steps-1-input-name']")
    expect(error).to_contain_text("not in scope")
    screenshot(page, "wizard-error")

    page.fill("#steps-1-input-name", "steps.account.name")
    page.click("#preview-button")
    preview = page.locator("#preview")
    expect(preview).to_contain_text("latest stored account.created event")
    for step in ("account", "customer"):
        expect(preview.locator(f".preview-step[data-step='{step}'] .badge").first).to_have_text(
            "ok"
        )
    resolved = preview.locator(".preview-step[data-step='customer'] .preview-input")
    expect(resolved).to_contain_text("Browser faulted account")
    screenshot(page, "wizard-preview")

    page.click("#save")
    expect(page.locator("h1")).to_contain_text("Account check, then customer")
    expect(page.locator("#versions")).to_contain_text("v1")
    page.click("text=Edit (new version)")
    page.fill("#description", "Second version")
    page.click("#save")
    expect(page.locator("#versions")).to_contain_text("v2")
    expect(page.locator("#versions")).to_contain_text("Second version")
    screenshot(page, "flow")

    page.goto("/ui/flows")
    expect(page.locator("#flows")).to_contain_text("Account check, then customer")
    screenshot(page, "flows")


def test_an_invoice_is_synced_and_its_payment_recorded(page: Page, stack: Stack) -> None:
    page.goto("/ui/flows")
    # The invoice template's option, off by default, ticked here.
    partial = page.locator("#togai-invoice-to-razorpay-invoice-option-partial_payment")
    expect(partial).not_to_be_checked()
    partial.check()
    for key in ("togai-invoice-to-razorpay-invoice", "razorpay-invoice-paid-to-togai"):
        page.locator(f"#template-{key} button:has-text('+Add connection')").click()
        expect(page.locator(".notice")).to_contain_text("Created")
    # Binding the paid flow also bound its partially-paid companion.
    expect(page.locator("#template-razorpay-invoice-partially-paid-to-togai")).to_contain_text(
        "bound"
    )
    created = httpx.post(
        f"{stack.togai}/_sandbox/invoices",
        json={"accountId": SEEN["account"], "totalAmount": 1250.5, "status": "DUE"},
    )
    created.raise_for_status()
    togai_invoice = str(created.json()["id"])
    SEEN["invoice"] = togai_invoice
    page.goto(f"/ui/runs?entity={SEEN['account']}")
    invoice_run = page.locator(".run-row", has_text="Togai invoice → Razorpay invoice")
    expect(invoice_run).to_have_attribute("data-status", "succeeded", timeout=RUN_TIMEOUT)
    found = httpx.get(
        f"{stack.razorpay}/v1/invoices",
        params={"receipt": togai_invoice},
        auth=(RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET),
    ).json()["items"]
    assert len(found) == 1
    assert found[0]["partial_payment"] is True
    SEEN["razorpay_invoice"] = found[0]["id"]
    paid = httpx.post(f"{stack.razorpay}/_sandbox/invoices/{found[0]['id']}/pay", json={})
    paid.raise_for_status()
    page.goto(f"/ui/runs?entity={SEEN['account']}")
    payment_run = page.locator(".run-row", has_text="Razorpay paid")
    expect(payment_run).to_have_attribute("data-status", "succeeded", timeout=RUN_TIMEOUT)


def test_find_the_customer_mapping_from_either_side(page: Page) -> None:
    account_id = SEEN["account"]
    page.goto("/ui/customers")
    expect(page.locator("table")).to_contain_text(account_id)
    page.fill("#q", account_id)
    page.click("button:has-text('Search')")
    customer_id = page.locator("#razorpay-customer-id").inner_text()
    assert customer_id.startswith("cust_")
    invoice_row = page.locator("#customer-invoices tr", has_text=SEEN["invoice"])
    expect(invoice_row).to_contain_text(SEEN["razorpay_invoice"])
    expect(invoice_row).to_contain_text("paid")
    expect(invoice_row).to_contain_text("1250.50 paid")
    screenshot(page, "customers")
    # Either side's id finds the same account: the Razorpay customer, the Razorpay invoice.
    for query in (customer_id, SEEN["razorpay_invoice"]):
        page.fill("#q", query)
        page.click("button:has-text('Search')")
        expect(page.locator("#customer h2")).to_contain_text(account_id)

    page.goto("/ui/")
    expect(page.locator("#stat-dead")).to_have_text("0")
    # Both connections have received webhooks by now.
    expect(page.locator("#health")).not_to_contain_text("none yet")
    screenshot(page, "dashboard")
