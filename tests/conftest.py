"""Shared fixtures. Tests build their settings explicitly: BILLSYNC_* from the shell is removed."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

_PG_ENV = "BILLSYNC_TEST_POSTGRES_URL"
_POSTGRES_URL = os.environ.get(_PG_ENV, "")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("BILLSYNC_"):
            monkeypatch.delenv(name)
    yield


@pytest.fixture(scope="session", autouse=True)
def _run_database() -> Iterator[str]:
    """A PostgreSQL database of this test run's own, created on first use and dropped at
    the end: two suites pointed at one server (CI beside a local run, two worktrees) never
    reset each other's tables. Tests still isolate themselves in schemas inside it.
    Autouse, so it is set up before and torn down after every fixture using it."""
    if not _POSTGRES_URL:
        yield ""
        return
    base = make_url(_POSTGRES_URL)
    name = f"billsync_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield base.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> str:
    """The PostgreSQL URL for tests (this run's own database, see `_run_database`); skips
    locally when BILLSYNC_TEST_POSTGRES_URL is unset, fails in CI."""
    if not _POSTGRES_URL:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{_PG_ENV} must be set in CI")
        pytest.skip(f"{_PG_ENV} not set")
    url: str = request.getfixturevalue("_run_database")
    return url
