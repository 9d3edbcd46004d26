"""`billsync demo` as a newcomer runs it: sandboxes up, data synced, Ctrl-C, run it again."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from billsync.engine.templates import list_templates
from billsync.store import connections, flows, tokens
from billsync.store.database import Database
from tests.e2e.harness import eventually
from tests.servers import free_port

pytestmark = pytest.mark.e2e


@contextmanager
def demo(workdir: Path, seed: int, *extra: str) -> Iterator[tuple[str, str, Path]]:
    ports = [free_port() for _ in range(3)]
    log = workdir / f"demo-{time.monotonic_ns()}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLSYNC_")}
    env["BILLSYNC_POLL_INTERVAL"] = "1"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "billsync",
                "demo",
                "--port",
                str(ports[0]),
                "--togai-port",
                str(ports[1]),
                "--razorpay-port",
                str(ports[2]),
                "--seed",
                str(seed),
                *extra,
            ],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while "Press Ctrl-C" not in log.read_text(errors="replace"):
                assert proc.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{ports[1]}", f"http://127.0.0.1:{ports[2]}", log
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                rc = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
    text = log.read_text(errors="replace")
    assert rc == 0, text
    assert text.rstrip().endswith("stopped"), text[-2000:]


async def _objects(url: str) -> dict[str, int]:
    async with httpx.AsyncClient() as http:
        return dict((await http.get(f"{url}/_sandbox/stats")).json()["objects"])


async def _synced(togai_url: str, razorpay_url: str, accounts: int, paid: int) -> None:
    async def done() -> bool:
        togai, razorpay = await _objects(togai_url), await _objects(razorpay_url)
        return (
            razorpay["customer"] == accounts
            and razorpay["invoice"] == accounts
            and razorpay["payment"] == paid
            and togai["payments"] == paid
            and togai["settings"] == 3 * accounts
        )

    await eventually(done, "the demo data to sync", within=60)


async def test_demo_seeds_syncs_stops_and_reruns_on_the_same_database(tmp_path: Path) -> None:
    with demo(tmp_path, seed=3) as (togai_url, razorpay_url, log):
        # three accounts with an invoice each; every other invoice is paid, the first in two
        # parts (partial payments are on in the demo): three payments in both systems
        await _synced(togai_url, razorpay_url, accounts=3, paid=3)
        text = log.read_text()
        assert "/webhooks/togai/1/" in text and "/webhooks/razorpay/2" in text
        # the printed admin token opens the API (and the UI) right away
        ui = re.search(r"Admin UI +(\S+)/ui +\(log in with token (\S+)\)", text)
        assert ui is not None, text
        async with httpx.AsyncClient(base_url=ui.group(1)) as http:
            runs = await http.get(
                "/api/v1/runs", headers={"Authorization": f"Bearer {ui.group(2)}"}
            )
            assert runs.status_code == 200
            assert (await http.get("/api/v1/runs")).status_code == 401
            # the partially-paid flow recorded the first part of the invoice paid in two
            auth = {"Authorization": f"Bearer {ui.group(2)}"}
            [partial] = [
                f
                for f in (await http.get("/api/v1/flows", headers=auth)).json()
                if f["template_key"] == "razorpay-invoice-partially-paid-to-togai"
            ]
            done = await http.get(
                "/api/v1/runs",
                params={"flow_id": partial["id"], "status": "succeeded"},
                headers=auth,
            )
            assert len(done.json()) == 1, done.text
    assert (tmp_path / "billsync-demo.db").exists()

    limits = ("--togai-rate-limit", "10", "--razorpay-rate-limit", "5")
    with demo(tmp_path, 1, *limits) as (togai_url, razorpay_url, log):
        # fresh sandboxes, same database: connections and flows are reused; the sandboxes
        # are rate-limited like the real services, and the data still syncs
        async with httpx.AsyncClient() as http:
            togai_faults = (await http.get(f"{togai_url}/_sandbox/faults")).json()
            razorpay_faults = (await http.get(f"{razorpay_url}/_sandbox/faults")).json()
        assert (togai_faults["rate_limit"], razorpay_faults["rate_limit"]) == (10, 5)
        await _synced(togai_url, razorpay_url, accounts=1, paid=2)
        text = log.read_text()
        assert "/webhooks/togai/1/" in text and "/webhooks/razorpay/2" in text
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'billsync-demo.db'}")
    try:
        async with db.read() as session:
            assert len(await connections.list_all(session)) == 2
            all_flows = await flows.list_all(session)
            demo_tokens = await tokens.list_all(session)
    finally:
        await db.dispose()
    assert sorted(f.template_key or "" for f in all_flows) == sorted(
        t.key for t in list_templates()
    )
    assert all(f.enabled for f in all_flows)
    # each demo run minted one admin token and revoked it when it stopped
    assert len(demo_tokens) == 2
    assert all(t.name.startswith("demo-") and t.revoked_at is not None for t in demo_tokens)
