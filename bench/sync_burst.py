"""Sync burst: N Togai accounts + N due invoices through a real `billsync serve`, against a
direct asyncio script making the same effects (the floor).

Per scenario: both sandboxes and `billsync serve` (SQLite in a temp dir) run as
subprocesses, wired like `billsync demo`. The driver creates N accounts, then N DUE invoices
(control plane); the scenario ends when every account has a Razorpay customer and a
RazorPayCustomerId setting and every invoice a Razorpay invoice and its RazorPayInvoiceId /
RazorPayInvoiceUrl settings (counted in /_sandbox/stats, then checked object by object).
Then billsync stops, the sandboxes are reset and the floor makes the same effects.

    .venv/bin/python bench/sync_burst.py                      # every scenario, N = 1000
    .venv/bin/python bench/sync_burst.py --scenario latency-0 --n 500 --slots 16

Scenarios: latency-0, latency-100 (sandbox latency per API request), rate-limit (Razorpay
sandbox at --rate-limit req/s, the Razorpay connection limited to match; N = --n-rate-limit),
togai-rate-limit (Togai sandbox at --togai-rate-limit req/s, the Togai connection limited to
match, accounts seeded through the control plane; N = --n-togai-rate-limit; the floor paced
the same way), faults (--error-rate 5xx and --lost-rate lost responses on both sandboxes'
APIs, everything seeded through the control plane; N = --n-faults; no floor).

Issue #14's bars: per synced account + invoice, with webhooks on and no faults, Togai
≤ 3.15 calls and Razorpay ≤ 2.1 (counted by the sandboxes); togai-rate-limit ≥ 0.9 × the
floor; latency-100 ≥ 0.8 × the floor at equal concurrency (32 worker slots, 32 floor
accounts in flight); faults: 0 duplicates, 0 missing. Every scenario also reports billsync's
own count of its calls by purpose (/metrics), event→effect lag and CPU per sync.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billsync.connectors.transport import AiohttpTransport
from billsync.store.database import Database
from billsync.store.models import Event, Flow, Run, StepAttempt
from billsync.store.status import UNFINISHED_RUN
from burst_data import Outcome, Seeded, check, seed
from burst_stack import (
    Stack,
    ok_requests,
    peak_rss_mib,
    provider_calls,
    request_delta,
    stats,
)
from floor import CALLS_PER_SYNC, FLOOR_CLIENTS, FloorResult, run_floor

TARGET_UTILIZATION = 0.9
#: issue #14: calls per synced account + invoice (webhooks on, no faults)
BUDGET_CALLS = {"togai": 3.15, "razorpay": 2.1}
#: issue #14: ratio to the floor measured in the same run, by scenario
TARGET_FLOOR_RATIO = {"togai-rate-limit": 0.9, "latency-100": 0.8}
ACCOUNT_TEMPLATE = "togai-account-to-razorpay-customer"
INVOICE_TEMPLATE = "togai-invoice-to-razorpay-invoice"


@dataclass(frozen=True)
class Scenario:
    name: str
    n: int
    latency_ms: int = 0
    rate_limit: float = 0
    floor: bool = True
    togai_rate_limit: float = 0
    #: sandbox API faults: (5xx rate, lost-response rate)
    faults: tuple[float, float] | None = None


@dataclass
class Report:
    scenario: str
    n: int
    latency_ms: int
    rate_limit: float
    worker_slots: int | None
    worker_processes: int = 0
    webhook_concurrency: int | None = None
    database: str = "sqlite"
    completed: bool = False
    seconds: float = 0.0
    seed_seconds: float = 0.0
    syncs_per_s: float = 0.0
    floor_syncs_per_s: float | None = None
    floor_seconds: float | None = None
    floor_failed: int | None = None
    togai_rate_limit: float = 0.0
    faults: tuple[float, float] | None = None
    calls_per_sync: float = 0.0
    #: sandbox-counted calls per sync, by app
    calls_per_sync_by_app: dict[str, float] = field(default_factory=dict)
    #: billsync's own count (/metrics billsync_provider_calls_total), per sync: "app purpose"
    calls_by_purpose: dict[str, float] = field(default_factory=dict)
    calls_by_route: dict[str, dict[str, int]] = field(default_factory=dict)
    http_429: int = 0
    invoice_lag_p50: float | None = None
    invoice_lag_p99: float | None = None
    account_lag_p50: float | None = None
    account_lag_p99: float | None = None
    peak_rss_mib: float | None = None
    runs: dict[str, int] = field(default_factory=dict)
    attempts_429: int = 0
    failed_attempts: int = 0
    #: runs that went dead (attempts exhausted) under faults, replayed once faults stopped
    replayed_dead: int = 0
    outcome: dict[str, int] = field(default_factory=dict)
    floor_outcome: dict[str, int] = field(default_factory=dict)
    #: CPU seconds per synced invoice, by process, during the burst (billsync, sandboxes)
    cpu_per_sync: dict[str, float] = field(default_factory=dict)
    floor_cpu_per_sync: dict[str, float] = field(default_factory=dict)
    #: the floor again with httpx's default transport (what earlier runs called the floor)
    floor_httpx_syncs_per_s: float | None = None
    floor_httpx_cpu_per_sync: dict[str, float] = field(default_factory=dict)
    #: the floor writing the invoice's two settings side by side, as billsync does
    floor_concurrent_syncs_per_s: float | None = None
    #: Togai events stored per second by intake (webhooks acknowledged), first to last
    intake_per_s: float | None = None
    razorpay_ok_per_s: float | None = None
    utilization: float | None = None
    misses: list[str] = field(default_factory=list)
    #: --sql-census: statements per sync by (store function, verb, table), and in total
    sql_per_sync: dict[str, float] = field(default_factory=dict)

    @property
    def floor_ratio(self) -> float | None:
        if not self.floor_syncs_per_s:
            return None
        return self.syncs_per_s / self.floor_syncs_per_s

    @property
    def ideal_syncs_per_s(self) -> float | None:
        """The Togai limit's own bound: R req/s ÷ 3 Togai writes per sync."""
        return self.togai_rate_limit / 3 if self.togai_rate_limit else None


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


