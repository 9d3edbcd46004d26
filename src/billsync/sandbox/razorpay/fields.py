"""Reading request bodies and query strings the way Razorpay validates them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from billsync.sandbox.razorpay.error import RazorpayError, not_sent

MAX_NOTES = 15
MAX_NOTE_LEN = 256


async def body(request: Request) -> dict[str, Any]:
    """The body sent, as JSON or as a form; the SDK sends `{}` (or nothing) on action endpoints.

    Razorpay takes `application/x-www-form-urlencoded` wherever it takes JSON (its curl
    samples and older SDKs post forms), with nested fields as `notes[k]=v` and
    `line_items[0][name]=...`; values then arrive as strings, which the checks below accept
    wherever Razorpay does ("1", "500").
    """
    raw = await request.body()
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        return form(raw)
    try:
        data = json.loads(raw)
    except ValueError:
        # UNCONFIRMED wording: Razorpay's answer to a malformed JSON body is undocumented.
        raise RazorpayError("The request body is not valid JSON.", reason="NA") from None
    if not isinstance(data, dict):
        raise RazorpayError("The request body must be a JSON object.", reason="NA")
    return data


_KEY_PART = re.compile(r"\[([^\[\]]*)\]")


def form(raw: bytes) -> dict[str, Any]:
    """A form body as the nested object it spells: `a[b][0][c]=v` → {"a": {"b": [{"c": v}]}}.

    Numeric (or empty, `a[]=v`) brackets make lists, in index order.
    """
    try:
        pairs = parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise RazorpayError("The request body is not a valid form.", reason="NA") from None
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, bracket, rest = key.partition("[")
        path = [head, *_KEY_PART.findall(bracket + rest)]
        # Only `name[a][b]...` spells a nested field; `a[b`, `a[b]c` or `[b]` do not.
        if not head or head + "".join(f"[{p}]" for p in path[1:]) != key:
            raise RazorpayError(f"{key} is not a valid field.", reason="NA")
        node: dict[str, Any] = root
        for index, part in enumerate(path):
            last = index == len(path) - 1
            if last:
                if isinstance(node.get(part), dict):
                    raise RazorpayError(f"{key} is not a valid field.", reason="NA")
                node[part] = value
                break
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise RazorpayError(f"{key} is not a valid field.", reason="NA")
            if path[index + 1] == "":
                path[index + 1] = str(len(child))
            node = child
    # The body itself stays an object, whatever its keys.
    return {k: _lists(v) for k, v in root.items()}


def _lists(node: Any) -> Any:
    """Objects whose keys are all 0..n-1 become lists (`line_items[0][name]`)."""
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        indexes = sorted(converted, key=int)
        if [int(k) for k in indexes] == list(range(len(indexes))):
            return [converted[k] for k in indexes]
    return converted


def reject_unknown(data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    allowed_set = set(allowed)
    extra = [k for k in data if k not in allowed_set]
    if extra:
        raise not_sent(extra)


def required(data: Mapping[str, Any], key: str) -> Any:
    value = data.get(key)
    if value is None or value == "":
        raise RazorpayError(f"The {key} field is required.", field=key)
    return value


def integer(data: Mapping[str, Any], key: str, default: int | None = None) -> int | None:
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        raise RazorpayError(f"The {key} must be an integer.", field=key)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise RazorpayError(f"The {key} must be an integer.", field=key)


def text(
    data: Mapping[str, Any], key: str, max_len: int | None = None, min_len: int = 0
) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RazorpayError(f"The {key} must be a string.", field=key)
    if max_len is not None and len(value) > max_len:
        raise RazorpayError(f"The {key} may not be greater than {max_len} characters.", field=key)
    if len(value) < min_len:
        raise RazorpayError(f"The {key} must be at least {min_len} characters.", field=key)
    return value


def flag(data: Mapping[str, Any], key: str, default: bool) -> bool:
    """Razorpay booleans arrive as true/false, 0/1 or "0"/"1"."""
    value = data.get(key)
    if value is None:
        return default
    if value in (True, 1, "1", "true"):
        return True
    if value in (False, 0, "0", "false"):
        return False
    raise RazorpayError(f"The {key} field must be true or false.", field=key)


def notes(data: Mapping[str, Any], key: str = "notes", max_len: int = MAX_NOTE_LEN) -> Any:
    """Stored notes: Razorpay shows an empty set as `[]`, never `{}`."""
    value = data.get(key)
    if value is None or value == [] or value == {}:
        return []
    if not isinstance(value, dict):
        raise RazorpayError("The notes must be an array.", field=key)
    if len(value) > MAX_NOTES:
        raise RazorpayError(
            f"Number of fields in notes should be less than or equal to {MAX_NOTES}", field=key
        )
    for note in value.values():
        if isinstance(note, str) and len(note) > max_len:
            raise RazorpayError(f"value: the length must not be greater than {max_len}.", field=key)
    return dict(value)


def future_timestamp(data: Mapping[str, Any], key: str, now: int, message: str) -> int | None:
    value = integer(data, key)
    if value is not None and value < now + 15 * 60:
        raise RazorpayError(message, field=key)
    return value


def currency(data: Mapping[str, Any], default: str, international: bool) -> str:
    """An ISO code; other than INR only when the account has international payments."""
    code = text(data, "currency") or default
    if len(code) != 3 or not code.isalpha() or not code.isupper():
        raise RazorpayError("The selected currency is invalid.", field="currency")
    if code != "INR" and not international:
        raise RazorpayError("the merchant doesn't have international activated.", field="currency")
    return code
