"""Request-body checks for callers other than the official client (it validates its own).

A schema is a dict of field name -> `Spec`. `check` returns the body with numbers as
Decimal and datetimes parsed, or raises ApiError(400) naming the first bad field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from billsync.sandbox.togai.errors import ApiError

Schema = Mapping[str, "Spec"]


@dataclass(frozen=True)
class Spec:
    kind: str  # str | int | number | bool | enum | datetime | object | list | map | any
    required: bool = False
    min_len: int | None = None
    max_len: int | None = None
    choices: frozenset[str] | None = None
    fields: Schema | None = None
    item: Spec | None = None


def text(min_len: int | None = None, max_len: int | None = None, *, required: bool = False) -> Spec:
    return Spec("str", required, min_len, max_len)


def enum(*choices: str, required: bool = False) -> Spec:
    return Spec("enum", required, choices=frozenset(choices))


def obj(fields: Schema, *, required: bool = False) -> Spec:
    return Spec("object", required, fields=fields)


def array(
    item: Spec, min_len: int | None = None, max_len: int | None = None, *, required: bool = False
) -> Spec:
    return Spec("list", required, min_len, max_len, item=item)


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_float=Decimal) if raw else None
    except ValueError:
        raise ApiError(400, "Malformed JSON body") from None


def check(body: Any, schema: Schema, *, strict: bool = True, where: str = "") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, f"{where or 'body'} must be a JSON object")
    out: dict[str, Any] = {}
    for name, value in body.items():
        spec = schema.get(name)
        if spec is None:
            if strict:
                raise ApiError(400, f"Unknown field: {where}{name}")
            continue
        if value is None:
            if spec.required:
                raise ApiError(400, f"{where}{name} is required")
            continue
        out[name] = _value(value, spec, f"{where}{name}", strict)
    for name, spec in schema.items():
        if spec.required and name not in out:
            raise ApiError(400, f"{where}{name} is required")
    return out


def _value(value: Any, spec: Spec, path: str, strict: bool) -> Any:
    kind = spec.kind
    if kind == "any":
        return value
    if kind in ("str", "enum"):
        if not isinstance(value, str):
            raise ApiError(400, f"{path} must be a string")
        if spec.choices is not None and value not in spec.choices:
            raise ApiError(400, f"{path} must be one of {', '.join(sorted(spec.choices))}")
        _length(len(value), spec, path, "characters")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ApiError(400, f"{path} must be true or false")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ApiError(400, f"{path} must be an integer")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise ApiError(400, f"{path} must be a number")
        return Decimal(value)
    if kind == "datetime":
        return parse_datetime(value, path)
    if kind == "object":
        assert spec.fields is not None
        return check(value, spec.fields, strict=strict, where=f"{path}.")
    if kind == "list":
        if not isinstance(value, list):
            raise ApiError(400, f"{path} must be a list")
        _length(len(value), spec, path, "items")
        assert spec.item is not None
        return [_value(v, spec.item, f"{path}[{i}]", strict) for i, v in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ApiError(400, f"{path} must be an object of string values")
        return dict(value)
    raise AssertionError(f"unknown spec kind {kind}")


def _length(size: int, spec: Spec, path: str, unit: str) -> None:
    if spec.min_len is not None and size < spec.min_len:
        raise ApiError(400, f"{path} must have at least {spec.min_len} {unit}")
    if spec.max_len is not None and size > spec.max_len:
        raise ApiError(400, f"{path} must have at most {spec.max_len} {unit}")


def parse_datetime(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise ApiError(400, f"{path} must be an ISO-8601 date-time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"{path} must be an ISO-8601 date-time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


STRING = Spec("str")
NUMBER = Spec("number")
INTEGER = Spec("int")
BOOLEAN = Spec("bool")
DATETIME = Spec("datetime")
STRING_MAP = Spec("map")
ANYTHING = Spec("any")
