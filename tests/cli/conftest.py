"""CLI fixtures: a temp SQLite database, both sandboxes on free ports, a CliRunner."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from typer.testing import CliRunner, Result

from billsync.app import App, build
from billsync.cli import app as cli
from billsync.config import Settings
from billsync.sandbox import razorpay as razorpay_sandbox
from billsync.sandbox import togai as togai_sandbox
from tests.servers import serve

T = TypeVar("T")

TOGAI = togai_sandbox.TogaiSandboxConfig()
RZP = razorpay_sandbox.RazorpaySandboxConfig()


@dataclass
class Cli:
    db: Path
    runner: CliRunner
    togai_url: str
    razorpay_url: str

    def __call__(self, *args: str, ok: bool = True) -> Result:
        """Run `billsync ARGS --db <db>`; assert success unless `ok` is False."""
        result = self.runner.invoke(cli, [*args, "--db", str(self.db)])
        if ok:
            assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def in_app(self, operation: Callable[[App], Awaitable[T]]) -> T:
        """Run `operation` on an App over the same database (and key file)."""

        async def main() -> T:
            app = build(Settings(database_url=f"sqlite+aiosqlite:///{self.db}"))
            try:
                return await operation(app)
            finally:
                await app.clients.aclose()
                await app.db.dispose()

        return asyncio.run(main())

    def create_database(self) -> None:
        """What `billsync serve` does at start: create and migrate the database."""

        async def migrate(app: App) -> None:
            await app.migrate()

        self.in_app(migrate)

    def add_connections(self) -> tuple[int, int]:
        togai = self.json(
            "connections",
            "add",
            "togai",
            "Togai",
            "-v",
            f"api_token={TOGAI.token}",
            "-v",
            f"base_url={self.togai_url}",
            "-v",
            "sandbox=yes",
        )
        razorpay = self.json(
            "connections",
            "add",
            "razorpay",
            "Razorpay",
            "-v",
            f"key_id={RZP.key_id}",
            "-v",
            f"key_secret={RZP.key_secret}",
            "-v",
            "webhook_secret=cli-test-webhook-secret",
            "-v",
            f"base_url={self.razorpay_url}",
            "-v",
            "sandbox=yes",
        )
        return int(togai["id"]), int(razorpay["id"])

    def togai_http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.togai_url, headers={"Authorization": f"Bearer {TOGAI.token}"}
        )

    def razorpay_http(self) -> httpx.Client:
        return httpx.Client(base_url=self.razorpay_url, auth=(RZP.key_id, RZP.key_secret))


@pytest.fixture
def sandboxes() -> Iterator[tuple[str, str]]:
    with (
        serve(togai_sandbox.create_app(TOGAI)) as togai_url,
        serve(razorpay_sandbox.create_app(RZP)) as razorpay_url,
    ):
        yield togai_url, razorpay_url


@pytest.fixture
def run(tmp_path: Path, sandboxes: tuple[str, str]) -> Cli:
    return Cli(tmp_path / "billsync.db", CliRunner(env={"COLUMNS": "200"}), *sandboxes)
