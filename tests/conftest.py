"""Shared fixtures. Tests build their settings explicitly: BILLSYNC_* from the shell is removed."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

_PG_ENV = "BILLSYNC_TEST_POSTGRES_URL"
_POSTGRES_URL = os.environ.get(_PG_ENV, "")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("BILLSYNC_"):
            monkeypatch.delenv(name)
    yield


@pytest.fixture
def postgres_url() -> str:
    """The PostgreSQL URL for tests; skips locally when unset, fails in CI."""
    if not _POSTGRES_URL:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{_PG_ENV} must be set in CI")
        pytest.skip(f"{_PG_ENV} not set")
    return _POSTGRES_URL
