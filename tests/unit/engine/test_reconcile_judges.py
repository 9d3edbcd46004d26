"""The reconciliation judges on hand-built snapshots: states, fixes, scope and the status
table, without providers (the e2e suite drives the same code against the sandboxes)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from billsync.connectors.razorpay import models as rzp
from billsync.connectors.togai import models as togai
from billsync.domain import IdLink, LinkKind
from billsync.engine.reconcile.comparison import judge_all
from billsync.engine.reconcile.invoices import AGREE
from billsync.engine.reconcile.model import Item, ItemKind, ItemState
from billsync.engine.reconcile.snapshot import Snapshot
from billsync.engine.reconcile.verdict import (
    ACCOUNT_CREATED,
    INVOICE_GENERATED,
    INVOICE_PAID,
    INVOICE_PARTIALLY_PAID,
    INVOICE_VOIDED,
    Scope,
    Verdict,
)

ALL_FLOWS = frozenset(
    {ACCOUNT_CREATED, INVOICE_GENERATED, INVOICE_VOIDED, INVOICE_PAID, INVOICE_PARTIALLY_PAID}
)
JAN = datetime(2026, 1, 1, tzinfo=UTC)


def account(snap: Snapshot, account_id: str, status: str = "ACTIVE") -> None:
    snap.accounts[account_id] = togai.Account(
        id=account_id, name=account_id, status=status, invoice_currency="INR"
    )


def customer(
    snap: Snapshot, customer_id: str, account_id: str | None, created: int = 1_800_000_000
) -> None:
    notes = {"togai_account_id": account_id} if account_id else {}
    snap.customers[customer_id] = rzp.Customer(id=customer_id, notes=notes, created_at=created)


def link(snap: Snapshot, kind: LinkKind, togai_id: str, razorpay_id: str) -> None:
    snap.links[kind].add(togai_id, razorpay_id)


def synced_account(snap: Snapshot, account_id: str, customer_id: str) -> None:
    account(snap, account_id)
    customer(snap, customer_id, account_id)
    link(snap, LinkKind.ACCOUNT_CUSTOMER, account_id, customer_id)
    snap.customer_settings[account_id] = customer_id


def invoice(
    snap: Snapshot,
    invoice_id: str,
    owner: str,
    total: str,
    status: str = "DUE",
    paid: str = "0",
    when: datetime | None = None,
) -> None:
    snap.invoices[invoice_id] = togai.Invoice(
        id=invoice_id,
        status=status,
        owner_id=owner,
        total_amount=Decimal(total),
        paid_amount=Decimal(paid),
        invoice_date=when or datetime(2026, 6, 1, tzinfo=UTC),
    )


def rzp_invoice(
    snap: Snapshot,
    rzp_id: str,
    togai_id: str,
    amount: int,
    status: str = "issued",
    *,
    settings: bool = True,
    mapped: bool = True,
    created: int = 1_800_000_000,
) -> None:
    url = f"https://rzp.io/i/{rzp_id}"
    snap.rzp_invoices[rzp_id] = rzp.Invoice(
        id=rzp_id,
        status=status,
        amount=amount,
        currency="INR",
        receipt=togai_id,
        short_url=url,
        notes={"togai_invoice_id": togai_id},
        created_at=created,
    )
    if mapped:
        link(snap, LinkKind.INVOICE_INVOICE, togai_id, rzp_id)
    if settings:
        snap.invoice_settings[togai_id] = rzp_id
        snap.invoice_urls[togai_id] = url


def rzp_payment(
    snap: Snapshot, pay_id: str, rzp_invoice_id: str, amount: int, created: int = 1_800_000_100
) -> None:
    snap.rzp_payments[pay_id] = rzp.Payment(
        id=pay_id,
        amount=amount,
        currency="INR",
        status="captured",
        captured=True,
        invoice_id=rzp_invoice_id,
        created_at=created,
    )


def togai_payment(
    snap: Snapshot, payment_id: str, invoice_id: str, amount: str, number: str, source: str
) -> None:
    snap.togai_payments[payment_id] = togai.Payment.model_validate(
        {
            "id": payment_id,
            "accountId": "a",
            "currency": "INR",
            "totalAmount": amount,
            "externalPaymentReferences": [
                {"sourceName": source, "sourceType": "GATEWAY", "transactionNumber": number}
            ],
            "lineItemRecords": [
                {"type": "INVOICE", "togaiId": invoice_id, "amount": amount, "order": 1}
            ],
        }
    )


def judged(snap: Snapshot, **scope: Any) -> dict[tuple[ItemKind, str | None], Verdict]:
    verdicts = judge_all(snap, Scope(flows=scope.pop("flows", ALL_FLOWS), **scope))
    keys = [(v.item.kind, v.item.togai_id, v.item.razorpay_id) for v in verdicts]
    assert len(keys) == len(set(keys)), "an object judged twice"
    return {(v.item.kind, v.item.togai_id): v for v in verdicts}


def state(found: dict[tuple[ItemKind, str | None], Verdict], kind: ItemKind, togai_id: str) -> Item:
    return found[(kind, togai_id)].item


def test_a_fully_synced_pair_is_matched_on_every_kind() -> None:
    snap = Snapshot()
    synced_account(snap, "a", "cust_1")
    invoice(snap, "inv.1", "a", "100", status="PAID", paid="100")
    rzp_invoice(snap, "inv_1", "inv.1", 10000, status="paid")
    rzp_payment(snap, "pay_1", "inv_1", 10000)
    togai_payment(snap, "pay.t1", "inv.1", "100", "pay_1", "Razorpay")
    link(snap, LinkKind.PAYMENT_PAYMENT, "pay.t1", "pay_1")
    found = judged(snap)
    assert {v.item.state for v in found.values()} == {ItemState.MATCHED}
    assert len(found) == 3
    assert all(v.item.fix is None and v.plan.empty for v in found.values())


def test_part_paid_elsewhere_before_sending_is_the_amount_razorpay_should_have() -> None:
    snap = Snapshot()
    synced_account(snap, "a", "cust_1")
    invoice(snap, "inv.1", "a", "100", status="PARTIALLY_PAID", paid="30")
    togai_payment(snap, "pay.cash", "inv.1", "30", "cheque-17", "BANK")
    rzp_invoice(snap, "inv_1", "inv.1", 7000)
    assert state(judged(snap), ItemKind.INVOICE, "inv.1").state is ItemState.MATCHED

    snap.rzp_invoices["inv_1"] = snap.rzp_invoices["inv_1"].model_copy(update={"amount": 10000})
    item = state(judged(snap), ItemKind.INVOICE, "inv.1")
    assert item.state is ItemState.AMOUNT_MISMATCH
    assert "7000" in item.detail and item.fix is None


def test_void_in_togai_issued_in_razorpay_is_fixed_by_the_void_flow_only_if_enabled() -> None:
    snap = Snapshot()
    synced_account(snap, "a", "cust_1")
    invoice(snap, "inv.1", "a", "100", status="VOID")
    rzp_invoice(snap, "inv_1", "inv.1", 10000)
    verdict = judged(snap)[(ItemKind.INVOICE, "inv.1")]
    assert verdict.item.state is ItemState.STATUS_MISMATCH
    assert verdict.plan.trigger == INVOICE_VOIDED and verdict.item.fix
    verdict = judged(snap, flows=frozenset({ACCOUNT_CREATED}))[(ItemKind.INVOICE, "inv.1")]
    assert verdict.item.state is ItemState.STATUS_MISMATCH
    assert verdict.item.fix is None and verdict.plan.empty


@pytest.mark.parametrize(
    ("togai_status", "rzp_status", "expected"),
    [
        ("DUE", "issued", ItemState.MATCHED),
        ("DUE", "paid", ItemState.STATUS_MISMATCH),
        ("DUE", "expired", ItemState.STATUS_MISMATCH),
        ("PARTIALLY_PAID", "partially_paid", ItemState.MATCHED),
        ("PAID", "paid", ItemState.MATCHED),
        ("PAID", "issued", ItemState.STATUS_MISMATCH),
        ("VOID", "cancelled", ItemState.MATCHED),
        ("VOID", "paid", ItemState.STATUS_MISMATCH),
        ("UN_COLLECTIBLE", "issued", ItemState.MATCHED),
        ("REFUND_COMPLETED", "paid", ItemState.MATCHED),
        ("MERGED", "issued", ItemState.STATUS_MISMATCH),
        ("DRAFT", "issued", ItemState.STATUS_MISMATCH),
    ],
)
def test_status_pairs(togai_status: str, rzp_status: str, expected: ItemState) -> None:
    snap = Snapshot()
    synced_account(snap, "a", "cust_1")
    invoice(snap, "inv.1", "a", "100", status=togai_status)
    rzp_invoice(snap, "inv_1", "inv.1", 10000, status=rzp_status)
    item = state(judged(snap), ItemKind.INVOICE, "inv.1")
    assert item.state is expected
    if expected is ItemState.STATUS_MISMATCH and togai_status != "VOID":
        assert item.fix is None, item  # only VOID ↔ issued is safe to repair
    assert (rzp_status in AGREE.get(togai_status, frozenset())) == (expected is ItemState.MATCHED)


def test_unsent_invoices_that_never_needed_razorpay_are_not_compared() -> None:
    snap = Snapshot()
    synced_account(snap, "a", "cust_1")
    invoice(snap, "inv.draft", "a", "100", status="DRAFT")
    invoice(snap, "inv.paid", "a", "100", status="PAID", paid="100")
    invoice(snap, "inv.zero", "a", "0")
    invoice(snap, "inv.due", "a", "100")
    found = judged(snap)
    invoices = {k[1] for k in found if k[0] is ItemKind.INVOICE}
    assert invoices == {"inv.due"}
    verdict = found[(ItemKind.INVOICE, "inv.due")]
    assert verdict.item.state is ItemState.MISSING_IN_RAZORPAY
    assert verdict.plan.trigger == INVOICE_GENERATED
    verdict = judged(snap, flows=frozenset())[(ItemKind.INVOICE, "inv.due")]
    assert verdict.item.fix is None and "no enabled flow" in verdict.item.detail


def test_accounts_without_customers_need_one_only_when_a_flow_would_have_made_it() -> None:
    snap = Snapshot()
    account(snap, "lonely")
    account(snap, "gone", status="ARCHIVED")
    found = judged(snap)
    assert set(found) == {(ItemKind.CUSTOMER, "lonely")}
    assert found[(ItemKind.CUSTOMER, "lonely")].plan.trigger == ACCOUNT_CREATED
    assert judged(snap, flows=frozenset({INVOICE_GENERATED})) == {}
    invoice(snap, "inv.1", "lonely", "10")
    found = judged(snap, flows=frozenset({INVOICE_GENERATED}))
    verdict = found[(ItemKind.CUSTOMER, "lonely")]
    assert verdict.item.state is ItemState.MISSING_IN_RAZORPAY
    assert verdict.plan.empty and "run of its invoice" in verdict.item.detail


def test_link_records_that_disagree() -> None:
    snap = Snapshot()
    synced_account(snap, "setting", "cust_1")
    snap.customer_settings["setting"] = "cust_typo"  # names nothing at Razorpay
    account(snap, "unmapped")
    customer(snap, "cust_2", "unmapped")
    snap.customer_settings["unmapped"] = "cust_2"
    account(snap, "conflict")
    customer(snap, "cust_3", "conflict")
    customer(snap, "cust_4", None)
    link(snap, LinkKind.ACCOUNT_CUSTOMER, "conflict", "cust_3")
    snap.customer_settings["conflict"] = "cust_4"
    found = judged(snap)

    fixed_by_flow = found[(ItemKind.CUSTOMER, "setting")]
    assert fixed_by_flow.item.state is ItemState.LINK_MISMATCH
    assert fixed_by_flow.plan.trigger == ACCOUNT_CREATED and not fixed_by_flow.plan.write_links
    mapping_only = found[(ItemKind.CUSTOMER, "unmapped")]
    assert mapping_only.item.state is ItemState.LINK_MISMATCH
    assert mapping_only.plan.write_links == (
        IdLink(LinkKind.ACCOUNT_CUSTOMER, "unmapped", "cust_2"),
    )
    assert mapping_only.plan.trigger is None
    human = found[(ItemKind.CUSTOMER, "conflict")]
    assert human.item.state is ItemState.LINK_MISMATCH
    assert human.item.fix is None and "a human decides" in human.item.detail


def test_a_mapping_to_a_customer_razorpay_does_not_have_is_dropped_and_recreated() -> None:
    snap = Snapshot()
    account(snap, "a")
    link(snap, LinkKind.ACCOUNT_CUSTOMER, "a", "cust_gone")
    verdict = judged(snap)[(ItemKind.CUSTOMER, "a")]
    assert verdict.item.state is ItemState.MISSING_IN_RAZORPAY
    assert verdict.plan.drop_links == (IdLink(LinkKind.ACCOUNT_CUSTOMER, "a", "cust_gone"),)
    assert verdict.plan.trigger == ACCOUNT_CREATED


def test_orphans_are_reported_never_fixed() -> None:
    snap = Snapshot()
    customer(snap, "cust_ghost", "ghost")
    snap.rzp_invoices["inv_ghost"] = rzp.Invoice(
        id="inv_ghost", status="issued", amount=100, notes={"togai_invoice_id": "inv.ghost"}
    )
    snap.rzp_invoices["inv_mine"] = rzp.Invoice(id="inv_mine", status="issued", amount=100)
    found = judged(snap)
    assert set(found) == {(ItemKind.CUSTOMER, "ghost"), (ItemKind.INVOICE, "inv.ghost")}
    for verdict in found.values():
        assert verdict.item.state is ItemState.ORPHAN
        assert verdict.item.fix is None and verdict.plan.empty


def test_payments() -> None:
    snap = Snapshot()
    synced_account(snap, "a", "cust_1")
    invoice(snap, "inv.1", "a", "100", status="PARTIALLY_PAID", paid="40")
    rzp_invoice(snap, "inv_1", "inv.1", 10000, status="paid")
    rzp_payment(snap, "pay_recorded", "inv_1", 4000, created=1_800_000_050)
    rzp_payment(snap, "pay_missing", "inv_1", 6000)
    togai_payment(snap, "pay.t1", "inv.1", "40", "pay_recorded", "Razorpay")
    togai_payment(snap, "pay.t2", "inv.1", "1", "pay_unknown", "Razorpay")
    by_rzp = {
        v.item.razorpay_id: v
        for v in judge_all(snap, Scope(flows=ALL_FLOWS))
        if v.item.kind is ItemKind.PAYMENT
    }
    recorded = by_rzp["pay_recorded"]
    assert recorded.item.state is ItemState.LINK_MISMATCH  # the mapping is missing
    assert recorded.plan.write_links == (
        IdLink(LinkKind.PAYMENT_PAYMENT, "pay.t1", "pay_recorded"),
    )
    missing = by_rzp["pay_missing"]
    assert missing.item.state is ItemState.MISSING_IN_TOGAI
    assert missing.item.togai_id == "inv.1"
    assert missing.plan.trigger == INVOICE_PAID  # it completed the invoice
    assert by_rzp["pay_unknown"].item.state is ItemState.MISSING_IN_RAZORPAY
    assert by_rzp["pay_unknown"].item.fix is None

    link(snap, LinkKind.PAYMENT_PAYMENT, "pay.t1", "pay_recorded")
    snap.rzp_payments["pay_recorded"] = snap.rzp_payments["pay_recorded"].model_copy(
        update={"amount": 4100}
    )
    verdicts = judge_all(snap, Scope(flows=ALL_FLOWS))
    item = next(v.item for v in verdicts if v.item.razorpay_id == "pay_recorded")
    assert item.state is ItemState.AMOUNT_MISMATCH


def test_since_limits_what_is_reported() -> None:
    snap = Snapshot()
    synced_account(snap, "old", "cust_old")
    snap.customers["cust_old"] = snap.customers["cust_old"].model_copy(update={"created_at": 1})
    invoice(snap, "inv.old", "old", "100", when=datetime(2025, 6, 1, tzinfo=UTC))
    invoice(snap, "inv.new", "old", "100", when=datetime(2026, 2, 1, tzinfo=UTC))
    customer(snap, "cust_ghost_old", "ghost", created=1)
    found = judged(snap, since=JAN)
    assert set(found) == {(ItemKind.INVOICE, "inv.new"), (ItemKind.CUSTOMER, "old")}
    assert found[(ItemKind.INVOICE, "inv.new")].item.state is ItemState.MISSING_IN_RAZORPAY
    assert found[(ItemKind.CUSTOMER, "old")].item.state is ItemState.MATCHED
    assert {k[1] for k in judged(snap)} >= {"inv.old", "inv.new", "ghost"}
