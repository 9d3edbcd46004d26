"""`billsync runs`, `billsync events` and `billsync mappings` (rebuild from the sandboxes)."""

from __future__ import annotations

import dataclasses
from typing import Any

from typer.testing import CliRunner

from billsync.app import App, audit
from billsync.domain import IdLink, IncomingEvent, LinkKind
from billsync.engine.mapping import write_links
from billsync.engine.resolver import WHEN_FALSE
from billsync.store import events, leases, runs, steps
from billsync.store.status import StepStatus
from tests.cli.conftest import Cli


def _seed_runs(run: Cli) -> tuple[int, int, int]:
    """A flow with a failed run (acc_1) and a queued one (acc_2); (event, failed, queued)."""
    togai_id, razorpay_id = run.add_connections()
    flow = run.json(
        "flows",
        "add",
        "--template",
        "togai-account-to-razorpay-customer",
        "-c",
        f"togai={togai_id}",
        "-c",
        f"razorpay={razorpay_id}",
    )[0]

    async def seed(app: App) -> tuple[int, int, int]:
        ids: list[int] = []
        first_event = 0
        for account in ("acc_1", "acc_2"):
            incoming = IncomingEvent(
                trigger="account.created",
                event_type="account.created",
                external_id=f"account:{account}:created",
                entity_key=f"togai-account:{account}",
                payload={"account": {"id": account}},
            )
            now = app.clock.now()
            async with app.db.write() as session:
                event = await events.insert(session, togai_id, incoming, now=now)
                assert event is not None
                first_event = first_event or event.id
                created = await runs.create(
                    session,
                    flow_id=flow["id"],
                    flow_version=1,
                    event_id=event.id,
                    entity_key=incoming.entity_key,
                    now=now,
                )
                assert created is not None
                ids.append(created.id)
        async with app.db.write() as session:
            now = app.clock.now()
            assert await leases.take_lease(session, ids[0], owner="t", now=now, lease_seconds=60)
            assert await runs.fail(session, ids[0], owner="t", now=now, error="boom", dead=False)
        return first_event, ids[0], ids[1]

    return run.in_app(seed)


def test_runs_list_show_replay(run: Cli) -> None:
    event_id, failed, queued = _seed_runs(run)
    assert [r["id"] for r in run.json("runs", "list")] == [queued, failed]
    assert [r["id"] for r in run.json("runs", "list", "--status", "failed")] == [failed]
    assert [r["id"] for r in run.json("runs", "list", "--entity", "acc_2")] == [queued]
    assert run.json("runs", "list", "--since", "2999-01-01") == []
    assert "acc_1" in run("runs", "list").stdout
    shown = run.json("runs", "show", str(failed))
    assert (shown["status"], shown["last_error"], shown["event_id"]) == ("failed", "boom", event_id)
    assert shown["steps"] == []
    assert f"Run {failed}" in run("runs", "show", str(failed)).stdout
    refused = run("runs", "replay", str(queued), ok=False)
    assert refused.exit_code == 1
    assert "only dead, failed runs can be replayed" in refused.stderr
    assert "queued again" in run("runs", "replay", str(failed)).stdout
    assert run.json("runs", "show", str(failed))["status"] == "queued"
    missing = run("runs", "show", "999", ok=False)
    assert (missing.exit_code, "no run 999" in missing.stderr) == (1, True)
    [entry] = run.in_app(lambda app: audit.recent(app, limit=1))
    assert (entry.actor, entry.action, entry.target) == ("cli", "run.replay", f"run:{failed}")


def test_events_list(run: Cli) -> None:
    event_id, _, _ = _seed_runs(run)
    listed = run.json("events", "list")
    assert [e["id"] for e in listed] == [event_id + 1, event_id]
    assert listed[1]["payload"] == {"account": {"id": "acc_1"}}
    assert run.json("events", "list", "--status", "processed") == []
    assert "account.created" in run("events", "list", "--limit", "1").stdout


def test_mappings_show(run: Cli) -> None:
    async def link(app: App) -> None:
        await app.migrate()
        async with app.db.write() as session:
            await write_links(
                session,
                [IdLink(LinkKind.ACCOUNT_CUSTOMER, "acc_1", "cust_1")],
                run_id=None,
                now=app.clock.now(),
            )

    run.in_app(link)
    for value in ("acc_1", "cust_1"):
        [found] = run.json("mappings", "show", value)
        assert (found["togai_id"], found["razorpay_id"]) == ("acc_1", "cust_1")
    assert "cust_1" in run("mappings", "show", "acc_1").stdout
    assert run("mappings", "show", "unknown", ok=False).exit_code == 1


