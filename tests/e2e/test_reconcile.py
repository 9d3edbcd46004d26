"""`billsync reconcile` end to end: drift made at the sandboxes (control routes and direct
provider edits, with flows switched off while it happens), reported by the CLI in a real
subprocess, repaired by `--fix` through ordinary runs, counted in the sandboxes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from typer.testing import CliRunner

from billsync.app import App, build
from billsync.cli import app as cli
from billsync.engine.reconcile.model import ConnectionPair, Item, ItemKind, ItemState
from billsync.store import events
from tests.e2e.conftest import BACKENDS
from tests.e2e.harness import FAST, Stack, call, eventually

pytestmark = pytest.mark.e2e

T = TypeVar("T")

ACCOUNT = "togai-account-to-razorpay-customer"
INVOICE = "togai-invoice-to-razorpay-invoice"
VOID = "togai-invoice-void-to-razorpay-cancel"
PAID = "razorpay-invoice-paid-to-togai"
PARTIAL = "razorpay-invoice-partially-paid-to-togai"
ITEM_KEYS = {"kind", "state", "togai_id", "razorpay_id", "detail", "fix"}
STATES = {
    "matched",
    "missing_in_razorpay",
    "missing_in_togai",
    "orphan",
    "amount_mismatch",
    "status_mismatch",
    "link_mismatch",
}


def _env(stack: Stack) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLSYNC_")}
    env.update(FAST)
    env.update({"BILLSYNC_SECRET_KEYS": stack.key, "BILLSYNC_PUBLIC_URL": stack.billsync_url})
    return env


def _command(stack: Stack, *args: str) -> list[str]:
    return [sys.executable, "-m", "billsync", "reconcile", *args, "--db", stack.db_url]


def _parsed(stdout: str, stderr: str) -> Any:
    try:
        return json.loads(stdout) if stdout.strip() else None
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON: {stdout!r}\n{stderr}") from None


async def reconcile_process(stack: Stack, *args: str) -> tuple[int, Any, str]:
    """`billsync reconcile ARGS --json` as a process: (exit code, parsed stdout, stderr)."""
    done = await asyncio.to_thread(
        subprocess.run,
        _command(stack, *args, "--json"),
        env=_env(stack),
        cwd=stack.workdir,
        capture_output=True,
        timeout=300,
        check=False,
    )
    return (
        done.returncode,
        _parsed(done.stdout.decode(), done.stderr.decode()),
        done.stderr.decode(),
    )


async def reconcile(stack: Stack, *args: str) -> tuple[int, Any, str]:
    """The same command through its Typer app in a thread (a process costs seconds of
    interpreter start on a loaded machine): (exit code, parsed stdout, stderr)."""
    env = {"BILLSYNC_SECRET_KEYS": stack.key, **FAST}
    runner = CliRunner()
    argv = ["reconcile", *args, "--json", "--db", stack.db_url]
    result = await asyncio.to_thread(runner.invoke, cli, argv, env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, _parsed(result.stdout, result.stderr), result.stderr


def states(report: Any) -> dict[tuple[str, str | None], str]:
    return {(i["kind"], i["togai_id"]): i["state"] for i in report["items"]}


def drift(report: Any) -> list[dict[str, Any]]:
    return [i for i in report["items"] if i["state"] != "matched"]


async def writes(stack: Stack) -> dict[str, int]:
    """Non-GET requests each sandbox has answered so far (its write count)."""
    assert stack.togai is not None and stack.razorpay is not None
    counts = {}
    for name, client in (("togai", stack.togai), ("razorpay", stack.razorpay)):
        requests = (await client.get("/_sandbox/stats")).json()["requests"]
        counts[name] = sum(
            sum(by_status.values())
            for route, by_status in requests.items()
            if not route.startswith("GET ") and "/_sandbox" not in route
        )
    return counts


async def stored(stack: Stack, connection_id: int, external_id: str) -> None:
    """Wait until billsync stored the event (the webhook arrived while a flow was off)."""
    assert stack.db is not None
    db = stack.db

    async def check() -> bool:
        async with db.read() as session:
            return await events.by_external_id(session, connection_id, external_id) is not None

    await eventually(check, f"event {external_id}")


async def quiet(stack: Stack) -> None:
    """No webhook delivery pending at either sandbox and no run unfinished."""
    assert stack.togai is not None and stack.razorpay is not None
    togai, razorpay = stack.togai, stack.razorpay

    async def check() -> bool:
        for client in (togai, razorpay):
            pending = await client.get(
                "/_sandbox/webhooks/deliveries", params={"status": "pending"}
            )
            if pending.json()["deliveries"]:
                return False
        counts = await stack.run_counts()
        return not any(counts.get(s, 0) for s in ("queued", "running", "retry_wait"))

    await eventually(check, "quiet sandboxes and runs")


async def synced(stack: Stack, account: str, total: str) -> tuple[str, str]:
    """An account and a DUE invoice, synced by the flows: (Togai invoice, Razorpay invoice)."""
    await stack.new_account(account)
    invoice = await stack.new_invoice(account, total)

    async def made() -> bool:
        return bool(await stack.rzp_invoices_for(invoice)) and bool(
            await stack.account_setting(account)
        )

    await eventually(made, f"{account} synced")
    await quiet(stack)
    [rzp] = await stack.rzp_invoices_for(invoice)
    return invoice, str(rzp["id"])


async def while_off(stack: Stack, templates: tuple[str, ...]) -> None:
    for key in templates:
        await stack.set_template_enabled(key, False)


async def back_on(stack: Stack, templates: tuple[str, ...]) -> None:
    for key in templates:
        await stack.set_template_enabled(key, True)


async def orphan_customer(stack: Stack, account: str) -> str:
    assert stack.razorpay is not None
    r = await call(
        stack.razorpay,
        "POST",
        "/v1/customers",
        json={
            "name": "Ghost customer",
            "email": f"{account}@example.com",
            "notes": {"togai_account_id": account},
        },
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def fixable_drift(stack: Stack) -> dict[str, str]:
    """Drift `--fix` can repair, plus one orphan; returns the ids involved by name."""
    ids: dict[str, str] = {}
    # matched throughout
    ids["good_invoice"], ids["good_rzp"] = await synced(stack, "good", "100")
    ids["good_payment"] = await stack.pay(ids["good_rzp"])
    await quiet(stack)
    # an account and an invoice stored while their flows were off
    await while_off(stack, (ACCOUNT, INVOICE))
    await stack.new_account("late")
    await stored(stack, stack.togai_connection, "account:late:created")
    ids["late_invoice"] = await stack.new_invoice("good", "250")
    await stored(stack, stack.togai_connection, f"invoice:{ids['late_invoice']}:DUE")
    await back_on(stack, (ACCOUNT, INVOICE))
    # a payment captured while the payment flows were off
    ids["paid_invoice"], ids["paid_rzp"] = await synced(stack, "payer", "300")
    await while_off(stack, (PAID, PARTIAL))
    ids["missed_payment"] = await stack.pay(ids["paid_rzp"])
    await quiet(stack)
    await back_on(stack, (PAID, PARTIAL))
    # voided in Togai while the void flow was off
    ids["void_invoice"], ids["void_rzp"] = await synced(stack, "voider", "400")
    await while_off(stack, (VOID,))
    await stack.void_invoice(ids["void_invoice"])
    await stored(stack, stack.togai_connection, f"invoice:{ids['void_invoice']}:VOID")
    await back_on(stack, (VOID,))
    # someone edited the Togai setting by hand
    assert stack.togai is not None
    r = await call(
        stack.togai,
        "PATCH",
        "/settings/setting.USER.RazorPayCustomerId.ACCOUNT.voider",
        json={"value": "cust_editedbyhand1"},
    )
    assert r.status_code in (200, 201), r.text
    ids["orphan"] = await orphan_customer(stack, "ghost")
    await quiet(stack)
    return ids


@pytest.mark.parametrize("backend", BACKENDS)
async def test_every_drift_state_is_reported_and_a_dry_run_writes_nothing(stack: Stack) -> None:
    ids = await fixable_drift(stack)
    # amount: a Razorpay invoice made by hand for a Togai invoice, for another amount
    await while_off(stack, (INVOICE,))
    short = await stack.new_invoice("good", "500")
    await stored(stack, stack.togai_connection, f"invoice:{short}:DUE")
    await back_on(stack, (INVOICE,))
    [customer] = await stack.customers_for("good")
    assert stack.razorpay is not None
    r = await call(
        stack.razorpay,
        "POST",
        "/v1/invoices",
        json={
            "type": "invoice",
            "customer_id": customer["id"],
            "currency": "INR",
            "receipt": short,
            "line_items": [{"name": "by hand", "amount": 45000, "currency": "INR"}],
            "notes": {"togai_invoice_id": short, "togai_account_id": "good"},
        },
    )
    assert r.status_code == 200, r.text
    await quiet(stack)
    before = await writes(stack)

    code, report, err = await reconcile_process(stack)

    assert code == 1, err
    assert set(report) == {"summary", "items"}
    assert set(report["summary"]) == STATES
    assert all(set(item) == ITEM_KEYS for item in report["items"])
    assert sum(report["summary"].values()) == len(report["items"])
    got = states(report)
    assert got[("customer", "good")] == "matched"
    assert got[("invoice", ids["good_invoice"])] == "matched"
    assert got[("payment", ids["good_invoice"])] == "matched"
    assert got[("customer", "late")] == "missing_in_razorpay"
    assert got[("invoice", ids["late_invoice"])] == "missing_in_razorpay"
    assert got[("payment", ids["paid_invoice"])] == "missing_in_togai"
    assert got[("invoice", ids["paid_invoice"])] == "status_mismatch"
    assert got[("invoice", ids["void_invoice"])] == "status_mismatch"
    assert got[("customer", "voider")] == "link_mismatch"
    assert got[("customer", "ghost")] == "orphan"
    assert got[("invoice", short)] == "amount_mismatch"
    by_key = {(i["kind"], i["togai_id"]): i for i in report["items"]}
    assert by_key[("customer", "ghost")]["razorpay_id"] == ids["orphan"]
    assert by_key[("customer", "ghost")]["fix"] is None
    assert by_key[("payment", ids["paid_invoice"])]["razorpay_id"] == ids["missed_payment"]
    assert by_key[("invoice", ids["void_invoice"])]["fix"]
    assert by_key[("invoice", short)]["fix"] is None
    for state in STATES:
        assert report["summary"][state] == sum(1 for s in got.values() if s == state)
    assert all(report["summary"][s] > 0 for s in STATES), report["summary"]
    # the dry run wrote nothing to either provider, and billsync stored no event
    assert await writes(stack) == before
    assert (await stack.run_counts()).get("queued", 0) == 0

    # the table face: same exit code, a row per drifting item, the summary line
    table = await asyncio.to_thread(
        subprocess.run,
        _command(stack),
        env={**_env(stack), "COLUMNS": "300"},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert table.returncode == 1
    out = table.stdout.decode()
    assert "missing_in_razorpay" in out and "Summary:" in out and ids["orphan"] in out


@pytest.mark.parametrize("backend", BACKENDS)
async def test_fix_converges_through_runs_and_the_second_reconcile_reports_only_orphans(
    stack: Stack,
) -> None:
    ids = await fixable_drift(stack)
    code, first, _ = await reconcile(stack)
    assert code == 1
    fixable = [i for i in first["items"] if i["fix"]]
    assert len(fixable) >= 5

    # the library face, as a stored report would be fixed later: the item's objects are
    # re-read by id (no comparison ran in this process); serve executes the runs
    late = [i for i in fixable if i["togai_id"] in ("late", ids["void_invoice"])]
    assert len(late) == 2
    results = await in_app(stack, lambda app: app.reconciler.fix(pair(stack), items(late)))
    assert all(r.run_ids and r.event_id and r.skipped is None for r in results), results
    await quiet(stack)
    assert len(await stack.customers_for("late")) == 1

    code, fixed, err = await reconcile_process(stack, "--fix")
    assert code == 1, err  # drift was found (and repaired)
    assert "failed" not in err and "dead" not in err, err

    code, second, err = await reconcile(stack)
    assert [i["state"] for i in drift(second)] == ["orphan"], drift(second)
    assert code == 1  # the orphan is still drift
    assert (await stack.togai_invoice(ids["paid_invoice"]))["status"] == "PAID"
    assert len(await stack.togai_payments("payer")) == 1
    assert len(await stack.customers_for("late")) == 1
    assert len(await stack.rzp_invoices_for(ids["late_invoice"])) == 1
    [void_rzp] = await stack.rzp_invoices_for(ids["void_invoice"])
    assert void_rzp["status"] == "cancelled"
    [customer] = await stack.customers_for("voider")
    [setting] = await stack.account_setting("voider")
    assert setting["value"] == customer["id"]
    # the fix went through ordinary runs: events with source-specific ids, in history
    assert stack.db is not None
    async with stack.db.read() as session:
        recent = await events.list_recent(session, limit=200)
    assert sum(1 for e in recent if e.external_id.startswith("reconcile:")) >= 5

    # the first report is stale now: fixing its items again re-reads and starts nothing
    again = await in_app(stack, lambda app: app.reconciler.fix(pair(stack), items(fixable)))
    assert {r.skipped for r in again} == {"no longer drifting"}, again
    assert not any(r.run_ids for r in again)


def pair(stack: Stack) -> ConnectionPair:
    return ConnectionPair(stack.togai_connection, stack.razorpay_connection)


def items(data: list[dict[str, Any]]) -> list[Item]:
    return [
        Item(
            kind=ItemKind(i["kind"]),
            state=ItemState(i["state"]),
            togai_id=i["togai_id"],
            razorpay_id=i["razorpay_id"],
            detail=i["detail"],
            fix=i["fix"],
        )
        for i in data
    ]


async def in_app(stack: Stack, operation: Callable[[App], Awaitable[T]]) -> T:
    """Run `operation` on an App of this process over the stack's database."""
    app = build(stack.settings())
    try:
        return await operation(app)
    finally:
        await app.stop()


