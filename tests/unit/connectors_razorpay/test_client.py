"""What RazorpayClient puts on the wire and how it reads Razorpay's quirky bodies."""

from __future__ import annotations

import base64

import httpx
import pytest

from billsync import errors
from billsync.connectors.razorpay import APP, make_client, models
from billsync.connectors.razorpay.client import RazorpayClient

from .routes import KEY_ID, KEY_SECRET, Routes, body, collection, customer, error, invoice


async def test_create_customer_sends_json_basic_auth_and_string_fail_existing() -> None:
    routes = Routes()
    routes.on("POST", "/v1/customers", (200, customer()))
    async with routes.client() as client:
        made = await client.create_customer(
            models.CustomerCreate(name="Acme", email="a@b.test", fail_existing="0")
        )
    request = routes.seen[0]
    assert str(request.url) == "https://rzp.test/v1/customers"
    expected = base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert body(request) == {"name": "Acme", "email": "a@b.test", "fail_existing": "0"}
    assert made.id == "cust_A0000000000001"
    assert made.notes == {}  # Razorpay's [] for empty notes


@pytest.mark.parametrize(
    "base_url", ["https://rzp.test", "https://rzp.test/", "https://rzp.test/v1"]
)
async def test_base_url_is_host_only(base_url: str) -> None:
    routes = Routes()
    routes.on("GET", "/v1/invoices/inv_1", (200, invoice("inv_1")))
    client = RazorpayClient(
        KEY_ID, KEY_SECRET, base_url=base_url, transport=httpx.MockTransport(routes.handle)
    )
    assert (await client.fetch_invoice("inv_1")).id == "inv_1"
    assert routes.calls() == [("GET", "/v1/invoices/inv_1")]
    await client.aclose()


async def test_every_endpoint_uses_its_documented_method_and_path() -> None:
    link = {
        "id": "plink_1",
        "amount": 100,
        "status": "created",
        "notes": None,
        "reference_id": "r1",
        "short_url": "https://rzp.io/i/x",
    }
    payment = {"id": "pay_1", "amount": 100, "currency": "INR", "notes": []}
    order = {"id": "order_1", "amount": 100, "notes": []}
    routes = Routes()
    routes.on("GET", "/v1/customers/cust_1", (200, customer("cust_1")))
    routes.on("PUT", "/v1/customers/cust_1", (200, customer("cust_1", name="New")))
    routes.on("GET", "/v1/customers", (200, collection(customer())))
    routes.on("POST", "/v1/invoices", (200, invoice()))
    routes.on("GET", "/v1/invoices", (200, collection(invoice())))
    routes.on("POST", "/v1/invoices/inv_1/cancel", (200, invoice("inv_1", status="cancelled")))
    routes.on("POST", "/v1/payment_links", (200, link))
    routes.on("GET", "/v1/payment_links/plink_1", (200, link))
    routes.on("GET", "/v1/payment_links", (200, {"payment_links": [link]}))
    routes.on("GET", "/v1/payments/pay_1", (200, payment))
    routes.on("GET", "/v1/orders/order_1", (200, order))
    async with routes.client() as client:
        await client.fetch_customer("cust_1")
        edited = await client.edit_customer("cust_1", models.CustomerEdit(name="New"))
        await client.list_customers(count=500)
        await client.create_invoice(
            models.InvoiceCreate(
                customer_id="cust_1",
                line_items=[models.LineItemCreate(name="x", amount=100, currency="INR")],
                currency="INR",
                receipt="r1",
            )
        )
        await client.list_invoices(receipt="r1")
        cancelled = await client.cancel_invoice("inv_1")
        await client.create_payment_link(
            models.PaymentLinkCreate(amount=100, currency="INR", reference_id="r1")
        )
        fetched_link = await client.fetch_payment_link("plink_1")
        links = await client.list_payment_links(reference_id="r1")
        await client.fetch_payment("pay_1")
        await client.fetch_order("order_1")
    assert routes.calls() == [
        ("GET", "/v1/customers/cust_1"),
        ("PUT", "/v1/customers/cust_1"),
        ("GET", "/v1/customers"),
        ("POST", "/v1/invoices"),
        ("GET", "/v1/invoices"),
        ("POST", "/v1/invoices/inv_1/cancel"),
        ("POST", "/v1/payment_links"),
        ("GET", "/v1/payment_links/plink_1"),
        ("GET", "/v1/payment_links"),
        ("GET", "/v1/payments/pay_1"),
        ("GET", "/v1/orders/order_1"),
    ]
    seen = routes.seen
    assert body(seen[1]) == {"name": "New"} and edited.name == "New"
    assert seen[2].url.params["count"] == "100"  # Razorpay refuses count > 100
    assert body(seen[3])["type"] == "invoice"
    assert "draft" not in body(seen[3])  # created issued
    assert dict(seen[4].url.params) == {"receipt": "r1", "count": "10", "skip": "0"}
    assert body(seen[5]) == {}
    assert cancelled.status == "cancelled"
    assert fetched_link.notes == {}  # payment links say null
    assert [x.id for x in links] == ["plink_1"]
    assert "content-type" not in seen[0].headers  # GET carries no body


