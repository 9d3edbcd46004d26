"""JMESPath expressions as flows use them: compiled once, analysed, evaluated money-safely.

Expressions see a scope dict: `{"event": payload, "steps": {step_id: output}}` for step
inputs and `when`, `{"event": payload}` for trigger filters. The scope must be JSON-native
(numbers as int/float, Decimal already rendered as str, as `model_dump(mode="json")` does):
JMESPath's functions reject Decimal. Floats in a result come back as `Decimal(str(x))`, so
`12.5` stays exactly 12.5 and no binary float arithmetic reaches money fields.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import jmespath
import jmespath.exceptions
import jmespath.functions
import jmespath.parser

#: Node types whose first child runs in the enclosing context and the rest per element
#: (or on the first child's result), so a bare field there is not a scope root.
_CHAINED = {
    "subexpression",
    "index_expression",
    "projection",
    "value_projection",
    "filter_projection",
    "pipe",
}


class _DecimalSafeFunctions(jmespath.functions.Functions):
    """JMESPath's built-ins, except `sum` adds in Decimal (0.1 + 0.2 is 0.3 here)."""

    @jmespath.functions.signature({"types": ["array-number"]})
    def _func_sum(self, arg: list[int | float]) -> int | float:
        total = sum((Decimal(str(x)) for x in arg), Decimal(0))
        if all(isinstance(x, int) for x in arg):
            return int(total)
        # float(Decimal) is the nearest double, and str() of that double gives back the
        # decimal digits again (up to 15 significant digits), which _decimalize restores.
        return float(total)


_OPTIONS = jmespath.Options(custom_functions=_DecimalSafeFunctions())


@functools.lru_cache(maxsize=1024)
def compile_expression(text: str) -> jmespath.parser.ParsedResult:
    """Parse `text`; raises jmespath.exceptions.ParseError (a ValueError) when invalid."""
    return jmespath.compile(text)


def syntax_error(text: str) -> str | None:
    """The parser's complaint about `text`, or None when it is a valid expression."""
    try:
        compile_expression(text)
    except jmespath.exceptions.JMESPathError as exc:
        # The parser's message spans several lines with a caret; the first line says it.
        return str(exc).splitlines()[0] if str(exc) else "invalid JMESPath expression"
    return None


@dataclass(frozen=True)
class References:
    """What an expression reads from its scope."""

    roots: frozenset[str]  #: top-level scope keys, e.g. {"event", "steps"}
    steps: frozenset[str]  #: step ids read as `steps.<id>`


def references(text: str) -> References:
    """Analyse a valid expression (call syntax_error first)."""
    roots: set[str] = set()
    steps: set[str] = set()
    # The stubs type the tree as a TypedDict; the walk reads it as the plain dict it is.
    tree: Mapping[str, Any] = cast(Mapping[str, Any], compile_expression(text).parsed)
    _walk(tree, True, roots, steps)
    return References(frozenset(roots), frozenset(steps))


def _walk(node: Mapping[str, Any], at_root: bool, roots: set[str], steps: set[str]) -> None:
    kind = node["type"]
    children: list[Mapping[str, Any]] = node.get("children", [])
    if kind == "field":
        if at_root:
            roots.add(node["value"])
        return
    if kind == "expref":
        # `&expr` is applied to each element by sort_by/max_by/…, never to the scope.
        for child in children:
            _walk(child, False, roots, steps)
        return
    if kind in _CHAINED and children:
        head = children[0]
        if at_root and kind == "subexpression" and len(children) > 1:
            second = children[1]
            is_steps = head["type"] == "field" and head["value"] == "steps"
            if is_steps and second["type"] == "field":
                steps.add(second["value"])
        _walk(head, at_root, roots, steps)
        for child in children[1:]:
            _walk(child, False, roots, steps)
        return
    for child in children:
        _walk(child, at_root, roots, steps)


def evaluate(text: str, scope: dict[str, Any]) -> Any:
    """Evaluate `text` over `scope`; floats in the result become Decimal via str().

    Raises jmespath.exceptions.JMESPathError when the expression fails on this data
    (e.g. a function applied to the wrong type).
    """
    return _decimalize(compile_expression(text).search(scope, options=_OPTIONS))


def is_truthy(value: Any) -> bool:
    """JMESPath truthiness: null, false, "", [] and {} are false; 0 is true."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict) and not value:
        return False
    return True


def _decimalize(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, list):
        return [_decimalize(item) for item in value]
    if isinstance(value, dict):
        return {key: _decimalize(item) for key, item in value.items()}
    return value
