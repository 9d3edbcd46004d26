"""TogaiClient over httpx.MockTransport: requests sent, responses parsed, errors classified."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from billsync import errors
from billsync.connectors.togai.client import (
    PRODUCTION_URL,
    SANDBOX_URL,
    TogaiClient,
    from_connection,
)
from billsync.connectors.togai.models import Invoice, Setting
from tests.unit.connectors_togai.togai_fake import TOKEN, FakeTogai, invoice


def client_for(fake: FakeTogai, **kw: object) -> TogaiClient:
    return TogaiClient(TOKEN, base_url="http://togai.test", transport=fake.transport(), **kw)  # type: ignore[arg-type]


async def test_sends_bearer_token_json_and_quoted_ids() -> None:
    fake = FakeTogai()
    fake.add_account(account_id="ACC/1")
    async with client_for(fake) as client:
        acc = await client.get_account("ACC/1")
    req = fake.requests[0]
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert req.headers["accept"] == "application/json"
    assert req.url.raw_path == b"/accounts/ACC%2F1"
    assert acc.id == "ACC/1"
    assert acc.address is not None and acc.address.phone_number == "+919876543210"


def test_base_url_defaults_to_production_and_accepts_any_override() -> None:
    assert TogaiClient("t").base_url == PRODUCTION_URL == "https://api.togai.com"
    assert TogaiClient("t", base_url=SANDBOX_URL + "/").base_url == SANDBOX_URL
    made = from_connection({"api_token": "t", "base_url": "http://127.0.0.1:9/"})
    assert made.base_url == "http://127.0.0.1:9"
    assert from_connection({"api_token": "t"}).base_url == PRODUCTION_URL


def test_make_client_without_token_is_an_auth_error() -> None:
    with pytest.raises(errors.AuthError):
        from_connection({"base_url": SANDBOX_URL})


async def test_raw_json_is_kept_and_unknown_fields_survive() -> None:
    fake = FakeTogai()
    fake.add_account(account_id="ACC1", brandNewField={"x": 1})
    async with client_for(fake) as client:
        acc = await client.get_account("ACC1")
    assert acc.raw == fake.accounts["ACC1"]
    assert acc.model_dump()["brandNewField"] == {"x": 1}
    assert acc.model_dump()["togaiAccountId"] == "account.acc1.x1"  # camelCase out


def test_invoice_parses_line_item_leaves_and_every_datetime_form() -> None:
    body = invoice(
        invoiceDate="2024-01-01T00:00:00.000000+0000",
        updatedAt="2024-01-01 00:00:00",
        generatedAt=1704067200000,
        dueDate=1704067200,
        revenueInfo={
            "description": "Total",
            "type": "GRAND_TOTAL_AMOUNT",
            "value": 881.94,
            "lineItems": [{"description": "leaf", "type": "CUSTOM_AMOUNT", "value": 881.94}],
        },
        usageInfo=[
            {"description": "empty", "type": "USAGE_METER_USAGE", "value": 0, "lineItems": []}
        ],
    )
    inv = Invoice.from_json(body)
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    assert inv.invoice_date == inv.updated_at == inv.generated_at == inv.due_date == moment
    assert inv.revenue_info is not None
    assert inv.revenue_info.line_items[0].line_items == []
    assert inv.total_amount == Decimal("881.94")
    assert inv.currency == "INR"


async def test_list_invoices_pages_with_next_token_only() -> None:
    fake = FakeTogai(page_size=2)
    for n in range(3):
        fake.add_invoice(invoice_id=f"inv.{n}", status="DUE")
    fake.add_invoice(invoice_id="inv.paid", status="PAID")
    async with client_for(fake) as client:
        first = await client.list_invoices(status="DUE", owner_id="ACC1", page_size=2)
        second = await client.list_invoices(next_token=first.next_token)
    assert [i.id for i in first.data] == ["inv.0", "inv.1"]
    assert [i.id for i in second.data] == ["inv.2"] and second.next_token is None
    assert fake.requests[0].url.params["status"] == "DUE"
    assert fake.requests[0].url.params["owner_id"] == "ACC1"
    assert set(fake.requests[1].url.params) == {"nextToken"}


async def test_settings_insert_get_update_list() -> None:
    fake = FakeTogai()
    wanted = Setting(
        id="RazorPayCustomerId",
        name="RazorPayCustomerId",
        value="cust_1",
        namespace="USER",
        entity_type="ACCOUNT",
        entity_id="ACC1",
    )
    async with client_for(fake) as client:
        created = await client.insert_setting(wanted)
        full = "setting.USER.RazorPayCustomerId.ACCOUNT.ACC1"
        assert created.full_id == full
        assert json.loads(fake.requests[0].content)["entityType"] == "ACCOUNT"
        updated = await client.update_setting(full, value="cust_2")
        assert updated.value == "cust_2"
        assert (await client.get_setting(full)).value == "cust_2"
        page = await client.list_settings(entity_type="ACCOUNT", entity_id="ACC1")
    assert (
        fake.requests[1].url.raw_path == b"/settings/setting.USER.RazorPayCustomerId.ACCOUNT.ACC1"
    )
    assert fake.requests[-1].url.params["entity_id"] == "ACC1"
    assert [s.full_id for s in page.data] == [full]


async def test_create_payment_sends_exact_decimal_and_reference() -> None:
    fake = FakeTogai()
    fake.add_invoice(invoice_id="inv.1", total=1000.10)
    async with client_for(fake) as client:
        payment = await client.create_payment(
            account_id="ACC1",
            currency="INR",
            total_amount=Decimal("1000.10"),
            transaction_number="pay_1",
            invoice_id="inv.1",
        )
        listed = await client.list_payments(account_id="ACC1")
        again = await client.get_payment(payment.id)
    sent = fake.requests[0].content.decode()
    assert '"totalAmount":1000.1,' in sent
    body = json.loads(sent)
    assert body["externalPaymentReference"] == {
        "sourceName": "Razorpay",
        "sourceType": "GATEWAY",
        "transactionNumber": "pay_1",
    }
    assert body["lineItemRecords"] == [
        {"type": "INVOICE", "togaiId": "inv.1", "amount": 1000.1, "order": 1}
    ]
    assert payment.transaction_numbers() == {"pay_1"} == again.transaction_numbers()
    assert [p.id for p in listed.data] == [payment.id]


async def test_patch_invoice_status() -> None:
    fake = FakeTogai()
    fake.add_invoice(invoice_id="inv.1")
    async with client_for(fake) as client:
        inv = await client.update_invoice("inv.1", {"status": "PAID"})
    assert inv.status == "PAID"
    assert json.loads(fake.requests[0].content) == {"status": "PAID"}


async def test_verify_ok_uses_one_item_page() -> None:
    fake = FakeTogai()
    async with client_for(fake) as client:
        await client.verify()
    assert fake.requests[0].url.path == "/accounts"
    assert fake.requests[0].url.params["pageSize"] == "1"


async def test_verify_bad_token() -> None:
    fake = FakeTogai()
    async with TogaiClient("wrong", base_url="http://t", transport=fake.transport()) as client:
        with pytest.raises(errors.AuthError, match="Togai rejected the API token"):
            await client.verify()


@pytest.mark.parametrize(
    ("base_url", "hint"),
    [
        ("http://togai.test/v1", "remove '/v1' from the end of base_url"),
        ("http://togai.test/", "check base_url"),
    ],
)
async def test_verify_404_names_base_url_with_a_hint(base_url: str, hint: str) -> None:
    def not_found(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"errorMessage": "Not Found"})

    transport = httpx.MockTransport(not_found)
    async with TogaiClient(TOKEN, base_url=base_url, transport=transport) as client:
        with pytest.raises(errors.RejectedError) as info:
            await client.verify()
    message = info.value.message
    assert message.startswith(f"{base_url.rstrip('/')} did not answer like Togai's API")
    assert "(GET /accounts: HTTP 404)" in message
    assert message.endswith(hint) or f"{hint}:" in message
    assert "togai verify: Not Found" not in message


async def test_verify_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with TogaiClient(TOKEN, transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(errors.UnavailableError, match="unreachable") as info:
            await client.verify()
    assert info.value.ambiguous is False


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.RejectedError),
        (401, errors.AuthError),
        (403, errors.AuthError),
        (404, errors.NotFoundError),
        (409, errors.RejectedError),
        (422, errors.RejectedError),
        (429, errors.RateLimitedError),
        (500, errors.UnavailableError),
        (503, errors.UnavailableError),
    ],
)
async def test_error_statuses_are_classified_with_togai_message(
    status: int, cls: type[errors.ConnectorError]
) -> None:
    fake = FakeTogai(queued=[httpx.Response(status, json={"message": "Reason text"})])
    async with client_for(fake) as client:
        with pytest.raises(cls) as info:
            await client.get_invoice("inv.1")
    assert type(info.value) is cls
    assert info.value.status == status and info.value.app == "togai"
    assert "Reason text" in str(info.value)


async def test_rate_limit_reads_retry_after() -> None:
    fake = FakeTogai(
        queued=[httpx.Response(429, json={"message": "throttled"}, headers={"Retry-After": "3"})]
    )
    async with client_for(fake) as client:
        with pytest.raises(errors.RateLimitedError) as info:
            await client.list_accounts()
    assert info.value.retry_after == 3.0


async def test_malformed_success_body_is_retryable_and_ambiguous_after_a_write() -> None:
    fake = FakeTogai(
        queued=[httpx.Response(200, json=["not", "an", "object"]), httpx.Response(201, json={})]
    )
    async with client_for(fake) as client:
        with pytest.raises(errors.UnavailableError) as read:
            await client.get_account("ACC1")
        with pytest.raises(errors.UnavailableError) as write:
            await client.update_invoice("inv.1", {"status": "PAID"})
    assert read.value.ambiguous is False
    assert write.value.ambiguous is True


async def test_token_never_appears_in_error_messages() -> None:
    fake = FakeTogai(queued=[httpx.Response(400, json={"message": f"bad token {TOKEN}"})])
    async with client_for(fake) as client:
        with pytest.raises(errors.RejectedError) as info:
            await client.get_account("ACC1")
    assert TOKEN not in str(info.value)
    assert TOKEN not in (info.value.internal_message or "")
