"""Togai-style pagination: pageSize, and an opaque base64-JSON nextToken carrying the filters."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from billsync.sandbox.togai.errors import ApiError
from billsync.sandbox.togai.store import Collection, Record


@dataclass(frozen=True)
class PageRequest:
    after: int
    size: int
    filters: dict[str, str]


def page_request(
    request: Request, *, filters: tuple[str, ...], default: int, maximum: int
) -> PageRequest:
    """Read nextToken or pageSize and the filters; later pages need only the token."""
    params = request.query_params
    token = params.get("nextToken")
    if token:
        return _decode(token)
    size = _page_size(params.get("pageSize"), default, maximum)
    chosen = {name: params[name] for name in filters if params.get(name)}
    return PageRequest(0, size, chosen)


def page(
    collection: Collection,
    wanted: PageRequest,
    keep: Any,
    *,
    trailing_empty_page: bool,
) -> tuple[list[Record], str | None]:
    found, last, more = collection.page(wanted.after, wanted.size, keep)
    if more or (trailing_empty_page and found and len(found) == wanted.size):
        return found, _encode(PageRequest(last, wanted.size, wanted.filters))
    return found, None


def _page_size(raw: str | None, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        number = float(raw)  # the client may send 10.0
    except ValueError:
        raise ApiError(400, "pageSize must be a number") from None
    if not number.is_integer() or not 1 <= number <= maximum:
        raise ApiError(400, f"pageSize must be a whole number between 1 and {maximum}")
    return int(number)


def _encode(wanted: PageRequest) -> str:
    raw = json.dumps({"a": wanted.after, "n": wanted.size, "f": wanted.filters})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode(token: str) -> PageRequest:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return PageRequest(int(data["a"]), int(data["n"]), dict(data["f"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ApiError(400, "Invalid nextToken") from None