def _togai_account(togai: Any, account: str) -> None:
    r = togai.post(
        "/customers",
        json={
            "id": account,
            "name": account,
            "primaryEmail": f"{account}@example.com",
            "address": {"line1": "1 MG Road", "city": "Bengaluru", "country": "IN"},
        },
    )
    assert r.status_code in (200, 201), r.text


def test_mappings_rebuild_from_both_providers(run: Cli) -> None:
    run.add_connections()
    with run.razorpay_http() as razorpay, run.togai_http() as togai:
        customers = {}
        for account in ("acc_1", "acc_2"):
            r = razorpay.post(
                "/v1/customers",
                json={
                    "name": f"Customer {account[-1]}",  # Razorpay refuses "_" in names
                    "email": f"{account}@example.com",
                    "notes": {"togai_account_id": account},
                },
            )
            assert r.status_code == 200, r.text
            customers[account] = r.json()["id"]
        # A customer made by hand, without our notes: not a link.
        walk_in = {"name": "Walk in Ltd", "email": "w@example.com"}
        assert razorpay.post("/v1/customers", json=walk_in).status_code == 200
        for account, customer in (("acc_1", customers["acc_1"]), ("acc_3", "cust_Manual3")):
            _togai_account(togai, account)
            r = togai.post(
                "/settings",
                json={
                    "id": "RazorPayCustomerId",
                    "name": "RazorPayCustomerId",
                    "namespace": "USER",
                    "entityType": "ACCOUNT",
                    "entityId": account,
                    "dataType": "STRING",
                    "value": customer,
                },
            )
            assert r.status_code in (200, 201), r.text
        # An invoice both sides know about: Razorpay notes and the Togai invoice setting.
        r = togai.post("/_sandbox/invoices", json={"accountId": "acc_1", "totalAmount": 100})
        assert r.status_code in (200, 201), r.text
        togai_invoice = r.json()["id"]
        r = razorpay.post(
            "/v1/invoices",
            json={
                "type": "invoice",
                "customer_id": customers["acc_1"],
                "currency": "INR",
                "line_items": [{"name": "Usage", "amount": 10000, "currency": "INR"}],
                "notes": {"togai_invoice_id": togai_invoice},
            },
        )
        assert r.status_code == 200, r.text
        razorpay_invoice = r.json()["id"]
        r = togai.post(
            "/settings",
            json={
                "id": "RazorPayInvoiceId",
                "name": "RazorPayInvoiceId",
                "namespace": "USER",
                "entityType": "INVOICE",
                "entityId": togai_invoice,
                "dataType": "STRING",
                "value": razorpay_invoice,
            },
        )
        assert r.status_code in (200, 201), r.text
    report = run.json("mappings", "rebuild")
    assert (report["found"], report["inserted"], report["existing"], report["conflicts"]) == (
        6,
        4,
        2,
        [],
    )
    [invoice] = run.json("mappings", "show", razorpay_invoice)
    assert (invoice["kind"], invoice["togai_id"]) == ("invoice_invoice", togai_invoice)
    [acc_3] = run.json("mappings", "show", "acc_3")
    assert acc_3["razorpay_id"] == "cust_Manual3"
    # Rebuilding again finds the same links and writes nothing.
    again = run("mappings", "rebuild")
    assert "0 new, 6 already stored, 0 conflicting" in again.stdout
    [entry] = run.in_app(lambda app: audit.recent(app, limit=1))
    assert (entry.action, entry.detail["inserted"]) == ("mapping.rebuild", 0)


