"""validate_flow reports every problem, each at its exact field path."""

from __future__ import annotations

from typing import Any

import pytest

from billsync import errors
from billsync.domain import Direction
from billsync.engine import flow
from tests.unit.engine import fake_apps

REGISTRY = fake_apps.registry()


def _flow(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "accounts",
        "direction": "outbound",
        "trigger": {"connection_id": "tg", "trigger": "account.created"},
        "steps": [
            {"id": "customer", "connection_id": "rp", "action": "create_customer"},
            {
                "id": "setting",
                "connection_id": "tg",
                "action": "set_account_setting",
                "input": {"value": "steps.customer.customer_id"},
            },
        ],
    }
    data.update(over)
    return data


def _problems(data: dict[str, Any], connections: dict[str, str] | None = None) -> list[str]:
    defn = flow.parse_flow(data)
    with pytest.raises(errors.FlowError) as caught:
        flow.validate_flow(defn, REGISTRY, connections or fake_apps.CONNECTIONS)
    assert caught.value.field == caught.value.problems[0][0]
    return [field for field, _ in caught.value.problems]


def _step(**over: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"id": "customer", "connection_id": "rp", "action": "create_customer"}
    step.update(over)
    return step


def test_a_valid_flow_passes() -> None:
    defn = flow.parse_flow(_flow())
    flow.validate_flow(defn, REGISTRY, fake_apps.CONNECTIONS)
    assert defn.direction is Direction.OUTBOUND
    assert flow.action_for(defn.steps[1], REGISTRY, fake_apps.CONNECTIONS).key == (
        "set_account_setting"
    )


def test_unknown_trigger_connection() -> None:
    data = _flow(trigger={"connection_id": "nope", "trigger": "account.created"})
    assert _problems(data) == ["trigger.connection_id"]


def test_connection_of_an_uninstalled_app() -> None:
    data = _flow(trigger={"connection_id": "sf", "trigger": "account.created"})
    assert _problems(data, {**fake_apps.CONNECTIONS, "sf": "salesforce"}) == [
        "trigger.connection_id"
    ]


def test_trigger_not_offered_by_the_app() -> None:
    data = _flow(trigger={"connection_id": "tg", "trigger": "invoice.paid"})
    assert _problems(data) == ["trigger.trigger"]


def test_direction_must_match_the_trigger_app() -> None:
    assert _problems(_flow(direction="inbound")) == ["direction"]


def test_inbound_flow_from_razorpay_to_togai_is_valid() -> None:
    data = _flow(
        direction="inbound",
        trigger={"connection_id": "rp", "trigger": "invoice.paid"},
        steps=[{"id": "payment", "connection_id": "tg", "action": "record_payment"}],
    )
    flow.validate_flow(flow.parse_flow(data), REGISTRY, fake_apps.CONNECTIONS)


def test_unknown_step_connection() -> None:
    data = _flow(steps=[_step(connection_id="gone")])
    assert _problems(data) == ["steps[0].connection_id"]


def test_unknown_action() -> None:
    data = _flow(steps=[_step(action="create_refund")])
    assert _problems(data) == ["steps[0].action"]


def test_action_of_the_other_app() -> None:
    # create_customer exists, but on razorpay: the togai connection does not offer it.
    data = _flow(steps=[_step(connection_id="tg")])
    assert _problems(data) == ["steps[0].action"]


def test_input_field_not_in_the_model() -> None:
    steps = [_step(), _step(id="inv", action="create_invoice", input={"amount": "`10`"})]
    assert _problems(_flow(steps=steps)) == ["steps[1].input.amount"]


def test_required_input_without_default_or_override() -> None:
    # set_account_setting has no default for `value`.
    steps = [_step(), {"id": "setting", "connection_id": "tg", "action": "set_account_setting"}]
    assert _problems(_flow(steps=steps)) == ["steps[1].input.value"]


def test_bad_jmespath_in_input_when_and_filter() -> None:
    data = _flow(
        trigger={"connection_id": "tg", "trigger": "account.created", "filter": "event.["},
        steps=[_step(when="steps.[", input={"name": "event.account.name |"})],
    )
    assert _problems(data) == ["trigger.filter", "steps[0].when", "steps[0].input.name"]


def test_bad_jmespath_message_is_one_line() -> None:
    defn = flow.parse_flow(_flow(steps=[_step(input={"name": "a.["})]))
    with pytest.raises(errors.FlowError) as caught:
        flow.validate_flow(defn, REGISTRY, fake_apps.CONNECTIONS)
    assert "invalid JMESPath" in caught.value.message
    assert "\n" not in caught.value.message


def test_reference_to_a_later_step() -> None:
    steps = [
        _step(input={"name": "steps.setting.value"}),
        {
            "id": "setting",
            "connection_id": "tg",
            "action": "set_account_setting",
            "input": {"value": "steps.customer.customer_id"},
        },
    ]
    assert _problems(_flow(steps=steps)) == ["steps[0].input.name"]


