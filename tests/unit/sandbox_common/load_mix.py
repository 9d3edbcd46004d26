"""CPU per request of a sandbox process under a realistic request mix (not a test).

Starts `billsync sandbox togai|razorpay` as a subprocess, registers a webhook target served
by this script (answers 200 at once), drives `--n` units of the mix below with aiohttp,
`--concurrency` units at a time, and reads the sandbox's utime+stime from /proc/<pid>/stat
before and after (webhook deliveries included: they run in the sandbox process).

    .venv/bin/python tests/unit/sandbox_common/load_mix.py togai --n 1000
    .venv/bin/python tests/unit/sandbox_common/load_mix.py razorpay --n 1000

Togai unit: POST /customers (embedded account), POST /_sandbox/invoices (DUE), GET
/accounts/{id}, GET /invoices/{id}, POST /settings, GET /settings/{full id}, PATCH
/settings/{full id}. Razorpay unit: POST /v1/customers, GET /v1/invoices?receipt=, POST
/v1/invoices.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

TICKS = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[3]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def togai_unit(http: aiohttp.ClientSession, base: str, run: str, i: int) -> int:
    auth = {"Authorization": "Bearer togai_sandbox_token"}
    cid = f"C{run}{i:06d}"
    customer = {
        "id": cid,
        "name": f"Customer {i}",
        "primaryEmail": f"c{i}@example.com",
        "address": {"line1": "1 Main St", "city": "Pune", "country": "IN"},
        "account": {
            "id": cid,
            "name": f"Account {i}",
            "primaryEmail": f"c{i}@example.com",
            "invoiceCurrency": "INR",
        },
    }
    setting = {
        "id": "RazorPayCustomerId",
        "name": "RazorPayCustomerId",
        "value": f"cust_{i:014d}",
        "entityType": "ACCOUNT",
        "entityId": cid,
        "namespace": "USER",
        "dataType": "STRING",
    }
    full = f"setting.USER.RazorPayCustomerId.ACCOUNT.{cid}"
    calls: list[tuple[str, str, Any]] = [
        ("POST", "/customers", customer),
        ("POST", "/_sandbox/invoices", {"accountId": cid, "totalAmount": 100, "status": "DUE"}),
    ]
    invoice_id = ""
    for method, path, body in calls:
        async with http.request(method, base + path, json=body, headers=auth) as r:
            assert r.status == 201, (path, r.status, await r.text())
            invoice_id = (await r.json())["id"]
    for method, path, body in [
        ("GET", f"/accounts/{cid}", None),
        ("GET", f"/invoices/{invoice_id}", None),
        ("POST", "/settings", setting),
        ("GET", f"/settings/{full}", None),
        ("PATCH", f"/settings/{full}", {"value": f"cust_{i:014d}x"}),
    ]:
        async with http.request(method, base + path, json=body, headers=auth) as r:
            assert r.status in (200, 201), (path, r.status, await r.text())
            await r.read()
    return 7


async def razorpay_unit(http: aiohttp.ClientSession, base: str, run: str, i: int) -> int:
    token = base64.b64encode(b"rzp_test_sandbox:sandbox_secret").decode()
    auth = {"Authorization": f"Basic {token}"}
    receipt = f"inv.{run}.{i:06d}"
    customer = {
        "name": f"Account {i}",
        "email": f"a{run}{i}@example.com",
        "contact": f"9198{i:08d}",
        "fail_existing": "0",
        "notes": {"togai_account_id": f"A{i}"},
    }
    async with http.post(f"{base}/v1/customers", json=customer, headers=auth) as r:
        assert r.status == 200, await r.text()
        customer_id = (await r.json())["id"]
    async with http.get(f"{base}/v1/invoices", params={"receipt": receipt}, headers=auth) as r:
        assert r.status == 200 and (await r.json())["count"] == 0
    invoice = {
        "type": "invoice",
        "customer_id": customer_id,
        "line_items": [{"name": f"Invoice {i}", "amount": 10000, "currency": "INR"}],
        "currency": "INR",
        "receipt": receipt,
        "notes": {"togai_invoice_id": receipt},
    }
    async with http.post(f"{base}/v1/invoices", json=invoice, headers=auth) as r:
        assert r.status == 200, await r.text()
        await r.read()
    return 3


async def drive(args: argparse.Namespace, pid: int, base: str, hook_url: str) -> None:
    unit = togai_unit if args.sandbox == "togai" else razorpay_unit
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        if not args.no_webhook:
            async with http.post(f"{base}/_sandbox/webhooks", json={"url": hook_url}) as r:
                assert r.status == 201
        gate = asyncio.Semaphore(args.concurrency)
        run = str(int(time.time()) % 100000)

        async def one(i: int) -> int:
            async with gate:
                return await unit(http, base, run, i)

        await asyncio.gather(*(one(i) for i in range(50)))  # warm-up, not measured
        async with http.get(f"{base}/_sandbox/stats") as r:
            before_webhooks = (await r.json())["webhooks"]["delivered"]
        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        counts = await asyncio.gather(*(one(i) for i in range(50, 50 + args.n)))
        # Wait for the webhook deliveries the burst caused: they cost the sandbox CPU too.
        while True:
            async with http.get(f"{base}/_sandbox/stats") as r:
                hooks = (await r.json())["webhooks"]
            if hooks["pending"] == 0:
                break
            await asyncio.sleep(0.05)
        seconds, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    requests = sum(counts)
    delivered = hooks["delivered"] - before_webhooks
    sys.stdout.write(
        f"{args.sandbox}: {args.n} units, {requests} requests, {delivered} webhooks delivered, "
        f"{seconds:.2f} s wall, {cpu:.2f} s sandbox CPU -> "
        f"{1000 * cpu / requests:.2f} ms CPU/request, {requests / seconds:.0f} req/s\n"
    )


def main(args: argparse.Namespace) -> None:
    port = free_port()
    profile = ["-m", "cProfile", "-o", args.cprofile] if args.cprofile else []
    argv = [sys.executable, *profile, "-m", "billsync", "sandbox", args.sandbox]
    proc = subprocess.Popen([*argv, "--port", str(port), *args.extra], cwd=ROOT)
    try:
        asyncio.run(measure(args, proc.pid, f"http://127.0.0.1:{port}"))
    finally:
        # SIGINT, not SIGTERM: uvicorn re-raises it after shutdown, and cProfile then still
        # writes its stats.
        proc.send_signal(signal.SIGINT)
        proc.wait(10)


async def measure(args: argparse.Namespace, pid: int, base: str) -> None:
    hook = web.Application()

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200)

    hook.router.add_post("/hook", ok)
    runner = web.AppRunner(hook, access_log=None)
    await runner.setup()
    hook_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"{base}/_sandbox/stats") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        await drive(args, pid, base, f"http://127.0.0.1:{hook_port}/hook")
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sandbox", choices=("togai", "razorpay"))
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--no-webhook", action="store_true")
    parser.add_argument("--cprofile", help="run the sandbox under cProfile, stats to this file")
    parser.add_argument("extra", nargs="*", help="extra sandbox flags (after --)")
    main(parser.parse_args())
