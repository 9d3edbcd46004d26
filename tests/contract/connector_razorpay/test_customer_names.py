"""Real-world Togai account names through the connector into the Razorpay sandbox.

The sandbox refuses what Razorpay refuses ("The name format is invalid."), so these prove
the connector's derived names are accepted, on a real socket, and that the official SDK
reads back the customer the connector made.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import razorpay
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from billsync.connectors.razorpay import APP, RazorpayClient
from billsync.connectors.razorpay.customer_name import ACCEPTED
from billsync.sandbox.razorpay import RazorpaySandboxConfig, create_app
from tests.contract.connector_suite import DictIds, ctx, run
from tests.servers import serve

CONFIG = RazorpaySandboxConfig()
AUTH = (CONFIG.key_id, CONFIG.key_secret)
_accounts = itertools.count(1)


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with serve(create_app(CONFIG)) as url:
        yield url


def _client(url: str) -> RazorpayClient:
    return APP.make_client({"key_id": AUTH[0], "key_secret": AUTH[1], "base_url": url})


async def _create(url: str, name: str, *, with_pair: bool = False) -> tuple[str, str]:
    """create_customer through the connector; (customer id, the account id used).

    `with_pair`: an email and a Togai-style phone number of this account's own, so the
    customer is matched on (email, contact) like a real one."""
    n = next(_accounts)
    account = f"acc.names.{n}"
    data: dict[str, Any] = {"togai_account_id": account, "name": name}
    if with_pair:
        data |= {"email": f"billing{n}@example.com", "contact": f"+91 98765-{n:05d}"}
    client = _client(url)
    try:
        result = await run(APP.action("create_customer"), ctx(client, DictIds()), data)
    finally:
        await client.aclose()
    return result.output.customer_id, account


@pytest.mark.parametrize(
    ("togai_name", "razorpay_name"),
    [
        ("Acme, Inc.", "Acme Inc."),
        ("Tata-Steel & Co", "Tata Steel and Co"),
        ("Foo_Bar Ltd", "Foo Bar Ltd"),
        ("A+B Corp", "A B Corp"),
        ("José Müller", "Jose Muller"),
        ("Al", "Al (Togai account)"),
        ("राम एंटरप्राइजेज", "(Togai account)"),
        (
            "International Business Machines Corporation, India Private Limited",
            "International Business Machines Corporation India",  # cut at 50, trimmed
        ),
    ],
)
async def test_real_world_names_sync_and_keep_the_original_in_notes(
    sandbox_url: str, togai_name: str, razorpay_name: str
) -> None:
    customer_id, account = await _create(sandbox_url, togai_name, with_pair=True)
    made = razorpay.Client(auth=AUTH, base_url=sandbox_url).customer.fetch(customer_id)
    assert made["name"] == razorpay_name
    assert made["notes"]["togai_account_id"] == account
    assert made["notes"]["togai_account_name"] == togai_name


async def test_an_accepted_name_is_sent_as_is_without_a_notes_copy(sandbox_url: str) -> None:
    customer_id, _ = await _create(sandbox_url, "Gaurav Kumar")
    made = razorpay.Client(auth=AUTH, base_url=sandbox_url).customer.fetch(customer_id)
    assert made["name"] == "Gaurav Kumar"
    assert "togai_account_name" not in made["notes"]


@pytest.mark.parametrize(
    ("new_name", "expected"),
    [
        ("Tata-Steel & Co", "Tata Steel and Co"),
        ("Zoë, Ltd.", "Zoe Ltd."),
        ("X", "X (Togai account)"),
    ],
)
async def test_update_customer_derives_the_name_the_same_way(
    sandbox_url: str, new_name: str, expected: str
) -> None:
    customer_id, _ = await _create(sandbox_url, "Before Rename")
    client = _client(sandbox_url)
    try:
        spec = APP.action("update_customer")
        result = await run(
            spec, ctx(client, DictIds()), {"customer_id": customer_id, "name": new_name}
        )
        assert result.output.source == "updated" and result.output.name == expected
        # The same Togai name again is no change at all (no PUT).
        again = await run(
            spec, ctx(client, DictIds()), {"customer_id": customer_id, "name": new_name}
        )
        assert again.output.source == "unchanged"
    finally:
        await client.aclose()
    made = razorpay.Client(auth=AUTH, base_url=sandbox_url).customer.fetch(customer_id)
    assert made["name"] == expected


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(name=st.text(max_size=120))
@example(name="Acme, Inc.")
@example(name="\u0000\u200b\ufeff")
@example(name="🙂🙂")
async def test_any_unicode_name_is_accepted_by_the_sandbox(sandbox_url: str, name: str) -> None:
    """Never a 400 for the name: create_customer raises on any refusal."""
    customer_id, account = await _create(sandbox_url, name)
    made = razorpay.Client(auth=AUTH, base_url=sandbox_url).customer.fetch(customer_id)
    assert ACCEPTED.fullmatch(made["name"])
    assert made["notes"]["togai_account_id"] == account
