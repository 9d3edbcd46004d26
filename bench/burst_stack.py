"""Processes and sandbox helpers for bench/sync_burst.py.

Both sandboxes and `billsync serve` run as subprocesses exactly as a user starts them. The
wiring reuses `billsync demo`'s `wire` (connections, webhook registration, every template
enabled) on the same database before `billsync serve` starts, then sets the connections'
rate limits through the app's connection operations.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from billsync.app import build, connection_admin
from billsync.app import connections as connection_ops
from billsync.cli import demo
from billsync.config import Settings
from billsync.store.vault import Vault

TOGAI_AUTH = {"Authorization": f"Bearer {demo.TOGAI_TOKEN}"}
RAZORPAY_AUTH = (demo.RAZORPAY_KEY_ID, demo.RAZORPAY_KEY_SECRET)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early (status {proc.returncode})")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start within {within:.0f} s") from None
            time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM (peak resident set) of a live process, from /proc (psutil is not installed)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a live process has used so far (/proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the ")" closing the command name: field 3 is state, 14/15 are utime/stime.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    """Live child processes of `pid` (serve's `billsync worker`s), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # field 4, ppid
            found.append(int(stat.parent.name))
    return found


@dataclass
class Stack:
    """Both sandboxes and (between start_billsync/stop_billsync) one `billsync serve`."""

    workdir: Path
    latency_ms: int = 0
    razorpay_rate_limit: float = 0
    #: Togai sandbox --rate-limit, and the Togai connection's rate_limit to match (0: none)
    togai_rate_limit: float = 0
    worker_slots: int | None = None
    #: the sandboxes' --webhook-concurrency (None: their default, one at a time per target)
    webhook_concurrency: int | None = None
    #: BILLSYNC_WORKER_PROCESSES for serve (0: billsync's default)
    worker_processes: int = 0
    #: Count billsync's SQL statements (bench/sql_census) into workdir/sql-census.tsv
    sql_census: bool = False
    log_level: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    #: more `billsync serve` arguments (bench/scale_out.py: --no-worker)
    serve_args: list[str] = field(default_factory=list)
    togai_url: str = ""
    razorpay_url: str = ""
    billsync_url: str = ""
    key: str = field(default_factory=Vault.generate_key)
    #: BILLSYNC_METRICS_TOKEN for serve: the bench reads /metrics (calls by purpose)
    metrics_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    connection_ids: dict[str, int] = field(default_factory=dict)

    #: PostgreSQL server URL; None: SQLite in workdir (embedded mode, the default)
    postgres_url: str | None = None
    pg_schema: str = ""

    @property
    def db_url(self) -> str:
        if self.postgres_url is None:
            return f"sqlite+aiosqlite:///{self.workdir / 'billsync.db'}"
        # A fresh schema per burst, selected through the connection's search_path.
        url = make_url(self.postgres_url)
        url = url.update_query_dict({"options": f"-csearch_path={self.pg_schema}"})
        return url.render_as_string(hide_password=False)

    async def pg_schema_ddl(self, create: bool) -> None:
        if self.postgres_url is None:
            return
        if create:
            self.pg_schema = f"burst_{secrets.token_hex(6)}"
        admin = create_async_engine(self.postgres_url)
        try:
            async with admin.begin() as conn:
                verb = "CREATE SCHEMA" if create else "DROP SCHEMA"
                await conn.exec_driver_sql(
                    f'{verb} "{self.pg_schema}"' + ("" if create else " CASCADE")
                )
        finally:
            await admin.dispose()

    @property
    def census_path(self) -> Path:
        return self.workdir / "sql-census.tsv"

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each live process of the stack."""
        used = {name: cpu_seconds(proc.pid) for name, proc in self.procs.items()}
        if "billsync" in self.procs and self.worker_processes:
            workers = [cpu_seconds(pid) for pid in child_pids(self.billsync_pid)]
            used["workers"] = sum(value for value in workers if value is not None)
        return {name: value for name, value in used.items() if value is not None}

    @property
    def billsync_pid(self) -> int:
        return self.procs["billsync"].pid

    def _log(self, name: str) -> Any:
        return (self.workdir / f"{name}.log").open("ab")

    def start_sandboxes(self) -> None:
        for name in ("togai", "razorpay"):
            port = free_port()
            argv = [sys.executable, "-m", "billsync", "sandbox", name, "--port", str(port)]
            argv += ["--latency-ms", str(self.latency_ms)]
            if self.webhook_concurrency is not None:
                argv += ["--webhook-concurrency", str(self.webhook_concurrency)]
            if name == "razorpay" and self.razorpay_rate_limit:
                argv += ["--rate-limit", str(self.razorpay_rate_limit)]
            if name == "togai" and self.togai_rate_limit:
                argv += ["--rate-limit", str(self.togai_rate_limit)]
            proc = subprocess.Popen(
                argv, stdout=self._log(name), stderr=subprocess.STDOUT, cwd=self.workdir
            )
            self.procs[name] = proc
            url = f"http://127.0.0.1:{port}"
            setattr(self, f"{name}_url", url)
        for name in ("togai", "razorpay"):
            wait_http(f"{getattr(self, f'{name}_url')}/_sandbox/stats", self.procs[name], name)
        self.billsync_url = f"http://127.0.0.1:{free_port()}"

    async def wire(self) -> None:
        await self.pg_schema_ddl(create=True)
        await self._wire()

    async def _wire(self) -> None:
        """`billsync demo`'s wiring on our database; then rate limits that match the
        sandboxes: Togai unlimited unless the sandbox has a limit (the app default is Togai's
        documented 10/s), Razorpay the sandbox's limit (unset when the sandbox has none)."""
        settings = Settings(
            database_url=self.db_url, secret_keys=SecretStr(self.key), public_url=self.billsync_url
        )
        app = build(settings)
        try:
            await app.migrate()
            await demo.wire(app, self.togai_url, self.razorpay_url)
            for app_name, name, rate in (
                ("togai", demo.TOGAI_CONNECTION, self.togai_rate_limit or 0.0),
                ("razorpay", demo.RAZORPAY_CONNECTION, self.razorpay_rate_limit or None),
            ):
                found = await connection_ops.find(app, app_name, name)
                assert found is not None
                await connection_admin.update(app, found.id, rate_limit=rate, actor="bench")
                self.connection_ids[app_name] = found.id
        finally:
            await app.stop()

    def env(self) -> dict[str, str]:
        """The environment billsync's processes (serve, workers) start with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BILLSYNC_")}
        env["BILLSYNC_SECRET_KEYS"] = self.key
        env["BILLSYNC_METRICS_TOKEN"] = self.metrics_token
        env["BILLSYNC_PUBLIC_URL"] = self.billsync_url
        if self.worker_slots is not None:
            env["BILLSYNC_WORKER_SLOTS"] = str(self.worker_slots)
        if self.worker_processes:
            env["BILLSYNC_WORKER_PROCESSES"] = str(self.worker_processes)
        if self.log_level is not None:
            env["BILLSYNC_LOG_LEVEL"] = self.log_level
        if self.sql_census:
            census_dir = str(Path(__file__).resolve().parent / "sql_census")
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [census_dir, env.get("PYTHONPATH")]))
            env["SYNC_BURST_SQL_CENSUS"] = str(self.census_path)
        env.update(self.extra_env)
        return env

    def start_billsync(self) -> None:
        port = self.billsync_url.rsplit(":", 1)[1]
        env = self.env()
        proc = subprocess.Popen(
            [sys.executable, "-m", "billsync", "serve", "--port", port, "--db", self.db_url]
            + self.serve_args,
            env=env,
            cwd=self.workdir,
            stdout=self._log("billsync"),
            stderr=subprocess.STDOUT,
        )
        self.procs["billsync"] = proc
        wait_http(f"{self.billsync_url}/healthz", proc, "billsync serve")

    def start_workers(self, count: int) -> list[str]:
        """`count` `billsync worker` processes beside serve (started with --no-worker in
        serve_args); named worker-1…; their CPU is counted by cpu() under those names."""
        names = []
        for _ in range(count):
            name = f"worker-{sum(k.startswith('worker-') for k in self.procs) + 1}"
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "billsync", "worker", "--db", self.db_url],
                env=self.env(),
                cwd=self.workdir,
                stdout=self._log(name),
                stderr=subprocess.STDOUT,
            )
            names.append(name)
        return names

    def stop_billsync(self) -> None:
        self.stop_profiler()
        stop(self.procs.pop("billsync", None))

    def start_profiler(self, py_spy: str, out: Path) -> None:
        """Sample `billsync serve` (all threads, on-CPU only) into collapsed stacks."""
        argv = [py_spy, "record", "--pid", str(self.billsync_pid), "--rate", "100"]
        argv += ["--nonblocking", "--format", "raw", "--output", str(out)]
        self.procs["py-spy"] = subprocess.Popen(
            argv, stdout=self._log("py-spy"), stderr=subprocess.STDOUT
        )

    def stop_profiler(self) -> None:
        proc = self.procs.pop("py-spy", None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def close(self) -> None:
        for name in list(self.procs):
            stop(self.procs.pop(name))

    def log_tail(self, name: str = "billsync", chars: int = 3000) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


# -- sandbox API helpers ------------------------------------------------------------------


async def call(client: httpx.AsyncClient, method: str, url: str, **kw: Any) -> httpx.Response:
    """A bench-side request that waits out the sandbox's 429s (rate-limit scenario)."""
    for _ in range(1000):
        response = await client.request(method, url, **kw)
        if response.status_code != 429:
            response.raise_for_status()
            return response
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{method} {url}: still 429 after 1000 tries")


async def stats(client: httpx.AsyncClient, base: str) -> dict[str, Any]:
    return dict((await client.get(f"{base}/_sandbox/stats")).json())


async def provider_calls(client: httpx.AsyncClient, stack: Stack) -> dict[str, float]:
    """billsync's own count of its provider calls, `app purpose` → calls (from /metrics)."""
    auth = {"Authorization": f"Bearer {stack.metrics_token}"}
    response = await client.get(f"{stack.billsync_url}/metrics", headers=auth)
    response.raise_for_status()
    text = response.text
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("billsync_provider_calls_total{"):
            labels, value = line[len("billsync_provider_calls_total{") :].split("} ")
            parts = dict(p.split("=", 1) for p in labels.split(","))
            key = f"{parts['app'].strip(chr(34))} {parts['purpose'].strip(chr(34))}"
            found[key] = float(value)
    return found


def request_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Counter[str]]:
    """Requests per route and status made between two /_sandbox/stats snapshots."""
    delta: dict[str, Counter[str]] = {}
    for route, counts in after["requests"].items():
        old = before["requests"].get(route, {})
        diff = Counter({s: n - old.get(s, 0) for s, n in counts.items() if n - old.get(s, 0)})
        if diff:
            delta[route] = diff
    return delta


def ok_requests(snapshot: dict[str, Any]) -> int:
    """API requests the sandbox applied (anything but a 429 or a lost response)."""
    return sum(
        n
        for counts in snapshot["requests"].values()
        for status, n in counts.items()
        if status not in ("429", "lost")
    )


async def razorpay_all(client: httpx.AsyncClient, base: str, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    skip = 0
    while True:
        r = await call(
            client, "GET", f"{base}{path}", params={"count": 100, "skip": skip}, auth=RAZORPAY_AUTH
        )
        page = r.json()["items"]
        items += page
        if len(page) < 100:
            return items
        skip += 100


async def togai_settings(
    client: httpx.AsyncClient, base: str, entity_type: str, setting_id: str
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {
        "entity_type": entity_type,
        "setting_id": setting_id,
        "pageSize": 100,
    }
    while True:
        r = await call(client, "GET", f"{base}/settings", params=params, headers=TOGAI_AUTH)
        body = r.json()
        found += body["data"]
        token = body.get("nextToken")
        if not token:
            return found
        params = {"nextToken": token}
