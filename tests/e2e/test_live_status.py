"""Live statuses (issue #10 §3) against `billsync serve` and the sandboxes: the Customers
page and `billsync mappings show` say what each side says now, and what billsync stored
(with its age) when a side cannot be read. The two cases the issue saw: a paid invoice
shown as DUE, a voided invoice's Razorpay invoice shown as "issued"."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.e2e.harness import Stack, eventually

pytestmark = pytest.mark.e2e


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLSYNC_")}
    env["BILLSYNC_SECRET_KEYS"] = stack.key
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "billsync", *args, "--db", stack.db_url],
        env=env,
        cwd=stack.workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _cell(html: str, togai_invoice: str, column: str) -> tuple[str, str]:
    """(status, data-live) of one status cell of an invoice's row."""
    row = re.search(rf'<tr data-invoice="{re.escape(togai_invoice)}">(.*?)</tr>', html, re.S)
    assert row is not None, html
    cell = re.search(rf'class="{column}">(.*?)</td>', row.group(1), re.S)
    assert cell is not None, row.group(1)
    badge = re.search(r'data-live="(yes|no)">([^<]+)</span>', cell.group(1))
    assert badge is not None, cell.group(1)
    return badge.group(2), badge.group(1)


async def _login(stack: Stack, http: httpx.AsyncClient) -> None:
    created = _cli(stack, "tokens", "create", "live-test", "--json")
    assert created.returncode == 0, created.stderr
    token = json.loads(created.stdout)["token"]
    form = await http.get("/ui/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    done = await http.post("/ui/login", data={"csrf": csrf.group(1), "token": token})
    assert done.status_code == 303


async def _faults(client: httpx.AsyncClient, on: bool) -> None:
    if on:
        r = await client.post("/_sandbox/faults", json={"error_rate": 1.0, "error_status": 503})
        assert r.status_code == 200, r.text
    else:
        await client.delete("/_sandbox/faults")


async def test_customers_page_and_mappings_show_read_both_sides(stack: Stack) -> None:
    assert stack.togai is not None and stack.razorpay is not None
    await stack.new_account("liveco")
    paid_invoice = await stack.new_invoice("liveco", "300")
    await stack.wait_settled(2)

    async def synced(togai_id: str) -> dict[str, Any]:
        async def found() -> bool:
            return bool(await stack.rzp_invoices_for(togai_id))

        await eventually(found, f"a Razorpay invoice for {togai_id}")
        return (await stack.rzp_invoices_for(togai_id))[0]

    rzp_paid = await synced(paid_invoice)
    await stack.pay(str(rzp_paid["id"]))
    await stack.wait_settled(3)
    void_invoice = await stack.new_invoice("liveco", "120")
    await stack.wait_settled(4)
    rzp_void = await synced(void_invoice)
    await stack.void_invoice(void_invoice)
    await stack.wait_settled(5)

    async with httpx.AsyncClient(base_url=stack.billsync_url, timeout=30) as http:
        await _login(stack, http)
        page = (await http.get("/ui/customers", params={"q": "liveco"})).text
        assert _cell(page, paid_invoice, "togai-status") == ("PAID", "yes")
        assert _cell(page, paid_invoice, "razorpay-status") == ("paid", "yes")
        assert _cell(page, void_invoice, "togai-status") == ("VOID", "yes")
        assert _cell(page, void_invoice, "razorpay-status") == ("cancelled", "yes")
        assert "could not be read" not in page

        # Togai down: its column is what billsync stored (the payment run's PAID, the
        # void event's VOID), labelled as stored; Razorpay is still read.
        await _faults(stack.togai, True)
        try:
            page = (await http.get("/ui/customers", params={"q": "liveco"})).text
        finally:
            await _faults(stack.togai, False)
        assert "Togai could not be read" in page
        assert _cell(page, paid_invoice, "togai-status") == ("PAID", "no")
        assert _cell(page, void_invoice, "togai-status") == ("VOID", "no")
        assert re.search(r"stored \d+ (s|min) ago", page)
        assert _cell(page, void_invoice, "razorpay-status") == ("cancelled", "yes")

        # Razorpay down: the invoice.paid event's "paid", cancel_invoice's "cancelled".
        await _faults(stack.razorpay, True)
        try:
            page = (await http.get("/ui/customers", params={"q": "liveco"})).text
        finally:
            await _faults(stack.razorpay, False)
        assert "Razorpay could not be read" in page
        assert _cell(page, paid_invoice, "razorpay-status") == ("paid", "no")
        assert _cell(page, void_invoice, "razorpay-status") == ("cancelled", "no")
        assert _cell(page, paid_invoice, "togai-status") == ("PAID", "yes")

    shown = _cli(stack, "mappings", "show", void_invoice, "--json")
    assert shown.returncode == 0, shown.stderr
    [link] = json.loads(shown.stdout)
    assert link["razorpay_id"] == rzp_void["id"]
    assert (link["togai_status"]["status"], link["togai_status"]["live"]) == ("VOID", True)
    assert (link["razorpay_status"]["status"], link["razorpay_status"]["live"]) == (
        "cancelled",
        True,
    )

    await _faults(stack.razorpay, True)
    try:
        shown = _cli(stack, "mappings", "show", paid_invoice)
    finally:
        await _faults(stack.razorpay, False)
    assert shown.returncode == 0, shown.stderr
    assert "Razorpay could not be read" in shown.stderr
    assert "PAID (now)" in shown.stdout
    assert re.search(r"paid \(stored \d+ (s|min) ago\)", shown.stdout), shown.stdout