def test_reference_to_itself_and_to_an_unknown_step() -> None:
    steps = [_step(when="steps.customer.source", input={"name": "steps.ghost.name"})]
    defn = flow.parse_flow(_flow(steps=steps))
    with pytest.raises(errors.FlowError) as caught:
        flow.validate_flow(defn, REGISTRY, fake_apps.CONNECTIONS)
    assert caught.value.problems == [
        ("steps[0].when", "step 'customer' does not run before this one: only earlier steps count"),
        ("steps[0].input.name", "no step 'ghost' in this flow"),
    ]


def test_filter_may_not_read_steps_and_paths_start_at_event_or_steps() -> None:
    data = _flow(
        trigger={"connection_id": "tg", "trigger": "account.created", "filter": "steps.x"},
        steps=[_step(input={"name": "account.name"})],
    )
    assert _problems(data) == ["trigger.filter", "steps[0].input.name"]


def test_scope_analysis_ignores_fields_inside_projections_and_literals() -> None:
    steps = [
        _step(
            input={"name": "join(' ', event.account.tags[?steps == 'x'].name) || 'n/a'"},
            when="length(event.account.items[*].steps) > `0`",
        )
    ]
    flow.validate_flow(flow.parse_flow(_flow(steps=steps)), REGISTRY, fake_apps.CONNECTIONS)


def test_bare_null_is_flagged_as_a_field_not_a_literal() -> None:
    data = _flow(trigger={"connection_id": "tg", "trigger": "account.created", "filter": "null"})
    defn = flow.parse_flow({**data, "steps": [_step(when="event.account.id != null")]})
    with pytest.raises(errors.FlowError) as caught:
        flow.validate_flow(defn, REGISTRY, fake_apps.CONNECTIONS)
    assert caught.value.problems == [
        ("trigger.filter", "'null' is read as a field: write `null` for the literal"),
        ("steps[0].when", "'null' is read as a field: write `null` for the literal"),
    ]


def test_duplicate_step_ids() -> None:
    steps = [_step(), _step()]
    assert _problems(_flow(steps=steps)) == ["steps[1].id"]


def test_unknown_action_still_checks_its_expressions() -> None:
    steps = [_step(action="nope", input={"x": "steps.later.y"})]
    assert _problems(_flow(steps=steps)) == ["steps[0].action", "steps[0].input.x"]


def test_every_problem_is_collected() -> None:
    data = _flow(
        direction="inbound",
        trigger={"connection_id": "tg", "trigger": "nope", "filter": "event.["},
        steps=[
            _step(connection_id="zz"),
            _step(action="create_invoice", input={"amount": "`1`"}),
        ],
    )
    assert _problems(data) == [
        "trigger.filter",
        "direction",
        "trigger.trigger",
        "steps[0].connection_id",
        "steps[1].id",
        "steps[1].input.amount",
    ]


def test_summary_message_counts_the_rest() -> None:
    defn = flow.parse_flow(_flow(steps=[_step(connection_id="zz"), _step(id="b", action="x")]))
    with pytest.raises(errors.FlowError) as caught:
        flow.validate_flow(defn, REGISTRY, fake_apps.CONNECTIONS)
    assert caught.value.message.startswith("steps[0].connection_id: unknown connection 'zz'")
    assert caught.value.message.endswith("(and 1 more problem(s))")


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (_flow(steps=[]), "steps", "add at least one action"),
        (_flow(steps=[_step(id="Has-Dash")]), "steps[0].id", "use lowercase letters, digits"),
        (_flow(name=""), "name", "give the flow a name"),
        (_flow(name="x" * 201), "name", "under 201 characters"),
    ],
)
def test_lengths_and_step_ids_are_checked_with_the_other_problems(
    data: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(errors.FlowError) as caught:
        flow.validate_flow(flow.parse_flow(data), REGISTRY, fake_apps.CONNECTIONS)
    assert any(f == field and words in m for f, m in caught.value.problems)
    assert "pattern" not in str(caught.value.problems)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (_flow(direction="sideways"), "direction"),
        (_flow(extra=1), "extra"),
        (_flow(steps=[_step(input={"name": 5})]), "steps[0].input.name"),
    ],
)
def test_shape_errors_become_flow_errors(data: dict[str, Any], field: str) -> None:
    with pytest.raises(errors.FlowError) as caught:
        flow.parse_flow(data)
    assert caught.value.field == field


def test_field_path() -> None:
    assert flow.field_path(("steps", 1, "input", "amount")) == "steps[1].input.amount"
    assert flow.field_path((0, "x")) == "[0].x"


def test_flow_error_defaults_to_a_single_problem() -> None:
    err = errors.FlowError("bad", field="name")
    assert err.problems == [("name", "bad")]


def test_a_shape_error_still_names_the_plain_problems() -> None:
    with pytest.raises(errors.FlowError) as caught:
        flow.parse_flow({"name": " ", "steps": [{"id": "Bad Id"}], "extra": 1})
    found = dict(caught.value.problems)
    assert {"direction", "trigger", "extra", "name", "steps[0].id"} <= set(found)
    assert found["name"] == "give the flow a name"
    assert "use lowercase letters" in found["steps[0].id"]
    with pytest.raises(errors.FlowError) as empty:
        flow.parse_flow({"name": "x", "steps": []})
    assert ("steps", "add at least one action") in empty.value.problems
