"""Customers and accounts through the official togai-client 1.0.3."""

from __future__ import annotations

import pytest
import togai_client
from togai_client.exceptions import BadRequestException, NotFoundException, UnauthorizedException
from togai_client.models import CreateAccountRequest, UpdateAccountRequest, UpdateCustomerRequest

from tests.contract.sandbox_togai.conftest import Sandbox, new_customer


def test_create_customer_auto_creates_an_account(api: togai_client.ApiClient) -> None:
    created = new_customer(api, "ACME")
    assert created.id == "ACME" and created.togai_customer_id.startswith("customer.")
    assert created.billing_address == "2281 Broadway Street, Bengaluru, IN"
    assert created.account is not None and created.account.id == "ACME"
    assert created.account.invoice_currency == "INR" and created.account.status == "ACTIVE"

    customer = togai_client.CustomersApi(api).get_customer("ACME")
    assert customer.status == "ACTIVE" and customer.address.country == "IN"
    account = togai_client.AccountsApi(api).get_account("ACME")
    assert account.togai_customer_id == customer.togai_customer_id
    assert account.customer_id == "ACME"


def test_create_customer_with_embedded_account_and_settings(api: togai_client.ApiClient) -> None:
    setting = {
        "id": "tier",
        "value": "gold",
        "namespace": "USER",
        "name": "tier",
        "dataType": "STRING",
    }
    created = new_customer(
        api,
        "GLOBEX",
        settings=[setting],
        account={
            "id": "GLOBEX-1",
            "name": "Globex billing",
            "invoiceCurrency": "usd",
            "netTermDays": 15,
            "metadata": {"GSTN": "29ABCDE1234F1Z5"},
            "tags": ["Enterprise"],
            "settings": [setting],
        },
    )
    assert created.account.id == "GLOBEX-1" and created.account.invoice_currency == "USD"
    assert created.settings[0].id == "tier"
    account = togai_client.AccountsApi(api).get_account("GLOBEX-1")
    assert account.net_term_days == 15 and account.tags == ["enterprise"]
    assert account.metadata == {"GSTN": "29ABCDE1234F1Z5"}
    assert [s.value for s in account.settings] == ["gold"]
    with pytest.raises(NotFoundException):
        togai_client.AccountsApi(api).get_account("GLOBEX")


def test_update_customer(api: togai_client.ApiClient) -> None:
    new_customer(api, "ACME")
    updated = togai_client.CustomersApi(api).update_customer(
        "ACME",
        UpdateCustomerRequest.from_dict(
            {
                "name": "ACME Corp",
                "address": {"line1": "1 MG Road", "city": "Pune", "country": "IN"},
            }
        ),
    )
    assert updated.name == "ACME Corp" and updated.billing_address == "1 MG Road, Pune, IN"
    assert togai_client.CustomersApi(api).get_customer("ACME").name == "ACME Corp"


def test_create_get_update_account(api: togai_client.ApiClient) -> None:
    new_customer(api, "ACME")
    accounts = togai_client.AccountsApi(api)
    created = accounts.create_account(
        CreateAccountRequest.from_dict(
            {
                "id": "ACC00001",
                "name": "ACME Enterprise",
                "customerId": "ACME",
                "invoiceCurrency": "INR",
                "metadata": {"a": "1"},
                "aliases": ["acme_primary"],
            }
        )
    )
    assert created is not None and created.togai_account_id.startswith("account.")
    assert created.aliases[0].alias == "acme_primary"
    updated = accounts.update_account(
        "ACC00001",
        UpdateAccountRequest.from_dict(
            {"name": "ACME Ent.", "metadata": {"b": "2"}, "status": "DRAFT"}
        ),
    )
    assert updated.name == "ACME Ent." and updated.metadata == {"b": "2"}
    assert accounts.get_account("ACC00001").status == "DRAFT"


def test_lists_paginate_to_the_end(api: togai_client.ApiClient) -> None:
    for n in range(5):
        new_customer(api, f"CUST{n}")
    customers = togai_client.CustomersApi(api)
    seen, token, pages = [], None, 0
    while True:
        page = customers.get_customers(next_token=token, page_size=2)
        pages += 1
        assert page.context.page_size == 2
        seen += [c.id for c in page.data]
        token = page.next_token
        if token is None:
            break
    assert seen == [f"CUST{n}" for n in range(5)] and pages == 3

    accounts = togai_client.AccountsApi(api)
    first = accounts.get_accounts(page_size=4)
    rest = accounts.get_accounts(next_token=first.next_token)
    assert [a.id for a in first.data + rest.data] == [f"CUST{n}" for n in range(5)]
    assert rest.next_token is None


def test_duplicates_and_missing_ids_are_refused(api: togai_client.ApiClient) -> None:
    new_customer(api, "ACME")
    with pytest.raises(BadRequestException) as dup:
        new_customer(api, "ACME")
    assert dup.value.status == 400 and "already exists" in dup.value.data.message
    with pytest.raises(BadRequestException):
        togai_client.AccountsApi(api).create_account(
            CreateAccountRequest(id="ACME", name="Again", customer_id="ACME")
        )
    with pytest.raises(BadRequestException):
        togai_client.AccountsApi(api).create_account(
            CreateAccountRequest(id="X1", name="Orphan", customer_id="NOPE")
        )
    with pytest.raises(NotFoundException) as missing:
        togai_client.CustomersApi(api).get_customer("NOPE")
    assert missing.value.data.message == "Customer with id NOPE not found"


def test_a_bad_token_is_unauthorized(sandbox: Sandbox) -> None:
    with sandbox.api(token="wrong") as api, pytest.raises(UnauthorizedException) as err:
        togai_client.CustomersApi(api).get_customers()
    assert err.value.status == 401 and err.value.data.message == "Unauthorized"
    with sandbox.http(token="wrong") as http:
        assert http.get("/accounts/x").status_code == 401
    assert sandbox.control("GET", "/stats").status_code == 200  # control routes need no token
