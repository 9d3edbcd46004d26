"""Secrets are encrypted at rest, keys live outside the database, rotation re-encrypts."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from billsync import errors
from billsync.clock import FakeClock
from billsync.store import audit, connections
from billsync.store.database import Database
from billsync.store.vault import Vault, default_key_file, key_id_of, load_keys, open_vault

SECRET = "rzp_secret_Zq8uV1xNotInTheDb"
TOKEN = "togai-webhook-token-9f2c1e"


async def _raw_dump(db: Database) -> str:
    """Every value of every row of every table, as text."""
    chunks: list[str] = []
    async with db.read() as session:
        tables = await session.run_sync(lambda s: sa.inspect(s.connection()).get_table_names())
        for table in tables:
            rows = (await session.execute(sa.text(f"SELECT * FROM {table}"))).all()
            chunks.extend(repr(tuple(row)) for row in rows)
    return "\n".join(chunks)


async def test_no_secret_in_rows_or_file(db: Database, vault: Vault, clock: FakeClock) -> None:
    async with db.write() as session:
        row = await connections.create(
            session,
            vault,
            app="razorpay",
            name="main",
            secrets={"key_id": "rzp_test_1", "key_secret": SECRET},
            options={"mode": "test"},
            webhook_token=TOKEN,
            now=clock.now(),
        )
        await audit.record(
            session,
            actor="cli",
            action="connection.create",
            target="razorpay/main",
            now=clock.now(),
        )
    dump = await _raw_dump(db)
    assert SECRET not in dump and TOKEN not in dump
    assert "rzp_test_1" not in dump  # every field declared secret is encrypted together
    assert "mode" in dump  # options are not secret and stay readable
    if db.sqlite_path is not None:
        for path in db.sqlite_path.parent.glob(db.sqlite_path.name + "*"):
            assert SECRET.encode() not in path.read_bytes()

    async with db.read() as session:
        loaded = await connections.get(session, row.id)
        assert loaded is not None
        assert connections.values(vault, loaded) == {
            "mode": "test",
            "key_id": "rzp_test_1",
            "key_secret": SECRET,
        }
        assert connections.webhook_token(vault, loaded) == TOKEN
        assert loaded.key_id == vault.key_id != SECRET


async def test_rotate_re_encrypts_every_row(db: Database, clock: FakeClock) -> None:
    old_key = Vault.generate_key()
    old = Vault([old_key])
    async with db.write() as session:
        for name in ("a", "b"):
            await connections.create(
                session,
                old,
                app="togai",
                name=name,
                secrets={"api_key": SECRET},
                webhook_token=TOKEN,
                now=clock.now(),
            )
    new_key = Vault.generate_key()
    both = Vault([new_key, old_key])
    async with db.write() as session:
        assert await connections.rotate_secrets(session, both, now=clock.now()) == 2
    only_new = Vault([new_key])
    async with db.read() as session:
        rows = await connections.list_all(session, app="togai")
        assert {r.key_id for r in rows} == {key_id_of(new_key)}
        for r in rows:
            assert connections.secret_values(only_new, r) == {"api_key": SECRET}
            assert connections.webhook_token(only_new, r) == TOKEN
            with pytest.raises(errors.ConfigError) as info:
                connections.secret_values(old, r)
            assert SECRET not in str(info.value)


async def test_update_merges_secrets(db: Database, vault: Vault, clock: FakeClock) -> None:
    async with db.write() as session:
        row = await connections.create(
            session,
            vault,
            app="razorpay",
            name="m",
            secrets={"key_id": "k", "key_secret": "s1"},
            now=clock.now(),
        )
        await connections.update(
            session, vault, row.id, secrets={"key_secret": "s2"}, rate_limit=5.0, now=clock.now()
        )
    async with db.read() as session:
        loaded = await connections.get(session, row.id)
        assert loaded is not None and loaded.rate_limit == 5.0
        assert connections.secret_values(vault, loaded) == {"key_id": "k", "key_secret": "s2"}


def test_key_file_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    key_file = default_key_file(tmp_path / "billsync.db")
    assert key_file == tmp_path / "billsync.key"
    first = load_keys([], key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_keys([], key_file) == first
    vault = open_vault([], key_file)
    assert vault.decrypt(vault.encrypt({"a": "b"})) == {"a": "b"}


def test_configured_keys_win_over_the_key_file(tmp_path: Path) -> None:
    key = Vault.generate_key()
    assert load_keys([key], tmp_path / "k") == [key]
    assert not (tmp_path / "k").exists()


def test_bad_key_is_a_config_error_without_the_key() -> None:
    with pytest.raises(errors.ConfigError) as info:
        Vault(["not-a-fernet-key"])
    assert "not-a-fernet-key" not in str(info.value)
