"""The client cache never reuses a client built for one host for another (issue 11)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from billsync.connectors.catalogue import default_registry
from billsync.engine.clients import ClientCache
from billsync.store.models import Connection
from billsync.store.vault import Vault


def _row(vault: Vault, base_url: str, when: datetime) -> Connection:
    return Connection(
        id=7,
        app="togai",
        name="T",
        secrets=vault.encrypt({"api_token": "tok"}),
        key_id=vault.key_id,
        options={"base_url": base_url},
        updated_at=when,
    )


async def test_a_row_with_another_base_url_gets_another_client() -> None:
    vault = Vault([Vault.generate_key()])
    cache = ClientCache(
        default_registry(), vault, transport_for=lambda _c: httpx.MockTransport(lambda r: None)
    )
    when = datetime(2026, 1, 1, tzinfo=UTC)
    first = await cache.get(_row(vault, "https://togai.test", when))
    assert await cache.get(_row(vault, "https://togai.test", when)) is first
    # Same updated_at (an edit within the clock's resolution, or a stale stamp from another
    # process): the options still differ, so the old host's client is not reused.
    moved = await cache.get(_row(vault, "https://elsewhere.test", when))
    assert moved is not first
    assert str(moved.base_url).startswith("https://elsewhere.test")
    await cache.aclose()
