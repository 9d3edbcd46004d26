"""Read commands never create a database; set-up commands do (issue #12, item 1)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from billsync.cli import app as cli

READ_COMMANDS = [
    ["runs", "list"],
    ["runs", "show", "1"],
    ["runs", "replay", "1"],
    ["events", "list"],
    ["mappings", "show", "ACC1"],
    ["mappings", "rebuild"],
    ["flows", "list"],
    ["flows", "show", "1"],
    ["connections", "list"],
    ["connections", "show", "1"],
    ["tokens", "list"],
    ["tokens", "revoke", "x"],
    ["keys", "rotate"],
]


def _runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "400"})


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_read_command_on_missing_file_creates_nothing(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "nothing-here.db"
    result = _runner().invoke(cli, [*command, "--db", str(db)])
    assert result.exit_code == 1, result.output
    assert f"no billsync database at sqlite+aiosqlite:///{db}" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no database, key file or lock file


def test_default_database_is_not_created_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = _runner().invoke(cli, ["runs", "list"])
    assert result.exit_code == 1
    assert "no billsync database at sqlite+aiosqlite:///" in result.stderr
    assert "billsync.db" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_environment_url_is_the_one_named(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/from-env.db"
    result = CliRunner(env={"COLUMNS": "400", "BILLSYNC_DATABASE_URL": url}).invoke(
        cli, ["events", "list"]
    )
    assert result.exit_code == 1
    assert f"no billsync database at {url}" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_setup_command_creates_the_database_then_reads_work(tmp_path: Path) -> None:
    db = tmp_path / "billsync.db"
    created = _runner().invoke(cli, ["tokens", "create", "ops", "--db", str(db)])
    assert created.exit_code == 0, created.output
    assert db.exists()
    listed = _runner().invoke(cli, ["tokens", "list", "--json", "--db", str(db)])
    assert listed.exit_code == 0, listed.output
    assert '"name": "ops"' in listed.stdout


def test_templates_list_without_a_database(tmp_path: Path) -> None:
    db = tmp_path / "billsync.db"
    result = _runner().invoke(cli, ["flows", "templates", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "togai-account-to-razorpay-customer" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_postgres_schema_without_billsync_tables(postgres_url: str) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"

    async def ddl(statement: str) -> None:
        admin = create_async_engine(postgres_url)
        try:
            async with admin.begin() as conn:
                await conn.exec_driver_sql(statement)
        finally:
            await admin.dispose()

    asyncio.run(ddl(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
        shown = url.render_as_string(hide_password=False)
        env = {"COLUMNS": "400", "BILLSYNC_SECRET_KEYS": Fernet.generate_key().decode()}
        result = CliRunner(env=env).invoke(cli, ["runs", "list", "--db", shown])
        assert result.exit_code == 1, result.output
        assert "no billsync database at postgresql+psycopg://" in result.stderr
        created = CliRunner(env=env).invoke(cli, ["tokens", "create", "ops", "--db", shown])
        assert created.exit_code == 0, created.output
        again = CliRunner(env=env).invoke(cli, ["runs", "list", "--db", shown])
        assert again.exit_code == 0, again.output
    finally:
        asyncio.run(ddl(f'DROP SCHEMA "{schema}" CASCADE'))
