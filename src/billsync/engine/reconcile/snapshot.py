"""What both providers and billsync hold for one connection pair, read once and indexed.

A comparison reads everything through list endpoints at the providers' largest pages
(Togai: 100 for accounts and settings, 50 for invoices and payments; Razorpay: 100), each
request paced by the connection's bucket (the clients come from the engine's ClientCache).
A fix reads only the objects one item names (`narrow`): GETs by id, so a stale report is
checked against what the providers say now, at a few calls per item.

Razorpay lists newest first with `skip`: an object created while paging shifts the pages,
which can show an object twice (kept once, by id) but never hides one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from billsync import errors
from billsync.connectors.razorpay import models as rzp
from billsync.connectors.razorpay.client import MAX_PAGE as RZP_PAGE
from billsync.connectors.razorpay.client import list_time
from billsync.connectors.razorpay.reference import natural_key
from billsync.connectors.togai import models as togai
from billsync.connectors.togai.client import MAX_PAGE_SIZE as TOGAI_INVOICE_PAGE
from billsync.domain import LinkKind
from billsync.store import mappings
from billsync.store.database import Database

CUSTOMER_SETTING = "RazorPayCustomerId"
INVOICE_ID_SETTING = "RazorPayInvoiceId"
INVOICE_URL_SETTING = "RazorPayInvoiceUrl"
#: Togai's largest page for accounts and settings (invoices and payments: 50).
TOGAI_PAGE = 100

Progress = Callable[[str, int], None]


@dataclass
class Links:
    """One kind of billsync's id mappings, both ways."""

    by_togai: dict[str, str] = field(default_factory=dict)
    by_razorpay: dict[str, str] = field(default_factory=dict)

    def add(self, togai_id: str, razorpay_id: str) -> None:
        self.by_togai[togai_id] = razorpay_id
        self.by_razorpay[razorpay_id] = togai_id


@dataclass
class Snapshot:
    """Indexed state of both sides. `complete` is True for a full listing: an id absent
    from it does not exist. A narrow snapshot holds what one item's ids named (GET by id),
    so there too an id that was looked up and is absent does not exist."""

    complete: bool = True
    accounts: dict[str, togai.Account] = field(default_factory=dict)
    customer_settings: dict[str, str] = field(default_factory=dict)  #: account → cust_
    invoices: dict[str, togai.Invoice] = field(default_factory=dict)
    invoice_settings: dict[str, str] = field(default_factory=dict)  #: invoice → inv_
    invoice_urls: dict[str, str] = field(default_factory=dict)  #: invoice → short URL
    togai_payments: dict[str, togai.Payment] = field(default_factory=dict)
    customers: dict[str, rzp.Customer] = field(default_factory=dict)
    rzp_invoices: dict[str, rzp.Invoice] = field(default_factory=dict)
    rzp_payments: dict[str, rzp.Payment] = field(default_factory=dict)
    links: dict[LinkKind, Links] = field(default_factory=lambda: {k: Links() for k in LinkKind})


