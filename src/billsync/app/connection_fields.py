"""What a connection field's value may be: one set of rules for every face (API, CLI, UI)
and for the OpenAPI document, which publishes them as JSON Schema (api/schemas/
connection_values.py), so the document and the checks cannot drift apart.

Every value is a string of bounded length. By the field's kind:

- a URL field (base_url): `base_url.HTTPS_PATTERN`, or `SANDBOX_PATTERN` when the same
  values say `sandbox: yes`;
- a choice field: one of its choices;
- a number field (seconds): a whole number in its range, digits only;
- a secret that never leaves billsync (a webhook signing secret): any text;
- any other field (API tokens, key ids: they travel in HTTP headers): printable ASCII
  without spaces.

An empty string means "the default" for an optional field and is refused for a required
one. A request that changes a URL field names the outbound secrets again (`partial`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from billsync.app import base_url
from billsync.connectors import spec

#: The longest value of any field but a URL (tokens and key ids are far shorter).
MAX_VALUE_LENGTH = 1024
#: Printable ASCII, no spaces: a credential sent in an HTTP header.
TOKEN_PATTERN = r"^[!-~]*$"
_TOKEN = re.compile(TOKEN_PATTERN)


def max_length(field: spec.ConnectionField) -> int:
    return base_url.MAX_LENGTH if field.url else MAX_VALUE_LENGTH


def is_free_text(field: spec.ConnectionField) -> bool:
    """A secret that only checks what the app sends us: never sent anywhere, any text."""
    return field.secret and not field.outbound


def _whole_numbers(least: int, most: int) -> str:
    """A regular expression (no anchors) for the whole numbers least..most written without
    leading zeros: blocks `prefix[a-b][0-9]{k}` from least upwards."""
    assert 1 <= least <= most
    blocks: list[tuple[str, int, int, int]] = []  # (prefix, first digit, last digit, k)
    start = least
    while start <= most:
        k = 0
        while start % 10 ** (k + 1) == 0 and start + 10 ** (k + 1) - 1 <= most:
            k += 1
        digits = str(start // 10**k)
        prefix, digit = digits[:-1], int(digits[-1])
        last = blocks[-1] if blocks else None
        if last and last[0] == prefix and last[3] == k and last[2] == digit - 1:
            blocks[-1] = (prefix, last[1], digit, k)
        else:
            blocks.append((prefix, digit, digit, k))
        start += 10**k
    parts = []
    for prefix, first, final, k in blocks:
        head = str(first) if first == final else f"[{first}-{final}]"
        tail = f"[0-9]{{{k}}}" if k > 1 else "[0-9]" if k == 1 else ""
        parts.append(f"{prefix}{head}{tail}")
    return "(?:" + "|".join(parts) + ")"


def number_bounds(field: spec.ConnectionField) -> tuple[int, int]:
    assert field.number_range is not None
    least, most = field.number_range
    return max(1, math.ceil(least)), math.floor(most)


def number_pattern(field: spec.ConnectionField) -> str:
    """`^…$` for a number field's values (empty allowed: the default)."""
    return "^(?:" + _whole_numbers(*number_bounds(field)) + ")?$"


def value_problem(field: spec.ConnectionField, value: str, *, sandbox: bool) -> str | None:
    """Why `value` cannot be this field's value, or None. `sandbox`: whether the same
    values mark the connection as a local sandbox (http:// URLs toward this machine)."""
    if value == "":
        return f"{field.label} is required" if field.required else None
    limit = max_length(field)
    if len(value) > limit:
        return f"must be at most {limit} characters"
    if field.url:
        why = base_url.problem(value, sandbox=sandbox)
        return f"{field.label} {why}" if why else None
    if field.choices:
        return field.problem(value)
    if field.number_range is not None:
        if not re.fullmatch(number_pattern(field)[1:-1], value):
            least, most = number_bounds(field)
            return f"must be a whole number from {least} to {most}"
        return None
    if not is_free_text(field) and not _TOKEN.fullmatch(value):
        return "must be printable ASCII without spaces"
    return None


def outbound_secrets(app_spec: spec.AppSpec) -> list[spec.ConnectionField]:
    """The secrets sent to the app's host: entered again whenever that host changes."""
    return [f for f in app_spec.fields if f.secret and f.outbound]


def request_problems(
    app_spec: spec.AppSpec, values: Mapping[str, str], *, partial: bool = False
) -> list[tuple[str, str]]:
    """Every problem of the values one request gives, judged on their own (what the
    OpenAPI document states): unknown fields, missing required ones (unless `partial`:
    an update), each value's rule, an http:// URL without `sandbox: yes` beside it, and
    in an update, a URL field without the outbound secrets."""
    known = {f.name: f for f in app_spec.fields}
    problems = [
        (name, f"{app_spec.name} has no connection field {name!r}")
        for name in sorted(set(values) - set(known))
    ]
    sandbox = values.get("sandbox") == "yes"
    for name, field in known.items():
        if name not in values:
            if field.required and not partial:
                problems.append((name, f"{field.label} is required"))
            continue
        why = value_problem(field, values[name], sandbox=sandbox)
        if why is not None:
            problems.append((name, why))
    moved = [f.name for f in app_spec.fields if f.url and f.name in values]
    if partial and moved:
        for field in outbound_secrets(app_spec):
            if not values.get(field.name):
                problems.append(
                    (
                        field.name,
                        f"{field.label} must be entered again with {moved[0]} (stored secrets "
                        "never leave for another host)",
                    )
                )
    return problems
