"""List endpoints: count/skip/from/to paging, newest first, in the collection envelope."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Reversible
from typing import Any

from billsync.sandbox.razorpay import fields
from billsync.sandbox.razorpay.error import RazorpayError
from billsync.sandbox.razorpay.state import Entity

PAGING = ("count", "skip", "from", "to")
MAX_COUNT = 100
DEFAULT_COUNT = 10


def query(params: Mapping[str, str], filters: Iterable[str] = ()) -> dict[str, str]:
    """Accepted query keys; anything else is refused as Razorpay refuses unknown input."""
    data = dict(params)
    allowed = set(PAGING) | set(filters)
    # Bracket forms (`expand[]`) are how list parameters travel through the SDK.
    fields.reject_unknown({k: v for k, v in data.items() if not k.endswith("[]")}, allowed)
    return data


def page(
    items: Reversible[Entity],
    params: Mapping[str, str],
    match: Callable[[Entity], bool] | None = None,
) -> dict[str, Any]:
    """`items` oldest first (insertion order); the page is newest first."""
    count = fields.integer(params, "count", DEFAULT_COUNT)
    skip = fields.integer(params, "skip", 0)
    start = fields.integer(params, "from")
    end = fields.integer(params, "to")
    assert count is not None and skip is not None
    if count > MAX_COUNT:
        raise RazorpayError("The count may not be greater than 100.", field="count")
    if count < 1:
        raise RazorpayError("The count must be at least 1.", field="count")
    if skip < 0:
        raise RazorpayError("The skip must be at least 0.", field="skip")
    selected: list[Entity] = []
    for item in reversed(items):
        created = item["created_at"]
        if start is not None and created < start:
            continue
        if end is not None and created > end:
            continue
        if match is not None and not match(item):
            continue
        if skip:
            skip -= 1
            continue
        selected.append(item)
        if len(selected) == count:
            break
    return {"entity": "collection", "count": len(selected), "items": selected}