class Reader:
    """Reads a Snapshot through two (paced) clients, counting calls by app."""

    def __init__(
        self,
        togai_client: Any,
        razorpay_client: Any,
        *,
        calls: Counter[str],
        progress: Progress | None = None,
    ) -> None:
        self._togai = togai_client
        self._rzp = razorpay_client
        self.calls = calls
        self._progress = progress

    def _tick(self, label: str, n: int) -> None:
        if self._progress is not None:
            self._progress(label, n)

    async def full(self, db: Database, since: datetime | None) -> Snapshot:
        snap = Snapshot(complete=True)
        await load_links(db, snap)
        # Clamped: Razorpay refuses a `from` outside 2000..2121 (a far --since lists nothing).
        created_from = list_time(int(since.timestamp())) if since is not None else None
        # Togai: everything (existence decides orphans); Razorpay invoices and payments
        # from `since` only (a Razorpay object is made after its Togai object).
        await self._togai_pages(
            "togai accounts", self._togai.list_accounts, snap.accounts, TOGAI_PAGE
        )
        await self._settings("togai account settings", "ACCOUNT", CUSTOMER_SETTING, snap)
        await self._togai_pages(
            "togai invoices", self._togai.list_invoices, snap.invoices, TOGAI_INVOICE_PAGE
        )
        await self._settings("togai invoice settings", "INVOICE", INVOICE_ID_SETTING, snap)
        await self._settings("togai invoice urls", "INVOICE", INVOICE_URL_SETTING, snap)
        await self._togai_pages(
            "togai payments", self._togai.list_payments, snap.togai_payments, TOGAI_INVOICE_PAGE
        )
        await self._rzp_pages("razorpay customers", self._rzp.list_customers, snap.customers, None)
        await self._rzp_pages(
            "razorpay invoices", self._rzp.list_invoices, snap.rzp_invoices, created_from
        )
        await self._rzp_pages(
            "razorpay payments", self._rzp.list_payments, snap.rzp_payments, created_from
        )
        return snap

    async def _togai_pages(
        self, label: str, method: Callable[..., Any], into: dict[str, Any], size: int
    ) -> None:
        token: str | None = None
        while True:
            self.calls["togai"] += 1
            page = await method(next_token=token, page_size=None if token else size)
            for obj in page.data:
                into[obj.id] = obj
            self._tick(label, len(into))
            token = page.next_token
            if not token or not page.data:
                return

    async def _settings(
        self, label: str, entity_type: str, setting_id: str, snap: Snapshot
    ) -> None:
        into = {
            CUSTOMER_SETTING: snap.customer_settings,
            INVOICE_ID_SETTING: snap.invoice_settings,
            INVOICE_URL_SETTING: snap.invoice_urls,
        }[setting_id]
        token: str | None = None
        while True:
            self.calls["togai"] += 1
            page = await self._togai.list_settings(
                entity_type=entity_type,
                setting_id=setting_id,
                next_token=token,
                page_size=None if token else TOGAI_PAGE,
            )
            for setting in page.data:
                if setting.id == setting_id and setting.entity_type == entity_type:
                    into[setting.entity_id] = setting.value
            self._tick(label, len(into))
            token = page.next_token
            if not token or not page.data:
                return

    async def _rzp_pages(
        self,
        label: str,
        method: Callable[..., Any],
        into: dict[str, Any],
        created_from: int | None,
    ) -> None:
        skip = 0
        while True:
            self.calls["razorpay"] += 1
            params: dict[str, Any] = {"count": RZP_PAGE, "skip": skip}
            if created_from is not None:
                params["created_from"] = created_from
            page = await method(**params)
            for obj in page.items:
                into[obj.id] = obj
            self._tick(label, len(into))
            if len(page.items) < RZP_PAGE:
                return
            skip += len(page.items)

    # -- narrow reads for a fix ----------------------------------------------------------

    async def narrow(
        self, db: Database, kind: str, togai_id: str | None, razorpay_id: str | None
    ) -> Snapshot:
        """One item's objects by id, the objects their link records name, and what judging
        them needs (an invoice's owner account and its Togai payments)."""
        snap = Snapshot(complete=False)
        await load_links(db, snap)
        if razorpay_id:
            await self._rzp_object(razorpay_id, snap)
        if kind == "customer":
            if togai_id:
                await self._account(togai_id, snap)
                for rid in (
                    snap.links[LinkKind.ACCOUNT_CUSTOMER].by_togai.get(togai_id),
                    snap.customer_settings.get(togai_id),
                ):
                    if rid:
                        await self._rzp_object(rid, snap)
            return snap
        if kind == "payment":
            for payment in list(snap.rzp_payments.values()):
                if payment.invoice_id:
                    await self._rzp_object(payment.invoice_id, snap)
        if togai_id:
            await self._invoice(togai_id, snap)
        for tid, invoice in list(snap.invoices.items()):
            for rid in (
                snap.links[LinkKind.INVOICE_INVOICE].by_togai.get(tid),
                snap.invoice_settings.get(tid),
            ):
                if rid:
                    await self._rzp_object(rid, snap)
            # an invoice made by an attempt whose answer was lost carries our receipt
            self.calls["razorpay"] += 1
            page = await self._rzp.list_invoices(receipt=natural_key(tid), count=RZP_PAGE)
            for found in page.items:
                snap.rzp_invoices.setdefault(found.id, found)
            if invoice.owner_id:
                await self._account(invoice.owner_id, snap)
                await self._owner_payments(invoice.owner_id, snap)
        return snap

    async def _rzp_object(self, rid: str, snap: Snapshot) -> None:
        fetch: dict[str, tuple[Callable[[str], Any], dict[str, Any]]] = {
            "cust_": (self._rzp.fetch_customer, snap.customers),
            "inv_": (self._rzp.fetch_invoice, snap.rzp_invoices),
            "pay_": (self._rzp.fetch_payment, snap.rzp_payments),
        }
        for prefix, (method, into) in fetch.items():
            if rid.startswith(prefix):
                if rid in into:
                    return
                self.calls["razorpay"] += 1
                try:
                    into[rid] = await method(rid)
                except (errors.NotFoundError, errors.RejectedError):
                    # "The id provided does not exist" / "<id> is not a valid id"
                    pass
                return

    async def _account(self, account_id: str, snap: Snapshot) -> None:
        if account_id in snap.accounts:
            return
        self.calls["togai"] += 1
        try:
            account = await self._togai.get_account(account_id)
        except errors.NotFoundError:
            return
        snap.accounts[account_id] = account
        value = await self._setting(CUSTOMER_SETTING, "ACCOUNT", account_id)
        if value:
            snap.customer_settings[account_id] = value

    async def _invoice(self, invoice_id: str, snap: Snapshot) -> None:
        if invoice_id in snap.invoices:
            return
        self.calls["togai"] += 1
        try:
            invoice = await self._togai.get_invoice(invoice_id)
        except errors.NotFoundError:
            return
        snap.invoices[invoice_id] = invoice
        for setting_id, into in (
            (INVOICE_ID_SETTING, snap.invoice_settings),
            (INVOICE_URL_SETTING, snap.invoice_urls),
        ):
            value = await self._setting(setting_id, "INVOICE", invoice_id)
            if value:
                into[invoice_id] = value

    async def _setting(self, setting_id: str, entity_type: str, entity_id: str) -> str | None:
        self.calls["togai"] += 1
        full_id = togai.full_setting_id("USER", setting_id, entity_type, entity_id)
        try:
            setting = await self._togai.get_setting(full_id)
        except errors.NotFoundError:
            return None
        return str(setting.value)

    async def _owner_payments(self, account_id: str, snap: Snapshot) -> None:
        token: str | None = None
        while True:
            self.calls["togai"] += 1
            page = await self._togai.list_payments(account_id=account_id, next_token=token)
            for payment in page.data:
                # servers that ignore the filter return everyone's payments
                if payment.account_id in (None, account_id):
                    snap.togai_payments[payment.id] = payment
            token = page.next_token
            if not token or not page.data:
                return


async def load_links(db: Database, snap: Snapshot) -> None:
    async with db.read() as session:
        for kind, togai_id, razorpay_id in await mappings.all_links(session):
            snap.links[kind].add(togai_id, razorpay_id)
