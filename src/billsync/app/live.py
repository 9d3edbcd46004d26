"""Live statuses: what Togai and Razorpay say about linked objects now, when a face shows them.

The Customers page and `billsync mappings show` read each side when they are viewed,
through the connection's paced client (its rate-limit bucket, shared with the runs):

- an account's invoices: one Togai list page per account (`owner_id`, at most
  `TOGAI_PAGES` pages) and one Razorpay list page per customer (`customer_id`), never a
  call per invoice;
- `mappings show`: one read per side for each of at most `MAX_LIVE_LINKS` links.

Each side gets `LIVE_SECONDS`; a side that cannot be read (unreachable, refused, too slow)
falls back to what billsync stored, labelled with when it was stored: the latest step
output that names the object (create_invoice's status, cancel_invoice's "cancelled",
record_payment's invoice status, …), else the mapping itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from billsync import errors
from billsync.app import events as event_ops
from billsync.app import runs as run_ops
from billsync.app.mappings import MappingInfo
from billsync.app.root import App
from billsync.domain import LinkKind
from billsync.store import connections as connection_store
from billsync.store import steps as step_store
from billsync.store.models import Connection, RunStep

T = TypeVar("T")

#: How long a face waits for one side before showing what billsync stored.
LIVE_SECONDS = 5.0
TOGAI_PAGE = 50
TOGAI_PAGES = 2
RAZORPAY_PAGE = 100
#: Links of one `mappings show` read live (two calls each at most); the rest show stored.
MAX_LIVE_LINKS = 10

#: Step actions whose outputs record a status billsync saw or caused.
STATUS_ACTIONS = (
    "razorpay.create_customer",
    "razorpay.create_invoice",
    "razorpay.cancel_invoice",
    "togai.record_payment",
)
TITLES = {"togai": "Togai", "razorpay": "Razorpay"}


@dataclass(frozen=True)
class Observed:
    """One side's word on one object: read now (`live`), or stored by billsync at `as_of`."""

    status: str | None = None
    live: bool = False
    as_of: datetime | None = None
    amount_paid: int | None = None  #: Razorpay invoices: minor units


@dataclass
class SideRead:
    """The outcome of reading one side: `problem` says why it fell back to stored state."""

    app: str
    connection: str = ""  #: the connection's name
    problem: str = ""

    @property
    def live(self) -> bool:
        return not self.problem


@dataclass
class InvoiceStatus:
    togai_id: str
    razorpay_id: str | None = None
    number: str = ""
    amount: str = ""
    togai: Observed = field(default_factory=Observed)
    razorpay: Observed = field(default_factory=Observed)


@dataclass
class LinkStatus:
    link: MappingInfo
    togai: Observed
    razorpay: Observed


@dataclass
class Stored:
    """What billsync's own records say, by Togai id and by Razorpay id: for each object the
    newest record wins (events and step outputs are folded in any order)."""

    togai: dict[str, Observed] = field(default_factory=dict)
    razorpay: dict[str, Observed] = field(default_factory=dict)

    def saw_togai(self, object_id: str, status: str | None, when: datetime | None) -> None:
        if status:
            _keep_newest(self.togai, object_id, Observed(status=status, as_of=when))

    def saw_razorpay(
        self, object_id: str, status: str | None, when: datetime | None, paid: Any = None
    ) -> None:
        if status:
            amount_paid = paid if isinstance(paid, int) else None
            seen = Observed(status, as_of=when, amount_paid=amount_paid)
            _keep_newest(self.razorpay, object_id, seen)


def _keep_newest(known: dict[str, Observed], object_id: str, seen: Observed) -> None:
    current = known.get(object_id)
    if current is None or current.as_of is None:
        known[object_id] = seen
    elif seen.as_of is not None and seen.as_of >= current.as_of:
        known[object_id] = seen


async def stored_from_steps(app: App, run_ids: Collection[int], stored: Stored) -> set[int]:
    """Fold the status-bearing step outputs of `run_ids` into `stored`; returns the
    connection ids those steps used (which connection holds the objects)."""
    async with app.db.read() as session:
        rows = await step_store.succeeded_for_runs(session, run_ids, STATUS_ACTIONS)
    used: set[int] = set()
    for row in rows:
        if row.connection_id is not None:
            used.add(row.connection_id)
        _fold(row, stored)
    return used


def _fold(row: RunStep, stored: Stored) -> None:
    out = row.output or {}
    when = row.finished_at
    if row.action == "togai.record_payment":
        invoice = out.get("invoice_id")
        if isinstance(invoice, str):
            stored.saw_togai(invoice, out.get("invoice_status"), when)
    elif row.action in ("razorpay.create_invoice", "razorpay.cancel_invoice"):
        invoice = out.get("invoice_id")
        if isinstance(invoice, str):
            stored.saw_razorpay(invoice, out.get("status"), when)
    elif row.action == "razorpay.create_customer":
        customer = out.get("customer_id")
        if isinstance(customer, str) and out.get("source") != "preview":
            stored.saw_razorpay(customer, "exists", when)


