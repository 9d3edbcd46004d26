"""The Togai app: connection fields, triggers, actions and pollers, declared as data.

Connection fields: `api_token` (secret; Settings → API Tokens), `base_url` (production
https://api.togai.com by default; Togai's sandbox is https://sandbox-api.togai.com; any
URL works, e.g. billsync's local sandbox), `payment_mode` (`payments` | `legacy_patch`),
`poll_start` (`now` | `backfill`: whether the first poll starts flows for what already exists).
"""

from __future__ import annotations

from billsync.connectors.spec import (
    SANDBOX_FIELD,
    ActionSpec,
    AppSpec,
    ConnectionField,
    Idempotency,
    TriggerSpec,
)

# `errors` is imported so the package attribute is this submodule, not billsync.errors.
from billsync.connectors.togai import actions, errors, hints, payment, poller, triggers
from billsync.connectors.togai.client import PRODUCTION_URL, SANDBOX_URL, from_connection, verify
from billsync.connectors.togai.models import Account, Invoice

FIELDS = (
    ConnectionField(
        name="api_token",
        label="API token",
        secret=True,
        description="The secret key of a Togai API token (Settings → API Tokens).",
    ),
    ConnectionField(
        name="base_url",
        label="API base URL",
        required=False,
        default=PRODUCTION_URL,
        description=f"Production {PRODUCTION_URL}; Togai's sandbox {SANDBOX_URL}; or any URL.",
        url=True,
    ),
    ConnectionField(
        name="payment_mode",
        label="How payments are recorded",
        required=False,
        default="payments",
        choices=payment.PAYMENT_MODES,
        description=(
            "payments: POST /payments (documented since 2024-07); legacy_patch: mark the "
            "invoice PAID with PATCH /invoices/{id} (full payments only)."
        ),
    ),
    ConnectionField(
        name="poll_start",
        label="First poll",
        required=False,
        default="now",
        choices=("now", "backfill"),
        description=(
            "now: the first poll only records what already exists, so enabling a flow does "
            "not sync old accounts and invoices (webhooks still deliver new ones); backfill: "
            "the first poll starts flows for every existing account and DUE/VOID invoice."
        ),
    ),
    SANDBOX_FIELD,
)


TRIGGERS = (
    TriggerSpec(
        key=triggers.ACCOUNT_CREATED,
        title="Account created",
        description="A Togai account was created; payload {account}.",
        payload_model=triggers.AccountPayload,
        webhook=True,
        polling=True,
    ),
    TriggerSpec(
        key=triggers.INVOICE_GENERATED,
        title="Invoice generated",
        description="A Togai invoice became DUE; payload {invoice, account}.",
        payload_model=triggers.InvoicePayload,
        webhook=True,
        polling=True,
    ),
    TriggerSpec(
        key=triggers.INVOICE_VOIDED,
        title="Invoice voided",
        description="A Togai invoice was voided; payload {invoice, account}.",
        payload_model=triggers.InvoicePayload,
        webhook=True,
        polling=True,
    ),
)

ACTIONS = (
    ActionSpec(
        key="set_account_setting",
        title="Set account setting",
        description="Store a value (e.g. RazorPayCustomerId) as a setting on a Togai account.",
        input_model=actions.SetAccountSettingIn,
        output_model=actions.SettingOut,
        run=actions.set_account_setting,
        idempotency=Idempotency.STATE_CHECK,
        default_input={"account_id": "event.account.id"},
    ),
    ActionSpec(
        key="set_invoice_setting",
        title="Set invoice settings",
        description="Store the Razorpay invoice id and URL as settings on a Togai invoice.",
        input_model=actions.SetInvoiceSettingIn,
        output_model=actions.SetInvoiceSettingOut,
        run=actions.set_invoice_setting,
        idempotency=Idempotency.STATE_CHECK,
        default_input={"invoice_id": "event.invoice.id"},
    ),
    ActionSpec(
        key="record_payment",
        title="Record payment",
        description="Record a Razorpay payment on its Togai invoice (POST /payments or PATCH).",
        input_model=payment.RecordPaymentIn,
        output_model=payment.RecordPaymentOut,
        run=payment.record_payment,
        idempotency=Idempotency.MAPPING_THEN_NATURAL_KEY,
        default_input={
            "razorpay_payment_id": "event.payment.id",
            "amount": "event.payment.amount",
            "currency": "event.payment.currency",
            "togai_invoice_id": "event.invoice.notes.togai_invoice_id",
            "razorpay_invoice_id": "event.invoice.id",
        },
    ),
    ActionSpec(
        key="get_account",
        title="Get account",
        description="Read a Togai account.",
        input_model=actions.GetAccountIn,
        output_model=Account,
        run=actions.get_account,
        idempotency=Idempotency.READ_ONLY,
        writes=False,
        default_input={"account_id": "event.account.id"},
    ),
    ActionSpec(
        key="get_invoice",
        title="Get invoice",
        description="Read a Togai invoice.",
        input_model=actions.GetInvoiceIn,
        output_model=Invoice,
        run=actions.get_invoice,
        idempotency=Idempotency.READ_ONLY,
        writes=False,
        default_input={"invoice_id": "event.invoice.id"},
    ),
)

APP = AppSpec(
    name="togai",
    title="Togai",
    description="Usage-based billing: accounts, invoices, settings and payments.",
    fields=FIELDS,
    triggers=TRIGGERS,
    actions=ACTIONS,
    make_client=from_connection,
    verify=verify,
    parse_webhook=triggers.parse_webhook,
    verify_webhook=None,  # Togai signs nothing: the connection's secret URL token authenticates
    poll={
        triggers.ACCOUNT_CREATED: poller.poll_accounts,
        triggers.INVOICE_GENERATED: poller.poll_generated_invoices,
        triggers.INVOICE_VOIDED: poller.poll_voided_invoices,
    },
    parse_hint=triggers.parse_hint,
    resolve_hints=hints.resolve_hints,
    hint_kinds=hints.KINDS,
)

__all__ = ["APP", "errors"]
