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
    *,
    time_range: tuple[int, int] | None = None,
    to_inclusive: bool = True,
) -> dict[str, Any]:
    """`items` oldest first (insertion order); the page is newest first.

    `from` and `to` bound `created_at` (Unix seconds, `from` inclusive; `to` inclusive unless
    `to_inclusive` is False). With `time_range`, a bound outside it is refused the way
    GET /v1/payments refuses `from=0`.
    """
    count = fields.integer(params, "count", DEFAULT_COUNT)
    skip = fields.integer(params, "skip", 0)
    start = fields.integer(params, "from")
    end = fields.integer(params, "to")
    assert count is not None and skip is not None
    if time_range is not None:
        low, high = time_range
        for key, value in (("from", start), ("to", end)):
            if value is not None and not low <= value <= high:
                raise RazorpayError(f"{key} must be between {low} and {high}")
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
        if end is not None and (created > end or (created == end and not to_inclusive)):
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
