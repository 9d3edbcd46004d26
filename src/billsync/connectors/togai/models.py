"""Pydantic models of the Togai objects billsync reads and writes.

Tolerant on purpose: unknown fields are kept (`extra="allow"`), line-item trees may end in
leaves (the official client 1.0.3 rejects those), datetimes come in any of Togai's forms
(`…Z`, `.000Z`, `+0000`, naive, epoch s/ms) and are normalised to UTC, and enums are open
strings. Each parsed object keeps the exact JSON it came from in `.raw`, because trigger
payloads must be the entity exactly as Togai returned it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Self, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr
from pydantic.alias_generators import to_camel


def _utc(value: datetime) -> datetime:
    # Togai sometimes sends naive timestamps; they are UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


TogaiDatetime = Annotated[datetime, AfterValidator(_utc)]


class TogaiModel(BaseModel):
    """Base: camelCase on the wire, snake_case in Python, unknown fields kept."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        extra="allow",
    )
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @classmethod
    def from_json(cls, body: Any) -> Self:
        obj = cls.model_validate(body)
        obj._raw = dict(body) if isinstance(body, dict) else {}
        return obj

    @property
    def raw(self) -> dict[str, Any]:
        """The JSON object exactly as Togai sent it (empty when built in Python)."""
        return self._raw


class Address(TogaiModel):
    phone_number: str | None = None
    line1: str | None = None
    line2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None


class Customer(TogaiModel):
    id: str
    togai_customer_id: str | None = None
    name: str | None = None
    primary_email: str | None = None
    billing_address: str | None = None
    address: Address | None = None
    status: str | None = None
    created_at: TogaiDatetime | None = None
    updated_at: TogaiDatetime | None = None


class EntitySetting(TogaiModel):
    """A setting embedded in an account (no entityType/entityId)."""

    id: str
    value: str
    namespace: str | None = None
    name: str | None = None
    data_type: str | None = None


class Account(TogaiModel):
    id: str
    togai_account_id: str | None = None
    togai_customer_id: str | None = None
    customer_id: str | None = None
    name: str | None = None
    status: str | None = None
    invoice_currency: str | None = None
    net_term_days: int | None = None
    primary_email: str | None = None
    address: Address | None = None
    settings: list[EntitySetting] | None = None
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None


class Setting(TogaiModel):
    """A setting on one entity; `full_id` is how the API addresses it in paths."""

    id: str
    value: str
    entity_type: str
    entity_id: str
    namespace: str
    name: str
    data_type: str = "STRING"

    @property
    def full_id(self) -> str:
        return full_setting_id(self.namespace, self.id, self.entity_type, self.entity_id)


def full_setting_id(namespace: str, setting_id: str, entity_type: str, entity_id: str) -> str:
    """`setting.<ns>.<id>.<entityType>.<entityId>` (inferred from one documented example)."""
    return f"setting.{namespace}.{setting_id}.{entity_type}.{entity_id}"


class InvoiceLineItem(TogaiModel):
    id: str | None = None
    description: str | None = None
    type: str | None = None
    value_per_quantity: Decimal | None = None
    quantity: Decimal | None = None
    units: str | None = None
    value: Decimal | None = None
    metadata: dict[str, Any] | None = None
    #: Leaves have none; the official client wrongly requires at least one.
    line_items: list[InvoiceLineItem] = Field(default_factory=list)


class InvoiceDetailsAccount(TogaiModel):
    name: str | None = None
    invoice_currency: str | None = None
    primary_email: str | None = None
    address: Address | None = None


class InvoiceDetails(TogaiModel):
    customer: dict[str, Any] | None = None
    account: InvoiceDetailsAccount | None = None
    price_plan_name: str | None = None


class Invoice(TogaiModel):
    """An invoice, or the summary the list endpoint returns (same fields, fewer present)."""

    id: str
    status: str
    invoice_class: str | None = None
    invoice_type: str | None = None
    customer_id: str | None = None
    owner_id: str | None = None
    sequence_id: str | None = None
    total_amount: Decimal = Decimal(0)
    paid_amount: Decimal = Decimal(0)
    net_term_days: int | None = None
    invoice_date: TogaiDatetime | None = None
    due_date: TogaiDatetime | None = None
    generated_at: TogaiDatetime | None = None
    updated_at: TogaiDatetime | None = None
    start_date: TogaiDatetime | None = None
    end_date: TogaiDatetime | None = None
    pdf_url: str | None = None
    invoice_details: InvoiceDetails | None = None
    metadata: dict[str, Any] | None = None
    usage_info: list[InvoiceLineItem] | None = None
    revenue_info: InvoiceLineItem | None = None

    @property
    def currency(self) -> str | None:
        """Togai has no top-level currency: it lives in invoiceDetails.account."""
        details = self.invoice_details
        return details.account.invoice_currency if details and details.account else None


class ExternalPaymentReference(TogaiModel):
    source_name: str
    source_type: str
    transaction_number: str
    description: str | None = None
    metadata: dict[str, Any] | None = None


class PaymentLineItemRecord(TogaiModel):
    type: str
    togai_id: str | None = None
    amount: Decimal | None = None
    order: int = 1


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


class Payment(TogaiModel):
    id: str
    account_id: str | None = None
    currency: str | None = None
    total_amount: Decimal | None = None
    #: Named in the plural in responses but a single object in the official client's model
    #: (and singular in the create request); a list is accepted too.
    external_payment_references: Annotated[
        list[ExternalPaymentReference], BeforeValidator(_as_list)
    ] = Field(default_factory=list)
    external_payment_reference: ExternalPaymentReference | None = None
    line_item_records: list[PaymentLineItemRecord] = Field(default_factory=list)
    version: Decimal | None = None
    created_at: TogaiDatetime | None = None

    def transaction_numbers(self) -> set[str]:
        refs = list(self.external_payment_references)
        if self.external_payment_reference is not None:
            refs.append(self.external_payment_reference)
        return {ref.transaction_number for ref in refs}


ItemT = TypeVar("ItemT", bound=TogaiModel)


class Page(BaseModel, Generic[ItemT]):
    """One page of a list endpoint. The last page has no nextToken (or returns an empty one)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    data: list[ItemT] = Field(default_factory=list)
    next_token: str | None = Field(default=None, alias="nextToken")
