"""Small fake Togai/Razorpay apps whose actions follow the catalogue's field names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
from pydantic import BaseModel

from billsync.connectors import spec
from billsync.domain import IncomingEvent, LinkKind, Side


class CustomerIn(BaseModel):
    togai_account_id: str
    togai_customer_id: str | None = None
    name: str
    email: str | None = None
    contact: str | None = None


class CustomerOut(BaseModel):
    customer_id: str
    name: str | None = None
    source: str


class InvoiceIn(BaseModel):
    togai_invoice_id: str
    togai_account_id: str
    customer_id: str | None = None
    currency: str
    total_amount: Decimal
    paid_amount: Decimal = Decimal(0)
    invoice_number: str | None = None
    partial_payment: bool = False


class InvoiceOut(BaseModel):
    invoice_id: str
    short_url: str
    amount: int
    source: str


class CancelIn(BaseModel):
    togai_invoice_id: str
    invoice_id: str | None = None


class CancelOut(BaseModel):
    invoice_id: str
    status: str


class AccountSettingIn(BaseModel):
    account_id: str
    value: str
    setting_id: str = "RazorPayCustomerId"


class SettingOut(BaseModel):
    full_id: str
    value: str
    source: str


class InvoiceSettingIn(BaseModel):
    invoice_id: str
    razorpay_invoice_id: str
    razorpay_invoice_url: str | None = None


class InvoiceSettingsOut(BaseModel):
    settings: list[SettingOut]


class PaymentIn(BaseModel):
    razorpay_payment_id: str
    amount: int
    currency: str
    togai_invoice_id: str | None = None
    razorpay_invoice_id: str | None = None
    account_id: str | None = None


class PaymentOut(BaseModel):
    payment_id: str | None
    invoice_id: str
    source: str


class GetAccountIn(BaseModel):
    account_id: str


class GetAccountOut(BaseModel):
    id: str
    name: str


@dataclass
class Calls:
    """What the fake actions were called with: (action key, dry_run, input dump)."""

    log: list[tuple[str, bool, dict[str, Any]]] = field(default_factory=list)

    def keys(self) -> list[str]:
        return [key for key, _, _ in self.log]


def _client(
    values: Mapping[str, str],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 10.0,
) -> Any:
    return dict(values)


async def _verify(client: Any) -> None:
    return None


async def _parse(client: Any, headers: Mapping[str, str], body: bytes) -> Sequence[IncomingEvent]:
    return ()


def make_apps(calls: Calls | None = None) -> tuple[spec.AppSpec, spec.AppSpec]:
    """(togai, razorpay) fakes; write actions honour ctx.dry_run like the real ones must."""
    log = calls if calls is not None else Calls()

    async def create_customer(ctx: spec.ActionContext, data: CustomerIn) -> spec.ActionResult:
        log.log.append(("create_customer", ctx.dry_run, data.model_dump(mode="json")))
        mapped = await ctx.ids.find(LinkKind.ACCOUNT_CUSTOMER, Side.TOGAI, data.togai_account_id)
        if mapped is not None:
            return spec.ActionResult(
                CustomerOut(customer_id=mapped, name=data.name, source="mapping")
            )
        if ctx.dry_run:
            return spec.ActionResult(CustomerOut(customer_id="cust_preview", source="created"))
        return spec.ActionResult(
            CustomerOut(customer_id="cust_1", name=data.name, source="created")
        )

    async def create_invoice(ctx: spec.ActionContext, data: InvoiceIn) -> spec.ActionResult:
        log.log.append(("create_invoice", ctx.dry_run, data.model_dump(mode="json")))
        minor = int((data.total_amount - data.paid_amount) * 100)
        inv = "inv_preview" if ctx.dry_run else "inv_1"
        return spec.ActionResult(
            InvoiceOut(
                invoice_id=inv, short_url=f"https://rzp.io/{inv}", amount=minor, source="created"
            )
        )

    async def cancel_invoice(ctx: spec.ActionContext, data: CancelIn) -> spec.ActionResult:
        log.log.append(("cancel_invoice", ctx.dry_run, data.model_dump(mode="json")))
        return spec.ActionResult(
            CancelOut(invoice_id=data.invoice_id or "inv_1", status="cancelled")
        )

    async def set_account_setting(
        ctx: spec.ActionContext, data: AccountSettingIn
    ) -> spec.ActionResult:
        log.log.append(("set_account_setting", ctx.dry_run, data.model_dump(mode="json")))
        full = f"USER.ACCOUNT.{data.setting_id}.{data.account_id}"
        return spec.ActionResult(SettingOut(full_id=full, value=data.value, source="created"))

    async def set_invoice_setting(
        ctx: spec.ActionContext, data: InvoiceSettingIn
    ) -> spec.ActionResult:
        log.log.append(("set_invoice_setting", ctx.dry_run, data.model_dump(mode="json")))
        out = SettingOut(full_id="x", value=data.razorpay_invoice_id, source="created")
        return spec.ActionResult(InvoiceSettingsOut(settings=[out]))

    async def record_payment(ctx: spec.ActionContext, data: PaymentIn) -> spec.ActionResult:
        log.log.append(("record_payment", ctx.dry_run, data.model_dump(mode="json")))
        return spec.ActionResult(
            PaymentOut(
                payment_id="pay_t", invoice_id=data.togai_invoice_id or "?", source="recorded"
            )
        )

    async def get_account(ctx: spec.ActionContext, data: GetAccountIn) -> spec.ActionResult:
        log.log.append(("get_account", ctx.dry_run, data.model_dump(mode="json")))
        return spec.ActionResult(GetAccountOut(id=data.account_id, name="Acme"))

    def action(
        key: str,
        fn: spec.ActionFn,
        inp: type[BaseModel],
        out: type[BaseModel],
        defaults: Mapping[str, str],
        *,
        writes: bool = True,
    ) -> spec.ActionSpec:
        return spec.ActionSpec(
            key=key,
            title=key,
            description=key,
            input_model=inp,
            output_model=out,
            run=fn,
            idempotency=spec.Idempotency.NATURAL_KEY,
            writes=writes,
            default_input=defaults,
        )

    def trigger(key: str) -> spec.TriggerSpec:
        return spec.TriggerSpec(key=key, title=key, description=key)

    togai = spec.AppSpec(
        name="togai",
        title="Togai",
        description="fake",
        fields=(),
        triggers=(
            trigger("account.created"),
            trigger("invoice.generated"),
            trigger("invoice.voided"),
        ),
        actions=(
            action(
                "set_account_setting",
                set_account_setting,
                AccountSettingIn,
                SettingOut,
                {"account_id": "event.account.id"},
            ),
            action(
                "set_invoice_setting", set_invoice_setting, InvoiceSettingIn, InvoiceSettingsOut, {}
            ),
            action(
                "record_payment",
                record_payment,
                PaymentIn,
                PaymentOut,
                {
                    "razorpay_payment_id": "event.payment.id",
                    "amount": "event.payment.amount",
                    "currency": "event.payment.currency",
                    "togai_invoice_id": "event.invoice.notes.togai_invoice_id",
                    "razorpay_invoice_id": "event.invoice.id",
                },
            ),
            action(
                "get_account",
                get_account,
                GetAccountIn,
                GetAccountOut,
                {"account_id": "event.account.id"},
                writes=False,
            ),
        ),
        make_client=_client,
        verify=_verify,
        parse_webhook=_parse,
    )
    razorpay = spec.AppSpec(
        name="razorpay",
        title="Razorpay",
        description="fake",
        fields=(),
        triggers=(trigger("invoice.paid"), trigger("invoice.partially_paid")),
        actions=(
            action(
                "create_customer",
                create_customer,
                CustomerIn,
                CustomerOut,
                {
                    "togai_account_id": "event.account.id",
                    "togai_customer_id": "event.account.customerId",
                    "name": "event.account.name",
                    "email": "event.account.primaryEmail",
                    "contact": "event.account.address.phoneNumber",
                },
            ),
            action(
                "create_invoice",
                create_invoice,
                InvoiceIn,
                InvoiceOut,
                {
                    "togai_invoice_id": "event.invoice.id",
                    "togai_account_id": "event.invoice.ownerId",
                    "currency": "event.account.invoiceCurrency",
                    "total_amount": "event.invoice.totalAmount",
                    "paid_amount": "event.invoice.paidAmount",
                    "invoice_number": "event.invoice.sequenceId",
                },
            ),
            action("cancel_invoice", cancel_invoice, CancelIn, CancelOut, {}),
        ),
        make_client=_client,
        verify=_verify,
        parse_webhook=_parse,
    )
    return togai, razorpay


def registry(calls: Calls | None = None) -> spec.Registry:
    return spec.Registry(apps=make_apps(calls))


#: connection id → app name, as the store would report it.
CONNECTIONS = {"tg": "togai", "rp": "razorpay"}


class NoIds:
    """An id lookup with nothing mapped, or with the given mappings."""

    def __init__(self, mapped: Mapping[tuple[LinkKind, Side, str], str] | None = None) -> None:
        self.mapped = dict(mapped or {})

    async def find(self, kind: LinkKind, side: Side, value: str) -> str | None:
        return self.mapped.get((kind, side, value))
