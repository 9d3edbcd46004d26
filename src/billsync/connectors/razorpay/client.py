"""A thin typed Razorpay client: one method per endpoint billsync uses, no retries.

Requests go through http.request, which classifies failures; every call is bounded by
the client's timeout (the official SDK sets none). The transport is injectable so the
sandbox can be plugged in in-process (httpx.ASGITransport) or over a socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from billsync import errors
from billsync.connectors import http
from billsync.connectors.razorpay import models
from billsync.connectors.razorpay.errors import APP, ERROR_OVERLAY, parse_error

DEFAULT_BASE_URL = "https://api.razorpay.com"
#: Razorpay refuses count > 100 ("The count may not be greater than 100.").
MAX_PAGE = 100
#: GET /v1/payments refuses `from` outside this range ("from must be between 946684800 and
#: 4765046400"); `to` is assumed to be bounded alike.
EARLIEST_TIME = 946_684_800
LATEST_TIME = 4_765_046_400

M = TypeVar("M", bound=BaseModel)


class RazorpayClient:
    def __init__(
        self,
        key_id: str,
        key_secret: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        # base_url is host-only: every path below carries its own /v1.
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self._secrets = (key_secret,)
        self._http = http.make_client(
            self.base_url,
            auth=(key_id, key_secret),
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/json"},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> RazorpayClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        return await http.request(
            self._http,
            method,
            path,
            app=APP,
            operation=operation,
            parse_error=parse_error,
            overlay=ERROR_OVERLAY,
            secrets=self._secrets,
            params={k: v for k, v in (params or {}).items() if v is not None},
            json_body=body,
        )

    async def _get(
        self, model: type[M], path: str, operation: str, params: Mapping[str, Any] | None = None
    ) -> M:
        return _parse(model, await self._call("GET", path, operation, params=params), operation)

    # Customers

    async def create_customer(self, data: models.CustomerCreate) -> models.Customer:
        body = data.model_dump(exclude_none=True)
        raw = await self._call("POST", "/v1/customers", "create customer", body=body)
        return _parse(models.Customer, raw, "create customer")

    async def fetch_customer(self, customer_id: str) -> models.Customer:
        return await self._get(
            models.Customer, f"/v1/customers/{_seg(customer_id)}", "fetch customer"
        )

    async def list_customers(
        self, *, count: int = 10, skip: int = 0
    ) -> models.Collection[models.Customer]:
        return await self._get(
            models.Collection[models.Customer],
            "/v1/customers",
            "list customers",
            {"count": _count(count), "skip": skip},
        )

    async def iter_customers(self, *, page_size: int = MAX_PAGE) -> AsyncIterator[models.Customer]:
        skip = 0
        while True:
            page = await self.list_customers(count=page_size, skip=skip)
            for item in page.items:
                yield item
            # count is the page size, not a total: a short page is the last one.
            if len(page.items) < page_size:
                return
            skip += len(page.items)

    async def edit_customer(self, customer_id: str, data: models.CustomerEdit) -> models.Customer:
        raw = await self._call(
            "PUT",
            f"/v1/customers/{_seg(customer_id)}",
            "edit customer",
            body=data.model_dump(exclude_none=True),
        )
        return _parse(models.Customer, raw, "edit customer")

    # Invoices

    async def create_invoice(self, data: models.InvoiceCreate) -> models.Invoice:
        raw = await self._call(
            "POST", "/v1/invoices", "create invoice", body=data.model_dump(exclude_none=True)
        )
        return _parse(models.Invoice, raw, "create invoice")

    async def fetch_invoice(self, invoice_id: str) -> models.Invoice:
        return await self._get(models.Invoice, f"/v1/invoices/{_seg(invoice_id)}", "fetch invoice")

    async def list_invoices(
        self,
        *,
        receipt: str | None = None,
        customer_id: str | None = None,
        count: int = 10,
        skip: int = 0,
        created_from: int | None = None,
    ) -> models.Collection[models.Invoice]:
        """A page, newest first; `created_from` (unix seconds) is Razorpay's `from`."""
        return await self._get(
            models.Collection[models.Invoice],
            "/v1/invoices",
            "list invoices",
            {
                "receipt": receipt,
                "customer_id": customer_id,
                "count": _count(count),
                "skip": skip,
                "from": created_from,
            },
        )

    async def iter_invoices(
        self, *, receipt: str | None = None, page_size: int = MAX_PAGE
    ) -> AsyncIterator[models.Invoice]:
        skip = 0
        while True:
            page = await self.list_invoices(receipt=receipt, count=page_size, skip=skip)
            for item in page.items:
                yield item
            if len(page.items) < page_size:
                return
            skip += len(page.items)

    async def cancel_invoice(self, invoice_id: str) -> models.Invoice:
        raw = await self._call(
            "POST", f"/v1/invoices/{_seg(invoice_id)}/cancel", "cancel invoice", body={}
        )
        return _parse(models.Invoice, raw, "cancel invoice")

    # Payment links

    async def create_payment_link(self, data: models.PaymentLinkCreate) -> models.PaymentLink:
        raw = await self._call(
            "POST",
            "/v1/payment_links",
            "create payment link",
            body=data.model_dump(exclude_none=True),
        )
        return _parse(models.PaymentLink, raw, "create payment link")

    async def fetch_payment_link(self, link_id: str) -> models.PaymentLink:
        return await self._get(
            models.PaymentLink, f"/v1/payment_links/{_seg(link_id)}", "fetch payment link"
        )

    async def list_payment_links(
        self, *, reference_id: str | None = None, payment_id: str | None = None
    ) -> list[models.PaymentLink]:
        page = await self._get(
            models.PaymentLinkList,
            "/v1/payment_links",
            "list payment links",
            {"reference_id": reference_id, "payment_id": payment_id},
        )
        return page.payment_links

    # Payments and orders (read-only)

    async def fetch_payment(self, payment_id: str) -> models.Payment:
        return await self._get(models.Payment, f"/v1/payments/{_seg(payment_id)}", "fetch payment")

    async def list_payments(
        self,
        *,
        count: int = 10,
        skip: int = 0,
        created_from: int | None = None,
        created_to: int | None = None,
    ) -> models.Collection[models.Payment]:
        """A page of payments, newest first. `created_from`/`created_to` are Razorpay's
        `from`/`to`: Unix seconds, inclusive bounds on created_at."""
        return await self._get(
            models.Collection[models.Payment],
            "/v1/payments",
            "list payments",
            {"count": _count(count), "skip": skip, "from": created_from, "to": created_to},
        )

    async def list_order_payments(self, order_id: str) -> models.Collection[models.Payment]:
        """The payments of an order (an invoice's payments are on its order). Sent without
        paging parameters, as the SDK's `client.order.payments(id)` does: whether this route
        takes count/skip is not documented."""
        return await self._get(
            models.Collection[models.Payment],
            f"/v1/orders/{_seg(order_id)}/payments",
            "list order payments",
        )

    async def fetch_order(self, order_id: str) -> models.Order:
        return await self._get(models.Order, f"/v1/orders/{_seg(order_id)}", "fetch order")

    async def verify(self) -> None:
        """Check the credentials with the cheapest authenticated call, with a clear verdict."""
        try:
            await self.list_customers(count=1)
        except errors.AuthError as exc:
            raise errors.AuthError(
                "Razorpay rejected the key id/secret: check key_id (rzp_test_… or rzp_live_…) "
                "and key_secret, and that both belong to the same mode",
                app=APP,
                operation="verify",
                status=exc.status,
                code=exc.code,
                internal_message=exc.internal_message,
            ) from exc
        except errors.UnavailableError as exc:
            if exc.status is not None and exc.status < 500:
                # A non-JSON 4xx: some other web server lives at base_url.
                raise self._not_razorpay(exc) from exc
            raise errors.UnavailableError(
                f"Razorpay is unreachable at {self.base_url} ({exc.message})",
                app=APP,
                operation="verify",
                status=exc.status,
                ambiguous=False,
                internal_message=exc.internal_message,
            ) from exc
        except errors.PermanentError as exc:
            raise self._not_razorpay(exc) from exc

    def _not_razorpay(self, exc: errors.ConnectorError) -> errors.RejectedError:
        return errors.RejectedError(
            f"{self.base_url} did not answer like Razorpay ({exc.message}): check base_url",
            app=APP,
            operation="verify",
            status=exc.status,
            code=exc.code,
            internal_message=exc.internal_message,
        )


def list_time(seconds: int) -> int:
    """A `from`/`to` value Razorpay accepts: `seconds` clamped to its range (nothing was
    created before 2000, and a window reaching past 2121 lists nothing more)."""
    return max(EARLIEST_TIME, min(LATEST_TIME, seconds))


def _seg(value: str) -> str:
    """Quote an id for use as one path segment (ids are data, never path syntax)."""
    return quote(value, safe="")


def _count(count: int) -> int:
    return max(1, min(count, MAX_PAGE))


def _parse(model: type[M], raw: Any, operation: str) -> M:
    try:
        return model.model_validate(raw)
    except ValueError as exc:
        # A 2xx whose body is not the entity we asked for: a proxy or an API change.
        # A write may have happened, so the next attempt must look before writing.
        raise errors.UnavailableError(
            f"razorpay {operation}: unexpected response shape",
            app=APP,
            operation=operation,
            ambiguous=True,
            internal_message=str(exc)[:500],
        ) from exc
