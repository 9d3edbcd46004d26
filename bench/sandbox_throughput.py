"""Throughput of the Togai and Razorpay sandboxes against a bare Starlette baseline.

Each server runs alone in a subprocess under uvicorn exactly as the CLI starts it
(`python -m billsync sandbox togai|razorpay --port P`); the baseline is a hello-world
Starlette app under the same `uvicorn.run` call. Load comes from wrk when installed
(`apt-get install wrk`), else from a concurrent httpx client (which on a 2-core machine
is itself the bottleneck, so its figures are a floor).

    .venv/bin/python bench/sandbox_throughput.py [--duration 5] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import itertools
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

TARGET = 1500.0
TOGAI_AUTH = {"Authorization": "Bearer togai_sandbox_token"}
RAZORPAY_AUTH = {
    "Authorization": "Basic " + base64.b64encode(b"rzp_test_sandbox:sandbox_secret").decode()
}


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: str
    headers: dict[str, str]
    # Body for request n (creates need unique ids); None for GETs.
    body: Callable[[int], str] | None = None
    # Lua format string with one %d for the counter, for wrk.
    lua_body: str | None = None


@dataclass(frozen=True)
class Result:
    server: str
    scenario: str
    rps: float
    errors: int
    tool: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(argv: list[str], port: int) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"{' '.join(argv)} exited early:\n{err}")
            try:
                httpx.get(url + "/", timeout=0.5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{' '.join(argv)} did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_wrk(url: str, scenario: Scenario, duration: int, connections: int) -> tuple[float, int]:
    headers = {"Content-Type": "application/json", **scenario.headers}
    lines = [
        "local counter = 0",
        "local tid = 0",
        "local next_tid = 0",
        "function setup(thread) next_tid = next_tid + 1; thread:set('tid', next_tid) end",
        "function init(args) counter = tid * 100000000 end",
        "request = function()",
        "  counter = counter + 1",
    ]
    header_lua = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    if scenario.lua_body is not None:
        lines.append(f"  local body = string.format({json.dumps(scenario.lua_body)}, counter)")
    else:
        lines.append("  local body = nil")
    lines += [
        f"  return wrk.format({json.dumps(scenario.method)}, {json.dumps(scenario.path)}, "
        f"{{{header_lua}}}, body)",
        "end",
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", script.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    rps = float(found.group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (sum(int(g) for g in sock.groups()) if sock else 0)
    return rps, errors


def run_httpx(url: str, scenario: Scenario, duration: int, connections: int) -> tuple[float, int]:
    async def main() -> tuple[int, int]:
        counter = itertools.count(1)
        done = errors = 0
        stop = time.monotonic() + duration
        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(base_url=url, headers=scenario.headers, limits=limits) as c:

            async def worker() -> None:
                nonlocal done, errors
                while time.monotonic() < stop:
                    n = next(counter)
                    content = scenario.body(n) if scenario.body else None
                    r = await c.request(
                        scenario.method,
                        scenario.path,
                        content=content,
                        headers={"Content-Type": "application/json"} if content else None,
                    )
                    done += 1
                    errors += r.status_code >= 400

            await asyncio.gather(*(worker() for _ in range(connections)))
        return done, errors

    started = time.monotonic()
    done, errors = asyncio.run(main())
    return done / (time.monotonic() - started), errors


def togai_scenarios(url: str) -> list[Scenario]:
    customer = {"id": "BENCH", "name": "Bench", "primaryEmail": "b@example.com", "address": {}}
    httpx.post(f"{url}/customers", json=customer, headers=TOGAI_AUTH).raise_for_status()
    body = '{"id":"B%d","name":"Bench customer","primaryEmail":"b@example.com","address":{}}'
    return [
        Scenario("GET /customers/{id}", "GET", "/customers/BENCH", TOGAI_AUTH),
        Scenario(
            "POST /customers",
            "POST",
            "/customers",
            TOGAI_AUTH,
            body=lambda n: body % n,
            lua_body=body,
        ),
    ]


def razorpay_scenarios(url: str) -> list[Scenario]:
    created = httpx.post(
        f"{url}/v1/customers",
        json={"name": "Bench", "email": "bench@example.com", "contact": "+919000000000"},
        headers=RAZORPAY_AUTH,
    )
    created.raise_for_status()
    customer_id = created.json()["id"]
    body = '{"name":"Bench","email":"b%d@example.com","contact":"+919100000000"}'
    return [
        Scenario("GET /v1/customers/{id}", "GET", f"/v1/customers/{customer_id}", RAZORPAY_AUTH),
        Scenario(
            "POST /v1/customers",
            "POST",
            "/v1/customers",
            RAZORPAY_AUTH,
            body=lambda n: body % n,
            lua_body=body,
        ),
    ]


def baseline_scenarios(url: str) -> list[Scenario]:
    body = '{"id":"B%d","name":"Bench customer"}'
    return [
        Scenario("GET / (hello world)", "GET", "/", {}),
        Scenario("POST /items (parse JSON, 201)", "POST", "/items", {}, lambda n: body % n, body),
    ]


def serve_baseline(port: int) -> None:
    """The baseline: the same server call as the CLI, a bare Starlette app."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("Hello, world!")

    async def create(request: Request) -> JSONResponse:
        return JSONResponse(await request.json(), status_code=201)

    app = Starlette(
        routes=[Route("/", hello), Route("/items", create, methods=["POST"])],
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def sandbox_available(name: str) -> bool:
    if importlib.util.find_spec(f"billsync.sandbox.{name}") is None:
        return False
    module = importlib.import_module(f"billsync.sandbox.{name}")
    return hasattr(module, "create_app")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tool", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return 0

    tool = args.tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "httpx"
    if tool == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install wrk), use --tool httpx")
    load = run_wrk if tool == "wrk" else run_httpx
    print(
        f"machine: {os.cpu_count()} cpus, {platform.platform()}, Python {platform.python_version()}"
    )
    print(f"load: {tool}, {args.connections} connections, {args.duration}s per scenario\n")

    python = sys.executable
    servers: list[tuple[str, list[str], Callable[[str], list[Scenario]]]] = [
        ("baseline", [python, __file__, "--serve-baseline", "{port}"], baseline_scenarios)
    ]
    for name, scenarios in (("togai", togai_scenarios), ("razorpay", razorpay_scenarios)):
        if sandbox_available(name):
            servers.append(
                (name, [python, "-m", "billsync", "sandbox", name, "--port", "{port}"], scenarios)
            )
        else:
            print(f"(billsync.sandbox.{name} not available yet: skipped)")

    results: list[Result] = []
    for name, argv_template, make_scenarios in servers:
        port = free_port()
        argv = [part.replace("{port}", str(port)) for part in argv_template]
        with server(argv, port) as url:
            for scenario in make_scenarios(url):
                rps, errors = load(url, scenario, args.duration, args.connections)
                results.append(Result(name, scenario.name, rps, errors, tool))
                print(f"{name:9} {scenario.name:34} {rps:9.0f} req/s  errors={errors}")

    base = {r.scenario.split()[0]: r.rps for r in results if r.server == "baseline"}
    print("\nserver    scenario                            req/s   vs baseline  target")
    ok = True
    for r in results:
        ratio = r.rps / base[r.scenario.split()[0]]
        verdict = "-" if r.server == "baseline" else ("ok" if r.rps >= TARGET else "BELOW")
        ok &= verdict != "BELOW" and r.errors == 0
        print(f"{r.server:9} {r.scenario:34} {r.rps:7.0f}   {ratio:9.0%}    {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
