"""Reconciliation cost: `billsync reconcile --json` over N invoices a side.

Both sandboxes run in this process on real sockets (uvicorn threads, as the e2e tests run
them), wired like `billsync demo` (connections, every template enabled; their webhook
targets removed, no `billsync serve` runs). The seed writes a fully synced state through
the sandboxes' own APIs in-process (httpx.ASGITransport: some 60,000 requests, which over
sockets took an hour on a loaded machine), as if billsync had synced it: A Togai
accounts with Razorpay customers (notes) and RazorPayCustomerId settings; N DUE Togai
invoices with Razorpay invoices (notes, receipt) and RazorPayInvoiceId/RazorPayInvoiceUrl
settings; P of them paid in Razorpay and recorded in Togai; billsync's mappings for all of
it. Then D invoices made in Togai only (drift).

The measured part is one `billsync reconcile --json` process per scenario: wall time, its
peak RSS (VmHWM, read until it exits), the calls each sandbox answered (by route), the
report's summary. Scenarios: `default` (the connections' default rate limits: Togai's
documented 10 requests/s, Razorpay none) and `unlimited` (no pacing: what CPU bounds).

    .venv/bin/python bench/reconcile.py                       # N = 10000, both scenarios
    .venv/bin/python bench/reconcile.py --invoices 2000 --scenario unlimited
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr

from billsync.app import build, connection_admin
from billsync.app import connections as connection_ops
from billsync.cli import demo
from billsync.config import Settings
from billsync.domain import IdLink, LinkKind
from billsync.sandbox import razorpay as razorpay_sandbox
from billsync.sandbox import togai as togai_sandbox
from billsync.store import mappings
from billsync.store.vault import Vault
from burst_stack import (
    RAZORPAY_AUTH,
    TOGAI_AUTH,
    call,
    cpu_seconds,
    peak_rss_mib,
    request_delta,
    stats,
)

CONCURRENCY = 32


async def _gather(jobs: list[Any], gate: asyncio.Semaphore) -> list[Any]:
    async def one(job: Any) -> Any:
        async with gate:
            return await job

    return await asyncio.gather(*(one(j) for j in jobs))


@dataclass
class Stack:
    workdir: Path
    key: str = field(default_factory=Vault.generate_key)
    togai_app: Any = None
    razorpay_app: Any = None
    togai_url: str = ""
    razorpay_url: str = ""
    connection_ids: dict[str, int] = field(default_factory=dict)

    @property
    def db_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.workdir / 'billsync.db'}"

    def settings(self) -> Settings:
        return Settings(
            database_url=self.db_url,
            secret_keys=SecretStr(self.key),
            public_url="http://127.0.0.1:9",
        )


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """`app` on a real socket (uvicorn in a thread); its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("sandbox did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def wire(stack: Stack) -> None:
    app = build(stack.settings())
    try:
        await app.migrate()
        await demo.wire(app, stack.togai_url, stack.razorpay_url)
        for app_name, name in (
            ("togai", demo.TOGAI_CONNECTION),
            ("razorpay", demo.RAZORPAY_CONNECTION),
        ):
            found = await connection_ops.find(app, app_name, name)
            assert found is not None
            stack.connection_ids[app_name] = found.id
    finally:
        await app.stop()


async def seed(stack: Stack, accounts: int, invoices: int, paid: int, drift: int) -> list[IdLink]:
    """The synced state (see the module docstring); returns the mappings to store."""
    gate = asyncio.Semaphore(CONCURRENCY)
    links: list[IdLink] = []
    togai, rzp = "http://togai", "http://razorpay"
    mounts: dict[str, httpx.AsyncBaseTransport] = {
        togai: httpx.ASGITransport(app=stack.togai_app),
        rzp: httpx.ASGITransport(app=stack.razorpay_app),
    }
    async with httpx.AsyncClient(timeout=60, mounts=mounts) as http:
        for url in (togai, rzp):
            await http.delete(f"{url}/_sandbox/webhooks")

        async def setting(entity_type: str, entity_id: str, setting_id: str, value: str) -> None:
            await call(
                http,
                "POST",
                f"{togai}/settings",
                headers=TOGAI_AUTH,
                json={
                    "id": setting_id,
                    "value": value,
                    "namespace": "USER",
                    "name": setting_id,
                    "entityType": entity_type,
                    "entityId": entity_id,
                    "dataType": "STRING",
                },
            )

        async def account(i: int) -> tuple[str, str]:
            account_id = f"acct-{i:05d}"
            email = f"{account_id}@example.com"
            await call(
                http,
                "POST",
                f"{togai}/customers",
                headers=TOGAI_AUTH,
                json={
                    "id": account_id,
                    "name": f"Bench customer {i}",
                    "primaryEmail": email,
                    "address": {"line1": "12 MG Road", "city": "Bengaluru", "country": "IN"},
                    "account": {
                        "id": account_id,
                        "name": f"Bench account {i}",
                        "primaryEmail": email,
                        "invoiceCurrency": "INR",
                    },
                },
            )
            r = await call(
                http,
                "POST",
                f"{rzp}/v1/customers",
                auth=RAZORPAY_AUTH,
                json={
                    "name": f"Bench account {i}",
                    "email": email,
                    "notes": {"togai_account_id": account_id},
                },
            )
            customer_id = str(r.json()["id"])
            await setting("ACCOUNT", account_id, "RazorPayCustomerId", customer_id)
            return account_id, customer_id

        made = await _gather([account(i) for i in range(accounts)], gate)
        links += [IdLink(LinkKind.ACCOUNT_CUSTOMER, a, c) for a, c in made]

        async def invoice(i: int) -> None:
            account_id, customer_id = made[i % len(made)]
            total = 500 + i % 1000
            r = await call(
                http,
                "POST",
                f"{togai}/_sandbox/invoices",
                json={"accountId": account_id, "totalAmount": total, "status": "DUE"},
            )
            togai_id = str(r.json()["id"])
            r = await call(
                http,
                "POST",
                f"{rzp}/v1/invoices",
                auth=RAZORPAY_AUTH,
                json={
                    "type": "invoice",
                    "customer_id": customer_id,
                    "currency": "INR",
                    "receipt": togai_id,
                    "line_items": [{"name": f"Invoice {togai_id}", "amount": total * 100}],
                    "notes": {"togai_invoice_id": togai_id, "togai_account_id": account_id},
                },
            )
            body = r.json()
            await setting("INVOICE", togai_id, "RazorPayInvoiceId", str(body["id"]))
            await setting("INVOICE", togai_id, "RazorPayInvoiceUrl", str(body["short_url"]))
            links.append(IdLink(LinkKind.INVOICE_INVOICE, togai_id, str(body["id"])))
            if i < paid:
                r = await call(http, "POST", f"{rzp}/_sandbox/invoices/{body['id']}/pay", json={})
                payment_id = str(r.json()["payment_id"])
                r = await call(
                    http,
                    "POST",
                    f"{togai}/payments",
                    headers=TOGAI_AUTH,
                    json={
                        "accountId": account_id,
                        "currency": "INR",
                        "totalAmount": total,
                        "externalPaymentReference": {
                            "sourceName": "Razorpay",
                            "sourceType": "GATEWAY",
                            "transactionNumber": payment_id,
                        },
                        "lineItemRecords": [
                            {"type": "INVOICE", "togaiId": togai_id, "amount": total, "order": 1}
                        ],
                    },
                )
                links.append(IdLink(LinkKind.PAYMENT_PAYMENT, str(r.json()["id"]), payment_id))

        await _gather([invoice(i) for i in range(invoices)], gate)

        async def unsent(i: int) -> None:
            account_id, _ = made[i % len(made)]
            await call(
                http,
                "POST",
                f"{togai}/_sandbox/invoices",
                json={"accountId": account_id, "totalAmount": 100, "status": "DUE"},
            )

        await _gather([unsent(i) for i in range(drift)], gate)
    return links


async def store_links(stack: Stack, links: list[IdLink]) -> None:
    app = build(stack.settings())
    try:
        for start in range(0, len(links), 1000):
            async with app.db.write() as session:
                for link in links[start : start + 1000]:
                    await mappings.insert_new(session, link, run_id=None, now=app.clock.now())
    finally:
        await app.stop()


async def set_rates(stack: Stack, togai: float | None, razorpay: float | None) -> None:
    app = build(stack.settings())
    try:
        for name, rate in (("togai", togai), ("razorpay", razorpay)):
            await connection_admin.update(
                app, stack.connection_ids[name], rate_limit=rate, actor="bench"
            )
    finally:
        await app.stop()


async def measure(stack: Stack, scenario: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=60) as http:
        before = {n: await stats(http, getattr(stack, f"{n}_url")) for n in ("togai", "razorpay")}
        env = {k: v for k, v in os.environ.items() if not k.startswith("BILLSYNC_")}
        env["BILLSYNC_SECRET_KEYS"] = stack.key
        argv = [sys.executable, "-m", "billsync", "reconcile", "--json", "--db", stack.db_url]
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        rss_mib = cpu = 0.0
        communicate = asyncio.create_task(proc.communicate())
        while not communicate.done():
            # VmHWM is the peak so far: the last reading before exit is the process's peak
            rss_mib = max(rss_mib, peak_rss_mib(proc.pid) or 0.0)
            cpu = max(cpu, cpu_seconds(proc.pid) or 0.0)
            await asyncio.sleep(0.05)
        stdout, stderr = await communicate
        seconds = time.perf_counter() - started
        done = subprocess.CompletedProcess(argv, proc.returncode or 0, stdout, stderr)
        after = {n: await stats(http, getattr(stack, f"{n}_url")) for n in ("togai", "razorpay")}
    if done.returncode not in (0, 1):
        raise RuntimeError(f"reconcile exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    report = json.loads(done.stdout)
    calls: dict[str, dict[str, int]] = {}
    for name in ("togai", "razorpay"):
        delta = request_delta(before[name], after[name])
        calls[name] = {route: sum(c.values()) for route, c in sorted(delta.items())}
    return {
        "scenario": scenario,
        "exit_code": done.returncode,
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(rss_mib, 1),
        "cpu_seconds": round(cpu, 1),  # the reconcile process's own, read until it exits
        "calls": {name: sum(routes.values()) for name, routes in calls.items()},
        "calls_by_route": calls,
        "items": len(report["items"]),
        "summary": {k: v for k, v in report["summary"].items() if v},
        "kinds": dict(Counter(item["kind"] for item in report["items"])),
    }


SCENARIOS = {"default": (None, None), "unlimited": (0.0, 0.0)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--paid", type=int, default=2_000)
    parser.add_argument("--drift", type=int, default=100)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        stack = Stack(workdir=Path(tmp))
        stack.togai_app = togai_sandbox.create_app(togai_sandbox.TogaiSandboxConfig())
        stack.razorpay_app = razorpay_sandbox.create_app(razorpay_sandbox.RazorpaySandboxConfig())
        with serving(stack.togai_app) as togai_url, serving(stack.razorpay_app) as rzp_url:
            stack.togai_url, stack.razorpay_url = togai_url, rzp_url
            await wire(stack)
            started = time.perf_counter()
            links = await seed(stack, args.accounts, args.invoices, args.paid, args.drift)
            await store_links(stack, links)
            seed_seconds = time.perf_counter() - started
            print(f"seeded in {seed_seconds:.0f} s", file=sys.stderr)
            for scenario in args.scenario or ["default", "unlimited"]:
                await set_rates(stack, *SCENARIOS[scenario])
                result = await measure(stack, scenario)
                result["seed_seconds"] = round(seed_seconds, 1)
                print(json.dumps(result), file=sys.stderr)
                results.append(result)
    print(
        json.dumps(
            {
                "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
                f"Python {platform.python_version()}",
                "load_average": os.getloadavg(),
                "invoices": args.invoices,
                "accounts": args.accounts,
                "paid": args.paid,
                "drift": args.drift,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