@dataclass
class Progress:
    """Sampled /_sandbox/stats while billsync works."""

    samples: list[tuple[float, int]] = field(default_factory=list)  #: (time, razorpay ok)
    done_at: float | None = None


async def watch(
    client: httpx.AsyncClient, stack: Stack, n: int, base: dict[str, dict[str, Any]], p: Progress
) -> None:
    settings0 = base["togai"]["objects"]["settings"]
    while True:
        togai = await stats(client, stack.togai_url)
        rzp = await stats(client, stack.razorpay_url)
        now = time.time()
        p.samples.append((now, ok_requests(rzp)))
        objects = rzp["objects"]
        settings = togai["objects"]["settings"] - settings0
        if objects["customer"] >= n and objects["invoice"] >= n and settings >= 3 * n:
            p.done_at = now
            return
        await asyncio.sleep(0.2)


async def db_metrics(db_url: str, seeded: Seeded, report: Report) -> None:
    db = Database(db_url)
    try:
        async with db.read() as session:
            rows = (
                await session.execute(
                    sa.select(Flow.template_key, Event.external_id, Run.status, Run.finished_at)
                    .join(Run, Run.flow_id == Flow.id)
                    .join(Event, Event.id == Run.event_id)
                )
            ).all()
            report.attempts_429 = int(
                (
                    await session.execute(
                        sa.select(sa.func.count())
                        .select_from(StepAttempt)
                        .where(StepAttempt.error_class == "RateLimitedError")
                    )
                ).scalar_one()
            )
            first, last, stored = (
                await session.execute(
                    sa.select(
                        sa.func.min(Event.received_at),
                        sa.func.max(Event.received_at),
                        sa.func.count(),
                    ).where(Event.trigger.is_not(None))
                )
            ).one()
            if stored > 1 and last > first:
                report.intake_per_s = (stored - 1) / (last - first).total_seconds()
            report.failed_attempts = int(
                (
                    await session.execute(
                        sa.select(sa.func.count())
                        .select_from(StepAttempt)
                        .where(StepAttempt.outcome != "succeeded")
                    )
                ).scalar_one()
            )
    finally:
        await db.dispose()
    invoice_lags: list[float] = []
    account_lags: list[float] = []
    for template, external_id, status, finished in rows:
        report.runs[status] = report.runs.get(status, 0) + 1
        if status != "succeeded" or finished is None:
            continue
        entity = external_id.split(":")[1]
        if template == INVOICE_TEMPLATE and entity in seeded.invoice_at:
            invoice_lags.append(finished.timestamp() - seeded.invoice_at[entity])
        elif template == ACCOUNT_TEMPLATE and entity in seeded.account_at:
            account_lags.append(finished.timestamp() - seeded.account_at[entity])
    report.invoice_lag_p50 = pct(invoice_lags, 0.5)
    report.invoice_lag_p99 = pct(invoice_lags, 0.99)
    report.account_lag_p50 = pct(account_lags, 0.5)
    report.account_lag_p99 = pct(account_lags, 0.99)