async def test_ids_are_one_path_segment() -> None:
    routes = Routes()
    async with routes.client() as client:
        with pytest.raises(errors.RejectedError):
            await client.fetch_invoice("../customers/x?y")
    assert routes.seen[0].url.raw_path == b"/v1/invoices/..%2Fcustomers%2Fx%3Fy"


async def test_unknown_fields_are_kept() -> None:
    routes = Routes()
    routes.on("GET", "/v1/invoices/inv_1", (200, invoice("inv_1", brand_new_field={"a": 1})))
    async with routes.client() as client:
        got = await client.fetch_invoice("inv_1")
    assert (got.model_extra or {})["brand_new_field"] == {"a": 1}
    assert got.model_dump()["brand_new_field"] == {"a": 1}


async def test_a_2xx_of_the_wrong_shape_is_ambiguous() -> None:
    routes = Routes()
    routes.on("POST", "/v1/customers", (200, {"unexpected": True}))
    async with routes.client() as client:
        with pytest.raises(errors.UnavailableError) as info:
            await client.create_customer(models.CustomerCreate(name="Acme"))
    assert info.value.ambiguous


async def test_iter_customers_pages_until_a_short_page() -> None:
    people = [customer(f"cust_{i:014d}") for i in range(5)]

    def page(request: httpx.Request) -> tuple[int, object]:
        count, skip = int(request.url.params["count"]), int(request.url.params["skip"])
        return 200, collection(*people[skip : skip + count])

    routes = Routes()
    routes.on("GET", "/v1/customers", page)
    async with routes.client() as client:
        got = [c.id async for c in client.iter_customers(page_size=2)]
    assert got == [p["id"] for p in people]
    assert [r.url.params["skip"] for r in routes.seen] == ["0", "2", "4"]


async def test_verify_accepts_good_keys() -> None:
    routes = Routes()
    routes.on("GET", "/v1/customers", (200, collection()))
    async with routes.client() as client:
        await APP.verify(client)
    assert routes.seen[0].url.params["count"] == "1"


async def test_verify_explains_rejected_keys() -> None:
    routes = Routes()
    routes.on("GET", "/v1/customers", (401, error("The api key provided is invalid")))
    async with routes.client() as client:
        with pytest.raises(errors.AuthError) as info:
            await APP.verify(client)
    assert "Razorpay rejected the key id/secret" in str(info.value)
    assert KEY_SECRET not in str(info.value)


async def test_verify_explains_unreachable() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    client = RazorpayClient(
        KEY_ID, KEY_SECRET, base_url="http://127.0.0.1:9", transport=httpx.MockTransport(refused)
    )
    with pytest.raises(errors.UnavailableError) as info:
        await APP.verify(client)
    assert "unreachable at http://127.0.0.1:9" in str(info.value)
    await client.aclose()


async def test_verify_explains_a_wrong_base_url() -> None:
    routes = Routes()  # every path answers Razorpay's "URL not found" 400
    async with routes.client() as client:
        with pytest.raises(errors.RejectedError, match="check base_url"):
            await APP.verify(client)


def test_make_client_needs_the_keys() -> None:
    with pytest.raises(errors.ConfigError, match="key_id, key_secret"):
        make_client({})
    client = make_client({"key_id": KEY_ID, "key_secret": KEY_SECRET, "base_url": ""})
    assert client.base_url == "https://api.razorpay.com"


@pytest.mark.parametrize(
    ("status", "body"), [(404, "<html>Not Found</html>"), (404, {"detail": "Not Found"})]
)
async def test_verify_spots_a_server_that_is_not_razorpay(status: int, body: object) -> None:
    routes = Routes()
    routes.on("GET", "/v1/customers", (status, body))
    async with routes.client() as client:
        with pytest.raises(errors.RejectedError, match="did not answer like Razorpay"):
            await APP.verify(client)
