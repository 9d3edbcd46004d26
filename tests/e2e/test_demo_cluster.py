"""`billsync demo --database-url postgresql+psycopg://… --workers 2`: serve --no-worker and
two worker OS processes on procrastinate; the seed syncs; Ctrl-C (or SIGTERM) stops every
process; a killed demo leaves no process behind either."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from billsync.store import tokens
from billsync.store.database import Database
from tests.e2e.conftest import _pg_schema
from tests.e2e.test_demo import _synced
from tests.servers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

#: serve migrates and starts pollers, on a machine shared with other suites
START_WITHIN = 120


@pytest.fixture
async def db_url(postgres_url: str) -> AsyncIterator[str]:
    """A schema of this test's own in the run's database."""
    schema = f"demo_{uuid.uuid4().hex[:12]}"
    await _pg_schema(postgres_url, schema, create=True)
    url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    await _pg_schema(postgres_url, schema, create=False)


class Demo:
    def __init__(self, workdir: Path, db_url: str, seed: int) -> None:
        self.ports = [free_port() for _ in range(3)]
        self.log = workdir / f"demo-{time.monotonic_ns()}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BILLSYNC_")}
        env["BILLSYNC_POLL_INTERVAL"] = "1"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable, "-m", "billsync", "demo",
                    "--port", str(self.ports[0]),
                    "--togai-port", str(self.ports[1]),
                    "--razorpay-port", str(self.ports[2]),
                    "--seed", str(seed),
                    "--database-url", db_url,
                    "--workers", "2",
                ],
                cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.children: dict[str, int] = {}

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_started(self) -> None:
        deadline = time.monotonic() + START_WITHIN
        while "Press Ctrl-C" not in self.text():
            assert self.proc.poll() is None, self.text()
            assert time.monotonic() < deadline, self.text()
            time.sleep(0.1)
        found = re.search(r"^Processes +(.+)$", self.text(), re.MULTILINE)
        assert found is not None, self.text()
        for item in found.group(1).split(", "):
            name, pid = item.rsplit(" ", 1)
            self.children[name] = int(pid)

    def stop(self, signum: int) -> int:
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def kill_all(self) -> None:
        """Cleanup after a failed test: nothing of this demo may outlive it."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in self.children.values():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    """Running (not a zombie awaiting its parent's wait) and still a billsync process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and "billsync" in _cmdline(pid)


def _wait_gone(pids: list[int], within: float) -> list[int]:
    deadline = time.monotonic() + within
    while (left := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture
def demos(tmp_path: Path) -> Iterator[list[Demo]]:
    started: list[Demo] = []
    yield started
    for d in started:
        d.kill_all()


async def test_demo_with_two_workers_syncs_the_seed_and_ctrl_c_stops_every_process(
    tmp_path: Path, db_url: str, demos: list[Demo]
) -> None:
    d = Demo(tmp_path, db_url, seed=3)
    demos.append(d)
    d.wait_started()
    assert sorted(d.children) == ["serve", "worker-1", "worker-2"]
    assert "serve --no-worker" in _cmdline(d.children["serve"])
    for name in ("worker-1", "worker-2"):
        assert " worker --db " in _cmdline(d.children[name]), name
    serve_url = f"http://127.0.0.1:{d.ports[0]}"
    async with httpx.AsyncClient() as http:
        health = (await http.get(f"{serve_url}/healthz")).json()
    # serve executes no run: what syncs below was executed by the worker processes
    assert health["worker"] is False and health["poller"] is True
    togai_url, razorpay_url = (f"http://127.0.0.1:{p}" for p in d.ports[1:])
    await _synced(togai_url, razorpay_url, accounts=3, paid=3)
    started = [line for line in d.text().splitlines() if "worker started" in line]
    for name in ("worker-1", "worker-2"):
        # each worker runs procrastinate under its own pid (its owner is host:pid:id)
        mine = [line for line in started if f":{d.children[name]}:" in line]
        assert len(mine) == 1 and "dispatcher=procrastinate" in mine[0], (name, started)

    assert d.stop(signal.SIGINT) == 0, d.text()[-3000:]
    assert d.text().rstrip().endswith("stopped"), d.text()[-2000:]
    # every child stopped (and was reaped by the demo): none is left orphaned
    assert _wait_gone(list(d.children.values()), within=0) == []
    db = Database(db_url)
    try:
        async with db.read() as session:
            demo_tokens = await tokens.list_all(session)
    finally:
        await db.dispose()
    assert [t.revoked_at is not None for t in demo_tokens] == [True]


async def test_sigterm_or_a_killed_demo_leaves_no_process_behind(
    tmp_path: Path, db_url: str, demos: list[Demo]
) -> None:
    d = Demo(tmp_path, db_url, seed=0)
    demos.append(d)
    d.wait_started()
    assert d.stop(signal.SIGTERM) == 0, d.text()[-3000:]
    assert _wait_gone(list(d.children.values()), within=0) == []

    # SIGKILL cannot be caught: the kernel tells each child its parent died (SIGTERM)
    d = Demo(tmp_path, db_url, seed=0)
    demos.append(d)
    d.wait_started()
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=10)
    assert _wait_gone(list(d.children.values()), within=60) == [], d.text()[-3000:]
