"""Invoices and payments through the official client, plus the invoice control plane."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import togai_client
from togai_client.exceptions import BadRequestException, NotFoundException
from togai_client.models import (
    CreateCustomInvoiceRequest,
    CreatePaymentRequest,
    UpdateInvoiceRequest,
)

from billsync.sandbox.togai import TogaiSandboxConfig
from tests.contract.sandbox_togai.conftest import Sandbox, new_customer, running


def _payment(
    account_id: str,
    total: float,
    invoice_id: str,
    ref: str = "pay_1",
    currency: str = "INR",
    **record: Any,
) -> CreatePaymentRequest:
    return CreatePaymentRequest.from_dict(
        {
            "accountId": account_id,
            "currency": currency,
            "totalAmount": total,
            "externalPaymentReference": {
                "sourceName": "Razorpay",
                "sourceType": "GATEWAY",
                "transactionNumber": ref,
            },
            "lineItemRecords": [{"type": "INVOICE", "togaiId": invoice_id, "order": 1, **record}],
        }
    )


def test_control_plane_invoice_as_the_billing_cycle_makes_it(
    sandbox: Sandbox, api: togai_client.ApiClient
) -> None:
    new_customer(api, "ACME")
    draft_id = sandbox.invoice("ACME", 881.94, status="DRAFT")
    invoices = togai_client.InvoicesApi(api)
    draft = invoices.get_invoice(draft_id)
    assert draft.status == "DRAFT" and draft.invoice_type == "STANDARD"
    assert draft.owner_id == "ACME" and draft.customer_id == "ACME"
    assert draft.total_amount == 881.94 and draft.paid_amount == 0 and draft.net_term_days == 30
    assert draft.invoice_details.account.invoice_currency == "INR"
    assert draft.sequence_id and draft.usage_info is None and draft.revenue_info is None

    generated = sandbox.control("POST", f"/invoices/{draft_id}/generate")
    assert generated.status_code == 200 and generated.json()["status"] == "DUE"
    assert invoices.get_invoice(draft_id).generated_at is not None
    again = sandbox.control("POST", f"/invoices/{draft_id}/generate")
    assert again.status_code == 400 and "DRAFT" in again.json()["message"]
    assert sandbox.control("POST", f"/invoices/{draft_id}/void").json()["status"] == "VOID"
    assert sandbox.control("POST", "/invoices/inv.none/void").status_code == 404


def test_list_filters_and_pagination(sandbox: Sandbox, api: togai_client.ApiClient) -> None:
    new_customer(api, "ACME")
    new_customer(api, "GLOBEX")
    ids = [sandbox.invoice("ACME", 10 + n) for n in range(5)]
    sandbox.invoice("ACME", 5, status="DRAFT")
    sandbox.invoice("GLOBEX", 7)
    invoices = togai_client.InvoicesApi(api)

    seen, token = [], None
    while True:
        page = invoices.list_invoices(next_token=token, status="DUE", owner_id="ACME", page_size=2)
        seen += [i.id for i in page.data]
        token = page.next_token
        if token is None:
            break
    assert seen == ids
    assert len(invoices.list_invoices(customer_id="GLOBEX").data) == 1
    assert len(invoices.list_invoices(status="DRAFT").data) == 1
    assert len(invoices.list_invoices().data) == 7
    with pytest.raises(BadRequestException):
        invoices.list_invoices(page_size=51)


def test_patch_status_follows_legal_transitions(
    sandbox: Sandbox, api: togai_client.ApiClient
) -> None:
    new_customer(api, "ACME")
    invoices = togai_client.InvoicesApi(api)
    due = sandbox.invoice("ACME", 100)
    paid = invoices.update_invoice(due, UpdateInvoiceRequest(status="PAID"))
    assert paid.status == "PAID" and paid.paid_amount == 100
    with pytest.raises(BadRequestException) as bad:
        invoices.update_invoice(due, UpdateInvoiceRequest(status="VOID"))
    assert "cannot move from PAID to VOID" in bad.value.data.message
    draft = sandbox.invoice("ACME", 100, status="DRAFT")
    with pytest.raises(BadRequestException):
        invoices.update_invoice(draft, UpdateInvoiceRequest(status="PAID"))
    assert invoices.update_invoice(draft, UpdateInvoiceRequest(status="DUE")).status == "DUE"
    assert invoices.update_invoice(draft, UpdateInvoiceRequest(status="VOID")).status == "VOID"
    with pytest.raises(BadRequestException):  # only CUSTOM DRAFT invoices change other fields
        invoices.update_invoice(due, UpdateInvoiceRequest(auto_advance=False))
    with pytest.raises(NotFoundException):
        invoices.get_invoice("inv.none")


def test_patch_paid_can_be_refused() -> None:
    with running(TogaiSandboxConfig(allow_patch_paid=False)) as sandbox, sandbox.api() as api:
        new_customer(api, "ACME")
        due = sandbox.invoice("ACME", 100)
        with pytest.raises(BadRequestException) as err:
            togai_client.InvoicesApi(api).update_invoice(due, UpdateInvoiceRequest(status="PAID"))
    assert "Payment should be recorded" in err.value.data.message


def test_custom_invoices(api: togai_client.ApiClient) -> None:
    new_customer(api, "ACME")
    invoices = togai_client.InvoicesApi(api)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    request = CreateCustomInvoiceRequest.from_dict(
        {
            "accountId": "ACME",
            "startDate": start.isoformat(),
            "endDate": (start + timedelta(days=31)).isoformat(),
            "status": "DUE",
            "idempotencyKey": "k1",
            "lineItems": [
                {"description": "setup", "value": 500},
                {"description": "seats", "quantity": 3, "valuePerQuantity": 99.5},
            ],
        }
    )
    created = invoices.create_custom_invoice(request)
    assert created is not None and created.invoice_type == "CUSTOM" and created.status == "DUE"
    assert created.total_amount == 798.5
    assert invoices.create_custom_invoice(request).id == created.id  # same idempotency key

    draft = invoices.create_custom_invoice(
        CreateCustomInvoiceRequest.from_dict(
            {
                "accountId": "ACME",
                "startDate": start.isoformat(),
                "endDate": start.isoformat(),
                "status": "DRAFT",
                "lineItems": [{"value": 1}],
            }
        )
    )
    changed = invoices.update_invoice(
        draft.id, UpdateInvoiceRequest.from_dict({"lineItems": [{"value": 42}]})
    )
    assert changed.total_amount == 42 and changed.status == "DRAFT"
    with pytest.raises(BadRequestException):  # DRAFT -> PAID is illegal: nothing changes
        invoices.update_invoice(
            draft.id,
            UpdateInvoiceRequest.from_dict({"lineItems": [{"value": 7}], "status": "PAID"}),
        )
    assert invoices.get_invoice(draft.id).total_amount == 42

    future = datetime.now(UTC) + timedelta(days=40)
    with pytest.raises(BadRequestException):
        invoices.create_custom_invoice(
            CreateCustomInvoiceRequest(
                account_id="ACME",
                start_date=future,
                end_date=future,
                status="DUE",
                line_items=[{"value": 1}],
            )
        )


def test_payments_apply_to_invoices(sandbox: Sandbox, api: togai_client.ApiClient) -> None:
    new_customer(api, "ACME")
    invoice_id = sandbox.invoice("ACME", 881.94)
    payments = togai_client.PaymentsApi(api)
    invoices = togai_client.InvoicesApi(api)

    part = payments.create_payments(_payment("ACME", 400, invoice_id, "pay_A", amount=400))
    assert part is not None and part.external_payment_references.transaction_number == "pay_A"
    after_part = invoices.get_invoice(invoice_id)
    assert after_part.status == "PARTIALLY_PAID" and after_part.paid_amount == 400

    rest = payments.create_payments(_payment("ACME", 481.94, invoice_id, "pay_B"))
    assert rest.line_item_records[0].amount == 481.94
    after_rest = invoices.get_invoice(invoice_id)
    assert after_rest.status == "PAID" and after_rest.paid_amount == 881.94

    assert payments.get_payment(part.id).total_amount == 400
    listed = payments.list_payments(page_size=1)
    more = payments.list_payments(next_token=listed.next_token)
    assert [p.id for p in listed.data + more.data] == [part.id, rest.id]
    assert more.next_token is None
    with pytest.raises(NotFoundException):
        payments.get_payment("payment.none")


def test_payment_refusals_change_nothing(sandbox: Sandbox, api: togai_client.ApiClient) -> None:
    new_customer(api, "ACME")
    invoice_id = sandbox.invoice("ACME", 100)
    payments = togai_client.PaymentsApi(api)
    for bad in (
        _payment("ACME", 100, invoice_id, currency="USD"),  # not the account's currency
        _payment("ACME", 150, invoice_id, amount=150),  # more than is due
        _payment("ACME", 50, invoice_id, amount=80),  # records exceed totalAmount
        _payment("NOPE", 100, invoice_id),
        _payment("ACME", 100, "inv.none"),
    ):
        with pytest.raises(BadRequestException):
            payments.create_payments(bad)
    invoice = togai_client.InvoicesApi(api).get_invoice(invoice_id)
    assert invoice.paid_amount == 0 and invoice.status == "DUE"
    assert payments.list_payments().data == []
    togai_client.InvoicesApi(api).update_invoice(invoice_id, UpdateInvoiceRequest(status="VOID"))
    with pytest.raises(BadRequestException):
        payments.create_payments(_payment("ACME", 100, invoice_id))


def test_duplicate_payment_reference_can_be_refused() -> None:
    config = TogaiSandboxConfig(reject_duplicate_payment_reference=True)
    with running(config) as sandbox, sandbox.api() as api:
        new_customer(api, "ACME")
        invoice_id = sandbox.invoice("ACME", 100)
        payments = togai_client.PaymentsApi(api)
        payments.create_payments(_payment("ACME", 10, invoice_id, "pay_X"))
        with pytest.raises(BadRequestException):
            payments.create_payments(_payment("ACME", 10, invoice_id, "pay_X"))
