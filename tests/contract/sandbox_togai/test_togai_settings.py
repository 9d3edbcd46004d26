"""Settings through the official client: insert 201, list filters, get by full id, PATCH 201."""

from __future__ import annotations

import pytest
import togai_client
from togai_client.exceptions import ApiException, BadRequestException, NotFoundException
from togai_client.models import Setting, UpdateSettingRequest

from billsync.sandbox.togai import TogaiSandboxConfig
from tests.contract.sandbox_togai.conftest import new_customer, running


def _razorpay_setting(account_id: str, value: str = "cust_Np1aBcD2eF3gH4") -> Setting:
    return Setting(
        id="RazorPayCustomerId",
        name="RazorPayCustomerId",
        namespace="USER",
        entity_type="ACCOUNT",
        entity_id=account_id,
        value=value,
        data_type="STRING",
    )


def test_insert_get_list_update(api: togai_client.ApiClient) -> None:
    new_customer(api, "ACME")
    new_customer(api, "GLOBEX")
    settings = togai_client.SettingsApi(api)
    inserted = settings.insert_setting(_razorpay_setting("ACME"))
    assert inserted is not None and inserted.entity_id == "ACME"
    settings.insert_setting(_razorpay_setting("GLOBEX", "cust_other"))
    settings.insert_setting(
        Setting(
            id="limit",
            name="limit",
            namespace="USER",
            entity_type="CUSTOMER",
            entity_id="ACME",
            value="10.5",
            data_type="NUMERIC",
        )
    )

    full_id = "setting.USER.RazorPayCustomerId.ACCOUNT.ACME"
    assert settings.get_setting(full_id).value == "cust_Np1aBcD2eF3gH4"

    by_entity = settings.list_setting(entity_type="ACCOUNT", entity_id="ACME")
    assert [s.value for s in by_entity.data] == ["cust_Np1aBcD2eF3gH4"]
    by_id = settings.list_setting(setting_id="RazorPayCustomerId", namespace="USER")
    assert {s.entity_id for s in by_id.data} == {"ACME", "GLOBEX"}
    first = settings.list_setting(page_size=2)
    rest = settings.list_setting(next_token=first.next_token)
    assert len(first.data) == 2 and len(rest.data) == 1 and rest.next_token is None

    updated = settings.update_setting(full_id, UpdateSettingRequest(value="cust_new"))
    assert updated is not None and updated.value == "cust_new"  # 201, or the client says None
    assert settings.get_setting(full_id).value == "cust_new"
    # The account shows its settings too.
    account = togai_client.AccountsApi(api).get_account("ACME")
    assert [(s.name, s.value) for s in account.settings] == [("RazorPayCustomerId", "cust_new")]


def test_refusals(api: togai_client.ApiClient) -> None:
    new_customer(api, "ACME")
    settings = togai_client.SettingsApi(api)
    settings.insert_setting(_razorpay_setting("ACME"))
    with pytest.raises(BadRequestException) as dup:
        settings.insert_setting(_razorpay_setting("ACME"))
    assert "already exists" in dup.value.data.message
    with pytest.raises(BadRequestException):
        settings.insert_setting(_razorpay_setting("NOPE"))
    with pytest.raises(BadRequestException):
        settings.insert_setting(
            Setting(
                id="n",
                name="n",
                namespace="USER",
                entity_type="ACCOUNT",
                entity_id="ACME",
                value="ten",
                data_type="NUMERIC",
            )
        )
    with pytest.raises(NotFoundException):
        settings.get_setting("setting.USER.nope.ACCOUNT.ACME")
    with pytest.raises(NotFoundException):
        settings.update_setting("setting.USER.nope.ACCOUNT.ACME", UpdateSettingRequest(value="x"))


def test_duplicate_setting_status_is_configurable() -> None:
    with running(TogaiSandboxConfig(duplicate_setting_status=409)) as sandbox:
        with sandbox.api() as api:
            new_customer(api, "ACME")
            settings = togai_client.SettingsApi(api)
            settings.insert_setting(_razorpay_setting("ACME"))
            with pytest.raises(ApiException) as dup:
                settings.insert_setting(_razorpay_setting("ACME"))
    assert dup.value.status == 409 and dup.value.data is None  # 409 is not in the client's map


def test_collection_pages_resume_after_the_last_position() -> None:
    from billsync.sandbox.togai.store import Collection

    items = Collection()
    for n in range(25):
        items.add(f"k{n}", {"n": n})
    items.add("k3", {"n": 3, "replaced": True})  # a re-add keeps its place

    def even(record: dict[str, object]) -> bool:
        return int(str(record["n"])) % 2 == 0

    seen, after, more = [], 0, True
    while more:
        found, after, more = items.page(after, 4, even)
        seen += [r["n"] for r in found]
    assert seen == list(range(0, 25, 2))
    items.clear()
    items.add("fresh", {"n": 0})
    assert items.page(0, 4, even)[0] == [{"n": 0}]
