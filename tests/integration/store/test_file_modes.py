"""Files billsync creates are private (issue 11): the SQLite database, its WAL and SHM
files are 0600, and a key file others can read is refused with a clear message."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from billsync import errors
from billsync.app import build, tokens
from billsync.config import Settings
from billsync.store.vault import load_keys


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_database_wal_and_shm_are_created_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask: SQLite alone would make them 0644
    try:
        db = tmp_path / "billsync.db"
        app = build(Settings(database_url=f"sqlite+aiosqlite:///{db}", key_file=tmp_path / "k"))
        await app.migrate()
        await tokens.create(app, "ops")  # a write: the WAL and SHM exist now
        files = [db, db.with_name("billsync.db-wal"), db.with_name("billsync.db-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert _mode(tmp_path / "k") == 0o600
        await app.db.dispose()
    finally:
        os.umask(old)


async def test_an_existing_world_readable_database_is_made_private(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    first = build(
        Settings(database_url=f"sqlite+aiosqlite:///{db}", secret_keys=SecretStr("x" * 43 + "="))
    )
    await first.migrate()
    await first.db.dispose()
    os.chmod(db, 0o644)
    again = build(
        Settings(database_url=f"sqlite+aiosqlite:///{db}", secret_keys=SecretStr("x" * 43 + "="))
    )
    await again.migrate()
    assert _mode(db) == 0o600
    await again.db.dispose()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / "billsync.key"
    load_keys([], key_file)  # generated 0600
    assert load_keys([], key_file)
    os.chmod(key_file, mode)
    with pytest.raises(errors.ConfigError) as refused:
        load_keys([], key_file)
    assert str(key_file) in str(refused.value) and "chmod 600" in str(refused.value)
    assert f"{mode:04o}" in str(refused.value)


async def test_a_new_connection_never_opens_an_existing_database_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing any descriptor of a file drops every POSIX lock the process holds on it, so
    the mode check must not open (and close) a database other connections of this process
    hold locks on: that let another process reset the WAL under a reader's snapshot."""
    from billsync.store import database

    db = tmp_path / "billsync.db"
    database.make_private(str(db))
    assert db.exists() and _mode(db) == 0o600
    os.chmod(db, 0o644)
    opened: list[str] = []
    real_open = os.open

    def spy(path: object, *args: object, **kwargs: object) -> int:
        fd = real_open(path, *args, **kwargs)  # type: ignore[arg-type]
        opened.append(str(path))  # only a descriptor actually opened counts
        return fd

    monkeypatch.setattr(database.os, "open", spy)
    database.make_private(str(db))
    assert opened == []  # an existing file is only chmod-ed, never opened (O_EXCL refuses)
    assert _mode(db) == 0o600
