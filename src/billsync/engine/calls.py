"""Provider calls by purpose: every HTTP request a connection's client sends is counted once.

Purposes (design.md "Call budget": every call must earn its place, so each is named):

- `refetch`: reading what a webhook hinted at (Togai webhooks are unsigned hints);
- `poll`: a polling trigger's list pages and fetches;
- `lookup`: an action's read (a mapping's target, a natural-key search, a compare);
- `write`: an action's create/update (POST, PUT, PATCH, DELETE);
- `other`: anything else (connection checks, mapping rebuilds, reconciliation).

The caller names its purpose for the duration of a block (`with purpose("poll"): ...`); a
context variable carries it into the client's transport (`engine/clients.PacedTransport`),
which counts the request. Inside an action the HTTP method decides lookup vs write, since one
action may do both. Counting is a dict increment on a prometheus counter child: cheap.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Literal

from prometheus_client import Counter

Purpose = Literal["refetch", "poll", "lookup", "write", "action", "other"]
#: "action" is the block's purpose; each request inside it is counted as lookup or write.
PURPOSES: tuple[str, ...] = ("refetch", "poll", "lookup", "write", "other")

PROVIDER_CALLS = Counter(
    "billsync_provider_calls_total",
    "HTTP requests sent to a provider, by app and purpose (refetch, poll, lookup, write, other)",
    ["app", "purpose"],
)

_PURPOSE: contextvars.ContextVar[Purpose] = contextvars.ContextVar(
    "billsync_call_purpose", default="other"
)
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


@contextlib.contextmanager
def purpose(name: Purpose) -> Iterator[None]:
    """Count the requests sent inside this block (this task and tasks it starts) as `name`."""
    token = _PURPOSE.set(name)
    try:
        yield
    finally:
        _PURPOSE.reset(token)


def current(method: str) -> str:
    """The purpose a request with this HTTP method is counted under right now."""
    name = _PURPOSE.get()
    if name == "action":
        return "lookup" if method.upper() in _READS else "write"
    return name


def count(app: str, method: str) -> None:
    PROVIDER_CALLS.labels(app, current(method)).inc()