async def unfinished_runs(session: AsyncSession) -> int:
    statuses = [s.value for s in UNFINISHED_RUN]
    query = sa.select(sa.func.count()).select_from(Run).where(Run.status.in_(statuses))
    return int((await session.execute(query)).scalar_one())


async def runs_settled(db_url: str, within: float) -> None:
    """Wait (bounded) until billsync has no unfinished run, so late duplicates show up."""
    db = Database(db_url)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            async with db.read() as session:
                left = await unfinished_runs(session)
            if not left:
                return
            await asyncio.sleep(0.5)
    finally:
        await db.dispose()


async def replay_dead(
    client: httpx.AsyncClient, stack: Stack, watcher: asyncio.Task[None], report: Report
) -> None:
    """Once no run is left unfinished but some are dead, stop the faults and replay each
    dead run with `billsync runs replay` (as a user would); the watcher then sees them."""
    db = Database(stack.db_url)
    try:
        while not watcher.done():
            await asyncio.sleep(2.0)
            async with db.read() as session:
                left = await unfinished_runs(session)
                dead = (
                    (await session.execute(sa.select(Run.id).where(Run.status == "dead")))
                    .scalars()
                    .all()
                )
            if left or not dead:
                continue
            await set_faults(client, stack, None)
            env = {**os.environ, "BILLSYNC_SECRET_KEYS": stack.key}
            for run_id in dead:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "billsync", "runs", "replay", str(run_id),
                    "--db", stack.db_url, env=env, stdout=asyncio.subprocess.DEVNULL,
                )  # fmt: skip
                if await proc.wait() != 0:
                    raise RuntimeError(f"billsync runs replay {run_id} failed")
                report.replayed_dead += 1
            print(f"[faults] {len(dead)} dead run(s) replayed after faults stopped", flush=True)
    finally:
        await db.dispose()


def utilization(p: Progress, limit: float, report: Report) -> None:
    if not p.samples or p.done_at is None:
        return
    base = p.samples[0][1]
    final = p.samples[-1][1]
    # The window opens at the last sample before Razorpay saw billsync's first call.
    start = next((p.samples[i - 1][0] for i, s in enumerate(p.samples) if s[1] > base and i), None)
    if start is None or final <= base:
        return
    report.razorpay_ok_per_s = (final - base) / (p.done_at - start)
    report.utilization = report.razorpay_ok_per_s / limit


