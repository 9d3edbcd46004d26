"""JMESPath expressions as flows use them: compiled once, analysed, evaluated money-safely.

Expressions see a scope dict: `{"event": payload, "steps": {step_id: output}}` for step
inputs and `when`, `{"event": payload}` for trigger filters. The scope must be JSON-native
(numbers as int/float, Decimal already rendered as str, as `model_dump(mode="json")` does):
JMESPath's functions reject Decimal. Floats in a result come back as `Decimal(str(x))`, so
`12.5` stays exactly 12.5 and no binary float arithmetic reaches money fields.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import jmespath
import jmespath.exceptions
import jmespath.functions
import jmespath.lexer
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
    """Why `text` is not a valid expression, or None when it is: what is wrong in plain
    words, the expression with a caret under the column, and a hint for the usual slips
    (numbers and text as literals, quotes, `=` for `==`, `and` for `&&`)."""
    try:
        compile_expression(text)
    except jmespath.exceptions.JMESPathError as exc:
        return _explain(text, exc)
    return None


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_WORD_OPERATORS = {"and": "&&", "or": "||", "not": "!"}


def _explain(text: str, exc: jmespath.exceptions.JMESPathError) -> str:
    position = getattr(exc, "lex_position", None)
    position = position if isinstance(position, int) and 0 <= position <= len(text) else None
    token = getattr(exc, "token_value", None)
    token_type = str(getattr(exc, "token_type", "") or "")
    hint = ""
    if isinstance(exc, jmespath.exceptions.IncompleteExpressionError) or token_type == "EOF":
        problem = "the expression ends too early"
        position = len(text)
        if text.rstrip().endswith((".", "[", "|", "==", "!=", "<", ">", "&&", "||", "(")):
            hint = "finish it or remove what it ends with"
    elif token_type.startswith("UNCLOSED"):
        quote = token_type.split()[1]
        problem = f"the {quote} opened here is never closed"
        hint = {
            '"': "text is written in single quotes: 'INR' (double quotes name a field)",
            "`": 'close the literal: `100`, `true`, `"INR"`',
            "'": "close the text: 'INR'",
        }.get(quote, "")
    elif token_type == "NUMBER":
        number = _NUMBER.match(text, position or 0)
        shown = number.group(0) if number else str(token)
        problem = f"a bare number ({shown}) is not allowed here"
        hint = f"numbers are JSON literals in backticks: `{shown}`"
    elif token == "=":
        problem = "'=' is not an operator"
        hint = "compare with =="
    elif isinstance(token, str) and token.lower() in _WORD_OPERATORS:
        problem = f"unexpected word {token!r}"
        hint = f"JMESPath writes {token.lower()!r} as {_WORD_OPERATORS[token.lower()]}"
    elif token is not None and token != "":
        problem = f"unexpected {token!r}"
    else:
        problem = "invalid JMESPath expression"
    return _with_caret(problem, text, position, hint)


def _with_caret(problem: str, text: str, position: int | None, hint: str) -> str:
    lines = [f"{problem} (column {position + 1})" if position is not None else problem]
    lines.append(f"  {text}")
    if position is not None:
        lines.append("  " + " " * position + "^")
    if hint:
        lines.append(f"hint: {hint}")
    return "\n".join(lines)


def literal_hint(text: str, root: str) -> str:
    """For a valid expression reading `root` outside its scope: how the literal the author
    probably meant is written (a quoted or bare word compared as text)."""
    try:
        tokens = list(jmespath.lexer.Lexer().tokenize(text))
    except jmespath.exceptions.JMESPathError:
        return ""
    for token in tokens:
        if token["value"] != root:
            continue
        if token["type"] == "quoted_identifier":
            return f"\"{root}\" in double quotes is a field name: write '{root}' for text"
        return f"for the text {root} write '{root}'"
    return ""


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
