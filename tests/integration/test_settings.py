"""Settings come from BILLSYNC_* variables; the clocks behave as the engine expects."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from billsync.clock import FakeClock, SystemClock
from billsync.config import DEFAULT_DATABASE_URL, Settings


def test_defaults_without_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    settings = Settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert (settings.worker_slots, settings.lease_seconds, settings.heartbeat_seconds) == (
        32,
        60.0,
        15.0,
    )
    assert (settings.poll_interval, settings.reconcile_seconds) == (30.0, 30.0)
    assert settings.secret_key_list() == []


def test_environment_overrides_and_secret_keys_stay_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BILLSYNC_DATABASE_URL", "postgresql+psycopg://db/billsync")
    monkeypatch.setenv("BILLSYNC_SECRET_KEYS", " new-key , old-key ,")
    monkeypatch.setenv("BILLSYNC_WORKER_SLOTS", "8")
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg://db/billsync"
    assert settings.worker_slots == 8
    assert settings.secret_key_list() == ["new-key", "old-key"]
    assert "new-key" not in repr(settings) and "new-key" not in str(settings.model_dump())


def test_invalid_values_are_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BILLSYNC_WORKER_SLOTS", "0")
    with pytest.raises(ValueError, match="worker_slots"):
        Settings()


def test_clocks() -> None:
    assert SystemClock().now().tzinfo is UTC
    fake = FakeClock(datetime(2026, 5, 1, tzinfo=UTC))
    assert fake.advance(90) == datetime(2026, 5, 1, 0, 1, 30, tzinfo=UTC)
    with pytest.raises(ValueError):
        FakeClock(datetime(2026, 5, 1))
