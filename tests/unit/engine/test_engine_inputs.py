"""Resolving step inputs: defaults, overrides, nulls, `when`, filters and exact money."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billsync import errors
from billsync.engine import expression, inputs
from billsync.engine.flow import StepDef, TriggerRef
from tests.unit.engine import fake_apps

TOGAI, RAZORPAY = fake_apps.make_apps()
CREATE_CUSTOMER = RAZORPAY.action("create_customer")
CREATE_INVOICE = RAZORPAY.action("create_invoice")
SET_SETTING = TOGAI.action("set_account_setting")

# Parsed from JSON text, as a stored event is: amounts arrive as floats.
INVOICE_EVENT: dict[str, Any] = json.loads(
    """{
      "invoice": {"id": "inv.1", "ownerId": "acc.1", "totalAmount": 1234.57,
                  "paidAmount": 0.1, "sequenceId": "INV-7"},
      "account": {"id": "acc.1", "name": "Acme", "invoiceCurrency": "INR",
                  "address": {"phoneNumber": null}}
    }"""
)


def _step(action: str, **over: Any) -> StepDef:
    return StepDef(id="s", connection_id="c", action=action, **over)


def test_defaults_fill_the_input_and_nulls_are_dropped() -> None:
    step = _step("create_customer")
    values = inputs.resolve_input_values(step, CREATE_CUSTOMER, INVOICE_EVENT, {})
    # customerId, primaryEmail and phoneNumber are absent/null: left to the model defaults.
    assert values == {"togai_account_id": "acc.1", "name": "Acme"}
    model = inputs.resolve_step_input(step, CREATE_CUSTOMER, INVOICE_EVENT, {})
    assert isinstance(model, fake_apps.CustomerIn)
    assert model.email is None and model.contact is None


def test_overrides_win_and_can_read_earlier_steps() -> None:
    step = _step("create_invoice", input={"customer_id": "steps.customer.customer_id"})
    steps = {"customer": {"customer_id": "cust_9", "source": "created"}}
    model = inputs.resolve_step_input(step, CREATE_INVOICE, INVOICE_EVENT, steps)
    assert isinstance(model, fake_apps.InvoiceIn)
    assert model.customer_id == "cust_9"
    assert model.invoice_number == "INV-7"


def test_literal_overrides() -> None:
    step = _step("set_account_setting", input={"value": "'v'", "setting_id": '`"Other"`'})
    model = inputs.resolve_step_input(step, SET_SETTING, INVOICE_EVENT, {})
    assert model.model_dump() == {"account_id": "acc.1", "value": "v", "setting_id": "Other"}


def test_json_floats_become_exact_decimals() -> None:
    model = inputs.resolve_step_input(_step("create_invoice"), CREATE_INVOICE, INVOICE_EVENT, {})
    assert isinstance(model, fake_apps.InvoiceIn)
    assert model.total_amount == Decimal("1234.57")
    assert model.paid_amount == Decimal("0.1")


def test_amounts_are_not_subject_to_binary_float_error() -> None:
    event = json.loads('{"invoice": {"totalAmount": 0.3, "paidAmount": 0.1}}')
    step = _step(
        "create_invoice",
        input={"togai_invoice_id": "'i'", "togai_account_id": "'a'", "currency": "'INR'"},
    )
    model = inputs.resolve_step_input(step, CREATE_INVOICE, event, {})
    assert isinstance(model, fake_apps.InvoiceIn)
    assert 0.3 - 0.1 != 0.2  # what float math would do
    assert model.total_amount - model.paid_amount == Decimal("0.2")


def test_resolved_values_hold_decimals_and_the_record_is_exact_json() -> None:
    values = inputs.resolve_input_values(_step("create_invoice"), CREATE_INVOICE, INVOICE_EVENT, {})
    assert values["total_amount"] == Decimal("1234.57")
    record = inputs.input_record(values)
    assert record["total_amount"] == "1234.57"
    assert json.loads(json.dumps(record)) == record


def test_decimal_strings_from_step_outputs_stay_exact() -> None:
    # Step outputs are stored in JSON mode: Decimal fields arrive as strings.
    step = _step("create_invoice", input={"paid_amount": "steps.pay.paid_amount"})
    steps = {"pay": {"paid_amount": "0.30"}}
    model = inputs.resolve_step_input(step, CREATE_INVOICE, INVOICE_EVENT, steps)
    assert isinstance(model, fake_apps.InvoiceIn)
    assert model.paid_amount == Decimal("0.30")


def test_sum_adds_in_decimal() -> None:
    assert expression.evaluate("sum(a)", {"a": [0.1, 0.2]}) == Decimal("0.3")
    assert expression.evaluate("sum(a)", {"a": [1, 2]}) == 3
    nested = expression.evaluate("{x: a, y: [a[0]]}", {"a": [0.1]})
    assert nested == {"x": [Decimal("0.1")], "y": [Decimal("0.1")]}


def test_missing_required_value_is_rejected_naming_the_field() -> None:
    event = {"account": {"id": "acc.1"}}  # no name
    with pytest.raises(errors.RejectedError) as caught:
        inputs.resolve_step_input(_step("create_customer"), CREATE_CUSTOMER, event, {})
    assert caught.value.field == "name"
    assert caught.value.reason == "missing"
    assert "'name'" in caught.value.message


def test_invalid_value_is_rejected_naming_the_field() -> None:
    step = _step("create_invoice", input={"total_amount": "'lots'"})
    with pytest.raises(errors.RejectedError) as caught:
        inputs.resolve_step_input(step, CREATE_INVOICE, INVOICE_EVENT, {})
    assert caught.value.field == "total_amount"
    assert caught.value.reason == "invalid"


def test_expression_failing_on_the_data_is_rejected() -> None:
    step = _step("set_account_setting", input={"value": "sum(event.account.name)"})
    with pytest.raises(errors.RejectedError) as caught:
        inputs.resolve_step_input(step, SET_SETTING, INVOICE_EVENT, {})
    assert caught.value.field == "input.value"
    assert isinstance(caught.value, errors.PermanentError)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (None, True),
        ("steps.customer.source != 'mapping'", True),
        ("steps.customer.source == 'mapping'", False),
        ("steps.missing", False),  # a skipped earlier step reads as null
        ("event.invoice.ownerId", True),
        ("`0`", True),  # JMESPath: 0 is truthy
        ("`[]`", False),
        ("''", False),
    ],
)
def test_step_applies(when: str | None, expected: bool) -> None:
    step = _step("create_customer", when=when)
    steps = {"customer": {"source": "created"}}
    assert inputs.step_applies(step, INVOICE_EVENT, steps) is expected


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (None, True),
        ("event.invoice.notes.togai_invoice_id", True),
        ("event.invoice.notes.other", False),
        ("event.invoice.amount > `100`", True),
        ("event.invoice.amount > `100000`", False),
    ],
)
def test_trigger_matches(flt: str | None, expected: bool) -> None:
    ref = TriggerRef(connection_id="rp", trigger="invoice.paid", filter=flt)
    event = {"invoice": {"amount": 1500, "notes": {"togai_invoice_id": "inv.1"}}}
    assert inputs.trigger_matches(ref, event) is expected


def test_razorpay_empty_notes_list_does_not_match() -> None:
    # Razorpay sends `"notes": []` when there are none: the filter must read as null.
    ref = TriggerRef(
        connection_id="rp", trigger="invoice.paid", filter="event.invoice.notes.togai_invoice_id"
    )
    assert inputs.trigger_matches(ref, {"invoice": {"notes": []}}) is False


def test_input_expressions_merge() -> None:
    step = _step("set_account_setting", input={"value": "'x'"})
    assert inputs.input_expressions(step, SET_SETTING) == {
        "account_id": "event.account.id",
        "value": "'x'",
    }


_MONEY = st.decimals(
    min_value=Decimal("-1000000000"),
    max_value=Decimal("1000000000"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)


@given(_MONEY)
def test_json_money_values_come_back_exact(amount: Decimal) -> None:
    scope = json.loads(f'{{"event": {{"amount": {amount:f}}}}}')
    assert expression.evaluate("event.amount", scope) == amount


@given(st.lists(_MONEY, max_size=10))
def test_sum_of_json_money_is_exact(amounts: list[Decimal]) -> None:
    scope = json.loads('{"a": [' + ", ".join(f"{a:f}" for a in amounts) + "]}")
    assert expression.evaluate("sum(a)", scope) == sum(amounts, Decimal(0))