async def _many_missing(stack: Stack, n: int) -> list[str]:
    await while_off(stack, (ACCOUNT, INVOICE))
    invoices = []
    for i in range(n):
        await stack.new_account(f"acct{i}")
        invoices.append(await stack.new_invoice(f"acct{i}", f"{100 + i}"))
    await stored(stack, stack.togai_connection, f"invoice:{invoices[-1]}:DUE")
    await back_on(stack, (ACCOUNT, INVOICE))
    await quiet(stack)
    return invoices


@pytest.mark.parametrize("backend", BACKENDS)
async def test_sigkill_during_fix_then_rerun_converges_without_duplicates(stack: Stack) -> None:
    invoices = await _many_missing(stack, 12)
    stack.stop_billsync()  # only the reconcile process executes the fix runs
    await stack.set_faults(latency_ms=40)
    err_path = stack.workdir / "fix.err"
    with err_path.open("wb") as err_file:
        proc = await asyncio.create_subprocess_exec(
            *_command(stack, "--fix", "--json"),
            env=_env(stack),
            cwd=stack.workdir,
            stdout=subprocess.DEVNULL,
            stderr=err_file,
        )
    try:

        async def some_done() -> bool:
            counts = await stack.run_counts()
            return counts.get("succeeded", 0) >= 3

        try:
            await eventually(some_done, "a few fix runs done", within=120)
        except AssertionError:
            raise AssertionError(
                f"exit code {proc.returncode}: {err_path.read_text()[-3000:]}"
            ) from None
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), timeout=10)
    counts = await stack.run_counts()
    assert counts.get("succeeded", 0) < 24, counts  # killed mid-fix, not after
    await stack.clear_faults()

    code, _, err = await reconcile(stack, "--fix")
    assert code in (0, 1), err
    assert "failed" not in err and "dead" not in err, err
    stack.start_billsync()  # finishes any run the killed process left behind
    await quiet(stack)
    code, report, err = await reconcile(stack)
    assert code == 0, drift(report)
    for i, invoice in enumerate(invoices):
        assert len(await stack.customers_for(f"acct{i}")) == 1
        assert len(await stack.rzp_invoices_for(invoice)) == 1
    _, razorpay = await stack.objects()
    assert razorpay["customer"] == 12
    assert razorpay["invoice"] == 12


