"""Exactly once under duplicated and shuffled webhooks, injected faults, and a SIGKILL."""

from __future__ import annotations

import signal

import pytest

from tests.e2e.conftest import BACKENDS
from tests.e2e.harness import Stack, eventually

pytestmark = pytest.mark.e2e


async def _create(stack: Stack, prefix: str, n: int) -> dict[str, str]:
    """n accounts with one due invoice each: account id → Togai invoice id."""
    made: dict[str, str] = {}
    for i in range(1, n + 1):
        account_id = f"{prefix}-{i}"
        await stack.new_account(account_id, phone=f"+91980{i:07d}")
        made[account_id] = await stack.new_invoice(account_id, f"{100 + 17 * i}.25")
    return made


async def _pay_all(stack: Stack, made: dict[str, str]) -> None:
    for invoice_id in made.values():
        [invoice] = await stack.rzp_invoices_for(invoice_id)
        await stack.pay(str(invoice["id"]))


async def _assert_exactly_once(stack: Stack, made: dict[str, str], *, paid: bool) -> None:
    n = len(made)
    for account_id, invoice_id in made.items():
        [customer] = await stack.customers_for(account_id)
        [setting] = await stack.account_setting(account_id)
        assert setting["value"] == customer["id"]
        [invoice] = await stack.rzp_invoices_for(invoice_id)
        assert invoice["customer_id"] == customer["id"]
        if paid:
            assert (await stack.togai_invoice(invoice_id))["status"] == "PAID"
            assert len(await stack.togai_payments(account_id)) == 1
    togai, razorpay = await stack.objects()
    assert razorpay["customer"] == n
    assert razorpay["invoice"] == n
    # RazorPayCustomerId per account, RazorPayInvoiceId + RazorPayInvoiceUrl per invoice
    assert togai["settings"] == 3 * n
    assert togai["payments"] == (n if paid else 0)


async def test_duplicated_and_shuffled_webhooks_have_one_effect_each(stack: Stack) -> None:
    await stack.set_faults(webhook_duplicate_rate=0.5, webhook_shuffle=True, seed=7)
    made = await _create(stack, "dup", 5)
    await stack.wait_settled(10)
    await _pay_all(stack, made)
    await stack.wait_settled(15)
    await _assert_exactly_once(stack, made, paid=True)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_server_errors_and_lost_responses_converge_to_exactly_once(stack: Stack) -> None:
    await stack.set_faults(error_rate=0.3, error_status=503, lost_response_rate=0.05, seed=11)
    made = await _create(stack, "flaky", 6)
    await stack.wait_settled(12, within=120)
    await _pay_all(stack, made)
    await stack.wait_settled(18, within=120)
    errors, lost = await stack.faulted()
    assert errors > 0, f"no faults were injected ({errors} errors, {lost} lost)"
    await stack.clear_faults()
    await _assert_exactly_once(stack, made, paid=True)


async def test_sigkill_mid_burst_then_restart_completes_without_duplicates(stack: Stack) -> None:
    # Slow Razorpay down so the kill lands while runs are in flight.
    await stack.set_faults(latency_ms=100)
    made = await _create(stack, "burst", 8)

    async def some_done() -> bool:
        return (await stack.run_counts()).get("succeeded", 0) >= 3

    await eventually(some_done, "the burst to be under way")
    stack.kill_billsync()
    counts = await stack.run_counts()
    assert counts.get("succeeded", 0) < 16, f"the burst finished before the kill: {counts}"
    # Changes made while billsync is down arrive by webhook retry or by the poller.
    made.update(await _create(stack, "down", 2))
    stack.start_billsync()
    await stack.wait_settled(20, within=120)
    await stack.clear_faults()
    await _pay_all(stack, made)
    await stack.wait_settled(30, within=120)
    await _assert_exactly_once(stack, made, paid=True)


async def test_sigterm_finishes_or_releases_in_flight_runs(stack: Stack) -> None:
    # Slow enough that a run (four calls) outlives the 2 s shutdown grace period.
    await stack.set_faults(latency_ms=700)
    made = await _create(stack, "term", 3)

    async def in_flight() -> bool:
        return (await stack.run_counts()).get("running", 0) >= 2

    await eventually(in_flight, "runs to be in flight")
    # uvicorn re-raises the signal after its graceful shutdown: death by SIGTERM is clean.
    assert stack.stop_billsync() in (0, -signal.SIGTERM), stack.log_tail()
    counts = await stack.run_counts()
    assert counts.get("running", 0) == 0, f"leases left behind: {counts}"
    assert counts.get("succeeded", 0) < 6, f"nothing was in flight: {counts}"

    await stack.clear_faults()
    stack.start_billsync()
    await stack.wait_settled(6)
    await _assert_exactly_once(stack, made, paid=False)
