"""The predefined flows: listing, binding, validation (fake and real apps), input resolution."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from billsync import errors
from billsync.connectors import catalogue, spec
from billsync.domain import Direction
from billsync.engine import expression, flow, inputs, templates
from tests.unit.engine import fake_apps

BIND = {"togai": "tg", "razorpay": "rp"}
KEYS = [t.key for t in templates.list_templates()]

ACCOUNT: dict[str, Any] = json.loads(
    """{"id":"ACC00001","customerId":"ACME","name":"ACME Enterprise - Account",
    "invoiceCurrency":"INR","status":"ACTIVE","primaryEmail":"admin@example.com",
    "address":{"phoneNumber":"+919876543210","country":"IN"}}"""
)
INVOICE: dict[str, Any] = json.loads(
    """{"id":"inv.hkgkgyh.ghg","sequenceId":"2020-07-2958","ownerId":"ACC00001",
    "status":"DUE","totalAmount":881.94,"paidAmount":0.1}"""
)
RZP_PAID: dict[str, Any] = {
    "event": "invoice.paid",
    "account_id": "acc_1",
    "invoice": {"id": "inv_R1", "notes": {"togai_invoice_id": "inv.hkgkgyh.ghg"}},
    "payment": {"id": "pay_P1", "amount": 88184, "currency": "INR"},
    "order": {"id": "order_O1"},
}
#: What each template's trigger delivers (catalogue payload shapes).
EVENTS: dict[str, dict[str, Any]] = {
    "account.created": {"account": ACCOUNT},
    "invoice.generated": {"invoice": INVOICE, "account": ACCOUNT},
    "invoice.voided": {"invoice": {**INVOICE, "status": "VOID"}, "account": ACCOUNT},
    "invoice.paid": RZP_PAID,
    "invoice.partially_paid": {**RZP_PAID, "event": "invoice.partially_paid"},
}
#: Plausible JSON-mode outputs of earlier steps, by action.
OUTPUTS: dict[str, dict[str, Any]] = {
    "create_customer": {"customer_id": "cust_C1", "source": "created"},
    "create_invoice": {"invoice_id": "inv_R1", "short_url": "https://rzp.io/i/x", "amount": 88184},
    "set_account_setting": {"full_id": "f", "id": "i", "value": "cust_C1", "source": "created"},
}


def real_registry() -> spec.Registry:
    return catalogue.default_registry()


def test_listing() -> None:
    assert KEYS == [
        "togai-account-to-razorpay-customer",
        "togai-invoice-to-razorpay-invoice",
        "razorpay-invoice-paid-to-togai",
        "razorpay-invoice-partially-paid-to-togai",
        "togai-invoice-void-to-razorpay-cancel",
    ]
    for template in templates.list_templates():
        assert template.apps == ("togai", "razorpay")
        assert template.name and template.description
        expected = "togai" if template.direction is Direction.OUTBOUND else "razorpay"
        assert template.trigger_app == expected
        for companion in template.companions:
            assert template.key in templates.get_template(companion).companions


@pytest.mark.parametrize("key", KEYS)
def test_templates_validate_against_fake_apps(key: str) -> None:
    defn = templates.instantiate(key, BIND)
    flow.validate_flow(defn, fake_apps.registry(), fake_apps.CONNECTIONS)


@pytest.mark.parametrize("key", KEYS)
def test_templates_validate_against_the_real_connectors(key: str) -> None:
    defn = templates.instantiate(key, BIND)
    flow.validate_flow(defn, real_registry(), fake_apps.CONNECTIONS)


@pytest.mark.parametrize("key", KEYS)
def test_template_inputs_resolve_into_the_real_input_models(key: str) -> None:
    registry = real_registry()
    defn = templates.instantiate(key, BIND)
    event = EVENTS[defn.trigger.trigger]
    assert inputs.trigger_matches(defn.trigger, event)
    steps: dict[str, Any] = {}
    for step in defn.steps:
        action = flow.action_for(step, registry, fake_apps.CONNECTIONS)
        assert inputs.step_applies(step, event, steps)
        model = inputs.resolve_step_input(step, action, event, steps)
        assert isinstance(model, action.input_model)
        steps[step.id] = OUTPUTS.get(step.action, {})


def test_invoice_template_wires_ids_and_exact_amounts() -> None:
    registry = real_registry()
    defn = templates.instantiate("togai-invoice-to-razorpay-invoice", BIND)
    event = EVENTS["invoice.generated"]
    by_id = {step.id: step for step in defn.steps}
    steps = {"customer": {"customer_id": "cust_C1", "source": "mapping"}}
    # An already-mapped customer is not written back to Togai again.
    assert not inputs.step_applies(by_id["customer_setting"], event, steps)
    invoice_step = by_id["invoice"]
    action = flow.action_for(invoice_step, registry, fake_apps.CONNECTIONS)
    values = inputs.resolve_input_values(invoice_step, action, event, steps)
    assert values["customer_id"] == "cust_C1"
    assert values["togai_account_id"] == "ACC00001"
    assert values["currency"] == "INR"
    assert values["total_amount"] - values["paid_amount"] == Decimal("881.84")
    settings_step = by_id["invoice_settings"]
    steps["invoice"] = OUTPUTS["create_invoice"]
    action = flow.action_for(settings_step, registry, fake_apps.CONNECTIONS)
    assert inputs.resolve_input_values(settings_step, action, event, steps) == {
        "invoice_id": "inv.hkgkgyh.ghg",
        "razorpay_invoice_id": "inv_R1",
        "razorpay_invoice_url": "https://rzp.io/i/x",
    }


def test_account_template_stores_the_customer_id_setting() -> None:
    defn = templates.instantiate("togai-account-to-razorpay-customer", BIND)
    step = defn.steps[1]
    action = flow.action_for(step, real_registry(), fake_apps.CONNECTIONS)
    steps = {"customer": OUTPUTS["create_customer"]}
    values = inputs.resolve_input_values(step, action, EVENTS["account.created"], steps)
    assert values == {
        "account_id": "ACC00001",
        "value": "cust_C1",
        "setting_id": "RazorPayCustomerId",
    }


@pytest.mark.parametrize("trigger", ["invoice.paid", "invoice.partially_paid"])
def test_payment_templates_ignore_invoices_billsync_did_not_create(trigger: str) -> None:
    key = {
        "invoice.paid": "razorpay-invoice-paid-to-togai",
        "invoice.partially_paid": "razorpay-invoice-partially-paid-to-togai",
    }[trigger]
    defn = templates.instantiate(key, BIND)
    assert defn.trigger.trigger == trigger
    foreign = {**EVENTS[trigger], "invoice": {"id": "inv_X", "notes": []}}
    assert not inputs.trigger_matches(defn.trigger, foreign)
    assert inputs.trigger_matches(defn.trigger, EVENTS[trigger])


def test_binding_uses_the_given_connections() -> None:
    defn = templates.instantiate(
        "togai-invoice-void-to-razorpay-cancel", {"togai": "t9", "razorpay": "r9"}
    )
    assert defn.trigger.connection_id == "t9"
    assert [s.connection_id for s in defn.steps] == ["r9"]


def test_missing_connections_are_named() -> None:
    with pytest.raises(errors.FlowError) as caught:
        templates.instantiate("togai-account-to-razorpay-customer", {"togai": "tg"})
    assert caught.value.field == "connections.razorpay"
    with pytest.raises(errors.FlowError) as caught:
        templates.instantiate("razorpay-invoice-paid-to-togai", {})
    assert [f for f, _ in caught.value.problems] == ["connections.togai", "connections.razorpay"]


def test_unknown_template() -> None:
    with pytest.raises(errors.FlowError) as caught:
        templates.instantiate("nope", BIND)
    assert caught.value.field == "template"


@pytest.mark.parametrize(
    "action",
    [a for app in real_registry().apps for a in app.actions],
    ids=lambda a: a.key,
)
def test_real_default_inputs_are_valid_expressions_over_the_event(action: spec.ActionSpec) -> None:
    """A connector's defaults must name real input fields and read only the trigger event."""
    fields = action.input_model.model_fields
    for name, text in action.default_input.items():
        assert name in fields, f"{action.key}: default for unknown input {name!r}"
        assert expression.syntax_error(text) is None, f"{action.key}.{name}: {text!r}"
        assert expression.references(text).roots <= {"event"}, f"{action.key}.{name}: {text!r}"


def test_partial_payment_is_an_option_of_the_invoice_template_off_by_default() -> None:
    key = "togai-invoice-to-razorpay-invoice"
    [option] = templates.get_template(key).options
    assert (option.key, option.default) == ("partial_payment", False)

    def invoice_input(options: dict[str, bool] | None) -> dict[str, str]:
        defn = templates.instantiate(key, BIND, options)
        return next(s.input for s in defn.steps if s.id == "invoice")

    assert invoice_input(None)["partial_payment"] == "`false`"
    assert invoice_input({"partial_payment": True})["partial_payment"] == "`true`"
    # Resolved, the option is the action's boolean input.
    assert expression.evaluate("`true`", {}) is True
    with pytest.raises(errors.FlowError) as refused:
        templates.instantiate(key, BIND, {"partial": True})
    assert refused.value.field == "options.partial"
    with pytest.raises(errors.FlowError) as other:
        templates.instantiate("togai-account-to-razorpay-customer", BIND, {"partial_payment": True})
    assert other.value.field == "options.partial_payment"
