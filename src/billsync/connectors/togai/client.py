"""A thin async client for the Togai REST API: one method per endpoint billsync uses.

All traffic goes through `http.request`, so failures arrive classified
(`billsync.errors`) and nothing is retried here (the engine retries). The transport is
injectable, so tests and the sandbox plug in without sockets.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from pydantic import ValidationError

from billsync import errors
from billsync.connectors import http
from billsync.connectors.togai import errors as togai_errors
from billsync.connectors.togai.models import (
    Account,
    Customer,
    Invoice,
    Page,
    Payment,
    Setting,
    TogaiModel,
)

PRODUCTION_URL = "https://api.togai.com"
SANDBOX_URL = "https://sandbox-api.togai.com"
APP = "togai"

#: Max page size on invoices/payments (the spec says 50); other lists allow 100.
MAX_PAGE_SIZE = 50

ModelT = TypeVar("ModelT", bound=TogaiModel)


def _json_number(value: Decimal) -> int | float:
    # httpx serialises with json.dumps, which has no Decimal; repr(float) of a value with
    # at most 15 significant digits prints exactly the same digits back.
    return int(value) if value == value.to_integral_value() else float(value)


class TogaiClient:
    """Authenticated access to one Togai organisation (one connection)."""

    def __init__(
        self,
        api_token: str,
        *,
        base_url: str = PRODUCTION_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._token = api_token
        self.base_url = base_url.rstrip("/")
        # The timeout applies to each request separately (httpx semantics).
        self._http = http.make_client(
            self.base_url,
            headers={
                "Authorization": f"Bearer {api_token}",
                "Accept": "application/json",
                "User-Agent": "billsync",
            },
            transport=transport,
            timeout=timeout,
        )

    async def __aenter__(self) -> TogaiClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> Any:
        return await http.request(
            self._http,
            method,
            path,
            app=APP,
            operation=operation,
            parse_error=togai_errors.parse_error,
            overlay=togai_errors.ERROR_OVERLAY,
            secrets=(self._token,),
            params={k: v for k, v in (params or {}).items() if v is not None},
            json_body=json_body,
        )

    async def _get_one(self, model: type[ModelT], path: str, operation: str) -> ModelT:
        return _one(model, await self._call("GET", path, operation), operation)

    async def _get_page(
        self, model: type[ModelT], path: str, operation: str, params: Mapping[str, Any]
    ) -> Page[ModelT]:
        body = await self._call("GET", path, operation, params=params)
        if not isinstance(body, dict) or not isinstance(body.get("data") or [], list):
            raise _malformed(operation, detail=repr(body)[:200])
        token = body.get("nextToken")
        return Page[model](  # type: ignore[valid-type]
            data=[_one(model, item, operation) for item in body.get("data") or []],
            next_token=token if isinstance(token, str) and token else None,
        )

    # -- connection check -------------------------------------------------------------

    async def verify(self) -> None:
        """Check the token with the cheapest authenticated call there is."""
        try:
            await self._call("GET", "/accounts", "verify", params={"pageSize": 1})
        except errors.AuthError as exc:
            raise errors.AuthError(
                "Togai rejected the API token",
                app=APP,
                operation="verify",
                status=exc.status,
                internal_message=exc.internal_message,
            ) from exc
        except errors.UnavailableError as exc:
            raise errors.UnavailableError(
                f"Togai is unreachable at {self.base_url}",
                app=APP,
                operation="verify",
                status=exc.status,
                ambiguous=False,
                internal_message=exc.internal_message,
            ) from exc
        except errors.PermanentError as exc:
            raise self._not_togai(exc) from exc

    def _not_togai(self, exc: errors.ConnectorError) -> errors.RejectedError:
        """A 404 (or another refusal) from GET /accounts: base_url points elsewhere."""
        path = urlsplit(self.base_url).path.rstrip("/")
        if path:
            hint = (
                f"remove {path!r} from the end of base_url: Togai's API paths start at the "
                f"host (e.g. {PRODUCTION_URL})"
            )
        else:
            hint = "check base_url"
        answer = f"HTTP {exc.status}" if exc.status else exc.message
        return errors.RejectedError(
            f"{self.base_url} did not answer like Togai's API (GET /accounts: {answer}): {hint}",
            app=APP,
            operation="verify",
            status=exc.status,
            field="base_url",
            internal_message=exc.internal_message,
        )

    # -- accounts and customers -------------------------------------------------------

    async def get_account(self, account_id: str) -> Account:
        return await self._get_one(Account, f"/accounts/{_seg(account_id)}", "get_account")

    async def list_accounts(
        self, *, next_token: str | None = None, page_size: int | None = None
    ) -> Page[Account]:
        params = {"nextToken": next_token, "pageSize": page_size}
        return await self._get_page(Account, "/accounts", "list_accounts", params)

    async def get_customer(self, customer_id: str) -> Customer:
        return await self._get_one(Customer, f"/customers/{_seg(customer_id)}", "get_customer")

    # -- settings ---------------------------------------------------------------------

    async def insert_setting(self, setting: Setting) -> Setting:
        body = await self._call(
            "POST", "/settings", "insert_setting", json_body=setting.model_dump(exclude_none=True)
        )
        return _one(Setting, body, "insert_setting", wrote=True)

    async def get_setting(self, full_id: str) -> Setting:
        return await self._get_one(Setting, f"/settings/{_seg(full_id)}", "get_setting")

    async def update_setting(
        self,
        full_id: str,
        *,
        value: str,
        name: str | None = None,
        data_type: str | None = None,
    ) -> Setting:
        patch = {"value": value, "name": name, "dataType": data_type}
        body = await self._call(
            "PATCH",
            f"/settings/{_seg(full_id)}",
            "update_setting",
            json_body={k: v for k, v in patch.items() if v is not None},
        )
        return _one(Setting, body, "update_setting", wrote=True)

    async def list_settings(
        self,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        setting_id: str | None = None,
        namespace: str | None = None,
        next_token: str | None = None,
        page_size: int | None = None,
    ) -> Page[Setting]:
        params = {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "setting_id": setting_id,
            "namespace": namespace,
            "nextToken": next_token,
            "pageSize": page_size,
        }
        return await self._get_page(Setting, "/settings", "list_settings", params)

    # -- invoices ---------------------------------------------------------------------

    async def get_invoice(self, invoice_id: str) -> Invoice:
        return await self._get_one(Invoice, f"/invoices/{_seg(invoice_id)}", "get_invoice")

    async def list_invoices(
        self,
        *,
        status: str | None = None,
        owner_id: str | None = None,
        next_token: str | None = None,
        page_size: int | None = None,
    ) -> Page[Invoice]:
        """Invoice summaries (no line items); later pages need only `next_token`."""
        params = {
            "status": status,
            "owner_id": owner_id,
            "nextToken": next_token,
            "pageSize": page_size,
        }
        return await self._get_page(Invoice, "/invoices", "list_invoices", params)

    async def update_invoice(self, invoice_id: str, patch: Mapping[str, Any]) -> Invoice:
        body = await self._call(
            "PATCH", f"/invoices/{_seg(invoice_id)}", "update_invoice", json_body=dict(patch)
        )
        return _one(Invoice, body, "update_invoice", wrote=True)

    # -- payments ---------------------------------------------------------------------

    async def create_payment(
        self,
        *,
        account_id: str,
        currency: str,
        total_amount: Decimal,
        transaction_number: str,
        invoice_id: str,
        source_name: str = "Razorpay",
        source_type: str = "GATEWAY",
        description: str | None = None,
    ) -> Payment:
        """Record an external payment against one invoice (POST /payments)."""
        request: dict[str, Any] = {
            "accountId": account_id,
            "currency": currency,
            "totalAmount": _json_number(total_amount),
            "externalPaymentReference": {
                "sourceName": source_name,
                "sourceType": source_type,
                "transactionNumber": transaction_number,
            },
            "lineItemRecords": [
                {
                    "type": "INVOICE",
                    "togaiId": invoice_id,
                    "amount": _json_number(total_amount),
                    "order": 1,
                }
            ],
        }
        if description:
            request["description"] = description
        body = await self._call("POST", "/payments", "create_payment", json_body=request)
        return _one(Payment, body, "create_payment", wrote=True)

    async def list_payments(
        self,
        *,
        account_id: str | None = None,
        next_token: str | None = None,
        page_size: int | None = None,
    ) -> Page[Payment]:
        # account_id is a documented filter the official client cannot send; servers that
        # ignore it return every payment, which callers must tolerate.
        params = {"account_id": account_id, "nextToken": next_token, "pageSize": page_size}
        return await self._get_page(Payment, "/payments", "list_payments", params)

    async def get_payment(self, payment_id: str) -> Payment:
        return await self._get_one(Payment, f"/payments/{_seg(payment_id)}", "get_payment")


def from_connection(
    values: Mapping[str, str],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 10.0,
) -> TogaiClient:
    """The AppSpec client factory: build a client from a connection's field values."""
    token = values.get("api_token") or ""
    if not token:
        raise errors.AuthError("the Togai connection has no API token", app=APP)
    return TogaiClient(
        token,
        base_url=values.get("base_url") or PRODUCTION_URL,
        transport=transport,
        timeout=timeout,
    )


async def verify(client: Any) -> None:
    """The AppSpec connection check (see TogaiClient.verify)."""
    togai: TogaiClient = client
    await togai.verify()


def _seg(value: str) -> str:
    """Quote one path segment (ids are caller-chosen strings)."""
    return quote(value, safe="")


def _one(model: type[ModelT], body: Any, operation: str, *, wrote: bool = False) -> ModelT:
    if not isinstance(body, dict):
        raise _malformed(operation, wrote=wrote, detail=repr(body)[:200])
    try:
        return model.from_json(body)
    except ValidationError as exc:
        raise _malformed(operation, wrote=wrote, detail=str(exc)[:500]) from exc


def _malformed(operation: str, *, wrote: bool = False, detail: str = "") -> errors.UnavailableError:
    # A 2xx without the expected JSON object is a broken upstream, not a verdict on the
    # request; after a write it may still have been applied, hence `ambiguous`.
    return errors.UnavailableError(
        f"togai {operation}: unexpected response body",
        app=APP,
        operation=operation,
        ambiguous=wrote,
        internal_message=detail,
    )
