"""BILLSYNC_DISPATCHER: procrastinate by default on PostgreSQL, embedded on SQLite, and a
clear refusal of procrastinate on SQLite (at build, and from `billsync worker`/`serve`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from billsync.app import build
from billsync.app.root import DispatcherError
from billsync.cli import app as cli
from billsync.config import Settings
from billsync.engine.dispatch import EmbeddedDispatcher, ProcrastinateDispatcher
from billsync.engine.job_worker import JobWorker
from billsync.engine.worker import Worker
from billsync.store.vault import Vault

PG = "postgresql+psycopg://billsync@127.0.0.1:5432/nowhere"


def _settings(url: str, **kw: object) -> Settings:
    return Settings(database_url=url, secret_keys=SecretStr(Vault.generate_key()), **kw)


def test_the_default_follows_the_database(tmp_path: Path) -> None:
    # build() connects to nothing: the PostgreSQL URL need not exist.
    sqlite = build(_settings(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"))
    assert isinstance(sqlite.dispatcher, EmbeddedDispatcher)
    assert isinstance(sqlite.worker, Worker)
    postgres = build(_settings(PG))
    assert isinstance(postgres.dispatcher, ProcrastinateDispatcher)
    assert isinstance(postgres.worker, JobWorker)
    embedded = build(_settings(PG, dispatcher="embedded"))
    assert isinstance(embedded.dispatcher, EmbeddedDispatcher)
    assert isinstance(embedded.worker, Worker)


def test_procrastinate_on_sqlite_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    with pytest.raises(DispatcherError, match="BILLSYNC_DISPATCHER=procrastinate needs Postgre"):
        build(_settings(f"sqlite+aiosqlite:///{db}", dispatcher="procrastinate"))
    assert not db.exists()


def test_an_unknown_dispatcher_is_refused() -> None:
    with pytest.raises(ValueError, match="embedded"):
        _settings(PG, dispatcher="celery")


@pytest.mark.parametrize("command", [["worker"], ["serve", "--no-worker"]])
def test_the_cli_says_why_and_exits_1(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BILLSYNC_DISPATCHER", "procrastinate")
    result = CliRunner().invoke(cli, [*command, "--db", str(tmp_path / "b.db")])
    assert result.exit_code == 1, result.output
    assert "BILLSYNC_DISPATCHER=procrastinate needs PostgreSQL" in result.output
    assert not (tmp_path / "b.db").exists()


def test_a_stalled_timeout_shorter_than_two_heartbeats_is_refused() -> None:
    with pytest.raises(ValueError, match="BILLSYNC_STALLED_WORKER_SECONDS must be at least"):
        _settings(PG, job_heartbeat_seconds=5, stalled_worker_seconds=8)