async def pick_connection(app: App, app_name: str, used: Iterable[int]) -> Connection | None:
    """The connection that holds an object: one its runs used, else the app's first."""
    async with app.db.read() as session:
        rows = list(await connection_store.list_all(session, app_name))
    by_id = {row.id: row for row in rows}
    for connection_id in sorted(used):
        if connection_id in by_id:
            return by_id[connection_id]
    return rows[0] if rows else None


async def _bounded(read: SideRead, call: Awaitable[T]) -> T | None:
    """`call`'s result, or None with `read.problem` saying why it is not live."""
    title = TITLES.get(read.app, read.app)
    try:
        async with asyncio.timeout(LIVE_SECONDS):
            return await call
    except errors.ConnectorError as exc:
        read.problem = f"{title} could not be read: {exc.message}"
    except TimeoutError:
        read.problem = f"{title} did not answer within {LIVE_SECONDS:g} s"
    return None


async def _togai_invoices(client: Any, account_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    token: str | None = None
    for _ in range(TOGAI_PAGES):
        page = await client.list_invoices(
            owner_id=account_id, next_token=token, page_size=TOGAI_PAGE
        )
        found.update({invoice.id: invoice for invoice in page.data})
        token = page.next_token
        if not token:
            break
    return found


async def _razorpay_invoices(client: Any, customer_id: str) -> dict[str, Any]:
    page = await client.list_invoices(customer_id=customer_id, count=RAZORPAY_PAGE)
    return {invoice.id: invoice for invoice in page.items}


async def _side(app: App, read: SideRead, connection: Connection | None) -> Any | None:
    if connection is None:
        read.problem = f"no {TITLES.get(read.app, read.app)} connection"
        return None
    read.connection = connection.name
    return await app.clients.get(connection)


async def account_invoices(
    app: App,
    account_id: str,
    customer_id: str | None,
    rows: Mapping[str, InvoiceStatus],
    stored: Stored,
    used: Iterable[int],
) -> tuple[list[InvoiceStatus], SideRead, SideRead]:
    """The account's invoices as both sides say now; `rows` are the ones billsync knows
    (Togai id → row), `stored` what it recorded. Invoices a side lists that billsync never
    saw are added."""
    used = set(used)
    togai = SideRead("togai")
    razorpay = SideRead("razorpay")
    togai_client = await _side(app, togai, await pick_connection(app, "togai", used))
    razorpay_client = await _side(app, razorpay, await pick_connection(app, "razorpay", used))

    async def nothing() -> dict[str, Any]:
        return {}

    togai_call = _togai_invoices(togai_client, account_id) if togai_client else nothing()
    razorpay_call = (
        _razorpay_invoices(razorpay_client, customer_id)
        if razorpay_client and customer_id
        else nothing()
    )
    togai_live, razorpay_live = await asyncio.gather(
        _bounded(togai, togai_call), _bounded(razorpay, razorpay_call)
    )
    merged = dict(rows)
    if togai_live is not None and togai.live:
        for invoice in togai_live.values():
            row = merged.setdefault(invoice.id, InvoiceStatus(invoice.id))
            row.number = row.number or (invoice.sequence_id or "")
            row.amount = row.amount or str(invoice.total_amount)
            row.togai = Observed(invoice.status, live=True)
    by_razorpay_id = {row.razorpay_id: row for row in merged.values() if row.razorpay_id}
    if razorpay_live is not None and razorpay.live:
        for invoice in razorpay_live.values():
            linked = invoice.notes.get("togai_invoice_id") if invoice.notes else None
            owner = by_razorpay_id.get(invoice.id) or (
                merged.get(linked) if isinstance(linked, str) else None
            )
            if owner is None:
                continue  # not an invoice billsync created for this account
            owner.razorpay_id = invoice.id
            owner.razorpay = Observed(invoice.status, live=True, amount_paid=invoice.amount_paid)
    for row in merged.values():
        if not row.togai.live:
            row.togai = stored.togai.get(row.togai_id, row.togai)
        if not row.razorpay.live and row.razorpay_id:
            row.razorpay = stored.razorpay.get(row.razorpay_id, row.razorpay)
    return sorted(merged.values(), key=lambda r: r.togai_id), togai, razorpay


_READS: dict[LinkKind, tuple[str, str]] = {
    LinkKind.ACCOUNT_CUSTOMER: ("get_account", "fetch_customer"),
    LinkKind.INVOICE_INVOICE: ("get_invoice", "fetch_invoice"),
    LinkKind.PAYMENT_PAYMENT: ("get_payment", "fetch_payment"),
}


def _said(found: Any, app_name: str) -> Observed:
    status = getattr(found, "status", None)
    if not status:
        # Razorpay customers and Togai payments carry no status: they exist.
        status = "exists"
    paid = getattr(found, "amount_paid", None) if app_name == "razorpay" else None
    return Observed(str(status), live=True, amount_paid=paid if isinstance(paid, int) else None)


_NOT_FOUND = Observed("not found", live=True)


async def _read_one(read: SideRead, client: Any, method: str, object_id: str) -> Observed | None:
    """The object as the side says now ("not found" is an answer too); None when the side
    could not be read."""

    async def fetch() -> Observed:
        try:
            return _said(await getattr(client, method)(object_id), read.app)
        except errors.NotFoundError:
            return _NOT_FOUND

    return await _bounded(read, fetch())


#: Runs of one entity read for the stored fallback of `mappings show`.
RELATED_RUNS = 200


async def _related_runs(app: App, links: Sequence[MappingInfo]) -> dict[int, int]:
    """Run id → event id of the runs that wrote the links and the other runs of their
    entities (an account's runs share its entity key: its invoices' payments and
    cancellations too)."""
    found: dict[int, int] = {}
    entities: set[str] = set()
    for run_id in sorted({m.run_id for m in links if m.run_id}):
        try:
            run = (await run_ops.detail(app, run_id)).run
        except errors.SyncError:
            continue
        found[run.id] = run.event_id
        entities.add(run.entity_key)
    for entity in sorted(entities):
        query = run_ops.RunFilter(entity=entity, limit=RELATED_RUNS)
        found.update((run.id, run.event_id) for run in await run_ops.list_runs(app, query))
    return found


def fold_event(payload: Mapping[str, Any], when: datetime | None, stored: Stored) -> None:
    """What an event billsync received says about invoices: a Togai invoice's status, or a
    Razorpay invoice's (one whose notes name its Togai invoice)."""
    invoice = payload.get("invoice")
    if not isinstance(invoice, dict) or not isinstance(invoice.get("id"), str):
        return
    notes = invoice.get("notes")
    if isinstance(notes, dict) and isinstance(notes.get("togai_invoice_id"), str):
        stored.saw_razorpay(invoice["id"], invoice.get("status"), when, invoice.get("amount_paid"))
    else:
        stored.saw_togai(invoice["id"], invoice.get("status"), when)


async def _stored_for_links(app: App, links: Sequence[MappingInfo], stored: Stored) -> set[int]:
    related = await _related_runs(app, links)
    for event_id in sorted(set(related.values())):
        try:
            event = (await event_ops.detail(app, event_id)).event
        except errors.SyncError:
            continue
        fold_event(event.payload, event.received_at, stored)
    return await stored_from_steps(app, set(related), stored)


async def link_statuses(
    app: App, links: Sequence[MappingInfo]
) -> tuple[list[LinkStatus], SideRead, SideRead]:
    """Each link with both sides' status: live for the first MAX_LIVE_LINKS, stored for the
    rest and for a side that cannot be read (`SideRead.problem` says why)."""
    stored = Stored()
    used = await _stored_for_links(app, links, stored)
    togai = SideRead("togai")
    razorpay = SideRead("razorpay")
    togai_client = await _side(app, togai, await pick_connection(app, "togai", used))
    razorpay_client = await _side(app, razorpay, await pick_connection(app, "razorpay", used))
    result: list[LinkStatus] = []
    for index, link in enumerate(links):
        togai_seen = stored.togai.get(link.togai_id) or Observed("linked", as_of=link.created_at)
        razorpay_seen = stored.razorpay.get(link.razorpay_id) or Observed(
            "linked", as_of=link.created_at
        )
        if index < MAX_LIVE_LINKS:
            togai_method, razorpay_method = _READS[link.kind]

            async def skip() -> Observed | None:
                return None

            # A side that failed once is not asked again for the next links.
            togai_now, razorpay_now = await asyncio.gather(
                _read_one(togai, togai_client, togai_method, link.togai_id)
                if togai_client is not None and togai.live
                else skip(),
                _read_one(razorpay, razorpay_client, razorpay_method, link.razorpay_id)
                if razorpay_client is not None and razorpay.live
                else skip(),
            )
            togai_seen = togai_now or togai_seen
            razorpay_seen = razorpay_now or razorpay_seen
        result.append(LinkStatus(link, togai_seen, razorpay_seen))
    return result, togai, razorpay