async def run_scenario(sc: Scenario, args: argparse.Namespace) -> Report:
    report = Report(sc.name, sc.n, sc.latency_ms, sc.rate_limit, args.slots)
    report.togai_rate_limit = sc.togai_rate_limit
    report.faults = sc.faults
    control_plane = bool(sc.togai_rate_limit or sc.faults)
    report.worker_processes = args.worker_processes
    report.webhook_concurrency = args.webhook_concurrency
    report.database = "postgresql" if args.postgres else "sqlite"
    workdir = Path(tempfile.mkdtemp(prefix=f"billsync-burst-{sc.name}-"))
    stack = Stack(
        workdir,
        latency_ms=sc.latency_ms,
        razorpay_rate_limit=sc.rate_limit,
        togai_rate_limit=sc.togai_rate_limit,
        worker_slots=args.slots,
        worker_processes=args.worker_processes,
        webhook_concurrency=args.webhook_concurrency,
        log_level=args.log_level,
        postgres_url=args.postgres,
        sql_census=args.sql_census,
    )
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    try:
        stack.start_sandboxes()
        await stack.wire()
        stack.start_billsync()
        print(f"[{sc.name}] billsync pid {stack.billsync_pid}, workdir {workdir}", flush=True)
        if args.profile:
            stack.start_profiler(args.py_spy, Path(args.profile) / f"{sc.name}.txt")
        # The driver (seeding, polling stats, checking) sends through the fast transport
        # too: on httpx's default one it took CPU from billsync on this 2-core machine.
        driver = AiohttpTransport(limit=64)
        async with httpx.AsyncClient(timeout=60, limits=limits, transport=driver) as client:
            base = {
                "togai": await stats(client, stack.togai_url),
                "razorpay": await stats(client, stack.razorpay_url),
            }
            if sc.faults:
                await set_faults(client, stack, sc.faults)
            purposes0 = await provider_calls(client, stack)
            cpu0 = stack.cpu()
            progress = Progress()
            watcher = asyncio.create_task(watch(client, stack, sc.n, base, progress))
            seeded = await seed(
                client,
                stack.togai_url,
                sc.n,
                f"b{secrets.token_hex(2)}",
                control_plane=control_plane,
            )
            report.seed_seconds = seeded.finished - seeded.started
            print(f"[{sc.name}] seeded {sc.n} accounts + invoices in {report.seed_seconds:.1f} s")
            if sc.faults:
                # Under sustained faults a run can exhaust its attempts (dead-letter);
                # what a user does then: stop the faults, replay the dead runs.
                rescuer = asyncio.create_task(replay_dead(client, stack, watcher, report))
            try:
                await asyncio.wait_for(watcher, timeout=args.timeout)
            except TimeoutError:
                print(f"[{sc.name}] not complete after {args.timeout:.0f} s", flush=True)
            if sc.faults:
                rescuer.cancel()
            report.completed = progress.done_at is not None
            cpu1 = stack.cpu()
            purposes1 = await provider_calls(client, stack)
            report.calls_by_purpose = {
                k: (v - purposes0.get(k, 0.0)) / sc.n
                for k, v in sorted(purposes1.items())
                if v - purposes0.get(k, 0.0)
            }
            report.cpu_per_sync = per_sync(cpu0, cpu1, sc.n)
            stack.stop_profiler()
            end = progress.done_at or time.time()
            report.seconds = end - seeded.started
            report.syncs_per_s = sc.n / report.seconds if report.completed else 0.0
            after = {
                "togai": await stats(client, stack.togai_url),
                "razorpay": await stats(client, stack.razorpay_url),
            }
            calls = 0
            for name in ("togai", "razorpay"):
                app_calls = 0
                for route, counts in request_delta(base[name], after[name]).items():
                    if name == "togai" and route == "POST /customers":
                        continue  # the driver's own calls
                    report.calls_by_route[f"{name} {route}"] = dict(counts)
                    app_calls += sum(counts.values())
                    report.http_429 += counts.get("429", 0)
                report.calls_per_sync_by_app[name] = app_calls / sc.n
                calls += app_calls
            report.calls_per_sync = calls / sc.n
            if sc.faults:
                await set_faults(client, stack, None)  # the checks below read the lists
            if sc.rate_limit:
                utilization(progress, sc.rate_limit, report)
            await runs_settled(stack.db_url, within=60 if report.completed else 5)
            report.peak_rss_mib = peak_rss_mib(stack.billsync_pid)
            if args.sql_census:
                await asyncio.sleep(1.5)  # the census file is rewritten every second
                report.sql_per_sync = sql_census(stack.census_path, sc.n)
            await db_metrics(stack.db_url, seeded, report)
            outcome = await check(client, stack.togai_url, stack.razorpay_url, seeded)
            report.outcome = asdict(outcome)
            stack.stop_billsync()
            if sc.floor:
                # The bar is judged against the floor on billsync's own HTTP transport.
                floor, floor_outcome, floor_cpu = await floor_run(client, stack, sc, args)
                report.floor_cpu_per_sync = floor_cpu
                report.floor_syncs_per_s = floor.syncs_per_s
                report.floor_seconds = floor.seconds
                report.floor_failed = floor.failed
                report.floor_outcome = asdict(floor_outcome)
                if args.floor_httpx:
                    old, _, old_cpu = await floor_run(client, stack, sc, args, "httpx")
                    report.floor_httpx_syncs_per_s = old.syncs_per_s
                    report.floor_httpx_cpu_per_sync = old_cpu
                # Under Togai's rate limit the writes are paced either way: no other floor.
                if args.floor_concurrent and not sc.togai_rate_limit:
                    both, _, _ = await floor_run(client, stack, sc, args, concurrent_settings=True)
                    report.floor_concurrent_syncs_per_s = both.syncs_per_s
        judge(report, outcome)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        return report
    except BaseException:
        print(f"[{sc.name}] failed; billsync log tail:\n{stack.log_tail()}", file=sys.stderr)
        raise
    finally:
        stack.close()
        await stack.pg_schema_ddl(create=False)


