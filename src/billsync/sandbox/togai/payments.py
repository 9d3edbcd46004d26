"""Payments: POST /payments records an external payment and applies it to invoices."""

from __future__ import annotations

from decimal import Decimal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billsync.sandbox.togai import lifecycle, schemas
from billsync.sandbox.togai.context import TogaiContext
from billsync.sandbox.togai.errors import ApiError
from billsync.sandbox.togai.pagination import page, page_request
from billsync.sandbox.togai.responses import iso, json_response, now
from billsync.sandbox.togai.store import Record


def routes(ctx: TogaiContext) -> list[Route]:
    store = ctx.store

    async def create_payment(request: Request) -> Response:
        body = await ctx.body(request, schemas.CREATE_PAYMENT)
        account = store.accounts.get(body["accountId"])
        if account is None:
            raise ApiError(400, f"Account with id {body['accountId']} does not exist")
        if body["currency"].upper() != account["invoiceCurrency"]:
            raise ApiError(
                400, f"currency must be the account's invoice currency {account['invoiceCurrency']}"
            )
        total: Decimal = body["totalAmount"]
        if total <= 0:
            raise ApiError(400, "totalAmount must be positive")
        reference = body["externalPaymentReference"]
        ref_key = (reference["sourceName"], reference["transactionNumber"])
        if ctx.config.reject_duplicate_payment_reference and ref_key in store.payment_references:
            raise ApiError(400, "A payment with this external payment reference already exists")
        plan = _plan(ctx, account, total, body["lineItemRecords"])
        unapplied = total - sum((amount for _, amount, _ in plan), Decimal(0))
        if unapplied and ctx.config.unapplied_payment == "refuse":
            # Recording totalAmount while applying less would lose the difference.
            raise ApiError(
                400,
                f"lineItemRecords apply {total - unapplied} of totalAmount {total}; "
                f"{unapplied} would be left unapplied",
            )
        # Everything checked: apply all of it, so a refused payment changes nothing.
        for invoice, amount, _ in plan:
            invoice["paidAmount"] = invoice["paidAmount"] + amount
            paid_in_full = invoice["paidAmount"] >= invoice["totalAmount"]
            lifecycle.transition(ctx, invoice, "PAID" if paid_in_full else "PARTIALLY_PAID")
        payment: Record = {
            "id": ctx.togai_id("payment"),
            "accountId": account["id"],
            "externalPaymentReferences": reference,
            "lineItemRecords": [
                {"type": "INVOICE", "togaiId": inv["id"], "amount": amount, "order": order}
                for inv, amount, order in plan
            ],
            "totalAmount": total,
            "currency": account["invoiceCurrency"],
            "version": 1,
            "createdBy": "sandbox",
            "createdAt": iso(now()),
        }
        if unapplied:
            # unapplied_payment == "wallet": the rest is kept as the account's credit.
            last = max((order for _, _, order in plan), default=0)
            payment["lineItemRecords"].append(
                {"type": "WALLET_CREDIT", "amount": unapplied, "order": last + 1}
            )
        for name in ("description", "notes"):
            if name in body:
                payment[name] = body[name]
        store.payments.add(payment["id"], payment)
        store.payment_references.add(ref_key)
        return json_response(payment, 201)

    async def get_payment(request: Request) -> Response:
        payment = store.payments.get(request.path_params["payment_id"])
        if payment is None:
            raise ApiError(404, f"Payment with id {request.path_params['payment_id']} not found")
        return json_response(payment)

    async def list_payments(request: Request) -> Response:
        wanted = page_request(request, filters=("account_id",), default=50, maximum=50)
        account_id = wanted.filters.get("account_id")
        found, token = page(
            store.payments,
            wanted,
            lambda p: account_id is None or p["accountId"] == account_id,
            trailing_empty_page=ctx.config.trailing_empty_page,
        )
        return json_response({"data": found, "nextToken": token})

    return [
        Route("/payments", ctx.guard(create_payment), methods=["POST"]),
        Route("/payments", ctx.guard(list_payments), methods=["GET"]),
        Route("/payments/{payment_id}", ctx.guard(get_payment), methods=["GET"]),
    ]


def _plan(
    ctx: TogaiContext, account: Record, total: Decimal, records: list[Record]
) -> list[tuple[Record, Decimal, int]]:
    """(invoice, amount) in `order`; a record without amount takes what is due (or left)."""
    plan: list[tuple[Record, Decimal, int]] = []
    left = total
    seen: set[str] = set()
    for record in sorted(records, key=lambda r: r["order"]):
        if record["type"] != "INVOICE":
            raise ApiError(
                400, f"The sandbox applies payments to invoices only, not {record['type']}"
            )
        invoice_id = record.get("togaiId")
        invoice = ctx.store.invoices.get(invoice_id) if invoice_id else None
        if invoice is None or invoice["ownerId"] != account["id"]:
            raise ApiError(400, f"Invoice {invoice_id} not found for account {account['id']}")
        if invoice_id in seen:
            raise ApiError(400, f"Invoice {invoice_id} appears twice in lineItemRecords")
        seen.add(invoice["id"])
        if invoice["status"] not in lifecycle.PAYABLE:
            raise ApiError(400, f"Invoice {invoice_id} is {invoice['status']} and cannot be paid")
        due = ctx.store.amount_due(invoice)
        amount = record.get("amount", min(due, left))
        if amount <= 0 or amount > due:
            raise ApiError(400, f"amount for {invoice_id} must be above 0 and at most {due}")
        if amount > left:
            raise ApiError(400, "lineItemRecords add up to more than totalAmount")
        left -= amount
        plan.append((invoice, amount, record["order"]))
    return plan