async def test_exit_codes_match_error_and_backfill_since(stack: Stack) -> None:
    await synced(stack, "solo", "100")
    code, report, err = await reconcile(stack)
    assert code == 0, (report, err)
    assert set(report["summary"].values()) - {0} and drift(report) == []

    code, _, err = await reconcile(stack, "--togai", "999", "--razorpay", "998")
    assert code == 2 and "no Togai connection 999" in err
    code, _, err = await reconcile(stack, "--togai", str(stack.togai_connection))
    assert code == 2
    code, _, err = await reconcile(stack, "--since", "yesterday")
    assert code == 2

    # backfill: an invoice made while the flow was off is in the window from today, and
    # nothing before the window is reported
    await while_off(stack, (INVOICE,))
    late = await stack.new_invoice("solo", "75")
    await stored(stack, stack.togai_connection, f"invoice:{late}:DUE")
    await back_on(stack, (INVOICE,))
    today = time.strftime("%Y-%m-%d", time.gmtime())
    code, report, _ = await reconcile(stack, "--since", today)
    assert code == 1
    assert states(report)[("invoice", late)] == "missing_in_razorpay"
    code, report, _ = await reconcile(stack, "--since", "2999-01-01")
    assert code == 0 and report["items"] == []
    code, _, err = await reconcile(stack, "--fix", "--since", today)
    assert code == 1, err
    await asyncio.sleep(0)
    assert len(await stack.rzp_invoices_for(late)) == 1
    code, report, _ = await reconcile(stack)
    assert code == 0, drift(report)
