"""The end-to-end stack: both sandboxes on sockets, `billsync serve` as a real subprocess.

Connections and flows are created by the test through the app operations on the same
database (there is no management API yet), then `billsync serve` runs against it. Every
check counts objects in the sandboxes through their APIs; the run table is only used to
know when to look.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from billsync.app import build
from billsync.app import connections as connection_ops
from billsync.app import flows as flow_ops
from billsync.config import Settings
from billsync.sandbox import razorpay as razorpay_sandbox
from billsync.sandbox import togai as togai_sandbox
from billsync.store import flows, runs
from billsync.store.database import Database
from billsync.store.status import UNFINISHED_RUN
from billsync.store.vault import Vault
from tests.servers import free_port, serve

TOGAI_TOKEN = "togai_sandbox_token"
RZP_KEY = ("rzp_test_sandbox", "sandbox_secret")
RZP_WEBHOOK_SECRET = "e2e-webhook-secret"

#: Environment of `billsync serve`: fast retries, polls and lease expiry, so faults and
#: crashes converge within seconds.
FAST = {
    "BILLSYNC_RETRY_BASE_SECONDS": "0.05",
    "BILLSYNC_RETRY_CAP_SECONDS": "0.5",
    "BILLSYNC_RETRY_MAX_ATTEMPTS": "40",
    "BILLSYNC_POLL_INTERVAL": "1",
    "BILLSYNC_WORKER_POLL_SECONDS": "0.2",
    "BILLSYNC_LEASE_SECONDS": "3",
    "BILLSYNC_HEARTBEAT_SECONDS": "1",
    "BILLSYNC_RECONCILE_SECONDS": "1",
    "BILLSYNC_SHUTDOWN_GRACE_SECONDS": "2",
    "BILLSYNC_HTTP_TIMEOUT": "5",
    "BILLSYNC_LOG_LEVEL": "WARNING",
    # The crash and shutdown tests time their signal against a few runs in flight.
    "BILLSYNC_WORKER_SLOTS": "4",
}


def _wait_stopped(proc: subprocess.Popen[bytes], what: str, log: Callable[[], str]) -> int:
    """The exit code of a process sent SIGTERM; one that hangs is made to show where.

    SIGABRT makes Python's faulthandler (PYTHONFAULTHANDLER, set in `Stack.env`) write
    every thread's stack to the process's log before it dies: whether the main thread is
    still in the event loop or joining a thread at exit is then in the failure message."""
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        raise AssertionError(f"{what} did not stop on SIGTERM within 20 s:\n{log()}") from None


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def call(
    client: httpx.AsyncClient, method: str, url: str, *, created: bool = False, **kwargs: Any
) -> httpx.Response:
    """A request that survives injected faults: retried on 5xx, 429 and lost responses.
    With `created`, a 400 "already exists" after an ambiguous attempt counts as success."""
    ambiguous = False
    for _ in range(100):
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TransportError:
            ambiguous = True
            await asyncio.sleep(0.02)
            continue
        if response.status_code >= 500 or response.status_code == 429:
            await asyncio.sleep(0.02)
            continue
        if created and ambiguous and "already exists" in response.text:
            return response
        return response
    raise AssertionError(f"{method} {url} kept failing")


@dataclass
class Stack:
    db_url: str
    workdir: Path
    togai_url: str = ""
    razorpay_url: str = ""
    togai_app: Any = None
    razorpay_app: Any = None
    billsync_url: str = ""
    togai_connection: int = 0
    razorpay_connection: int = 0
    key: str = field(default_factory=Vault.generate_key)
    proc: subprocess.Popen[bytes] | None = None
    db: Database | None = None
    togai: httpx.AsyncClient | None = None
    razorpay: httpx.AsyncClient | None = None
    _log: Any = None
    #: more environment for `billsync serve` (e.g. BILLSYNC_WORKER_PROCESSES)
    extra_env: dict[str, str] = field(default_factory=dict)
    #: more arguments for `billsync serve` (e.g. --no-worker)
    serve_args: list[str] = field(default_factory=list)
    #: `billsync worker` processes beside `serve --no-worker` (the e2e suite's cluster
    #: backend: procrastinate on PostgreSQL); 0: serve executes the runs itself
    workers: int = 0
    worker_procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    #: template key → its options, for the flows `wire` makes
    template_options: dict[str, dict[str, bool]] = field(default_factory=dict)

    # -- lifecycle ------------------------------------------------------------------

    def settings(self) -> Settings:
        return Settings(
            database_url=self.db_url,
            secret_keys=SecretStr(self.key),
            public_url=self.billsync_url,
        )

    async def wire(self) -> None:
        """Connections (verified against the sandboxes), every template enabled, webhooks."""
        app = build(self.settings())
        try:
            await app.migrate()
            togai = await connection_ops.create(
                app,
                app_name="togai",
                name="Togai e2e",
                values={"api_token": TOGAI_TOKEN, "base_url": self.togai_url, "sandbox": "yes"},
                rate_limit=200,
            )
            razorpay = await connection_ops.create(
                app,
                app_name="razorpay",
                name="Razorpay e2e",
                values={
                    "key_id": RZP_KEY[0],
                    "key_secret": RZP_KEY[1],
                    "webhook_secret": RZP_WEBHOOK_SECRET,
                    "base_url": self.razorpay_url,
                    "sandbox": "yes",
                    # The catch-up walk every second, like the Togai polls (FAST).
                    "poll_interval": "1",
                },
            )
            await flow_ops.ensure_templates(
                app, {"togai": togai.id, "razorpay": razorpay.id}, options=self.template_options
            )
        finally:
            await app.stop()
        self.togai_connection, self.razorpay_connection = togai.id, razorpay.id
        async with httpx.AsyncClient() as http:
            r = await http.post(
                f"{self.togai_url}/_sandbox/webhooks", json={"url": togai.webhook_url}
            )
            assert r.status_code == 201, r.text
            r = await http.post(
                f"{self.razorpay_url}/_sandbox/webhooks",
                json={"url": razorpay.webhook_url, "secret": RZP_WEBHOOK_SECRET},
            )
            assert r.status_code == 201, r.text

    def env(self) -> dict[str, str]:
        """The environment of the billsync processes the test starts."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BILLSYNC_")}
        env.update(FAST)
        env.update(
            {
                "BILLSYNC_SECRET_KEYS": self.key,
                "BILLSYNC_PUBLIC_URL": self.billsync_url,
                # Stacks on SIGABRT: see _wait_stopped.
                "PYTHONFAULTHANDLER": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def start_billsync(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        port = int(self.billsync_url.rsplit(":", 1)[1])
        env = self.env()
        if self._log is None:
            self._log = (self.workdir / "billsync.log").open("ab")
        serve_args = list(self.serve_args)
        if self.workers and "--no-worker" not in serve_args:
            serve_args.append("--no-worker")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "billsync", "serve", "--port", str(port), "--db", self.db_url]
            + serve_args,
            env=env,
            cwd=self.workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"billsync serve exited: {self.log_tail()}")
            try:
                if httpx.get(f"{self.billsync_url}/healthz", timeout=1).status_code == 200:
                    # serve has migrated the database: the workers may start.
                    self._start_workers(env)
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"billsync serve did not start: {self.log_tail()}")
            time.sleep(0.05)

    def _start_workers(self, env: dict[str, str]) -> None:
        self.worker_procs = [p for p in self.worker_procs if p.poll() is None]
        for _ in range(self.workers - len(self.worker_procs)):
            n = len(list(self.workdir.glob("worker-*.log")))
            with (self.workdir / f"worker-{n}.log").open("ab") as log:
                self.worker_procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "billsync", "worker", "--db", self.db_url],
                        env=env,
                        cwd=self.workdir,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )

    def worker_logs(self, tail: int = 2000) -> str:
        """The end of each worker's log (all of it with a large `tail`)."""
        return "\n".join(
            p.read_text(errors="replace")[-tail:] for p in sorted(self.workdir.glob("worker-*.log"))
        )

    def kill_billsync(self) -> None:
        """SIGKILL serve and, in a cluster, every worker (the machine died)."""
        assert self.proc is not None
        for proc in [self.proc, *self.worker_procs]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        for proc in [self.proc, *self.worker_procs]:
            proc.wait(timeout=10)

    def stop_billsync(self) -> int | None:
        for proc in self.worker_procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.worker_procs:
            _wait_stopped(proc, "billsync worker", lambda: self.worker_logs(10_000))
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        return _wait_stopped(self.proc, "billsync serve", lambda: self.log_tail(10_000))

    def log_tail(self, tail: int = 4000) -> str:
        path = self.workdir / "billsync.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    # -- Togai ----------------------------------------------------------------------

    async def new_account(
        self, account_id: str, *, phone: str | None = None, name: str | None = None
    ) -> None:
        assert self.togai is not None
        account: dict[str, Any] = {
            "id": account_id,
            "name": name or f"Account {account_id}",
            "primaryEmail": f"{account_id}@example.com",
            "invoiceCurrency": "INR",
        }
        if phone:
            account["address"] = {"phoneNumber": phone}
        r = await call(
            self.togai,
            "POST",
            "/customers",
            created=True,
            json={
                "id": account_id,
                "name": f"Customer {account_id}",
                "primaryEmail": f"{account_id}@example.com",
                "address": {"line1": "1 MG Road", "city": "Bengaluru", "country": "IN"},
                "account": account,
            },
        )
        assert r.status_code in (200, 201) or "already exists" in r.text, r.text

    async def new_invoice(self, account_id: str, total: str, status: str = "DUE") -> str:
        assert self.togai is not None
        r = await self.togai.post(
            "/_sandbox/invoices",
            json={"accountId": account_id, "totalAmount": float(total), "status": status},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def void_invoice(self, invoice_id: str) -> None:
        assert self.togai is not None
        r = await self.togai.post(f"/_sandbox/invoices/{invoice_id}/void")
        assert r.status_code == 200, r.text

    async def togai_invoice(self, invoice_id: str) -> dict[str, Any]:
        assert self.togai is not None
        r = await call(self.togai, "GET", f"/invoices/{invoice_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def account_setting(
        self, account_id: str, setting: str = "RazorPayCustomerId"
    ) -> list[Any]:
        assert self.togai is not None
        r = await call(
            self.togai,
            "GET",
            "/settings",
            params={"entity_type": "ACCOUNT", "entity_id": account_id, "setting_id": setting},
        )
        assert r.status_code == 200, r.text
        return list(r.json()["data"])

    async def togai_payments(self, account_id: str) -> list[dict[str, Any]]:
        assert self.togai is not None
        r = await call(self.togai, "GET", "/payments", params={"account_id": account_id})
        assert r.status_code == 200, r.text
        return list(r.json()["data"])

    # -- Razorpay -------------------------------------------------------------------

    async def customers_for(self, account_id: str) -> list[dict[str, Any]]:
        assert self.razorpay is not None
        found: list[dict[str, Any]] = []
        skip = 0
        while True:
            r = await call(
                self.razorpay, "GET", "/v1/customers", params={"count": 100, "skip": skip}
            )
            assert r.status_code == 200, r.text
            items = r.json()["items"]
            found += [
                c
                for c in items
                if isinstance(c.get("notes"), dict)
                and c["notes"].get("togai_account_id") == account_id
            ]
            if len(items) < 100:
                return found
            skip += 100

    async def rzp_invoices_for(self, togai_invoice_id: str) -> list[dict[str, Any]]:
        assert self.razorpay is not None
        r = await call(self.razorpay, "GET", "/v1/invoices", params={"receipt": togai_invoice_id})
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    async def allow_partial(self, rzp_invoice_id: str) -> None:
        assert self.razorpay is not None
        r = await call(
            self.razorpay, "PATCH", f"/v1/invoices/{rzp_invoice_id}", json={"partial_payment": True}
        )
        assert r.status_code == 200, r.text

    async def pay(self, rzp_invoice_id: str, amount: int | None = None) -> str:
        assert self.razorpay is not None
        body = {} if amount is None else {"amount": amount}
        r = await self.razorpay.post(f"/_sandbox/invoices/{rzp_invoice_id}/pay", json=body)
        assert r.status_code == 200, r.text
        return str(r.json()["payment_id"])

    async def objects(self) -> tuple[dict[str, int], dict[str, int]]:
        assert self.togai is not None and self.razorpay is not None
        togai = (await self.togai.get("/_sandbox/stats")).json()["objects"]
        razorpay = (await self.razorpay.get("/_sandbox/stats")).json()["objects"]
        return togai, razorpay

    async def faulted(self) -> tuple[int, int]:
        """(5xx answers, lost responses) the sandboxes injected so far."""
        assert self.togai is not None and self.razorpay is not None
        errors = lost = 0
        for client in (self.togai, self.razorpay):
            stats = (await client.get("/_sandbox/stats")).json()["requests"]
            for counts in stats.values():
                errors += sum(n for status, n in counts.items() if status.startswith("5"))
                lost += counts.get("lost", 0)
        return errors, lost

    async def set_faults(self, **faults: Any) -> None:
        assert self.togai is not None and self.razorpay is not None
        for client in (self.togai, self.razorpay):
            r = await client.post("/_sandbox/faults", json=faults)
            assert r.status_code == 200, r.text

    async def clear_faults(self) -> None:
        assert self.togai is not None and self.razorpay is not None
        for client in (self.togai, self.razorpay):
            await client.delete("/_sandbox/faults")

    # -- billsync's run table (only to know when to look) -----------------------------

    async def run_counts(self) -> dict[str, int]:
        assert self.db is not None
        async with self.db.read() as session:
            return await runs.count_by_status(session)

    async def settled(self, succeeded: int) -> bool:
        counts = await self.run_counts()
        unfinished = sum(counts.get(s.value, 0) for s in UNFINISHED_RUN)
        return unfinished == 0 and counts.get("succeeded", 0) >= succeeded

    async def wait_settled(self, succeeded: int, within: float = 60.0) -> None:
        try:
            await eventually(lambda: self.settled(succeeded), f"{succeeded} runs", within)
        except AssertionError:
            raise AssertionError(
                f"runs did not settle: {await self.run_counts()}\n{self.log_tail()}"
            ) from None
        counts = await self.run_counts()
        assert set(counts) == {"succeeded"}, f"runs not all succeeded: {counts}"

    async def set_template_enabled(self, template_key: str, enabled: bool) -> None:
        assert self.db is not None
        async with self.db.write() as session:
            for flow in await flows.list_all(session):
                if flow.template_key == template_key:
                    await flows.set_enabled(session, flow.id, enabled, now=datetime.now(UTC))


def sandboxes(stack: Stack, exits: ExitStack) -> None:
    """Start both sandboxes on free ports with quick webhook retries."""
    stack.togai_app = togai_sandbox.create_app(
        togai_sandbox.TogaiSandboxConfig(
            token=TOGAI_TOKEN,
            webhook_base_delay=0.2,
            webhook_max_delay=1.0,
            webhook_max_attempts=40,
        )
    )
    stack.razorpay_app = razorpay_sandbox.create_app(
        razorpay_sandbox.RazorpaySandboxConfig(
            key_id=RZP_KEY[0],
            key_secret=RZP_KEY[1],
            webhook_retry_base_s=0.2,
            webhook_retry_max_s=1.0,
            webhook_max_attempts=40,
        )
    )
    stack.togai_url = exits.enter_context(serve(stack.togai_app))
    stack.razorpay_url = exits.enter_context(serve(stack.razorpay_app))
    stack.billsync_url = f"http://127.0.0.1:{free_port()}"


def minor(amount: str) -> int:
    return int(Decimal(amount) * 100)
