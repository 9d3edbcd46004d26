"""Razorpay error bodies → billsync error classes (one row per quirk), secrets scrubbed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from billsync import errors
from billsync.connectors.razorpay import models
from billsync.connectors.razorpay.client import RazorpayClient
from billsync.connectors.razorpay.errors import parse_error

from .routes import KEY_ID, KEY_SECRET, Routes, error


@pytest.mark.parametrize(
    ("status", "body", "cls", "field", "reason"),
    [
        (400, error("The id provided does not exist"), errors.NotFoundError, None, None),
        (401, error("The api key provided is invalid"), errors.AuthError, None, None),
        (400, error("Authentication failed"), errors.AuthError, None, None),
        (
            400,
            error(
                "Contact number should be at least 8 digits, including country code",
                field="contact",
                reason="invalid_contact_number",
            ),
            errors.RejectedError,
            "contact",
            "invalid_contact_number",
        ),
        (400, error("Operation not allowed for Invoice in paid status."), errors.RejectedError,
         None, None),
        (429, error("Too many requests"), errors.RateLimitedError, None, None),
        (500, {"error": {"code": "SERVER_ERROR", "description": "x"}}, errors.UnavailableError,
         None, None),
        (502, "<html>bad gateway</html>", errors.UnavailableError, None, None),
        (503, "<html><center><h1>503</h1></center></html>", errors.UnavailableError, None, None),
        (404, {"message": "nope"}, errors.NotFoundError, None, None),
        (409, error("request is being processed"), errors.UnavailableError, None, None),
    ],
)  # fmt: skip
async def test_error_table(
    status: int, body: Any, cls: type[errors.ConnectorError], field: str | None, reason: str | None
) -> None:
    routes = Routes()
    routes.on("GET", "/v1/customers/cust_X", (status, body))
    async with routes.client() as client:
        with pytest.raises(errors.ConnectorError) as info:
            await client.fetch_customer("cust_X")
    assert type(info.value) is cls
    assert info.value.app == "razorpay"
    assert info.value.operation == "fetch customer"
    assert info.value.status == status
    assert info.value.field == field
    assert info.value.reason == reason


def test_placeholders_are_not_reported_as_field_or_reason() -> None:
    detail = parse_error(400, error("The amount field is required.", field="amount"))
    assert detail.message == "The amount field is required."
    assert detail.code == "BAD_REQUEST_ERROR"
    assert detail.field == "amount"
    assert detail.reason is None  # "NA"
    assert detail.error_class is None


async def test_credentials_never_reach_messages() -> None:
    routes = Routes()
    routes.on(
        "GET",
        "/v1/customers/cust_X",
        (400, error(f"bad key {KEY_SECRET} in Authorization: Basic abc")),
    )
    async with routes.client() as client:
        with pytest.raises(errors.RejectedError) as info:
            await client.fetch_customer("cust_X")
    assert KEY_SECRET not in str(info.value)
    assert KEY_SECRET not in (info.value.internal_message or "")
    assert "Basic abc" not in str(info.value)


def _raising(exc: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("exc", "ambiguous"),
    [
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), True),
        (httpx.ReadTimeout("timed out"), True),
        (httpx.ConnectError("connection refused"), False),
        (httpx.ConnectTimeout("connect timed out"), False),
    ],
)
async def test_transport_failures_say_whether_the_request_may_have_landed(
    exc: Exception, ambiguous: bool
) -> None:
    client = RazorpayClient(KEY_ID, KEY_SECRET, transport=_raising(exc))
    with pytest.raises(errors.UnavailableError) as info:
        await client.create_customer(models.CustomerCreate(name="Acme"))
    assert info.value.ambiguous is ambiguous
    await client.aclose()