async def floor_run(
    client: httpx.AsyncClient,
    stack: Stack,
    sc: Scenario,
    args: argparse.Namespace,
    floor_client: str = FLOOR_CLIENTS[0],
    *,
    concurrent_settings: bool = False,
) -> tuple[FloorResult, Outcome, dict[str, float]]:
    for url in (stack.togai_url, stack.razorpay_url):
        (await client.post(f"{url}/_sandbox/reset")).raise_for_status()
    seeded = await seed(
        client,
        stack.togai_url,
        sc.n,
        f"f{secrets.token_hex(2)}",
        control_plane=bool(sc.togai_rate_limit),
    )
    cpu0 = {**stack.cpu(), "floor": time.process_time()}
    floor = await run_floor(
        stack.togai_url,
        stack.razorpay_url,
        seeded,
        concurrency=args.floor_concurrency,
        client=floor_client,
        togai_rate=sc.togai_rate_limit,
        concurrent_settings=concurrent_settings,
    )
    cpu1 = {**stack.cpu(), "floor": time.process_time()}
    variant = ", invoice settings at once" if concurrent_settings else ""
    print(
        f"[{sc.name}] floor ({floor_client} client{variant}): {floor.syncs_per_s:.0f} syncs/s"
        f" ({floor.failed} failed)"
    )
    outcome = await check(client, stack.togai_url, stack.razorpay_url, seeded)
    return floor, outcome, per_sync(cpu0, cpu1, sc.n)


async def set_faults(
    client: httpx.AsyncClient, stack: Stack, faults: tuple[float, float] | None
) -> None:
    """Both sandboxes' API faults: (5xx rate, lost-response rate); None: none."""
    error_rate, lost_rate = faults or (0.0, 0.0)
    body = {"error_rate": error_rate, "lost_response_rate": lost_rate}
    for url in (stack.togai_url, stack.razorpay_url):
        (await client.post(f"{url}/_sandbox/faults", json=body)).raise_for_status()


