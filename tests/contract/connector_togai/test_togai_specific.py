"""Togai-only behaviour against the in-process Togai sandbox (the generic suite covers the rest).

record_payment in both modes, a payment found by its transaction number, partial payments,
webhook hints re-fetched, the official client reading what the connector wrote, the
pollers' cursors, and the requests a setting costs (counted by the sandbox).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
import togai_client

from billsync import errors
from billsync.connectors.spec import ActionContext, ActionResult
from billsync.connectors.togai import APP
from billsync.connectors.togai.client import TogaiClient
from billsync.sandbox.togai import TogaiSandboxConfig, create_app
from tests.contract.connector_suite import DictIds
from tests.contract.connector_togai.togai_harness import TOKEN, make_account, make_invoice
from tests.servers import serve

BASE = "http://togai.sandbox"


@dataclass
class Env:
    client: TogaiClient
    raw: httpx.AsyncClient
    duplicate_status: int = 400  #: what the sandbox answers for a setting inserted twice

    async def requests(self) -> dict[str, dict[str, int]]:
        """The sandbox's request counters: {"METHOD /route": {"status": n}}."""
        body = (await self.raw.get("/_sandbox/stats")).raise_for_status().json()
        return dict(body["requests"])

    @staticmethod
    def diff(
        before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
    ) -> dict[str, dict[str, int]]:
        """Connector requests between two snapshots (the control plane's own are left out)."""
        seen: dict[str, dict[str, int]] = {}
        for route, counts in after.items():
            if "/_sandbox" in route:
                continue
            for status, n in counts.items():
                if n - before.get(route, {}).get(status, 0):
                    seen.setdefault(route, {})[status] = n - before.get(route, {}).get(status, 0)
        return seen

    async def stats(self, kind: str) -> int:
        body = (await self.raw.get("/_sandbox/stats")).raise_for_status().json()
        return int(body["objects"][kind])

    async def invoice(self, invoice_id: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        return dict((await self.raw.get(f"/invoices/{invoice_id}", headers=headers)).json())


async def _env(config: TogaiSandboxConfig) -> AsyncIterator[Env]:
    sandbox = create_app(config)
    transport = httpx.ASGITransport(sandbox)
    client = APP.make_client({"api_token": TOKEN, "base_url": BASE}, transport=transport)
    raw = httpx.AsyncClient(transport=httpx.ASGITransport(sandbox), base_url=BASE)
    try:
        yield Env(client, raw, config.duplicate_setting_status)
    finally:
        await client.aclose()
        await raw.aclose()
        await sandbox.aclose()


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async for made in _env(TogaiSandboxConfig()):
        yield made


async def record(env: Env, ids: DictIds | None = None, **kw: Any) -> ActionResult:
    options = kw.pop("options", {})
    spec = APP.action("record_payment")
    context = ActionContext(
        client=env.client, options=options, ids=ids or DictIds(), idempotency_key="run:0"
    )
    data = {"currency": "INR", "razorpay_invoice_id": "inv_R1"} | kw
    return await spec.run(context, spec.input_model.model_validate(data))


# -- record_payment ------------------------------------------------------------------------


async def test_payments_mode_records_a_gateway_payment_that_pays_the_invoice(env: Env) -> None:
    invoice_id = await make_invoice(env.client, total=881.94)
    result = await record(
        env, razorpay_payment_id="pay_A", amount=88194, togai_invoice_id=invoice_id
    )
    out = result.output
    assert (out.source, out.mode, out.invoice_status) == ("recorded", "payments", "PAID")
    assert out.paid_amount == Decimal("881.94")
    payment = await env.client.get_payment(out.payment_id)
    assert payment.transaction_numbers() == {"pay_A"}
    assert payment.raw["externalPaymentReferences"]["sourceName"] == "Razorpay"
    assert payment.raw["externalPaymentReferences"]["sourceType"] == "GATEWAY"
    assert payment.raw["lineItemRecords"][0]["togaiId"] == invoice_id


async def test_a_payment_found_by_transaction_number_is_not_recorded_twice(env: Env) -> None:
    # Given a payment for pay_B already in Togai (recorded by an attempt whose answer was lost)
    invoice_id = await make_invoice(env.client, total=1000)
    earlier = await env.client.create_payment(
        account_id="ACC-SUITE-1",
        currency="INR",
        total_amount=Decimal(400),
        transaction_number="pay_B",
        invoice_id=invoice_id,
    )
    # When record_payment runs without any mapping
    result = await record(
        env, razorpay_payment_id="pay_B", amount=40000, togai_invoice_id=invoice_id
    )
    # Then it adopts the existing payment and links it
    assert result.output.source == "existing"
    assert result.output.payment_id == earlier.id
    assert [link.togai_id for link in result.links] == [earlier.id]
    assert await env.stats("payments") == 1


async def test_partial_payments_leave_the_invoice_partially_paid_then_paid(env: Env) -> None:
    invoice_id = await make_invoice(env.client, total=1000)
    first = await record(
        env, razorpay_payment_id="pay_P1", amount=30000, togai_invoice_id=invoice_id
    )
    assert first.output.invoice_status == "PARTIALLY_PAID"
    assert first.output.paid_amount == Decimal(300)
    second = await record(
        env, razorpay_payment_id="pay_P2", amount=70000, togai_invoice_id=invoice_id
    )
    assert second.output.invoice_status == "PAID"
    assert second.output.paid_amount == Decimal(1000)
    again = await record(
        env, razorpay_payment_id="pay_P1", amount=30000, togai_invoice_id=invoice_id
    )
    assert again.output.source == "existing"
    assert await env.stats("payments") == 2


async def test_legacy_patch_marks_paid_without_a_payment_and_is_idempotent(env: Env) -> None:
    invoice_id = await make_invoice(env.client, total=250)
    options = {"payment_mode": "legacy_patch"}
    first = await record(
        env, options=options, razorpay_payment_id="pay_L", amount=25000, togai_invoice_id=invoice_id
    )
    assert (first.output.source, first.output.invoice_status) == ("recorded", "PAID")
    assert first.output.payment_id is None and first.links == ()
    again = await record(
        env, options=options, razorpay_payment_id="pay_L", amount=25000, togai_invoice_id=invoice_id
    )
    assert again.output.source == "covered"
    assert await env.stats("payments") == 0
    assert (await env.invoice(invoice_id))["status"] == "PAID"


async def test_legacy_patch_refused_by_togai_is_a_rejection() -> None:
    async for env in _env(TogaiSandboxConfig(allow_patch_paid=False)):
        invoice_id = await make_invoice(env.client, total=250)
        with pytest.raises(errors.RejectedError):
            await record(
                env,
                options={"payment_mode": "legacy_patch"},
                razorpay_payment_id="pay_L",
                amount=25000,
                togai_invoice_id=invoice_id,
            )


async def test_overpayment_is_refused_by_togai_and_nothing_changes(env: Env) -> None:
    invoice_id = await make_invoice(env.client, total=100)
    with pytest.raises(errors.RejectedError):
        await record(env, razorpay_payment_id="pay_O", amount=20000, togai_invoice_id=invoice_id)
    assert (await env.invoice(invoice_id))["status"] == "DUE"


async def test_official_client_parses_what_the_connector_wrote() -> None:
    # togai-client is blocking, so this sandbox runs on a real socket in its own thread.
    with serve(create_app(TogaiSandboxConfig())) as url:
        client = APP.make_client({"api_token": TOKEN, "base_url": url})
        async with client:
            invoice_id = await make_invoice(client, total=10)
            env = Env(client, httpx.AsyncClient(base_url=url))
            async with env.raw:
                await record(
                    env, razorpay_payment_id="pay_C", amount=1000, togai_invoice_id=invoice_id
                )
            spec = APP.action("set_account_setting")
            context = ActionContext(client=client, options={}, ids=DictIds(), idempotency_key="r:1")
            await spec.run(context, spec.input_model(account_id="ACC-SUITE-1", value="cust_X"))
        api = togai_client.ApiClient(togai_client.Configuration(host=url, access_token=TOKEN))
        full = "setting.USER.RazorPayCustomerId.ACCOUNT.ACC-SUITE-1"
        assert togai_client.SettingsApi(api).get_setting(full).value == "cust_X"
        payments = togai_client.PaymentsApi(api).list_payments().data
        assert [p.external_payment_references.transaction_number for p in payments] == ["pay_C"]
        invoice = togai_client.InvoicesApi(api).get_invoice(invoice_id)
        assert invoice.status == "PAID"


# -- webhooks and pollers ---------------------------------------------------------------------


async def test_webhook_hint_is_refetched_not_trusted(env: Env) -> None:
    invoice_id = await make_invoice(env.client, total=42)
    forged = {
        "id": "evt.1",
        "type": "invoice.generated",
        "data": {"entityType": "INVOICE", "entityId": invoice_id, "totalAmount": 1},
    }
    [event] = await APP.parse_webhook(env.client, {}, json.dumps(forged).encode())
    assert event.trigger == "invoice.generated"
    assert event.payload["invoice"] == await env.invoice(invoice_id)
    assert event.payload["invoice"]["totalAmount"] == 42
    assert event.payload["account"]["id"] == "ACC-SUITE-1"
    assert event.entity_key == "togai-account:ACC-SUITE-1"


async def test_pollers_report_each_change_once_and_match_webhook_ids(env: Env) -> None:
    created, generated, voided = (APP.poll[k] for k in [t.key for t in APP.triggers])
    await make_account(env.client)
    due = await make_invoice(env.client, total=10)
    draft = await make_invoice(env.client, total=20, status="DRAFT")

    accounts, a_cursor = await created(env.client, None)
    assert [e.external_id for e in accounts] == ["account:ACC-SUITE-1:created"]
    invoices, g_cursor = await generated(env.client, None)
    assert [e.external_id for e in invoices] == [f"invoice:{due}:DUE"]
    voids, v_cursor = await voided(env.client, None)
    assert voids == []

    # Cursors survive a JSON round trip (the engine stores them as JSON)
    a_cursor, g_cursor, v_cursor = (
        json.loads(json.dumps(c)) for c in (a_cursor, g_cursor, v_cursor)
    )
    assert (await created(env.client, a_cursor))[0] == []
    assert (await generated(env.client, g_cursor))[0] == []

    (await env.raw.post(f"/_sandbox/invoices/{draft}/generate")).raise_for_status()
    (await env.raw.post(f"/_sandbox/invoices/{due}/void")).raise_for_status()
    invoices, g_cursor = await generated(env.client, g_cursor)
    assert [e.external_id for e in invoices] == [f"invoice:{draft}:DUE"]
    voids, v_cursor = await voided(env.client, v_cursor)
    assert [e.external_id for e in voids] == [f"invoice:{due}:VOID"]
    assert (await voided(env.client, v_cursor))[0] == []

    hint = {"type": "invoice.updated", "data": {"entityType": "INVOICE", "entityId": due}}
    [hooked] = await APP.parse_webhook(env.client, {}, json.dumps(hint).encode())
    assert hooked.external_id == voids[0].external_id
    assert hooked.payload == voids[0].payload


# -- settings: insert first, get only when Togai refuses the insert ------------------------------

SETTING = "setting.USER.RazorPayCustomerId.ACCOUNT.{}"
POST, GET, PATCH = "POST /settings", "GET /settings/{setting_id}", "PATCH /settings/{setting_id}"


async def set_setting(
    env: Env, account_id: str, value: str, **kw: Any
) -> tuple[Any, dict[str, Any]]:
    """Run set_account_setting; return its output and the requests the sandbox counted."""
    before = await env.requests()
    spec = APP.action("set_account_setting")
    context = ActionContext(
        client=env.client, options={}, ids=DictIds(), idempotency_key="run:0", **kw
    )
    result = await spec.run(context, spec.input_model(account_id=account_id, value=value))
    return result.output, env.diff(before, await env.requests())


@pytest.fixture(params=[400, 409], ids=["duplicate-400", "duplicate-409"])
async def settings_env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    # What Togai answers for a setting inserted twice is UNCONFIRMED: both must work.
    async for made in _env(TogaiSandboxConfig(duplicate_setting_status=request.param)):
        yield made


async def test_a_new_setting_is_one_request(settings_env: Env) -> None:
    account_id = await make_account(settings_env.client)
    out, seen = await set_setting(settings_env, account_id, "cust_1")
    assert out.source == "created" and out.full_id == SETTING.format(account_id)
    assert seen == {POST: {"201": 1}}


async def test_an_equal_setting_is_a_refused_insert_and_a_get(settings_env: Env) -> None:
    account_id = await make_account(settings_env.client)
    await set_setting(settings_env, account_id, "cust_1")
    out, seen = await set_setting(settings_env, account_id, "cust_1")
    assert out.source == "unchanged" and out.value == "cust_1"
    status = str(settings_env.duplicate_status)
    assert seen == {POST: {status: 1}, GET: {"200": 1}}  # no PATCH


async def test_a_different_setting_is_refused_insert_get_and_patch(settings_env: Env) -> None:
    account_id = await make_account(settings_env.client)
    await set_setting(settings_env, account_id, "cust_1")
    out, seen = await set_setting(settings_env, account_id, "cust_2")
    assert out.source == "updated" and out.value == "cust_2"
    status = str(settings_env.duplicate_status)
    assert seen == {POST: {status: 1}, GET: {"200": 1}, PATCH: {"201": 1}}
    stored = await settings_env.raw.get(
        f"/settings/{SETTING.format(account_id)}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert stored.json()["value"] == "cust_2"


async def test_after_an_ambiguous_failure_the_setting_is_read_first(settings_env: Env) -> None:
    account_id = await make_account(settings_env.client)
    out, seen = await set_setting(settings_env, account_id, "cust_1", after_ambiguous_failure=True)
    assert out.source == "created"
    assert seen == {GET: {"404": 1}, POST: {"201": 1}}
    out, seen = await set_setting(settings_env, account_id, "cust_1", after_ambiguous_failure=True)
    assert out.source == "unchanged"
    assert seen == {GET: {"200": 1}}  # the write had landed: nothing is sent again
    out, seen = await set_setting(settings_env, account_id, "cust_2", after_ambiguous_failure=True)
    assert out.source == "updated"
    assert seen == {GET: {"200": 1}, PATCH: {"201": 1}}


async def test_a_refused_insert_of_a_missing_setting_is_the_original_refusal(env: Env) -> None:
    # The account does not exist: Togai refuses our body; the get finds nothing, so the
    # insert's refusal is what the step reports, not the get's 404.
    with pytest.raises(errors.RejectedError, match="does not exist") as info:
        await set_setting(env, "ACC-NOBODY", "cust_1")
    assert info.value.status == 400 and info.value.operation == "insert_setting"


async def test_a_dry_run_only_reads(settings_env: Env) -> None:
    account_id = await make_account(settings_env.client)
    out, seen = await set_setting(settings_env, account_id, "cust_1", dry_run=True)
    assert out.source == "would_create"
    assert seen == {GET: {"404": 1}}
