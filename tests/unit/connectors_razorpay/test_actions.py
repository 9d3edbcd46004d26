"""Action decisions: mapping first, natural keys, dry runs, refusals (scripted Razorpay)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from billsync import errors
from billsync.connectors.razorpay import APP
from billsync.connectors.razorpay.reference import DRY_RUN_ID, natural_key
from billsync.connectors.spec import ActionContext, ActionResult
from billsync.domain import IdLink, LinkKind

from .routes import DictIds, Routes, body, collection, customer, error, invoice

ACCOUNT = "acc.1"


def ctx(routes: Routes, ids: DictIds | None = None, **kw: Any) -> ActionContext:
    return ActionContext(
        client=routes.client(), options={}, ids=ids or DictIds(), idempotency_key="r:0", **kw
    )


async def act(key: str, context: ActionContext, **data: Any) -> ActionResult:
    spec = APP.action(key)
    try:
        result = await spec.run(context, spec.input_model.model_validate(data))
    finally:
        await context.client.aclose()
    assert isinstance(result.output, spec.output_model)
    return result


# create_customer

CUSTOMER_IN = {"togai_account_id": ACCOUNT, "togai_customer_id": "cus.1", "name": "Acme",
               "email": "billing@acme.test", "contact": "+919876543210"}  # fmt: skip


async def test_create_customer_uses_the_mapping_and_calls_nothing() -> None:
    routes = Routes()
    ids = DictIds({(LinkKind.ACCOUNT_CUSTOMER, ACCOUNT): "cust_mapped"})
    result = await act("create_customer", ctx(routes, ids), **CUSTOMER_IN)
    assert result.output.model_dump(exclude_none=True) == {
        "customer_id": "cust_mapped",
        "name": "Acme",
        "email": "billing@acme.test",
        "contact": "+919876543210",
        "source": "mapping",
    }
    assert result.links == ()
    assert routes.seen == []


async def test_create_customer_sends_fail_existing_and_notes() -> None:
    routes = Routes()
    routes.on(
        "POST",
        "/v1/customers",
        lambda r: (200, customer(notes=body(r)["notes"], name=body(r)["name"])),
    )
    result = await act("create_customer", ctx(routes), **{**CUSTOMER_IN, "name": "A" * 60})
    sent = body(routes.seen[0])
    assert sent == {
        "name": "A" * 50,  # Razorpay's 50-character limit
        "email": "billing@acme.test",
        "contact": "+919876543210",
        "fail_existing": "0",
        # The name as Togai has it, since Razorpay's is cut.
        "notes": {
            "togai_account_id": ACCOUNT,
            "togai_customer_id": "cus.1",
            "togai_account_name": "A" * 60,
        },
    }
    assert result.output.source == "created"  # type: ignore[attr-defined]
    assert result.links == (IdLink(LinkKind.ACCOUNT_CUSTOMER, ACCOUNT, "cust_A0000000000001"),)


async def test_a_pre_existing_customer_is_reported_as_existing() -> None:
    routes = Routes()
    routes.on("POST", "/v1/customers", (200, customer(notes={"togai_account_id": "someone"})))
    result = await act("create_customer", ctx(routes), **CUSTOMER_IN)
    assert result.output.source == "existing"  # type: ignore[attr-defined]
    assert result.links[0].razorpay_id == "cust_A0000000000001"


async def test_create_customer_dry_run_sends_nothing() -> None:
    routes = Routes()
    result = await act("create_customer", ctx(routes, dry_run=True), **CUSTOMER_IN)
    out = result.output.model_dump()
    assert out["customer_id"] == DRY_RUN_ID and out["source"] == "preview"
    assert out["would_send"]["fail_existing"] == "0"
    assert routes.seen == [] and result.links == ()


async def test_ambiguous_retry_without_email_or_contact_finds_our_customer() -> None:
    # Razorpay cannot dedupe a customer without (email, contact): look for our notes.
    ours = customer("cust_ours", email=None, contact=None, notes={"togai_account_id": ACCOUNT})
    routes = Routes()
    routes.on("GET", "/v1/customers", (200, collection(customer("cust_other"), ours)))
    data = {**CUSTOMER_IN, "email": None, "contact": None}
    result = await act("create_customer", ctx(routes, after_ambiguous_failure=True), **data)
    assert result.output.customer_id == "cust_ours"  # type: ignore[attr-defined]
    assert routes.writes() == []


# update_customer


async def test_update_customer_sends_only_changes_and_skips_no_ops() -> None:
    routes = Routes()
    routes.on("GET", "/v1/customers/cust_1", (200, customer("cust_1")))
    routes.on("PUT", "/v1/customers/cust_1", lambda r: (200, customer("cust_1", **body(r))))
    changed = await act("update_customer", ctx(routes), customer_id="cust_1", name="New Name",
                        email="billing@acme.test")  # fmt: skip
    assert body(routes.seen[1]) == {"name": "New Name"}
    assert changed.output.source == "updated"  # type: ignore[attr-defined]
    same = await act("update_customer", ctx(routes), customer_id="cust_1", name="Acme")
    assert same.output.source == "unchanged"  # type: ignore[attr-defined]
    assert routes.writes() == [("PUT", "/v1/customers/cust_1")]


async def test_update_customer_explains_a_duplicate_pair() -> None:
    routes = Routes()
    routes.on("GET", "/v1/customers/cust_1", (200, customer("cust_1")))
    routes.on(
        "PUT", "/v1/customers/cust_1", (400, error("Customer already exists for the merchant"))
    )
    with pytest.raises(errors.RejectedError, match="another customer already has") as info:
        await act("update_customer", ctx(routes), customer_id="cust_1", email="x@y.test")
    assert info.value.reason == "duplicate_customer"


# create_invoice

INVOICE_IN = {"togai_invoice_id": "tg.inv.1", "togai_account_id": ACCOUNT, "currency": "inr",
              "total_amount": "299.00", "paid_amount": "0", "invoice_number": "INV-7"}  # fmt: skip
MAPPED_CUSTOMER = {(LinkKind.ACCOUNT_CUSTOMER, ACCOUNT): "cust_A0000000000001"}


def invoice_routes(existing: list[dict[str, Any]] | None = None) -> Routes:
    routes = Routes()
    routes.on("GET", "/v1/invoices", (200, collection(*(existing or []))))
    routes.on("POST", "/v1/invoices", lambda r: (200, invoice(receipt=body(r)["receipt"])))
    return routes


async def test_create_invoice_from_the_mapping_only_reads() -> None:
    routes = Routes()
    routes.on("GET", "/v1/invoices/inv_9", (200, invoice("inv_9")))
    ids = DictIds({(LinkKind.INVOICE_INVOICE, "tg.inv.1"): "inv_9"})
    result = await act("create_invoice", ctx(routes, ids), **INVOICE_IN)
    assert result.output.source == "mapping"  # type: ignore[attr-defined]
    assert routes.calls() == [("GET", "/v1/invoices/inv_9")]


async def test_a_mapping_to_a_vanished_invoice_is_a_mapping_error() -> None:
    routes = Routes()
    routes.on("GET", "/v1/invoices/inv_9", (400, error("The id provided does not exist")))
    ids = DictIds({(LinkKind.INVOICE_INVOICE, "tg.inv.1"): "inv_9"})
    with pytest.raises(errors.MappingError):
        await act("create_invoice", ctx(routes, ids), **INVOICE_IN)


@pytest.mark.parametrize(
    "earlier", [{"earlier_attempt": True}, {"after_ambiguous_failure": True}], ids=str
)
async def test_create_invoice_adopts_by_receipt_after_an_earlier_attempt(
    earlier: dict[str, bool],
) -> None:
    routes = invoice_routes([invoice("inv_found")])
    result = await act("create_invoice", ctx(routes, **earlier), **INVOICE_IN)
    assert result.output.source == "adopted"  # type: ignore[attr-defined]
    assert result.links == (IdLink(LinkKind.INVOICE_INVOICE, "tg.inv.1", "inv_found"),)
    assert routes.seen[0].url.params["receipt"] == "tg.inv.1"
    assert routes.writes() == []


async def test_a_first_attempt_creates_without_a_receipt_lookup() -> None:
    # design.md: the receipt is searched only when an earlier attempt of the step exists;
    # the mapping (written with every step result) is the first attempt's only check.
    routes = invoice_routes([invoice("inv_found")])
    ids = DictIds(dict(MAPPED_CUSTOMER))
    result = await act("create_invoice", ctx(routes, ids), **INVOICE_IN)
    assert result.output.source == "created"  # type: ignore[attr-defined]
    assert routes.calls() == [("POST", "/v1/invoices")]


async def test_receipt_lookup_ignores_other_invoices() -> None:
    # A server that ignored the filter, or someone else's invoice with a colliding receipt.
    other = invoice("inv_other", receipt="other")
    clash = invoice("inv_clash", notes={"togai_invoice_id": "tg.inv.other"})
    routes = invoice_routes([other, clash])
    context = ctx(routes, DictIds(dict(MAPPED_CUSTOMER)), earlier_attempt=True)
    result = await act("create_invoice", context, **INVOICE_IN)
    assert result.output.source == "created"  # type: ignore[attr-defined]
    assert routes.calls() == [("GET", "/v1/invoices"), ("POST", "/v1/invoices")]


async def test_create_invoice_body() -> None:
    routes = invoice_routes()
    ids = DictIds(dict(MAPPED_CUSTOMER))
    lines = [{"name": "Fee", "amount": "199.00"}, {"name": "Usage", "amount": "50", "quantity": 2}]
    result = await act("create_invoice", ctx(routes, ids), **INVOICE_IN, line_items=lines)
    assert body(routes.seen[-1]) == {
        "type": "invoice",
        "customer_id": "cust_A0000000000001",
        "line_items": [
            {"name": "Fee", "amount": 19900, "currency": "INR", "quantity": 1},
            {"name": "Usage", "amount": 5000, "currency": "INR", "quantity": 2},
        ],
        "currency": "INR",
        "receipt": "tg.inv.1",
        "description": "Invoice INV-7",
        "notes": {
            "togai_invoice_id": "tg.inv.1",
            "togai_account_id": ACCOUNT,
            "togai_invoice_number": "INV-7",
        },
    }
    assert result.output.model_dump(exclude_none=True) == {
        "invoice_id": "inv_A0000000000001",
        "short_url": "https://rzp.io/i/abcdefg",
        "status": "issued",
        "amount": 29900,
        "currency": "INR",
        "receipt": "tg.inv.1",
        "source": "created",
    }


@pytest.mark.parametrize(
    "lines",
    [
        [{"name": "Fee", "amount": "100.00"}],  # does not add up to 299
        [{"name": "Fee", "amount": "299.005"}],  # not exact in paise
        [{"name": "Fee", "amount": "300"}, {"name": "Discount", "amount": "-1"}],
    ],
)
async def test_lines_that_do_not_add_up_become_one_line(lines: list[dict[str, Any]]) -> None:
    routes = invoice_routes()
    await act("create_invoice", ctx(routes, DictIds(dict(MAPPED_CUSTOMER))), **INVOICE_IN,
              line_items=lines)  # fmt: skip
    assert body(routes.seen[-1])["line_items"] == [
        {"name": "Invoice INV-7", "amount": 29900, "currency": "INR", "quantity": 1}
    ]


async def test_partly_paid_invoice_collects_the_rest() -> None:
    routes = invoice_routes()
    data = {**INVOICE_IN, "total_amount": "299.00", "paid_amount": "99.50"}
    await act("create_invoice", ctx(routes, DictIds(dict(MAPPED_CUSTOMER))), **data)
    assert body(routes.seen[-1])["line_items"][0]["amount"] == 19950


async def test_long_togai_ids_get_a_stable_40_char_receipt() -> None:
    long_id = "tg." + "i" * 80
    routes = invoice_routes()
    data = {**INVOICE_IN, "togai_invoice_id": long_id}
    await act("create_invoice", ctx(routes, DictIds(dict(MAPPED_CUSTOMER))), **data)
    receipt = body(routes.seen[-1])["receipt"]
    assert receipt == natural_key(long_id) and len(receipt) == 40
    assert body(routes.seen[-1])["notes"]["togai_invoice_id"] == long_id


@pytest.mark.parametrize(
    ("total", "paid", "cls", "fragment"),
    [
        ("299.001", "0", errors.RejectedError, "invoice tg.inv.1: 299.001 INR has more than 2"),
        ("0.50", "0", errors.RejectedError, "below the minimum"),
        ("299", "299", errors.SkipEventError, "nothing left to collect"),
    ],
)
async def test_amounts_are_never_rounded(
    total: str, paid: str, cls: type[Exception], fragment: str
) -> None:
    routes = invoice_routes()
    data = {**INVOICE_IN, "total_amount": total, "paid_amount": paid}
    with pytest.raises(cls, match=fragment):
        await act("create_invoice", ctx(routes, DictIds(dict(MAPPED_CUSTOMER))), **data)
    assert routes.writes() == []


async def test_an_unsynced_account_is_a_dependency_not_ready() -> None:
    with pytest.raises(errors.DependencyNotReadyError, match="acc.1 has no Razorpay customer"):
        await act("create_invoice", ctx(invoice_routes()), **INVOICE_IN)


async def test_create_invoice_dry_run_reads_but_does_not_write() -> None:
    routes = invoice_routes()
    ids = DictIds(dict(MAPPED_CUSTOMER))
    result = await act("create_invoice", ctx(routes, ids, dry_run=True), **INVOICE_IN)
    out = result.output.model_dump()
    assert (out["source"], out["amount"], out["invoice_id"]) == ("preview", 29900, DRY_RUN_ID)
    assert out["would_send"]["receipt"] == "tg.inv.1"
    assert routes.writes() == [] and result.links == ()


# cancel_invoice


def cancel_routes(status: str, *, cancel: tuple[int, Any] | None = None) -> Routes:
    routes = Routes()
    routes.on("GET", "/v1/invoices/inv_1", (200, invoice("inv_1", status=status)))
    routes.on(
        "POST", "/v1/invoices/inv_1/cancel", cancel or (200, invoice("inv_1", status="cancelled"))
    )
    return routes


async def test_cancel_an_issued_invoice_found_through_the_mapping() -> None:
    routes = cancel_routes("issued")
    ids = DictIds({(LinkKind.INVOICE_INVOICE, "tg.inv.1"): "inv_1"})
    result = await act("cancel_invoice", ctx(routes, ids), togai_invoice_id="tg.inv.1")
    assert result.output.model_dump() == {
        "invoice_id": "inv_1",
        "status": "cancelled",
        "source": "cancelled",
    }
    assert routes.writes() == [("POST", "/v1/invoices/inv_1/cancel")]


@pytest.mark.parametrize("status", ["cancelled", "expired"])
async def test_cancel_is_a_no_op_when_already_closed(status: str) -> None:
    routes = cancel_routes(status)
    result = await act("cancel_invoice", ctx(routes), togai_invoice_id="t", invoice_id="inv_1")
    assert result.output.model_dump()["source"] == "already_closed"
    assert routes.writes() == []


@pytest.mark.parametrize("status", ["paid", "partially_paid", "draft"])
async def test_cancel_refuses_paid_and_draft(status: str) -> None:
    routes = cancel_routes(status)
    with pytest.raises(errors.RejectedError):
        await act("cancel_invoice", ctx(routes), togai_invoice_id="t", invoice_id="inv_1")
    assert routes.writes() == []


async def test_cancel_of_a_never_synced_invoice_is_skipped() -> None:
    with pytest.raises(errors.SkipEventError, match="never sent to Razorpay"):
        await act("cancel_invoice", ctx(Routes()), togai_invoice_id="tg.inv.1")


async def test_cancel_race_rereads_and_succeeds() -> None:
    routes = Routes()
    states = iter(["issued", "cancelled"])
    routes.on("GET", "/v1/invoices/inv_1", lambda r: (200, invoice("inv_1", status=next(states))))
    routes.on(
        "POST",
        "/v1/invoices/inv_1/cancel",
        (400, error("Operation not allowed for Invoice in cancelled status.")),
    )
    result = await act("cancel_invoice", ctx(routes), togai_invoice_id="t", invoice_id="inv_1")
    assert result.output.model_dump()["status"] == "cancelled"


async def test_cancel_dry_run() -> None:
    routes = cancel_routes("issued")
    result = await act(
        "cancel_invoice", ctx(routes, dry_run=True), togai_invoice_id="t", invoice_id="inv_1"
    )
    assert result.output.model_dump()["source"] == "preview"
    assert routes.writes() == []


# create_payment_link

LINK = {"id": "plink_1", "amount": 20000, "status": "created", "reference_id": "tg.inv.1",
        "short_url": "https://rzp.io/i/link", "notes": None}  # fmt: skip
LINK_IN = {"togai_invoice_id": "tg.inv.1", "togai_account_id": ACCOUNT, "currency": "INR",
           "total_amount": "300", "paid_amount": "100"}  # fmt: skip


async def test_payment_link_reuses_an_existing_reference() -> None:
    routes = Routes()
    routes.on("GET", "/v1/payment_links", (200, {"payment_links": [LINK]}))
    result = await act("create_payment_link", ctx(routes), **LINK_IN)
    assert result.output.model_dump(exclude_none=True) == {
        "payment_link_id": "plink_1",
        "short_url": "https://rzp.io/i/link",
        "status": "created",
        "source": "existing",
    }
    assert routes.seen[0].url.params["reference_id"] == "tg.inv.1"
    assert routes.writes() == []


async def test_payment_link_body_and_customer_details() -> None:
    routes = Routes()
    routes.on("GET", "/v1/payment_links", (200, {"payment_links": []}))
    routes.on("GET", "/v1/customers/cust_A0000000000001", (200, customer()))
    routes.on("POST", "/v1/payment_links", (200, LINK))
    result = await act(
        "create_payment_link", ctx(routes, DictIds(dict(MAPPED_CUSTOMER))), **LINK_IN
    )
    assert body(routes.seen[-1]) == {
        "amount": 20000,
        "currency": "INR",
        "reference_id": "tg.inv.1",
        "description": "Payment for invoice tg.inv.1",
        "customer": {"name": "Acme", "email": "billing@acme.test", "contact": "+919876543210"},
        "notes": {"togai_invoice_id": "tg.inv.1", "togai_account_id": ACCOUNT},
    }
    assert result.output.model_dump()["source"] == "created"


async def test_payment_link_duplicate_reference_adopts_the_winner() -> None:
    routes = Routes()
    lists = iter([[], [LINK]])
    routes.on("GET", "/v1/payment_links", lambda r: (200, {"payment_links": next(lists)}))
    routes.on(
        "POST",
        "/v1/payment_links",
        (400, error("payment link creation with reference ID already attempted")),
    )
    result = await act("create_payment_link", ctx(routes), **LINK_IN)
    assert result.output.model_dump()["source"] == "existing"


async def test_payment_link_dry_run() -> None:
    routes = Routes()
    routes.on("GET", "/v1/payment_links", (200, {"payment_links": []}))
    result = await act("create_payment_link", ctx(routes, dry_run=True), **LINK_IN)
    assert result.output.model_dump()["would_send"]["amount"] == 20000
    assert routes.writes() == []


# declarations


def test_actions_match_the_catalogue() -> None:
    assert [a.key for a in APP.actions] == [
        "create_customer",
        "update_customer",
        "create_invoice",
        "cancel_invoice",
        "create_payment_link",
    ]
    invoice_spec = APP.action("create_invoice")
    assert dict(invoice_spec.default_input) == {
        "togai_invoice_id": "event.invoice.id",
        "togai_account_id": "event.invoice.ownerId",
        "currency": "event.account.invoiceCurrency",
        "total_amount": "event.invoice.totalAmount",
        "paid_amount": "event.invoice.paidAmount",
        "invoice_number": "event.invoice.sequenceId",
    }
    assert dict(APP.action("create_customer").default_input) == {
        "togai_account_id": "event.account.id",
        "togai_customer_id": "event.account.customerId",
        "name": "event.account.name",
        "email": "event.account.primaryEmail",
        "contact": "event.account.address.phoneNumber",
    }
    for spec in APP.actions:
        assert spec.idempotency and spec.writes
        assert set(spec.default_input) <= set(spec.input_model.model_fields)
    fields = {f.name: f for f in APP.fields}
    assert fields["key_secret"].secret and fields["webhook_secret"].secret
    assert not fields["key_id"].secret and fields["base_url"].default == "https://api.razorpay.com"
    assert invoice_spec.input_model.model_validate(INVOICE_IN).total_amount == Decimal("299.00")  # type: ignore[attr-defined]


async def test_amounts_arrive_as_decimals_even_from_json_numbers() -> None:
    routes = invoice_routes()
    data = {**INVOICE_IN, "total_amount": 299.1}  # JMESPath hands over JSON numbers
    await act("create_invoice", ctx(routes, DictIds(dict(MAPPED_CUSTOMER))), **data)
    assert body(routes.seen[-1])["line_items"][0]["amount"] == 29910


async def test_free_form_phone_numbers_are_sent_as_digits() -> None:
    routes = Routes()
    routes.on("POST", "/v1/customers", lambda r: (200, customer(notes=body(r)["notes"])))
    data = {**CUSTOMER_IN, "contact": "+91 (98765) 432-10"}
    await act("create_customer", ctx(routes), **data)
    assert body(routes.seen[0])["contact"] == "+919876543210"


async def test_create_invoice_sends_partial_payment_only_when_asked() -> None:
    for partial, sent in ((True, {"partial_payment": True}), (False, {})):
        routes = invoice_routes()
        ids = DictIds(dict(MAPPED_CUSTOMER))
        await act("create_invoice", ctx(routes, ids), **INVOICE_IN, partial_payment=partial)
        request = body(routes.seen[-1])
        assert {k: v for k, v in request.items() if k == "partial_payment"} == sent
