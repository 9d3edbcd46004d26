"""What the real Togai refuses is refused here, and every answer parses in togai-client 1.0.3.

Over a real socket, through the official client: accounts holding more settings or aliases
than the client's Account model embeds, future-dated custom invoices moved to DUE, payments
whose totalAmount the line item records do not cover, update_invoice called without a body.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import togai_client
from togai_client.exceptions import BadRequestException
from togai_client.models import (
    CreateAccountRequest,
    CreateCustomInvoiceRequest,
    CreatePaymentRequest,
    Setting,
    UpdateAccountRequest,
    UpdateInvoiceRequest,
)

from billsync.sandbox.togai import TogaiSandboxConfig
from tests.contract.sandbox_togai.conftest import Sandbox, new_customer, running


def _setting(account_id: str, n: int) -> Setting:
    return Setting(
        id=f"UserSetting{n:02d}",
        name=f"UserSetting{n:02d}",
        namespace="USER",
        entity_type="ACCOUNT",
        entity_id=account_id,
        value=f"value {n}",
        data_type="STRING",
    )


def _crowded_account(api: togai_client.ApiClient) -> None:
    """ACC1 with 13 aliases (10 `aliases` + 3 `accountAliases`) and 10 settings."""
    new_customer(api, "ACME")
    togai_client.AccountsApi(api).create_account(
        CreateAccountRequest.from_dict(
            {
                "id": "ACC1",
                "name": "Crowded account",
                "customerId": "ACME",
                "aliases": [f"alias-{n:02d}" for n in range(10)],
                "accountAliases": [{"value": f"extra-{n}"} for n in range(3)],
                "settings": [
                    {
                        "id": f"Embedded{n:02d}",
                        "name": f"Embedded{n:02d}",
                        "namespace": "USER",
                        "value": str(n),
                        "dataType": "STRING",
                    }
                    for n in range(10)
                ],
            }
        )
    )


def test_every_account_answer_parses_once_it_holds_more_than_ten(
    api: togai_client.ApiClient,
) -> None:
    _crowded_account(api)
    settings = togai_client.SettingsApi(api)
    for n in range(3):  # the 11th, 12th and 13th setting: stored, not embedded
        settings.insert_setting(_setting("ACC1", n))
    accounts = togai_client.AccountsApi(api)

    fetched = accounts.get_account("ACC1")
    assert len(fetched.settings) == 10 and len(fetched.aliases) == 10
    assert [s.id for s in fetched.settings] == [f"Embedded{n:02d}" for n in range(10)]
    assert [a.alias for a in fetched.aliases] == [f"alias-{n:02d}" for n in range(10)]
    updated = accounts.update_account("ACC1", UpdateAccountRequest(name="Still crowded"))
    assert updated.name == "Still crowded" and len(updated.settings) == 10
    listed = accounts.get_accounts()
    assert [a.id for a in listed.data] == ["ACME", "ACC1"]
    # Every setting is still there, listed by the settings API.
    stored = settings.list_setting(entity_type="ACCOUNT", entity_id="ACC1", page_size=50)
    assert len(stored.data) == 13


def test_an_account_with_eleven_settings_still_parses_in_create_customer() -> None:
    with running() as sandbox, sandbox.api() as api:
        created = new_customer(
            api,
            "GLOBEX",
            account={
                "id": "GLOBEX",
                "name": "Globex account",
                "aliases": [f"g-{n:02d}" for n in range(10)],
                "accountAliases": [{"value": "one-more"}],
            },
        )
        assert len(created.account.aliases) == 10


def test_overflow_can_be_refused_instead() -> None:
    config = TogaiSandboxConfig(account_overflow="refuse")
    with running(config) as sandbox, sandbox.api() as api:
        with pytest.raises(BadRequestException, match="at most 10 aliases"):
            _crowded_account(api)
        new_customer(api, "GLOBEX")
        settings = togai_client.SettingsApi(api)
        for n in range(10):
            settings.insert_setting(_setting("GLOBEX", n))
        with pytest.raises(BadRequestException, match="at most 10 settings"):
            settings.insert_setting(_setting("GLOBEX", 10))
        assert len(togai_client.AccountsApi(api).get_account("GLOBEX").settings) == 10
        with sandbox.http() as http:
            assert http.get("/accounts/ACC1").status_code == 404


def _custom_draft(api: togai_client.ApiClient, end: datetime) -> str:
    invoice = togai_client.InvoicesApi(api).create_custom_invoice(
        CreateCustomInvoiceRequest(
            account_id="ACME",
            start_date=end - timedelta(days=30),
            end_date=end,
            status="DRAFT",
            line_items=[{"value": 10}],
        )
    )
    return str(invoice.id)


def test_a_future_dated_custom_draft_cannot_become_due(api: togai_client.ApiClient) -> None:
    new_customer(api, "ACME")
    invoices = togai_client.InvoicesApi(api)
    future = _custom_draft(api, datetime.now(UTC) + timedelta(days=10))
    with pytest.raises(BadRequestException) as refused:
        invoices.update_invoice(future, UpdateInvoiceRequest(status="DUE"))
    assert refused.value.data.message == "A DUE custom invoice cannot be future-dated"
    assert invoices.get_invoice(future).status == "DRAFT"
    # Moving the period into the past in the same PATCH makes it legal.
    past_end = datetime.now(UTC) - timedelta(days=1)
    moved = invoices.update_invoice(
        future,
        UpdateInvoiceRequest(
            start_date=past_end - timedelta(days=30), end_date=past_end, status="DUE"
        ),
    )
    assert moved.status == "DUE"
    past = _custom_draft(api, datetime.now(UTC) - timedelta(days=1))
    assert invoices.update_invoice(past, UpdateInvoiceRequest(status="DUE")).status == "DUE"


def test_update_invoice_without_a_body_answers_the_invoice(
    sandbox: Sandbox, api: togai_client.ApiClient
) -> None:
    new_customer(api, "ACME")
    invoice_id = sandbox.invoice("ACME", 100)
    before = togai_client.InvoicesApi(api).get_invoice(invoice_id)
    unchanged = togai_client.InvoicesApi(api).update_invoice(invoice_id)
    assert unchanged == before


def _payment(total: float, invoice_id: str, **record: Any) -> CreatePaymentRequest:
    return CreatePaymentRequest.from_dict(
        {
            "accountId": "ACME",
            "currency": "INR",
            "totalAmount": total,
            "externalPaymentReference": {
                "sourceName": "Razorpay",
                "sourceType": "GATEWAY",
                "transactionNumber": "pay_Uncovered001",
            },
            "lineItemRecords": [{"type": "INVOICE", "togaiId": invoice_id, "order": 1, **record}],
        }
    )


def test_a_payment_its_records_do_not_cover_is_refused(
    sandbox: Sandbox, api: togai_client.ApiClient
) -> None:
    new_customer(api, "ACME")
    invoice_id = sandbox.invoice("ACME", 1000)
    payments = togai_client.PaymentsApi(api)
    for bad in (_payment(1000, invoice_id, amount=600), _payment(1500, invoice_id)):
        with pytest.raises(BadRequestException, match="would be left unapplied"):
            payments.create_payments(bad)
    invoice = togai_client.InvoicesApi(api).get_invoice(invoice_id)
    assert (invoice.status, invoice.paid_amount) == ("DUE", 0)
    assert payments.list_payments().data == []


def test_an_uncovered_rest_can_be_recorded_as_wallet_credit() -> None:
    with running(TogaiSandboxConfig(unapplied_payment="wallet")) as sandbox, sandbox.api() as api:
        new_customer(api, "ACME")
        invoice_id = sandbox.invoice("ACME", 100)
        payment = togai_client.PaymentsApi(api).create_payments(
            _payment(150, invoice_id, amount=100)
        )
        records = [(r.type, r.togai_id, r.amount) for r in payment.line_item_records]
        assert records == [("INVOICE", invoice_id, 100), ("WALLET_CREDIT", None, 50)]
        assert payment.total_amount == 150
        assert togai_client.InvoicesApi(api).get_invoice(invoice_id).status == "PAID"
