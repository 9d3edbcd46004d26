"""/metrics needs a token and does not query the database per scrape (issue 11)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from billsync.api import metrics
from billsync.api.server import create_api
from billsync.app import build, tokens
from billsync.config import Settings
from billsync.store.vault import Vault

SCRAPE = "scrape-only-token-value"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'm.db'}",
        secret_keys=SecretStr(Vault.generate_key()),
        metrics_token=SecretStr(SCRAPE),
        metrics_cache_seconds=30,
    )
    app = build(settings)
    await app.migrate()
    _, admin = await tokens.create(app, "ops")
    api = create_api(app, start_worker=False, start_poller=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api), base_url="http://b.test"
    ) as http:
        yield http, admin
    await app.stop()


async def test_metrics_take_the_scrape_token_or_an_admin_token(
    served: tuple[httpx.AsyncClient, str],
) -> None:
    http, admin = served
    assert (await http.get("/metrics")).status_code == 401
    wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"
    for token in (SCRAPE, admin):
        r = await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert "billsync_runs" in r.text


async def test_concurrent_scrapes_share_one_database_snapshot(
    served: tuple[httpx.AsyncClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    http, _ = served
    taken = 0
    original = metrics.snapshot

    async def counted(app: Any) -> metrics.Snapshot:
        nonlocal taken
        taken += 1
        await asyncio.sleep(0.05)  # a slow aggregate: every scrape arrives while it runs
        return await original(app)

    monkeypatch.setattr(metrics, "snapshot", counted)
    auth = {"Authorization": f"Bearer {SCRAPE}"}
    answers = await asyncio.gather(*(http.get("/metrics", headers=auth) for _ in range(200)))
    assert {r.status_code for r in answers} == {200}
    assert taken == 1
    # Within the cache time a later scrape runs no query either.
    assert (await http.get("/metrics", headers=auth)).status_code == 200
    assert taken == 1
