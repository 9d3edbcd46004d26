"""Expression errors say what is wrong, point at the column and hint at the usual slips."""

from __future__ import annotations

import pytest

from billsync import errors
from billsync.engine import flow
from billsync.engine.expression import syntax_error
from tests.unit.engine import fake_apps
from tests.unit.engine.test_engine_flow import REGISTRY, _flow, _step


@pytest.mark.parametrize(
    ("text", "first_line", "column", "hint"),
    [
        ("event.invoice.", "the expression ends too early", 15, "finish it"),
        ("event.a ==", "the expression ends too early", 11, "finish it"),
        (
            "event.invoice.totalAmount > 100",
            "a bare number (100) is not allowed here",
            29,
            "numbers are JSON literals in backticks: `100`",
        ),
        ("event.a > 1.5", "a bare number (1.5) is not allowed here", 11, "`1.5`"),
        ("event.a = 'x'", "'=' is not an operator", 9, "compare with =="),
        ("event.a and event.b", "unexpected word 'and'", 9, "JMESPath writes 'and' as &&"),
        ('event."INR', 'the " opened here is never closed', 7, "single quotes"),
        ("event.a > `1", "the ` opened here is never closed", 11, "close the literal"),
    ],
)
def test_message_caret_and_hint(text: str, first_line: str, column: int, hint: str) -> None:
    message = syntax_error(text)
    assert message is not None
    lines = message.splitlines()
    assert lines[0] == f"{first_line} (column {column})"
    assert not lines[0].endswith(":")
    assert lines[1] == f"  {text}"
    assert lines[2] == "  " + " " * (column - 1) + "^"
    assert lines[3].startswith("hint: ") and hint in lines[3]


def test_valid_expression_has_no_error() -> None:
    assert syntax_error("event.invoice.totalAmount > `100`") is None


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ('event.account.currency == "INR"', '"INR" in double quotes is a field name'),
        ("event.account.currency == INR", "for the text INR write 'INR'"),
    ],
)
def test_text_compared_without_single_quotes(text: str, hint: str) -> None:
    data = _flow(trigger={"connection_id": "tg", "trigger": "account.created", "filter": text})
    with pytest.raises(errors.FlowError) as caught:
        flow.validate_flow(flow.parse_flow(data), REGISTRY, fake_apps.CONNECTIONS)
    (field, message), *_ = caught.value.problems
    assert field == "trigger.filter"
    assert "'INR' is not in scope" in message and hint in message


def test_flow_problem_carries_the_caret_and_the_summary_stays_one_line() -> None:
    data = _flow(steps=[_step(when="event.invoice.totalAmount > 100")])
    with pytest.raises(errors.FlowError) as caught:
        flow.validate_flow(flow.parse_flow(data), REGISTRY, fake_apps.CONNECTIONS)
    field, message = caught.value.problems[0]
    assert field == "steps[0].when"
    assert message.startswith("invalid JMESPath: a bare number (100) is not allowed here")
    assert "\n  event.invoice.totalAmount > 100\n" in message
    assert "`100`" in message
    assert "\n" not in caught.value.message
