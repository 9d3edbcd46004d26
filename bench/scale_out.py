"""Scale-out (issue #13): N Togai accounts + invoices at 100 ms provider latency through
`billsync serve --no-worker` plus 1, 2 and 4 `billsync worker` processes on PostgreSQL,
each worker with the same fixed number of slots.

Reuses bench/sync_burst.py's machinery: the sandboxes and wiring (burst_stack.Stack, a
fresh PostgreSQL schema per burst), the seeding and the object-by-object outcome check
(burst_data), the completion watcher (sync_burst.watch). Reports, per worker count:

- syncs/s: N / (seeding start → every account and invoice synced), as in sync_burst.py,
  and the drain rate: runs finished per second ÷ 2 between the 10th and 90th percentile of
  their finish times (the steady state, without the start and the tail);
- the scaling ratios to one worker (targets: ≥ 1.8 × at 2 workers, ≥ 3 × at 4);
- CPU ms per sync of billsync's processes (serve + workers), with procrastinate and, for
  comparison, with the embedded dispatcher (BILLSYNC_DISPATCHER=embedded: the same serve
  --no-worker + 1 worker topology, claiming from the run table);
- recovery: a burst on 2 workers, one SIGKILLed once it holds runs; the seconds until every
  run it held is running elsewhere or finished (resumed), and until the burst completes,
  with the exactly-once check.

    .venv/bin/python bench/scale_out.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/scale_out.py --postgres URL --workers 1 --workers 2 --n 300

--backlog starts the workers only once serve has stored every run (the timed start is then
the workers' start): the workers' own rate, without serve's intake as a bound.

Machine: record the load average (printed); the 2 cores here are shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from billsync.connectors.transport import AiohttpTransport
from billsync.store.database import Database
from billsync.store.models import Flow, Run, StepAttempt
from burst_data import check, seed
from burst_stack import Stack, request_delta, stats
from sync_burst import INVOICE_TEMPLATE, Progress, per_sync, runs_settled, watch

SANDBOXES = ("togai", "razorpay")
#: issue #13: syncs/s relative to one worker process
TARGET_SCALING = {2: 1.8, 4: 3.0}
LATENCY_MS = 100


@dataclass
class Burst:
    label: str
    dispatcher: str
    workers: int
    slots: int
    n: int
    loadavg_start: tuple[float, float, float] = (0.0, 0.0, 0.0)
    loadavg_end: tuple[float, float, float] = (0.0, 0.0, 0.0)
    completed: bool = False
    seconds: float = 0.0
    seed_seconds: float = 0.0
    syncs_per_s: float = 0.0
    drain_per_s: float | None = None
    #: CPU ms per synced invoice: billsync's processes in all, and by process
    cpu_ms_per_sync: float = 0.0
    cpu_by_process: dict[str, float] = field(default_factory=dict)
    calls_per_sync: float = 0.0
    runs: dict[str, int] = field(default_factory=dict)
    outcome: dict[str, int] = field(default_factory=dict)
    #: the SIGKILL burst only
    killed_runs: int | None = None
    resumed_after_s: float | None = None
    completed_after_kill_s: float | None = None
    killed_at: float | None = None  #: wall clock
    #: --backlog: seconds from seeding until every run was stored (workers start then)
    intake_seconds: float | None = None
    #: seconds after seeding began by which p0/p10/p50/p90/p100 of the invoices had synced
    invoices_done_at: dict[str, float] = field(default_factory=dict)
    failed_attempts: dict[str, int] = field(default_factory=dict)


async def _running_leases(db: Database) -> list[tuple[int, str]]:
    async with db.read() as session:
        rows = await session.execute(
            sa.select(Run.id, Run.lease_owner).where(Run.status == "running")
        )
        return [(int(i), str(o)) for i, o in rows.all()]


async def _statuses(db: Database, ids: list[int]) -> dict[int, tuple[str, str | None]]:
    async with db.read() as session:
        rows = await session.execute(
            sa.select(Run.id, Run.status, Run.lease_owner).where(Run.id.in_(ids))
        )
        return {int(i): (str(s), o) for i, s, o in rows.all()}


async def kill_one_worker(stack: Stack, burst: Burst, killed: asyncio.Event) -> None:
    """Once worker-1 holds runs, SIGKILL it; measure until each of those runs is running
    under another owner or finished."""
    victim = stack.procs["worker-1"]
    mark = f":{victim.pid}:"
    db = Database(stack.db_url)
    try:
        while True:
            held = [i for i, owner in await _running_leases(db) if mark in owner]
            if len(held) >= burst.slots // 2 or (held and victim.poll() is not None):
                break
            await asyncio.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        at = time.monotonic()
        burst.killed_at = time.time()
        killed.set()
        # Its runs as of the kill (a claim that was in flight is caught here too).
        held = [i for i, owner in await _running_leases(db) if mark in owner] or held
        burst.killed_runs = len(held)
        print(f"[kill] worker-1 (pid {victim.pid}) SIGKILLed holding {len(held)} runs")
        while True:
            now = await _statuses(db, held)
            if all(s != "running" or (o and mark not in o) for s, o in now.values()):
                burst.resumed_after_s = time.monotonic() - at
                return
            await asyncio.sleep(0.2)
    finally:
        await db.dispose()


async def wait_runs(db_url: str, count: int, within: float) -> None:
    db = Database(db_url)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            async with db.read() as session:
                stored = (
                    await session.execute(sa.select(sa.func.count()).select_from(Run))
                ).scalar_one()
            if stored >= count:
                return
            await asyncio.sleep(1.0)
        raise RuntimeError(f"fewer than {count} runs stored after {within:.0f} s")
    finally:
        await db.dispose()


async def drain_rate(db_url: str, started: float, burst: Burst) -> None:
    """Syncs per second (runs finished ÷ 2: an account run and an invoice run per sync)
    between the 10th and 90th percentile finish time of all runs; when (since the timed
    start) the invoices finished, at p0/p10/p50/p90/p100; the attempts that did not
    succeed, by error class. (All runs, not invoice runs alone: a claimer that takes the
    older account runs first bunches the invoices at the end, which inflated an
    invoices-only rate in the first recorded runs.)"""
    db = Database(db_url)
    try:
        async with db.read() as session:
            rows = await session.execute(
                sa.select(Run.finished_at)
                .join(Flow, Flow.id == Run.flow_id)
                .where(Flow.template_key == INVOICE_TEMPLATE, Run.status == "succeeded")
            )
            invoices = sorted(t.timestamp() for (t,) in rows.all() if t is not None)
            every = await session.execute(
                sa.select(Run.finished_at).where(Run.status == "succeeded")
            )
            times = sorted(t.timestamp() for (t,) in every.all() if t is not None)
            failed = await session.execute(
                sa.select(StepAttempt.error_class, sa.func.count())
                .where(StepAttempt.outcome != "succeeded")
                .group_by(StepAttempt.error_class)
            )
            burst.failed_attempts = {str(c): int(k) for c, k in failed.all()}
    finally:
        await db.dispose()
    if len(times) < 20 or len(invoices) < 20:
        return
    q = statistics.quantiles(times, n=10, method="inclusive")
    lo, hi = q[0], q[-1]
    inside = sum(1 for t in times if lo <= t <= hi)
    burst.drain_per_s = (inside - 1) / 2 / (hi - lo) if hi > lo else None
    q = statistics.quantiles(invoices, n=10, method="inclusive")
    marks = {"p0": invoices[0], "p10": q[0], "p50": q[4], "p90": q[-1], "p100": invoices[-1]}
    burst.invoices_done_at = {k: round(v - started, 1) for k, v in marks.items()}


async def run_burst(
    label: str, dispatcher: str, workers: int, args: argparse.Namespace, *, kill: bool = False
) -> Burst:
    n = args.n_kill if kill else args.n
    burst = Burst(label, dispatcher, workers, args.slots, n, loadavg_start=os.getloadavg())
    workdir = Path(tempfile.mkdtemp(prefix=f"billsync-scale-{label}-"))
    stack = Stack(
        workdir,
        latency_ms=LATENCY_MS,
        worker_slots=args.slots,
        postgres_url=args.postgres,
        serve_args=["--no-worker"],
        extra_env={
            **dict(kv.split("=", 1) for kv in args.set or []),
            "BILLSYNC_DISPATCHER": dispatcher,
        },
    )
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    try:
        stack.start_sandboxes()
        await stack.wire()
        stack.start_billsync()
        backlog = args.backlog and not kill
        if not backlog:
            stack.start_workers(workers)
            await asyncio.sleep(args.warmup)  # the workers import, migrate-check and connect
            dead = [name for name, p in stack.procs.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{dead} exited at start:\n{stack.log_tail(dead[0])}")
        print(f"[{label}] serve + {workers} worker(s), {args.slots} slots each, {workdir}")
        driver = AiohttpTransport(limit=64)
        async with httpx.AsyncClient(timeout=60, limits=limits, transport=driver) as client:
            base = {
                "togai": await stats(client, stack.togai_url),
                "razorpay": await stats(client, stack.razorpay_url),
            }
            cpu0 = stack.cpu()
            progress = Progress()
            watcher = asyncio.create_task(watch(client, stack, n, base, progress))
            killed = asyncio.Event()
            killer = asyncio.create_task(kill_one_worker(stack, burst, killed)) if kill else None
            seeded = await seed(client, stack.togai_url, n, f"s{secrets.token_hex(2)}")
            burst.seed_seconds = seeded.finished - seeded.started
            started = seeded.started
            if backlog:
                # Every run stored (intake done) before any worker exists: the workers'
                # own rate, whatever serve's intake can do.
                await wait_runs(stack.db_url, 2 * n, within=args.timeout)
                burst.intake_seconds = time.time() - seeded.started
                print(f"[{label}] {2 * n} runs queued after {burst.intake_seconds:.0f} s")
                stack.start_workers(workers)
                cpu0 = stack.cpu()
                started = time.time()
            try:
                await asyncio.wait_for(watcher, timeout=args.timeout)
            except TimeoutError:
                print(f"[{label}] not complete after {args.timeout:.0f} s", flush=True)
            burst.completed = progress.done_at is not None
            cpu1 = stack.cpu()
            if killer is not None:
                if killed.is_set():
                    await asyncio.wait_for(killer, timeout=120)
                    if progress.done_at is not None and burst.killed_at is not None:
                        burst.completed_after_kill_s = progress.done_at - burst.killed_at
                else:
                    killer.cancel()
            end = progress.done_at or time.time()
            burst.seconds = end - started
            burst.syncs_per_s = n / burst.seconds if burst.completed else 0.0
            billsync = {k: v for k, v in per_sync(cpu0, cpu1, n).items() if k not in SANDBOXES}
            burst.cpu_by_process = billsync
            burst.cpu_ms_per_sync = sum(billsync.values())
            burst.loadavg_end = os.getloadavg()
            after = {
                "togai": await stats(client, stack.togai_url),
                "razorpay": await stats(client, stack.razorpay_url),
            }
            calls = 0
            for app_name in ("togai", "razorpay"):
                for route, counts in request_delta(base[app_name], after[app_name]).items():
                    if app_name == "togai" and route == "POST /customers":
                        continue  # the driver's own calls
                    calls += sum(counts.values())
            burst.calls_per_sync = calls / n
            await runs_settled(stack.db_url, within=60 if burst.completed else 5)
            await drain_rate(stack.db_url, started, burst)
            burst.runs = await run_counts(stack.db_url)
            outcome = await check(client, stack.togai_url, stack.razorpay_url, seeded)
            burst.outcome = asdict(outcome)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        return burst
    except BaseException:
        for name in stack.procs:
            if name != "togai" and name != "razorpay":
                print(f"[{label}] {name} log tail:\n{stack.log_tail(name)}", file=sys.stderr)
        raise
    finally:
        stack.close()
        await stack.pg_schema_ddl(create=False)


async def run_counts(db_url: str) -> dict[str, int]:
    db = Database(db_url)
    try:
        async with db.read() as session:
            rows = await session.execute(
                sa.select(Run.status, sa.func.count()).group_by(Run.status)
            )
            return {str(s): int(c) for s, c in rows.all()}
    finally:
        await db.dispose()


def misses(bursts: list[Burst]) -> list[str]:
    out = []
    for b in bursts:
        if not b.completed:
            out.append(f"{b.label}: did not complete")
        if b.outcome.get("duplicates") or b.outcome.get("missing"):
            out.append(f"{b.label}: outcome {b.outcome}")
    one = next((b for b in bursts if b.label == "procrastinate-1"), None)
    for b in bursts:
        target = TARGET_SCALING.get(b.workers)
        if one is None or target is None or b.dispatcher != "procrastinate" or b.killed_runs:
            continue
        ratio = b.syncs_per_s / one.syncs_per_s if one.syncs_per_s else 0.0
        if ratio < target:
            out.append(f"{b.label}: {ratio:.2f} x one worker < {target}")
    return out


def print_burst(b: Burst, one: Burst | None) -> None:
    ratio = ""
    if one is not None and one.syncs_per_s and b is not one:
        ratio = f" ({b.syncs_per_s / one.syncs_per_s:.2f} x one worker"
        if one.drain_per_s and b.drain_per_s:
            ratio += f"; drain {b.drain_per_s / one.drain_per_s:.2f} x"
        ratio += ")"
    print(
        f"\n== {b.label}: {b.dispatcher}, {b.workers} worker(s) x {b.slots} slots, N={b.n},"
        f" latency {LATENCY_MS} ms, load {b.loadavg_start[0]:.1f} -> {b.loadavg_end[0]:.1f}"
    )
    backlog = "" if b.intake_seconds is None else f", workers started {b.intake_seconds:.0f} s in"
    print(
        f"  completed {b.completed} in {b.seconds:.1f} s (seeding {b.seed_seconds:.1f} s{backlog})"
    )
    drain = "-" if b.drain_per_s is None else f"{b.drain_per_s:.1f}"
    print(f"  syncs/s {b.syncs_per_s:.1f}   drain (p10-p90 of all runs, syncs/s) {drain}{ratio}")
    by = ", ".join(f"{k} {v:.1f}" for k, v in b.cpu_by_process.items())
    print(f"  CPU ms per sync {b.cpu_ms_per_sync:.1f} ({by})")
    print(f"  invoices synced by (s after the timed start) {b.invoices_done_at}")
    print(f"  attempts not succeeded, by error {b.failed_attempts}")
    print(f"  provider calls per sync {b.calls_per_sync:.2f}; runs {b.runs}; outcome {b.outcome}")
    if b.killed_runs is not None:
        print(
            f"  SIGKILL: worker-1 held {b.killed_runs} runs; all resumed elsewhere after"
            f" {b.resumed_after_s if b.resumed_after_s is None else round(b.resumed_after_s, 1)}"
            f" s; burst complete {b.completed_after_kill_s and round(b.completed_after_kill_s, 1)}"
            " s after the kill"
        )


async def run_all(args: argparse.Namespace) -> list[Burst]:
    bursts: list[Burst] = []
    one: Burst | None = None
    for workers in args.workers or [1, 2, 4]:
        b = await run_burst(f"procrastinate-{workers}", "procrastinate", workers, args)
        one = b if workers == 1 else one
        print_burst(b, one)
        bursts.append(b)
    if args.embedded:
        b = await run_burst("embedded-1", "embedded", 1, args)
        print_burst(b, one)
        bursts.append(b)
    if args.kill:
        b = await run_burst("sigkill-2", "procrastinate", 2, args, kill=True)
        print_burst(b, None)
        bursts.append(b)
    return bursts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", required=True, metavar="URL", help="PostgreSQL server")
    parser.add_argument("--n", type=int, default=1000, help="accounts (= invoices) per burst")
    parser.add_argument("--slots", type=int, default=4, help="BILLSYNC_WORKER_SLOTS per worker")
    parser.add_argument(
        "--workers", type=int, action="append", help="worker counts (default: 1, 2, 4)"
    )
    parser.add_argument("--no-embedded", dest="embedded", action="store_false")
    parser.add_argument("--no-kill", dest="kill", action="store_false")
    parser.add_argument("--n-kill", type=int, default=300, help="N of the SIGKILL burst")
    parser.add_argument(
        "--backlog",
        action="store_true",
        help="start the workers only once every run is stored, and time from then on "
        "(the workers' rate without serve's intake; the SIGKILL burst is unchanged)",
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="BILLSYNC_X=VALUE",
        help="a setting for serve and the workers (repeatable), e.g. BILLSYNC_JOB_POLL_SECONDS=0.1",
    )
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds for workers to start")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per burst")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep each burst's temp dir")
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cpus, {platform.platform()}, Python "
        f"{platform.python_version()}, load {os.getloadavg()}",
        flush=True,
    )
    bursts = asyncio.run(run_all(args))
    missed = misses(bursts)
    print(f"\nbar: {'ok' if not missed else 'MISSED: ' + '; '.join(missed)}")
    if args.json:
        data = {"machine": {"nproc": os.cpu_count(), "platform": platform.platform()}}
        Path(args.json).write_text(json.dumps({**data, "bursts": [asdict(b) for b in bursts]}))
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
