"""The Reconciliation page in Chromium.

First with a test-only in-memory Reconciler (tests/fake_reconciler.py) in place of the
engine's, so every number is known in advance: start a reconciliation, read its counts,
filter its items, fix two of them after the confirmation step, see the drift on the
dashboard. Then with the engine's own Reconciler against the sandboxes: a Togai account
billsync never heard of is reported missing in Razorpay, fixed from the page, and its
item links to the run that created the customer.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from billsync.engine.reconcile.model import ConnectionPair
from tests.browser.conftest import (
    RAZORPAY_KEY_ID,
    RAZORPAY_KEY_SECRET,
    RAZORPAY_WEBHOOK_SECRET,
    TOGAI_TOKEN,
    Stack,
    screenshot,
)
from tests.fake_reconciler import FakeReconciler

pytestmark = pytest.mark.browser


def _connection(stack: Stack, app: str, values: dict[str, str]) -> int:
    r = httpx.post(
        f"{stack.billsync}/api/v1/connections",
        headers={"Authorization": f"Bearer {stack.admin_token}"},
        json={"app": app, "name": f"{app.title()} sandbox", "values": values},
        timeout=10,
    )
    r.raise_for_status()
    return int(r.json()["id"])


@pytest.fixture(scope="module")
def pair(stack: Stack) -> ConnectionPair:
    togai = _connection(
        stack, "togai", {"api_token": TOGAI_TOKEN, "base_url": stack.togai, "sandbox": "yes"}
    )
    razorpay = _connection(
        stack,
        "razorpay",
        {
            "key_id": RAZORPAY_KEY_ID,
            "key_secret": RAZORPAY_KEY_SECRET,
            "webhook_secret": RAZORPAY_WEBHOOK_SECRET,
            "base_url": stack.razorpay,
            "sandbox": "yes",
        },
    )
    return ConnectionPair(togai, razorpay)


@pytest.fixture(scope="module")
def fake(stack: Stack, pair: ConnectionPair) -> Iterator[FakeReconciler]:
    engine = stack.app.reconciliations.reconciler
    found = FakeReconciler([pair])
    stack.app.reconciliations.reconciler = found
    yield found
    stack.app.reconciliations.reconciler = engine


def test_start_filter_and_fix_after_confirmation(
    page: Page, stack: Stack, fake: FakeReconciler
) -> None:
    page.goto("/ui/login")
    page.fill("#token", stack.admin_token)
    page.click("button:has-text('Log in')")
    expect(page.locator("#stat-drift")).to_have_text("—")
    page.click("nav >> text=Reconciliation")
    expect(page.locator("h1")).to_have_text("Reconciliation")
    expect(page.locator("#pair option")).to_have_count(2)
    page.select_option("#pair", label="Togai sandbox ↔ Razorpay sandbox")
    page.fill("#since", "2026-01-01")
    page.click("button:has-text('Start reconciliation')")
    expect(page).to_have_url(re.compile(r"/ui/reconciliation/\d+$"))
    expect(page.locator("#reconciliation-status")).to_have_text("succeeded")
    assert fake.compared[-1][1] is not None and fake.compared[-1][1].year == 2026
    counts = page.locator("#reconciliation-counts")
    expect(counts.locator("[data-state=missing_in_razorpay]")).to_have_attribute("data-count", "2")
    expect(counts.locator("[data-state=orphan]")).to_have_attribute("data-count", "1")
    expect(page.locator(".item-row")).to_have_count(8)
    # Matched and orphan items offer no fix, so nothing to select.
    expect(page.locator(".item-row[data-state=orphan] input[type=checkbox]")).to_have_count(0)
    screenshot(page, "reconciliation")

    page.select_option("#state", "missing_in_razorpay")
    page.click("#item-filters button")
    rows = page.locator(".item-row")
    expect(rows).to_have_count(2)
    expect(rows.first.locator("a.togai-link")).to_have_attribute("href", "/ui/customers?q=acc_2")
    rows.nth(0).locator("input[type=checkbox]").check()
    rows.nth(1).locator("input[type=checkbox]").check()
    page.click("#fix-selected")
    expect(page.locator("#confirm-fix h1")).to_have_text("Fix 2 item(s)?")
    expect(page.locator(".confirm-row")).to_have_count(2)
    assert fake.fixed == []  # nothing is done before the confirmation
    screenshot(page, "reconciliation-confirm")
    page.click("#confirm")
    expect(page.locator(".notice")).to_have_text("Fix started for 2 item(s).")
    assert [i.togai_id for i in fake.fixed[0][1]] == ["acc_2", "acc_3"]
    fixed = page.locator(".item-row[data-togai=acc_2] a.fix-run")
    expect(fixed).to_have_text("run #10010")
    expect(fixed).to_have_attribute("href", "/ui/runs/10010")

    page.click("nav >> text=Dashboard")
    expect(page.locator("#stat-drift")).to_have_text("7")


def test_the_engine_finds_an_account_fixes_it_and_links_the_run(
    page: Page, stack: Stack, pair: ConnectionPair, fake: FakeReconciler
) -> None:
    stack.app.reconciliations.reconciler = stack.app.reconciler  # the engine's own
    auth = {"Authorization": f"Bearer {stack.admin_token}"}
    flow = httpx.post(
        f"{stack.billsync}/api/v1/flows",
        headers=auth,
        json={
            "template": "togai-account-to-razorpay-customer",
            "connections": {"togai": pair.togai_id, "razorpay": pair.razorpay_id},
            "enabled": True,
        },
        timeout=10,
    )
    assert flow.status_code == 201, flow.text
    # No webhook URL is registered with the sandbox: billsync never hears of this account.
    account_id = f"acc-recon-{secrets.token_hex(3)}"
    httpx.post(
        f"{stack.togai}/customers",
        headers={"Authorization": f"Bearer {TOGAI_TOKEN}"},
        json={
            "id": account_id,
            "name": "Drifted Ltd",
            "primaryEmail": f"{account_id}@example.com",
            "address": {"line1": "1 MG Road", "city": "Bengaluru", "country": "IN"},
            "account": {
                "id": account_id,
                "name": "Drifted Ltd",
                "primaryEmail": f"{account_id}@example.com",
                "invoiceCurrency": "INR",
                "address": {"phoneNumber": f"+9198{secrets.randbelow(10**8):08d}"},
            },
        },
        timeout=10,
    ).raise_for_status()

    page.goto("/ui/reconciliation")
    page.select_option("#pair", "all")
    page.click("button:has-text('Start reconciliation')")
    expect(page.locator("#reconciliation-status")).to_have_text("succeeded", timeout=30_000)
    row = page.locator(f".item-row[data-togai='{account_id}']")
    expect(row).to_have_attribute("data-state", "missing_in_razorpay")
    row.locator("input[type=checkbox]").check()
    page.click("#fix-selected")
    expect(page.locator(".confirm-row")).to_have_count(1)
    page.click("#confirm")
    expect(page.locator(".notice")).to_have_text("Fix started for 1 item(s).")
    run_link = page.locator(f".item-row[data-togai='{account_id}'] a.fix-run")
    expect(run_link).to_have_count(1)
    run_link.click()
    expect(page.locator("#run-status")).to_have_text("succeeded", timeout=30_000)
    screenshot(page, "reconciliation-fix-run")

    page.goto("/ui/reconciliation")
    page.click("button:has-text('Start reconciliation')")
    expect(page.locator("#reconciliation-status")).to_have_text("succeeded", timeout=30_000)
    expect(page.locator(f".item-row[data-togai='{account_id}']")).to_have_attribute(
        "data-state", "matched"
    )