def test_mappings_rebuild_links_payments_from_togai_payment_references(run: Cli) -> None:
    run.add_connections()
    with run.togai_http() as togai:
        _togai_account(togai, "acc_p")
        r = togai.post(
            "/_sandbox/invoices", json={"accountId": "acc_p", "totalAmount": 300, "status": "DUE"}
        )
        assert r.status_code in (200, 201), r.text
        invoice = r.json()["id"]
        payments = {}
        # Two Razorpay payments (one recorded under another source name) and a cheque.
        for source, number in (
            ("Razorpay", "pay_First1"),
            ("Gateway", "pay_Second2"),
            ("Cheque", "CHQ-0042"),
        ):
            r = togai.post(
                "/payments",
                json={
                    "accountId": "acc_p",
                    "currency": "INR",
                    "totalAmount": 100,
                    "externalPaymentReference": {
                        "sourceName": source,
                        "sourceType": "GATEWAY",
                        "transactionNumber": number,
                    },
                    "lineItemRecords": [
                        {"type": "INVOICE", "togaiId": invoice, "amount": 100, "order": 1}
                    ],
                },
            )
            assert r.status_code == 201, r.text
            payments[number] = r.json()["id"]
    report = run.json("mappings", "rebuild")
    assert (report["found"], report["inserted"], report["conflicts"]) == (2, 2, [])
    for number in ("pay_First1", "pay_Second2"):
        [found] = run.json("mappings", "show", number)
        assert (found["kind"], found["togai_id"]) == ("payment_payment", payments[number])
    assert run("mappings", "show", "CHQ-0042", ok=False).exit_code == 1
    again = run.json("mappings", "rebuild")
    assert (again["inserted"], again["existing"]) == (0, 2)


def test_mappings_rebuild_reports_conflicts(run: Cli) -> None:
    run.add_connections()

    async def link(app: App) -> None:
        async with app.db.write() as session:
            await write_links(
                session,
                [IdLink(LinkKind.ACCOUNT_CUSTOMER, "acc_1", "cust_Other")],
                run_id=None,
                now=app.clock.now(),
            )

    run.in_app(link)
    with run.razorpay_http() as razorpay:
        r = razorpay.post(
            "/v1/customers",
            json={
                "name": "Acme Ltd",
                "email": "a@example.com",
                "notes": {"togai_account_id": "acc_1"},
            },
        )
        assert r.status_code == 200
    result = run("mappings", "rebuild", ok=False)
    assert result.exit_code == 2
    assert "conflict:" in result.stderr and "cust_Other" in result.stderr
    [kept] = run.json("mappings", "show", "acc_1")
    assert kept["razorpay_id"] == "cust_Other"


def test_mappings_rebuild_needs_connections(run: Cli) -> None:
    run.create_database()
    result = run("mappings", "rebuild", ok=False)
    assert result.exit_code == 1
    assert "0 togai connections exist" in result.stderr


def test_runs_table_fits_80_columns_with_flow_names_and_whole_seconds(run: Cli) -> None:
    _seed_runs(run)
    flow_name = run.json("flows", "list")[0]["name"]
    narrow = dataclasses.replace(run, runner=CliRunner(env={"COLUMNS": "80"}))
    out = narrow("runs", "list").stdout
    assert max(len(line) for line in out.splitlines()) <= 80, out
    assert flow_name.split()[0] in out
    created = run.json("runs", "list")[0]["created_at"]
    assert created[:19].replace("T", " ") in out  # to the second, no microseconds
    assert created not in out


def test_runs_show_labels_a_skipped_steps_reason_not_as_an_error(run: Cli) -> None:
    _, failed, _ = _seed_runs(run)

    async def steps_of(app: App) -> None:
        async with app.db.write() as session:
            now = app.clock.now()
            await steps.save(
                session,
                failed,
                0,
                step_id="customer",
                action="razorpay.create_customer",
                connection_id=None,
                status=StepStatus.SKIPPED,
                error=WHEN_FALSE,
                now=now,
                finished=True,
            )
            await steps.save(
                session,
                failed,
                1,
                step_id="write_back",
                action="togai.set_account_setting",
                connection_id=None,
                status=StepStatus.FAILED,
                error="Togai refused the setting",
                now=now,
                finished=True,
            )

    run.in_app(steps_of)
    out = run("runs", "show", str(failed)).stdout
    skipped, failed_step = out.split("Step 1 ")
    assert "skipped because" in skipped and "`when` is false" in skipped
    assert "error" not in skipped.split("Step 0 ")[1]
    assert "Not executed: skipped." in skipped
    assert "error" in failed_step and "Togai refused the setting" in failed_step
    shown = run.json("runs", "show", str(failed))
    assert [(s["status"], s["error"]) for s in shown["steps"]] == [
        ("skipped", WHEN_FALSE),
        ("failed", "Togai refused the setting"),
    ]
