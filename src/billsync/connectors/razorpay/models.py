"""Razorpay entities and request bodies, tolerant of the API's quirks.

Every entity keeps unknown fields (`extra="allow"`) so a new Razorpay field never breaks
parsing, and `notes` accepts `[]`/`null` (Razorpay's empty notes) as well as an object.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _notes(value: Any) -> Any:
    # Razorpay sends [] (customers, invoices, payments) or null (payment links) when empty.
    if value is None or value == []:
        return {}
    return value


Notes = Annotated[dict[str, Any], BeforeValidator(_notes)]


class Entity(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    entity: str | None = None
    notes: Notes = Field(default_factory=dict)
    created_at: int | None = None


class Customer(Entity):
    name: str | None = None
    email: str | None = None
    contact: str | None = None
    gstin: str | None = None


class InvoiceLineItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    name: str | None = None
    description: str | None = None
    amount: int | None = None
    currency: str | None = None
    quantity: int | None = None


class Invoice(Entity):
    type: str | None = None
    receipt: str | None = None
    invoice_number: str | None = None
    customer_id: str | None = None
    order_id: str | None = None
    payment_id: str | None = None
    status: str
    amount: int | None = None
    amount_paid: int | None = None
    amount_due: int | None = None
    currency: str | None = None
    description: str | None = None
    short_url: str | None = None
    line_items: list[InvoiceLineItem] = Field(default_factory=list)
    issued_at: int | None = None
    paid_at: int | None = None
    cancelled_at: int | None = None
    expired_at: int | None = None


class PaymentLink(Entity):
    amount: int
    amount_paid: int | None = None
    currency: str | None = None
    reference_id: str | None = None
    status: str
    short_url: str | None = None
    order_id: str | None = None
    description: str | None = None
    customer: dict[str, Any] | None = None


class Payment(Entity):
    amount: int
    currency: str
    status: str | None = None
    order_id: str | None = None
    invoice_id: str | None = None
    captured: bool | None = None
    method: str | None = None
    amount_refunded: int | None = None
    email: str | None = None
    contact: str | None = None


class Order(Entity):
    amount: int
    amount_paid: int | None = None
    amount_due: int | None = None
    currency: str | None = None
    receipt: str | None = None
    status: str | None = None


class Refund(Entity):
    amount: int
    currency: str | None = None
    payment_id: str | None = None
    status: str | None = None


T = TypeVar("T", bound=BaseModel)


class Collection(BaseModel, Generic[T]):
    """`{"entity": "collection", "count": <page size>, "items": [...]}`; count is no total."""

    model_config = ConfigDict(extra="allow")

    entity: str | None = None
    count: int = 0
    items: list[T] = Field(default_factory=list)


class PaymentLinkList(BaseModel):
    """The payment-links list is `{"payment_links": [...]}`, not a collection."""

    model_config = ConfigDict(extra="allow")

    payment_links: list[PaymentLink] = Field(default_factory=list)


# Request bodies: dumped with exclude_none, so unset fields are never sent (Razorpay
# rejects unknown or forbidden fields with "... is/are not required and should not be sent").


class CustomerCreate(BaseModel):
    name: str | None = None
    email: str | None = None
    contact: str | None = None
    #: "0" returns the existing customer with the same (email, contact); must be a string.
    fail_existing: str = "1"
    notes: dict[str, str] | None = None


class CustomerEdit(BaseModel):
    name: str | None = None
    email: str | None = None
    contact: str | None = None


class LineItemCreate(BaseModel):
    name: str
    amount: int  #: unit amount in minor units
    currency: str
    quantity: int = 1
    description: str | None = None


class InvoiceCreate(BaseModel):
    type: str = "invoice"
    customer_id: str
    line_items: list[LineItemCreate]
    currency: str
    receipt: str
    description: str | None = None
    notes: dict[str, str] | None = None
    #: Lets the customer pay in parts (Razorpay's default: false); sent only when true.
    partial_payment: bool | None = None
    sms_notify: bool | None = None
    email_notify: bool | None = None


class PaymentLinkCustomer(BaseModel):
    name: str | None = None
    email: str | None = None
    contact: str | None = None


class PaymentLinkCreate(BaseModel):
    amount: int
    currency: str
    reference_id: str
    description: str | None = None
    customer: PaymentLinkCustomer | None = None
    notes: dict[str, str] | None = None
    accept_partial: bool | None = None