def per_sync(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    """CPU milliseconds per synced invoice, by process."""
    return {k: (after[k] - before[k]) * 1000 / n for k in after if k in before and k != "py-spy"}


def sql_census(path: Path, n: int) -> dict[str, float]:
    """Statements per sync by `verb table caller`, biggest first, with the total."""
    counts: dict[str, float] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            count, verb, table, caller = line.split("\t")
            counts[f"{verb} {table} ({caller})"] = int(count) / n
    ordered = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
    return {"total": sum(ordered.values()), **ordered}


def judge(r: Report, outcome: Outcome) -> None:
    if not r.completed:
        r.misses.append("did not complete")
    if outcome.duplicates:
        r.misses.append(f"{outcome.duplicates} duplicates")
    if outcome.missing:
        r.misses.append(f"{outcome.missing} missing")
    if not r.faults:
        for app_name, budget in BUDGET_CALLS.items():
            used = r.calls_per_sync_by_app.get(app_name, 0.0)
            if used > budget:
                r.misses.append(f"{app_name} {used:.2f} calls per sync > {budget}")
    target = TARGET_FLOOR_RATIO.get(r.scenario)
    if target is not None and (r.floor_ratio is None or r.floor_ratio < target):
        r.misses.append(f"{r.floor_ratio or 0:.2f} x floor < {target}")
    if r.rate_limit:
        if r.utilization is None or r.utilization < TARGET_UTILIZATION:
            r.misses.append(f"utilization {r.utilization or 0:.0%} < {TARGET_UTILIZATION:.0%}")
    if r.rate_limit or r.togai_rate_limit:
        failed = r.runs.get("failed", 0) + r.runs.get("dead", 0)
        if failed:
            r.misses.append(f"{failed} failed runs")


def fmt(value: float | None, spec: str = ".0f", unit: str = "") -> str:
    return "–" if value is None else f"{value:{spec}}{unit}"


def print_report(r: Report) -> None:
    print(
        f"\n== {r.scenario}: N={r.n}, latency {r.latency_ms} ms, slots {r.worker_slots}, "
        f"worker processes {r.worker_processes}, webhook concurrency "
        f"{r.webhook_concurrency or 1}, "
        f"db {r.database}"
    )
    print(f"  completed {r.completed} in {r.seconds:.1f} s (seeding {r.seed_seconds:.1f} s)")
    print(
        f"  syncs/s {r.syncs_per_s:.1f}   floor {fmt(r.floor_syncs_per_s, '.1f')}"
        f"   ratio {fmt(r.floor_ratio, '.2f')}"
    )
    if r.floor_httpx_syncs_per_s is not None:
        old = r.syncs_per_s / r.floor_httpx_syncs_per_s if r.floor_httpx_syncs_per_s else 0
        old_cpu = ", ".join(f"{k} {v:.1f}" for k, v in r.floor_httpx_cpu_per_sync.items())
        print(
            f"  floor with httpx's own transport {r.floor_httpx_syncs_per_s:.1f}"
            f" (ratio {old:.2f}; CPU ms per sync {old_cpu})"
        )
    if r.floor_concurrent_syncs_per_s is not None:
        both = r.floor_concurrent_syncs_per_s
        print(
            f"  floor writing the invoice's two settings at once (as billsync does) {both:.1f}"
            f" (ratio {r.syncs_per_s / both if both else 0:.2f}; not the issue's bar)"
        )
    if r.togai_rate_limit:
        ideal = r.ideal_syncs_per_s or 0
        print(
            f"  Togai limit {r.togai_rate_limit:g} req/s: its bound {ideal:.2f} syncs/s"
            f" (3 writes per sync); billsync at {r.syncs_per_s / ideal:.2f} of it"
        )
    if r.faults:
        print(f"  faults: {r.faults[0]:.0%} 5xx, {r.faults[1]:.0%} lost responses")
    by_app = ", ".join(f"{k} {v:.2f}" for k, v in r.calls_per_sync_by_app.items())
    print(
        f"  API calls per synced invoice {r.calls_per_sync:.2f} ({by_app}; floor {CALLS_PER_SYNC})"
    )
    purposes = ", ".join(f"{k} {v:.3f}" for k, v in r.calls_by_purpose.items())
    print(f"  billsync's count by purpose, per sync: {purposes}")
    for route, counts in sorted(r.calls_by_route.items()):
        print(f"    {route:48} {counts}")
    print(
        f"  invoice event→effect p50 {fmt(r.invoice_lag_p50, '.2f', ' s')}"
        f" p99 {fmt(r.invoice_lag_p99, '.2f', ' s')};"
        f" account p50 {fmt(r.account_lag_p50, '.2f', ' s')}"
        f" p99 {fmt(r.account_lag_p99, '.2f', ' s')}"
    )
    cpu = ", ".join(f"{k} {v:.1f}" for k, v in r.cpu_per_sync.items())
    floor_cpu = ", ".join(f"{k} {v:.1f}" for k, v in r.floor_cpu_per_sync.items())
    print(f"  CPU ms per sync: {cpu}" + (f"   floor: {floor_cpu}" if floor_cpu else ""))
    print(f"  intake {fmt(r.intake_per_s, '.1f')} Togai events stored/s")
    print(f"  peak RSS {fmt(r.peak_rss_mib, '.0f', ' MiB')}  runs {r.runs}")
    print(f"  429s {r.http_429}, attempts failed {r.failed_attempts} (429: {r.attempts_429})")
    if r.replayed_dead:
        print(f"  dead runs replayed after the faults stopped: {r.replayed_dead}")
    print(f"  outcome {r.outcome}")
    if r.floor_outcome:
        print(f"  floor outcome {r.floor_outcome}")
    if r.rate_limit:
        print(
            f"  Razorpay applied {fmt(r.razorpay_ok_per_s, '.1f')} req/s of {r.rate_limit:g}:"
            f" utilization {fmt(r.utilization and r.utilization * 100, '.0f', ' %')}"
        )
    for key, per_sync in list(r.sql_per_sync.items())[:25]:
        print(f"    SQL per sync {per_sync:6.2f}  {key}")
    print(f"  bar: {'ok' if not r.misses else 'MISSED: ' + '; '.join(r.misses)}")


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    known = {
        "latency-0": Scenario("latency-0", args.n, latency_ms=0),
        "latency-100": Scenario("latency-100", args.n_latency or args.n, latency_ms=100),
        "rate-limit": Scenario(
            "rate-limit", args.n_rate_limit, rate_limit=args.rate_limit, floor=False
        ),
        "togai-rate-limit": Scenario(
            "togai-rate-limit", args.n_togai_rate_limit, togai_rate_limit=args.togai_rate_limit
        ),
        "faults": Scenario(
            "faults", args.n_faults, floor=False, faults=(args.error_rate, args.lost_rate)
        ),
    }
    return [known[name] for name in args.scenario or list(known)]


async def run_all(args: argparse.Namespace) -> list[Report]:
    reports = []
    for sc in scenarios(args):
        report = await run_scenario(sc, args)
        print_report(report)
        reports.append(report)
    return reports


def write_json(path: str, reports: list[Report]) -> None:
    machine = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": os.getloadavg(),
    }
    data = [{**asdict(r), "floor_ratio": r.floor_ratio} for r in reports]
    Path(path).write_text(json.dumps({"machine": machine, "reports": data}, indent=2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="accounts (= invoices) per burst")
    parser.add_argument("--n-latency", type=int, help="N for latency-100 (default: --n)")
    parser.add_argument("--n-rate-limit", type=int, default=100, help="N for rate-limit")
    parser.add_argument("--rate-limit", type=float, default=20.0, help="Razorpay req/s")
    parser.add_argument(
        "--n-togai-rate-limit", type=int, default=300, help="N for togai-rate-limit"
    )
    parser.add_argument(
        "--togai-rate-limit", type=float, default=10.0, help="Togai req/s (its documented default)"
    )
    parser.add_argument("--n-faults", type=int, default=300, help="N for faults")
    parser.add_argument("--error-rate", type=float, default=0.2, help="faults: 5xx share")
    parser.add_argument("--lost-rate", type=float, default=0.05, help="faults: lost responses")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=("latency-0", "latency-100", "rate-limit", "togai-rate-limit", "faults"),
    )
    parser.add_argument("--slots", type=int, help="BILLSYNC_WORKER_SLOTS (default: billsync's)")
    parser.add_argument(
        "--webhook-concurrency",
        type=int,
        help="the sandboxes' deliveries in flight per target (default: theirs, 1; UNCONFIRMED "
        "for the real services)",
    )
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=0,
        help="BILLSYNC_WORKER_PROCESSES: workers serve starts beside itself (default: none)",
    )
    parser.add_argument("--log-level", help="BILLSYNC_LOG_LEVEL (default: billsync's)")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run billsync on PostgreSQL (a fresh schema per burst) instead of SQLite, e.g. "
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    )
    parser.add_argument("--floor-concurrency", type=int, default=32)
    parser.add_argument(
        "--no-floor-httpx",
        dest="floor_httpx",
        action="store_false",
        help="skip the second floor run on httpx's default transport",
    )
    parser.add_argument(
        "--no-floor-concurrent",
        dest="floor_concurrent",
        action="store_false",
        help="skip the floor run that writes the invoice's two settings at once",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per burst")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--profile", help="py-spy billsync during each burst; stacks to this dir")
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    parser.add_argument(
        "--sql-census", action="store_true", help="count billsync's SQL statements per sync"
    )
    parser.add_argument("--keep", action="store_true", help="keep each scenario's temp dir")
    args = parser.parse_args()
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {os.cpu_count()} cpus, {platform.platform()}, Python "
        f"{platform.python_version()}, load {os.getloadavg()}"
    )
    reports = asyncio.run(run_all(args))
    if args.json:
        write_json(args.json, reports)
    return 0 if all(not r.misses for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
