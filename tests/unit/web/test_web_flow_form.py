"""The wizard's form ↔ flow definition, and flow problems ↔ the form's fields."""

from __future__ import annotations

from starlette.datastructures import FormData

from billsync.engine.flow import parse_flow
from billsync.web.flow_form import field_errors, from_definition, from_form


def _form() -> FormData:
    # Step 1 was removed in the browser: the indices have a gap.
    return FormData(
        [
            ("name", " Sync "),
            ("direction", "outbound"),
            ("trigger_target", "1:account.created"),
            ("step", "0"),
            ("steps-0-id", "account"),
            ("steps-0-target", "1:get_account"),
            ("steps-0-input-account_id", ""),
            ("step", "2"),
            ("steps-2-id", "customer"),
            ("steps-2-target", "2:create_customer"),
            ("steps-2-input-name", "steps.account.name"),
            ("steps-2-when", "event.account.id"),
            ("enabled", "1"),
        ]
    )


def test_the_form_becomes_a_definition_without_empty_overrides() -> None:
    form = from_form(_form())
    defn = parse_flow(form.definition())
    assert defn.name == "Sync" and form.enabled
    assert defn.trigger.connection_id == "1" and defn.trigger.trigger == "account.created"
    assert [(s.id, s.connection_id, s.action) for s in defn.steps] == [
        ("account", "1", "get_account"),
        ("customer", "2", "create_customer"),
    ]
    assert defn.steps[0].input == {}
    assert defn.steps[1].input == {"name": "steps.account.name"}
    assert defn.steps[1].when == "event.account.id"


def test_a_definition_fills_the_form_back() -> None:
    defn = parse_flow(from_form(_form()).definition())
    again = from_definition(defn.model_dump(mode="json"))
    assert again.trigger_target == "1:account.created"
    assert [s.target for s in again.steps] == ["1:get_account", "2:create_customer"]
    assert again.steps[1].inputs == {"name": "steps.account.name"}


def test_problems_land_on_the_field_they_name_despite_index_gaps() -> None:
    form = from_form(_form())
    problems = [
        ("steps[1].input.name", "'account' is not in scope"),
        ("steps[1].action", "no such action"),
        ("steps[0].id", "String should match pattern '^[a-z]'"),
        ("trigger.trigger", "togai has no trigger"),
        ("direction", "outbound flows start from a togai trigger"),
        ("name", "String should have at least 1 character"),
        ("steps[7].id", "out of range"),
        ("somewhere", "else"),
    ]
    assert field_errors(form, problems) == {
        "steps-2-input-name": "'account' is not in scope",
        "steps-2-target": "no such action",
        "steps-0-id": "Use a-z, 0-9 and _, starting with a letter (e.g. customer)",
        "trigger_target": "togai has no trigger",
        "direction": "outbound flows start from a togai trigger",
        "name": "Required",
        "steps": "out of range",
        "_": "else",
    }
