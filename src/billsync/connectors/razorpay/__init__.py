"""The Razorpay app: connection fields, triggers (webhook, and catch-up polling of the payment
list for the payment triggers), and actions, declared as data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

# Aliased: the submodule razorpay.errors becomes this package's `errors` attribute.
from billsync import errors as sync_errors
from billsync.connectors.razorpay import poller
from billsync.connectors.razorpay.actions import ACTIONS
from billsync.connectors.razorpay.client import DEFAULT_BASE_URL, RazorpayClient
from billsync.connectors.razorpay.triggers import TRIGGERS
from billsync.connectors.razorpay.webhook import parse_webhook, verify_webhook
from billsync.connectors.spec import SANDBOX_FIELD, AppSpec, CatchUp, ConnectionField

#: Seconds between catch-up polls of the payment list, unless the connection says otherwise.
DEFAULT_POLL_INTERVAL = 60

FIELDS = (
    ConnectionField(
        "key_id", "Key id", description="API key id from the Razorpay Dashboard (rzp_test_…)"
    ),
    ConnectionField("key_secret", "Key secret", secret=True),
    ConnectionField(
        "webhook_secret",
        "Webhook secret",
        secret=True,
        required=False,
        description="The secret set on the Razorpay webhook; needed to accept webhooks",
        outbound=False,
    ),
    ConnectionField(
        "base_url",
        "API base URL",
        required=False,
        default=DEFAULT_BASE_URL,
        description="Host only, without /v1; change it only for a sandbox",
        url=True,
    ),
    SANDBOX_FIELD,
    ConnectionField(
        "poll_interval",
        "Catch-up poll interval (seconds)",
        required=False,
        default=str(DEFAULT_POLL_INTERVAL),
        number_range=(1, 86_400),
        description=(
            "How often billsync reads the payment list (GET /v1/payments) for captured "
            "payments no webhook delivered, while a flow listens to a payment trigger"
        ),
    ),
)


def make_client(
    values: Mapping[str, str],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 10.0,
) -> RazorpayClient:
    missing = [f.name for f in FIELDS if f.required and not values.get(f.name)]
    if missing:
        raise sync_errors.ConfigError(f"Razorpay connection is missing {', '.join(missing)}")
    return RazorpayClient(
        values["key_id"],
        values["key_secret"],
        base_url=values.get("base_url") or DEFAULT_BASE_URL,
        transport=transport,
        timeout=timeout,
    )


async def verify(client: Any) -> None:
    if not isinstance(client, RazorpayClient):
        raise TypeError(f"expected a RazorpayClient, got {type(client).__name__}")
    await client.verify()


APP = AppSpec(
    name="razorpay",
    title="Razorpay",
    description="Indian payment gateway: customers, invoices, payment links, payments.",
    fields=FIELDS,
    triggers=TRIGGERS,
    actions=ACTIONS,
    make_client=make_client,
    verify=verify,
    parse_webhook=parse_webhook,
    verify_webhook=verify_webhook,
    catch_up=CatchUp(
        cursor=poller.CURSOR,
        triggers=poller.TRIGGERS,
        poll=poller.catch_up,
        interval_option="poll_interval",
        default_interval=DEFAULT_POLL_INTERVAL,
    ),
)

__all__ = ["APP", "RazorpayClient", "make_client"]
