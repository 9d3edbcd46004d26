"""preview() walks a flow in dry-run mode: inputs, outputs, skips, errors; never a write."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from billsync import errors
from billsync.connectors import spec
from billsync.domain import LinkKind, Side
from billsync.engine import preview, templates
from billsync.engine.flow import FlowDefinition, StepDef
from tests.unit.engine import fake_apps

BIND = {"togai": "tg", "razorpay": "rp"}
EVENT: dict[str, Any] = {
    "invoice": {"id": "inv.1", "ownerId": "acc.1", "totalAmount": 100.5, "paidAmount": 0.25},
    "account": {"id": "acc.1", "name": "Acme", "invoiceCurrency": "INR"},
}


def _contexts(ids: fake_apps.NoIds, made: list[StepDef] | None = None) -> preview.MakeContext:
    def make(step: StepDef, index: int) -> spec.ActionContext:
        if made is not None:
            made.append(step)
        # dry_run deliberately left False: preview must force it.
        return spec.ActionContext(
            client=None, options={}, ids=ids, idempotency_key=f"preview:{index}"
        )

    return make


async def test_invoice_flow_preview_never_writes() -> None:
    calls = fake_apps.Calls()
    registry = fake_apps.registry(calls)
    defn = templates.instantiate("togai-invoice-to-razorpay-invoice", BIND)
    result = await preview.preview(
        defn, registry, EVENT, _contexts(fake_apps.NoIds()), connections=fake_apps.CONNECTIONS
    )
    assert result.trigger_matched
    assert calls.keys() == [
        "create_customer",
        "set_account_setting",
        "create_invoice",
        "set_invoice_setting",
    ]
    # Every action saw dry_run=True although make_context built them with False.
    assert all(dry for _, dry, _ in calls.log)
    assert [s.status for s in result.steps] == [preview.StepStatus.OK] * 4
    customer, setting, invoice, settings = result.steps
    assert customer.input == {"togai_account_id": "acc.1", "name": "Acme"}
    assert customer.output == {"customer_id": "cust_preview", "name": None, "source": "created"}
    assert setting.input == {
        "account_id": "acc.1",
        "value": "cust_preview",
        "setting_id": "RazorPayCustomerId",
    }
    assert invoice.input is not None
    assert invoice.input["total_amount"] == "100.5"  # exact, JSON-safe
    assert invoice.input["customer_id"] == "cust_preview"
    assert invoice.output == {
        "invoice_id": "inv_preview",
        "short_url": "https://rzp.io/inv_preview",
        "amount": 10025,
        "source": "created",
    }
    assert settings.input == {
        "invoice_id": "inv.1",
        "razorpay_invoice_id": "inv_preview",
        "razorpay_invoice_url": "https://rzp.io/inv_preview",
    }
    assert all(s.writes for s in result.steps)


async def test_when_false_skips_the_step() -> None:
    calls = fake_apps.Calls()
    ids = fake_apps.NoIds({(LinkKind.ACCOUNT_CUSTOMER, Side.TOGAI, "acc.1"): "cust_old"})
    defn = templates.instantiate("togai-invoice-to-razorpay-invoice", BIND)
    result = await preview.preview(
        defn,
        fake_apps.registry(calls),
        EVENT,
        _contexts(ids),
        connections=fake_apps.CONNECTIONS,
    )
    assert result.steps[1].status is preview.StepStatus.SKIPPED
    assert result.steps[1].reason == "`when` is false"
    assert result.steps[1].input is None
    assert "set_account_setting" not in calls.keys()
    assert result.steps[2].input is not None
    assert result.steps[2].input["customer_id"] == "cust_old"


async def test_input_error_stops_the_walk() -> None:
    calls = fake_apps.Calls()
    made: list[StepDef] = []
    defn = templates.instantiate("togai-invoice-to-razorpay-invoice", BIND)
    event = {"invoice": EVENT["invoice"], "account": {"id": "acc.1"}}  # no name, no currency
    result = await preview.preview(
        defn,
        fake_apps.registry(calls),
        event,
        _contexts(fake_apps.NoIds(), made),
        connections=fake_apps.CONNECTIONS,
    )
    first = result.steps[0]
    assert first.status is preview.StepStatus.ERROR
    assert first.error is not None and "'name'" in first.error
    assert first.input == {"togai_account_id": "acc.1"}
    assert [s.status for s in result.steps[1:]] == [preview.StepStatus.NOT_REACHED] * 3
    assert calls.log == [] and made == []


async def test_filter_mismatch_is_reported_but_steps_are_shown() -> None:
    defn = templates.instantiate("razorpay-invoice-paid-to-togai", BIND)
    event = {
        "invoice": {"id": "inv_R", "notes": []},
        "payment": {"id": "pay_1", "amount": 100, "currency": "INR"},
    }
    result = await preview.preview(
        defn,
        fake_apps.registry(),
        event,
        _contexts(fake_apps.NoIds()),
        connections=fake_apps.CONNECTIONS,
    )
    assert not result.trigger_matched
    assert result.steps[0].status is preview.StepStatus.OK
    assert result.steps[0].app == "togai"


class _In(BaseModel):
    account_id: str


class _Out(BaseModel):
    ok: bool


def _one_action_registry(run: spec.ActionFn, *, writes: bool = True) -> spec.Registry:
    togai, razorpay = fake_apps.make_apps()
    action = spec.ActionSpec(
        key="probe",
        title="probe",
        description="probe",
        input_model=_In,
        output_model=_Out,
        run=run,
        idempotency=spec.Idempotency.READ_ONLY,
        writes=writes,
        default_input={"account_id": "event.account.id"},
    )
    rp = spec.AppSpec(
        name="razorpay",
        title="Razorpay",
        description="fake",
        fields=(),
        triggers=razorpay.triggers,
        actions=(action,),
        make_client=razorpay.make_client,
        verify=razorpay.verify,
        parse_webhook=razorpay.parse_webhook,
    )
    return spec.Registry(apps=(togai, rp))


def _probe_flow() -> FlowDefinition:
    return FlowDefinition(
        name="probe",
        direction="outbound",
        trigger={"connection_id": "tg", "trigger": "account.created"},
        steps=[
            {"id": "a", "connection_id": "rp", "action": "probe"},
            {"id": "b", "connection_id": "rp", "action": "probe"},
        ],
    )


@pytest.mark.parametrize(
    ("exc", "status", "message"),
    [
        (errors.SkipEventError("nothing due"), preview.StepStatus.SKIPPED, "nothing due"),
        (errors.NotFoundError("no such account"), preview.StepStatus.ERROR, "no such account"),
        (errors.UnavailableError("Togai is down"), preview.StepStatus.ERROR, "Togai is down"),
        (
            RuntimeError("token=sk_secret"),
            preview.StepStatus.ERROR,
            "internal error (RuntimeError)",
        ),
    ],
)
async def test_action_outcomes(exc: Exception, status: preview.StepStatus, message: str) -> None:
    async def run(ctx: spec.ActionContext, data: Any) -> spec.ActionResult:
        raise exc

    result = await preview.preview(
        _probe_flow(),
        _one_action_registry(run),
        {"account": {"id": "acc.1"}},
        _contexts(fake_apps.NoIds()),
        connections=fake_apps.CONNECTIONS,
    )
    first = result.steps[0]
    assert first.status is status
    assert (first.reason if status is preview.StepStatus.SKIPPED else first.error) == message
    assert first.input == {"account_id": "acc.1"}
    expected_next = (
        preview.StepStatus.SKIPPED
        if status is preview.StepStatus.SKIPPED
        else preview.StepStatus.NOT_REACHED
    )
    assert result.steps[1].status is expected_next


async def test_invalid_flow_raises_flow_error() -> None:
    defn = templates.instantiate("togai-account-to-razorpay-customer", BIND)
    with pytest.raises(errors.FlowError):
        await preview.preview(
            defn,
            fake_apps.registry(),
            EVENT,
            _contexts(fake_apps.NoIds()),
            connections={"tg": "togai"},
        )
