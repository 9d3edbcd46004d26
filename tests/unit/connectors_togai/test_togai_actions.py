"""Togai actions against the in-memory fake: settings upsert and record_payment idempotency."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from billsync import errors
from billsync.connectors.spec import ActionContext
from billsync.connectors.togai import APP
from billsync.connectors.togai.client import TogaiClient
from billsync.domain import IdLink, LinkKind, Side
from tests.unit.connectors_togai.togai_fake import TOKEN, FakeTogai

FULL_ID = "setting.USER.RazorPayCustomerId.ACCOUNT.ACC1"
INVOICE_SETTINGS = {
    "invoice_id": "inv.1",
    "razorpay_invoice_id": "inv_R1",
    "razorpay_invoice_url": "https://rzp.io/i/abc",
}


@dataclass
class Ids:
    links: dict[tuple[LinkKind, Side, str], str] = field(default_factory=dict)

    def add(self, link: IdLink) -> None:
        self.links[(link.kind, Side.TOGAI, link.togai_id)] = link.razorpay_id
        self.links[(link.kind, Side.RAZORPAY, link.razorpay_id)] = link.togai_id

    async def find(self, kind: LinkKind, side: Side, value: str) -> str | None:
        return self.links.get((kind, side, value))


def ctx(fake: FakeTogai, ids: Ids | None = None, **kw: Any) -> ActionContext:
    client = TogaiClient(TOKEN, base_url="http://togai.test", transport=fake.transport())
    return ActionContext(
        client=client, options=kw.pop("options", {}), ids=ids or Ids(), idempotency_key="r:0", **kw
    )


async def run(context: ActionContext, action: str, **data: Any) -> Any:
    spec = APP.action(action)
    result = await spec.run(context, spec.input_model(**data))
    assert isinstance(result.output, spec.output_model)
    return result


# -- settings ---------------------------------------------------------------------------


def calls(fake: FakeTogai) -> list[str]:
    return [f"{r.method} {unquote(r.url.path)}" for r in fake.requests]


async def test_set_account_setting_creates_then_is_unchanged_then_updates() -> None:
    fake = FakeTogai()
    c = ctx(fake)
    first = await run(c, "set_account_setting", account_id="ACC1", value="cust_1")
    assert first.output.model_dump() == {
        "full_id": FULL_ID,
        "id": "RazorPayCustomerId",
        "value": "cust_1",
        "source": "created",
    }
    assert fake.settings[FULL_ID]["dataType"] == "STRING"
    assert calls(fake) == ["POST /settings"]  # a new setting costs one request
    fake.requests.clear()
    again = await run(c, "set_account_setting", account_id="ACC1", value="cust_1")
    assert again.output.source == "unchanged"
    # unchanged → the refused insert (409 here) and a read, no PATCH
    assert calls(fake) == ["POST /settings", f"GET /settings/{FULL_ID}"]
    fake.requests.clear()
    changed = await run(c, "set_account_setting", account_id="ACC1", value="cust_2")
    assert changed.output.source == "updated"
    assert fake.settings[FULL_ID]["value"] == "cust_2"
    assert calls(fake) == [
        "POST /settings",
        f"GET /settings/{FULL_ID}",
        f"PATCH /settings/{FULL_ID}",
    ]


async def test_set_account_setting_honours_entity_and_namespace_overrides() -> None:
    fake = FakeTogai()
    await run(
        ctx(fake),
        "set_account_setting",
        account_id="CUST1",
        value="cust_1",
        entity_type="CUSTOMER",
        namespace="togai",
        setting_id="Other",
    )
    assert list(fake.settings) == ["setting.togai.Other.CUSTOMER.CUST1"]


async def test_after_ambiguous_failure_the_setting_is_read_before_writing() -> None:
    fake = FakeTogai()
    result = await run(
        ctx(fake, after_ambiguous_failure=True), "set_account_setting", account_id="ACC1", value="v"
    )
    assert result.output.source == "created"
    assert calls(fake) == [f"GET /settings/{FULL_ID}", "POST /settings"]


async def test_setting_insert_race_falls_back_to_compare_and_update() -> None:
    fake = FakeTogai()
    # Given (after an ambiguous failure, so reading first) a GET that says "absent" and then
    # a concurrent insert (409) by someone else
    fake.settings[FULL_ID] = {
        "id": "RazorPayCustomerId",
        "name": "RazorPayCustomerId",
        "value": "cust_old",
        "namespace": "USER",
        "entityType": "ACCOUNT",
        "entityId": "ACC1",
        "dataType": "STRING",
    }
    fake.queued.append(httpx.Response(404, json={"message": "Setting not found"}))
    # When the action runs
    context = ctx(fake, after_ambiguous_failure=True)
    result = await run(context, "set_account_setting", account_id="ACC1", value="cust_new")
    # Then it updates the existing setting instead of failing
    assert result.output.source == "updated"
    assert fake.settings[FULL_ID]["value"] == "cust_new"
    assert [c.split()[0] for c in calls(fake)] == ["GET", "POST", "GET", "PATCH"]


@pytest.mark.parametrize("status", [400, 409, 422])
async def test_any_refusal_of_the_insert_leads_to_the_get(status: int) -> None:
    fake = FakeTogai()
    fake.settings[FULL_ID] = {
        "id": "RazorPayCustomerId",
        "name": "RazorPayCustomerId",
        "value": "cust_1",
        "namespace": "USER",
        "entityType": "ACCOUNT",
        "entityId": "ACC1",
        "dataType": "STRING",
    }
    # Togai's answer to a duplicate insert is UNCONFIRMED
    fake.queued.append(httpx.Response(status, json={"message": "Setting exists"}))
    result = await run(ctx(fake), "set_account_setting", account_id="ACC1", value="cust_1")
    assert result.output.source == "unchanged"
    assert calls(fake) == ["POST /settings", f"GET /settings/{FULL_ID}"]


async def test_a_refused_insert_with_nothing_stored_raises_the_refusal() -> None:
    fake = FakeTogai()
    fake.queued.append(httpx.Response(400, json={"message": "value must be numeric"}))
    with pytest.raises(errors.RejectedError, match="value must be numeric"):
        await run(ctx(fake), "set_account_setting", account_id="ACC1", value="v")
    assert calls(fake) == ["POST /settings", f"GET /settings/{FULL_ID}"]  # the GET was a 404


@pytest.mark.parametrize(
    ("status", "error"), [(401, errors.AuthError), (429, errors.RateLimitedError)]
)
async def test_auth_and_rate_limit_on_the_insert_are_not_refusals(
    status: int, error: type[errors.ConnectorError]
) -> None:
    fake = FakeTogai()
    fake.queued.append(httpx.Response(status, json={"message": "no"}))
    with pytest.raises(error):
        await run(ctx(fake), "set_account_setting", account_id="ACC1", value="v")
    assert calls(fake) == ["POST /settings"]


async def test_set_account_setting_dry_run_writes_nothing() -> None:
    fake = FakeTogai()
    result = await run(ctx(fake, dry_run=True), "set_account_setting", account_id="A", value="v")
    assert result.output.source == "would_create"
    assert fake.writes() == []


async def test_set_invoice_setting_writes_id_and_url_on_the_invoice_entity() -> None:
    fake = FakeTogai()
    result = await run(ctx(fake), "set_invoice_setting", **INVOICE_SETTINGS)
    assert [(s.full_id, s.source) for s in result.output.settings] == [
        ("setting.USER.RazorPayInvoiceId.INVOICE.inv.1", "created"),
        ("setting.USER.RazorPayInvoiceUrl.INVOICE.inv.1", "created"),
    ]
    without_url = await run(
        ctx(fake), "set_invoice_setting", invoice_id="inv.1", razorpay_invoice_id="inv_R1"
    )
    assert [s.source for s in without_url.output.settings] == ["unchanged"]


class _BothInFlight(httpx.AsyncBaseTransport):
    """Holds each settings insert until `expected` of them are in flight at once (a write
    made after the first had finished would wait in vain), then lets the fake answer, with
    `answers` in arrival order where given."""

    def __init__(
        self, fake: FakeTogai, expected: int, answers: list[httpx.Response | Exception]
    ) -> None:
        self.inner = fake.transport()
        self.expected = expected
        self.answers = answers
        self.arrived = 0
        self.all_in = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.arrived += 1
            mine = self.arrived
            if self.arrived == self.expected:
                self.all_in.set()
            await asyncio.wait_for(self.all_in.wait(), timeout=2)
            if mine <= len(self.answers):
                answer = self.answers[mine - 1]
                await self.inner.handle_async_request(request)  # it lands all the same
                if isinstance(answer, Exception):
                    raise answer
                return answer
        return await self.inner.handle_async_request(request)


def gated_ctx(gate: _BothInFlight, **kw: Any) -> ActionContext:
    client = TogaiClient(TOKEN, base_url="http://togai.test", transport=gate)
    return ActionContext(client=client, options={}, ids=Ids(), idempotency_key="r:0", **kw)


async def test_set_invoice_setting_writes_both_settings_at_once() -> None:
    fake = FakeTogai()
    gate = _BothInFlight(fake, expected=2, answers=[])
    result = await run(gated_ctx(gate), "set_invoice_setting", **INVOICE_SETTINGS)
    # Both inserts were in flight together (one after the other would have timed out)
    assert [s.source for s in result.output.settings] == ["created", "created"]
    assert sorted(fake.settings) == [
        "setting.USER.RazorPayInvoiceId.INVOICE.inv.1",
        "setting.USER.RazorPayInvoiceUrl.INVOICE.inv.1",
    ]


@pytest.mark.parametrize("ambiguous_first", [True, False])
async def test_a_failed_invoice_setting_lets_the_other_finish_and_ambiguity_wins(
    ambiguous_first: bool,
) -> None:
    fake = FakeTogai()
    # One insert's response lost (ambiguous), the other answered 500 (not ambiguous: the
    # provider said it failed), in either arrival order; both reached the fake.
    failed = httpx.Response(500, json={"message": "boom"})
    lost = httpx.ReadError("connection reset")
    gate = _BothInFlight(
        fake, expected=2, answers=[lost, failed] if ambiguous_first else [failed, lost]
    )
    with pytest.raises(errors.UnavailableError) as raised:
        await run(gated_ctx(gate), "set_invoice_setting", **INVOICE_SETTINGS)
    # The step fails ambiguous, so its next attempt reads before writing
    assert raised.value.ambiguous
    assert len(fake.settings) == 2  # neither request was cut off


async def test_read_actions_return_the_entities() -> None:
    fake = FakeTogai()
    fake.add_account(account_id="ACC1")
    fake.add_invoice(invoice_id="inv.1")
    acc = await run(ctx(fake), "get_account", account_id="ACC1")
    inv = await run(ctx(fake), "get_invoice", invoice_id="inv.1")
    assert acc.output.model_dump()["primaryEmail"] == "billing@example.com"
    assert inv.output.model_dump()["sequenceId"] == "2024-08-0001"
    assert APP.action("get_account").writes is False
    assert APP.action("get_invoice").writes is False


# -- record_payment ---------------------------------------------------------------------


def pay(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "razorpay_payment_id": "pay_R1",
        "amount": 88194,
        "currency": "INR",
        "togai_invoice_id": "inv.1",
        "razorpay_invoice_id": "inv_R1",
    }
    return data | overrides


async def test_record_payment_posts_a_payment_and_links_it() -> None:
    fake = FakeTogai()
    fake.add_invoice(invoice_id="inv.1", total=881.94)
    result = await run(ctx(fake), "record_payment", **pay())
    out = result.output
    assert (out.source, out.mode, out.invoice_status) == ("recorded", "payments", "PAID")
    assert out.paid_amount == Decimal("881.94")
    assert result.links == (IdLink(LinkKind.PAYMENT_PAYMENT, out.payment_id, "pay_R1"),)
    [payment] = fake.payments.values()
    assert payment["totalAmount"] == 881.94 and payment["accountId"] == "ACC1"


async def test_record_payment_is_idempotent_via_mapping_then_transaction_number() -> None:
    fake = FakeTogai()
    fake.add_invoice(invoice_id="inv.1", total=1000)
    ids = Ids()
    first = await run(ctx(fake, ids), "record_payment", **pay(amount=40000))
    # Retry without the mapping (e.g. the step result was lost): the list search finds it.
    second = await run(ctx(fake, Ids()), "record_payment", **pay(amount=40000))
    assert second.output.source == "existing"
    assert second.output.payment_id == first.output.payment_id
    # Retry with the mapping: answered from the mapping, no payment search needed.
    ids.add(first.links[0])
    third = await run(ctx(fake, ids), "record_payment", **pay(amount=40000))
    assert third.output.source == "existing" and third.links == ()
    assert len(fake.payments) == 1
    assert fake.invoices["inv.1"]["status"] == "PARTIALLY_PAID"
    assert third.output.paid_amount == Decimal(400)


async def test_record_payment_skips_an_invoice_already_paid() -> None:
    fake = FakeTogai()
    fake.add_invoice(invoice_id="inv.1", status="PAID", total=100, paid=100)
    result = await run(ctx(fake), "record_payment", **pay(amount=10000))
    assert result.output.source == "covered" and result.output.payment_id is None
    assert fake.writes() == []


async def test_record_payment_resolves_the_invoice_through_the_mapping() -> None:
    fake = FakeTogai()
    fake.add_invoice(invoice_id="inv.9", total=10)
    ids = Ids()
    ids.add(IdLink(LinkKind.INVOICE_INVOICE, "inv.9", "inv_R9"))
    data = pay(togai_invoice_id=None, razorpay_invoice_id="inv_R9", amount=1000)
    result = await run(ctx(fake, ids), "record_payment", **data)
    assert result.output.invoice_id == "inv.9" and result.output.source == "recorded"


async def test_record_payment_unmapped_or_missing_invoice() -> None:
    fake = FakeTogai()
    with pytest.raises(errors.MappingError):
        await run(ctx(fake), "record_payment", **pay(togai_invoice_id=None))
    with pytest.raises(errors.SkipEventError):
        await run(
            ctx(fake), "record_payment", **pay(togai_invoice_id=None, razorpay_invoice_id=None)
        )


async def test_record_payment_refuses_void_invoices_and_wrong_currency() -> None:
    fake = FakeTogai()
    fake.add_invoice(invoice_id="inv.1", status="VOID")
    with pytest.raises(errors.RejectedError, match="VOID"):
        await run(ctx(fake), "record_payment", **pay())
    fake.add_invoice(invoice_id="inv.1")
    with pytest.raises(errors.RejectedError, match="USD"):
        await run(ctx(fake), "record_payment", **pay(currency="USD"))
    assert fake.writes() == []


async def test_record_payment_legacy_patch_marks_paid() -> None:
    fake = FakeTogai()
    fake.add_invoice(invoice_id="inv.1", total=881.94)
    options = {"payment_mode": "legacy_patch"}
    result = await run(ctx(fake, options=options), "record_payment", **pay())
    assert (result.output.source, result.output.mode) == ("recorded", "legacy_patch")
    assert result.output.invoice_status == "PAID" and result.output.payment_id is None
    assert [(r.method, r.url.path) for r in fake.writes()] == [("PATCH", "/invoices/inv.1")]
    again = await run(ctx(fake, options=options), "record_payment", **pay())
    assert again.output.source == "covered"
    assert len(fake.writes()) == 1


async def test_record_payment_legacy_patch_refuses_partial_payments() -> None:
    fake = FakeTogai()
    fake.add_invoice(invoice_id="inv.1", total=881.94)
    with pytest.raises(errors.RejectedError, match="partial"):
        await run(
            ctx(fake, options={"payment_mode": "legacy_patch"}), "record_payment", **pay(amount=100)
        )
    assert fake.writes() == []


async def test_record_payment_dry_run_and_bad_mode() -> None:
    fake = FakeTogai()
    fake.add_invoice(invoice_id="inv.1")
    preview = await run(ctx(fake, dry_run=True), "record_payment", **pay())
    assert preview.output.source == "preview" and fake.writes() == []
    with pytest.raises(errors.RejectedError, match="payment_mode"):
        await run(ctx(fake, options={"payment_mode": "bogus"}), "record_payment", **pay())


def test_default_inputs_follow_the_catalogue() -> None:
    assert APP.action("record_payment").default_input == {
        "razorpay_payment_id": "event.payment.id",
        "amount": "event.payment.amount",
        "currency": "event.payment.currency",
        "togai_invoice_id": "event.invoice.notes.togai_invoice_id",
        "razorpay_invoice_id": "event.invoice.id",
    }
    assert APP.action("set_account_setting").default_input == {"account_id": "event.account.id"}
