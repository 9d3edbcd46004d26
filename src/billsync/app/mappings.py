"""Id mappings as faces use them: look up by any id, and rebuild from the providers.

Rebuild reads what billsync (or Togai's own integration) left at the providers:

- Razorpay customers whose notes carry `togai_account_id` → account ↔ customer;
- Razorpay invoices whose notes carry `togai_invoice_id` → invoice ↔ invoice;
- Togai account settings `RazorPayCustomerId` → account ↔ customer;
- Togai invoice settings `RazorPayInvoiceId` → invoice ↔ invoice;
- Togai payments whose external payment reference comes from Razorpay (source name
  "Razorpay", or a `pay_…` transaction number) → payment ↔ payment: the reference's
  transaction number is the Razorpay payment id (what `record_payment` writes).

Links already stored are kept; a link contradicting a stored one is reported as a conflict
and not written (a human decides which side is right).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from billsync import errors
from billsync.app.root import App
from billsync.domain import IdLink, LinkKind
from billsync.store import audit, mappings
from billsync.store import connections as connection_store
from billsync.store.models import Connection, IdMapping

ACCOUNT_SETTING = "RazorPayCustomerId"
INVOICE_SETTING = "RazorPayInvoiceId"
#: Razorpay payment ids, for references recorded under another source name.
RAZORPAY_PAYMENT_ID = re.compile(r"pay_[A-Za-z0-9]+")
#: Links written per transaction while rebuilding.
BATCH = 100

#: (source label, links found so far from that source) after each batch.
Progress = Callable[[str, int], None]


class MappingSourceError(errors.SyncError):
    """The connections to rebuild from are missing or ambiguous."""


@dataclass(frozen=True)
class MappingInfo:
    id: int
    kind: LinkKind
    togai_id: str
    razorpay_id: str
    run_id: int | None
    created_at: datetime | None = None  #: when billsync stored the link


@dataclass
class RebuildReport:
    found: int = 0  #: links read from the providers (a link seen on both sides counts twice)
    inserted: int = 0  #: new rows written
    existing: int = 0  #: already stored, unchanged
    conflicts: list[str] = field(default_factory=list)  #: contradicting links, not written


def _info(row: IdMapping) -> MappingInfo:
    return MappingInfo(
        id=row.id,
        kind=LinkKind(row.kind),
        togai_id=row.togai_id,
        razorpay_id=row.razorpay_id,
        run_id=row.run_id,
        created_at=row.created_at,
    )


async def lookup(app: App, value: str, *, kind: LinkKind | None = None) -> list[MappingInfo]:
    """Every mapping with `value` on either side (a Togai or a Razorpay id)."""
    async with app.db.read() as session:
        rows = await mappings.list_recent(session, kind=kind, search=value, limit=20)
    return [_info(row) for row in rows]


async def list_recent(
    app: App, *, kind: LinkKind | None = None, limit: int = 50, before_id: int | None = None
) -> list[MappingInfo]:
    async with app.db.read() as session:
        rows = await mappings.list_recent(session, kind=kind, limit=limit, before_id=before_id)
    return [_info(row) for row in rows]


async def _pick(app: App, app_name: str, connection_id: int | None) -> Connection:
    async with app.db.read() as session:
        if connection_id is not None:
            row = await connection_store.get(session, connection_id)
            if row is None or row.app != app_name:
                raise MappingSourceError(f"no {app_name} connection {connection_id}")
            return row
        rows = await connection_store.list_all(session, app_name)
    if len(rows) != 1:
        raise MappingSourceError(
            f"{len(rows)} {app_name} connections exist: name the one to rebuild from"
        )
    return rows[0]


async def _razorpay_links(client: Any) -> AsyncIterator[tuple[str, IdLink]]:
    async for customer in client.iter_customers():
        account_id = customer.notes.get("togai_account_id")
        if isinstance(account_id, str) and account_id:
            yield "razorpay customers", IdLink(LinkKind.ACCOUNT_CUSTOMER, account_id, customer.id)
    async for invoice in client.iter_invoices():
        invoice_id = invoice.notes.get("togai_invoice_id")
        if isinstance(invoice_id, str) and invoice_id:
            yield "razorpay invoices", IdLink(LinkKind.INVOICE_INVOICE, invoice_id, invoice.id)


async def _togai_links(
    app: App, connection: Connection, client: Any
) -> AsyncIterator[tuple[str, IdLink]]:
    # The client comes from app.clients: each page takes a token from the bucket the runner
    # and the poller share.
    wanted = (
        ("togai account settings", "ACCOUNT", ACCOUNT_SETTING, LinkKind.ACCOUNT_CUSTOMER),
        ("togai invoice settings", "INVOICE", INVOICE_SETTING, LinkKind.INVOICE_INVOICE),
    )
    for label, entity_type, setting_id, kind in wanted:
        token: str | None = None
        while True:
            page = await client.list_settings(
                entity_type=entity_type, setting_id=setting_id, next_token=token
            )
            for setting in page.data:
                if setting.id == setting_id and setting.value:
                    yield label, IdLink(kind, setting.entity_id, setting.value)
            token = page.next_token
            if not token:
                break
    token = None
    while True:
        payments = await client.list_payments(next_token=token)
        for payment in payments.data:
            for reference in _razorpay_references(payment):
                yield (
                    "togai payments",
                    IdLink(LinkKind.PAYMENT_PAYMENT, payment.id, reference.transaction_number),
                )
        token = payments.next_token
        if not token:
            break


def _razorpay_references(payment: Any) -> list[Any]:
    refs = list(payment.external_payment_references)
    if payment.external_payment_reference is not None:
        refs.append(payment.external_payment_reference)
    found: dict[str, Any] = {}  # one link per transaction number (the two fields may repeat)
    for ref in refs:
        number = ref.transaction_number
        if ref.source_name.lower() == "razorpay" or RAZORPAY_PAYMENT_ID.fullmatch(number):
            found.setdefault(number, ref)
    return list(found.values())


async def _store(app: App, links: list[IdLink], report: RebuildReport) -> None:
    async with app.db.write() as session:
        for link in links:
            if await mappings.insert_new(session, link, run_id=None, now=app.clock.now()):
                report.inserted += 1
                continue
            rows = await mappings.touching(session, link)
            if any(r.togai_id == link.togai_id and r.razorpay_id == link.razorpay_id for r in rows):
                report.existing += 1
                continue
            others = ", ".join(f"{r.togai_id} ↔ {r.razorpay_id}" for r in rows)
            report.conflicts.append(
                f"{link.kind.value}: {link.togai_id} ↔ {link.razorpay_id} contradicts {others}"
            )


async def rebuild(
    app: App,
    *,
    togai_connection: int | None = None,
    razorpay_connection: int | None = None,
    progress: Progress | None = None,
    actor: str = "cli",
) -> RebuildReport:
    """Read the links both providers hold and store the missing ones."""
    togai = await _pick(app, "togai", togai_connection)
    razorpay = await _pick(app, "razorpay", razorpay_connection)
    report = RebuildReport()
    counts: dict[str, int] = {}
    batch: list[IdLink] = []

    async def take(source: AsyncIterator[tuple[str, IdLink]]) -> None:
        async for label, link in source:
            report.found += 1
            counts[label] = counts.get(label, 0) + 1
            batch.append(link)
            if len(batch) >= BATCH:
                await _store(app, batch, report)
                batch.clear()
            if progress is not None:
                progress(label, counts[label])
        if batch:
            await _store(app, batch, report)
            batch.clear()

    await take(_razorpay_links(await app.clients.get(razorpay)))
    await take(_togai_links(app, togai, await app.clients.get(togai)))
    async with app.db.write() as session:
        await audit.record(
            session,
            actor=actor,
            action="mapping.rebuild",
            target=f"connections:{togai.id},{razorpay.id}",
            now=app.clock.now(),
            detail={
                "found": report.found,
                "inserted": report.inserted,
                "existing": report.existing,
                "conflicts": len(report.conflicts),
            },
        )
    return report
