"""Both directions end to end: Togai → Razorpay and Razorpay → Togai, counted in the sandboxes."""

from __future__ import annotations

from decimal import Decimal

import pytest
import razorpay

from tests.e2e.conftest import BACKENDS
from tests.e2e.harness import RZP_KEY, Stack, eventually, minor

pytestmark = pytest.mark.e2e


async def _synced_invoice(stack: Stack, togai_invoice_id: str) -> dict[str, object]:
    async def created() -> bool:
        return bool(await stack.rzp_invoices_for(togai_invoice_id))

    await eventually(created, f"a Razorpay invoice for {togai_invoice_id}")
    [invoice] = await stack.rzp_invoices_for(togai_invoice_id)
    return invoice


@pytest.mark.parametrize("backend", BACKENDS)
async def test_account_and_invoice_reach_razorpay_and_payment_comes_back(stack: Stack) -> None:
    await stack.new_account("acme", phone="+919800000001")
    invoice_id = await stack.new_invoice("acme", "1234.50")
    # account.created + invoice.generated
    await stack.wait_settled(2)

    [customer] = await stack.customers_for("acme")
    assert customer["email"] == "acme@example.com"
    [setting] = await stack.account_setting("acme")
    assert setting["value"] == customer["id"]

    invoice = await _synced_invoice(stack, invoice_id)
    assert invoice["amount"] == minor("1234.50") == 123450
    assert invoice["currency"] == "INR"
    assert invoice["receipt"] == invoice_id
    assert invoice["customer_id"] == customer["id"]
    notes = invoice["notes"]
    assert isinstance(notes, dict)
    assert (notes["togai_invoice_id"], notes["togai_account_id"]) == (invoice_id, "acme")

    payment_id = await stack.pay(str(invoice["id"]))
    await stack.wait_settled(3)
    togai_invoice = await stack.togai_invoice(invoice_id)
    assert togai_invoice["status"] == "PAID"
    [payment] = await stack.togai_payments("acme")
    refs = payment["externalPaymentReferences"]
    refs = refs if isinstance(refs, list) else [refs]
    assert [r["transactionNumber"] for r in refs] == [payment_id]
    assert Decimal(str(payment["totalAmount"])) == Decimal("1234.50")

    togai_objects, razorpay_objects = await stack.objects()
    assert razorpay_objects["customer"] == 1
    assert razorpay_objects["invoice"] == 1
    assert togai_objects["payments"] == 1


async def test_an_account_named_like_a_real_company_syncs_to_a_razorpay_customer(
    stack: Stack,
) -> None:
    """Togai takes "Acme, Inc."; Razorpay refuses commas: the connector's derived name
    goes through, and the invoice behind it too."""
    await stack.new_account("acme-inc", phone="+91 98000-00002", name="Acme, Inc.")
    invoice_id = await stack.new_invoice("acme-inc", "999")
    await stack.wait_settled(2)

    [customer] = await stack.customers_for("acme-inc")
    sdk = razorpay.Client(auth=RZP_KEY, base_url=stack.razorpay_url)
    fetched = sdk.customer.fetch(customer["id"])
    assert fetched["name"] == "Acme Inc."
    assert fetched["notes"]["togai_account_name"] == "Acme, Inc."
    assert fetched["contact"] == "+919800000002"
    [setting] = await stack.account_setting("acme-inc")
    assert setting["value"] == customer["id"]
    invoice = await _synced_invoice(stack, invoice_id)
    assert invoice["customer_id"] == customer["id"]
    assert sdk.invoice.fetch(invoice["id"])["customer_details"]["name"] == "Acme Inc."
    assert await stack.run_counts() == {"succeeded": 2}


async def test_partial_payment_makes_the_togai_invoice_partially_paid(stack: Stack) -> None:
    await stack.new_account("part")
    invoice_id = await stack.new_invoice("part", "1000")
    await stack.wait_settled(2)
    invoice = await _synced_invoice(stack, invoice_id)
    await stack.allow_partial(str(invoice["id"]))

    await stack.pay(str(invoice["id"]), amount=40000)
    await stack.wait_settled(3)
    togai_invoice = await stack.togai_invoice(invoice_id)
    assert togai_invoice["status"] == "PARTIALLY_PAID"
    assert Decimal(str(togai_invoice["paidAmount"])) == Decimal("400")
    assert len(await stack.togai_payments("part")) == 1

    await stack.pay(str(invoice["id"]))
    await stack.wait_settled(4)
    assert (await stack.togai_invoice(invoice_id))["status"] == "PAID"
    assert len(await stack.togai_payments("part")) == 2


async def test_void_in_togai_cancels_the_razorpay_invoice(stack: Stack) -> None:
    await stack.new_account("voidco")
    invoice_id = await stack.new_invoice("voidco", "250")
    await stack.wait_settled(2)
    invoice = await _synced_invoice(stack, invoice_id)
    assert invoice["status"] == "issued"

    await stack.void_invoice(invoice_id)
    await stack.wait_settled(3)
    [cancelled] = await stack.rzp_invoices_for(invoice_id)
    assert cancelled["id"] == invoice["id"]
    assert cancelled["status"] == "cancelled"


async def test_invoice_of_an_account_never_synced_creates_the_customer_first(
    stack: Stack,
) -> None:
    await stack.set_template_enabled("togai-account-to-razorpay-customer", False)
    await stack.new_account("late")
    invoice_id = await stack.new_invoice("late", "99.99")
    # only invoice.generated starts a run
    await stack.wait_settled(1)

    [customer] = await stack.customers_for("late")
    invoice = await _synced_invoice(stack, invoice_id)
    assert invoice["customer_id"] == customer["id"]
    assert invoice["amount"] == 9999
    [setting] = await stack.account_setting("late")
    assert setting["value"] == customer["id"]
