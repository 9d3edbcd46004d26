"""E2E fixtures: a full stack per test, on SQLite by default or PostgreSQL when asked
(`@pytest.mark.parametrize("backend", BACKENDS)`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from billsync.store.database import Database
from tests.e2e.harness import RZP_KEY, TOGAI_TOKEN, Stack, sandboxes

BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    # serve --no-worker plus two `billsync worker` processes on procrastinate (issue #13)
    pytest.param("cluster", marks=pytest.mark.postgres),
]
#: One `billsync serve` doing everything (tests of serve's own processes)
SERVE_BACKENDS = BACKENDS[:2]


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def _pg_schema(base_url: str, schema: str, create: bool) -> None:
    admin = create_async_engine(base_url)
    try:
        async with admin.begin() as conn:
            if create:
                await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            else:
                await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await admin.dispose()


@pytest.fixture
def template_options() -> dict[str, dict[str, bool]]:
    """Options of the flows the stack makes (a test may parametrize it)."""
    return {}


@pytest.fixture
async def stack(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    template_options: dict[str, dict[str, bool]],
) -> AsyncIterator[Stack]:
    schema = ""
    if backend in ("postgres", "cluster"):
        base_url = request.getfixturevalue("postgres_url")
        schema = f"e2e_{uuid.uuid4().hex[:12]}"
        await _pg_schema(base_url, schema, create=True)
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        db_url = url.render_as_string(hide_password=False)
    else:
        db_url = f"sqlite+aiosqlite:///{quote(str(tmp_path / 'billsync.db'))}"
    with ExitStack() as exits:
        s = Stack(db_url=db_url, workdir=tmp_path, template_options=template_options)
        if backend == "cluster":
            s.workers = 2
            s.extra_env["BILLSYNC_DISPATCHER"] = "procrastinate"
        sandboxes(s, exits)
        await s.wire()
        s.db = Database(db_url)
        async with (
            httpx.AsyncClient(
                base_url=s.togai_url, headers={"Authorization": f"Bearer {TOGAI_TOKEN}"}
            ) as togai,
            httpx.AsyncClient(base_url=s.razorpay_url, auth=RZP_KEY) as razorpay,
        ):
            s.togai, s.razorpay = togai, razorpay
            s.start_billsync()
            try:
                yield s
            finally:
                try:
                    s.stop_billsync()
                finally:
                    # Also when stopping failed: a connection left open here is found by
                    # the garbage collector later and fails an unrelated test.
                    if s._log is not None:
                        s._log.close()
                    await s.db.dispose()
    if schema:
        await _pg_schema(request.getfixturevalue("postgres_url"), schema, create=False)
