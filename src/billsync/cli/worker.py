"""`billsync worker`: a process that only executes runs (no API, no webhooks, no poller).

On PostgreSQL (procrastinate, the default there) start any number, on any machine, beside
`billsync serve --no-worker`: each fetches drain jobs, and a dead one's runs are resumed by
the others within seconds (engine/job_worker.py). With the embedded dispatcher they claim
from the run table instead.

One Python process runs on one core. `billsync serve --worker-processes N` starts N workers
beside itself so flows execute on every core of the machine; more can be started by hand
(on PostgreSQL, on other machines) with the same database. Every worker claims from the
run table with the same leases as the embedded one, so a run executes in one place only
(design invariant 9). On PostgreSQL every process takes its requests' tokens from each
connection's one bucket in the database, so together they stay within its rate limit; on
SQLite each paces at 1/`--rate-limit-processes` of it.

Workers started by serve read their stdin: serve writes a byte whenever its dispatcher is
notified (a webhook stored runs, a replay), which wakes the worker at once instead of at
its next poll; end of file means serve is gone, and the worker stops cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import structlog
import typer

from billsync import errors
from billsync.app import App, build
from billsync.app.logs import configure_logging
from billsync.cli.context import fail
from billsync.cli.serve import load_settings
from billsync.config import Settings
from billsync.store.database import Database

log = structlog.get_logger(__name__)

#: How often serve checks that its worker processes are alive.
SUPERVISE_SECONDS = 1.0


def worker(
    db: str | None = typer.Option(
        None, help="Database URL or SQLite file (overrides BILLSYNC_DATABASE_URL)."
    ),
    slots: int | None = typer.Option(
        None, min=1, help="Runs executed at once (default: BILLSYNC_WORKER_SLOTS)."
    ),
    rate_limit_processes: int | None = typer.Option(
        None,
        min=1,
        help="SQLite: processes sharing each connection's rate limit "
        "(default: BILLSYNC_RATE_LIMIT_PROCESSES; PostgreSQL shares it in the database).",
    ),
    parent_pid: int | None = typer.Option(
        None,
        hidden=True,
        help="Started by this serve: woken through stdin, stopped by its end of file.",
    ),
) -> None:
    """Execute runs from the database until stopped (Ctrl-C or SIGTERM).

    In-flight runs finish within the grace period; the rest are released to the queue."""
    settings = load_settings(db=db)
    update: dict[str, object] = {}
    if slots is not None:
        update["worker_slots"] = slots
    if rate_limit_processes is not None:
        update["rate_limit_processes"] = rate_limit_processes
    settings = settings.model_copy(update=update)
    configure_logging(settings)
    try:
        app = build(settings)
    except errors.ConfigError as exc:
        fail(str(exc))
    asyncio.run(run_worker(app, from_serve=parent_pid is not None))


async def run_worker(app: App, *, from_serve: bool = False) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if from_serve:
        _listen_for_nudges(loop, app, stop)
    await app.start(worker=True, poller=False, hints=False)
    try:
        await stop.wait()
    finally:
        await app.stop()


def _listen_for_nudges(loop: asyncio.AbstractEventLoop, app: App, stop: asyncio.Event) -> None:
    fd = sys.stdin.fileno()
    os.set_blocking(fd, False)

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        if data:
            app.dispatcher.notify()
            return
        loop.remove_reader(fd)  # end of file: serve is gone
        stop.set()

    loop.add_reader(fd, readable)


def sharing_processes(settings: Settings) -> int:
    """Processes that split each connection's rate limit: serve and its workers, or more
    when the user says other processes (other machines) share them too."""
    return max(settings.rate_limit_processes, 1 + settings.worker_processes)


class WorkerProcesses:
    """The `billsync worker` processes serve started, the pipes that wake them, and a
    supervisor thread that starts a worker again when one dies."""

    def __init__(self, argv: list[str], count: int) -> None:
        self._argv = argv
        self._stopping = threading.Event()
        self.procs = [self._spawn() for _ in range(count)]
        self.restarts = 0
        if count:
            threading.Thread(target=self._supervise, name="billsync-workers", daemon=True).start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(self._argv, stdin=subprocess.PIPE)
        assert proc.stdin is not None
        os.set_blocking(proc.stdin.fileno(), False)
        return proc

    def _supervise(self) -> None:
        while not self._stopping.wait(SUPERVISE_SECONDS):
            for i, proc in enumerate(list(self.procs)):
                code = proc.poll()
                if code is None or self._stopping.is_set():
                    continue
                # Its leased runs come back through lease expiry and the reconciler.
                log.error("worker process exited; starting another", pid=proc.pid, code=code)
                if proc.stdin is not None:
                    with contextlib.suppress(OSError):
                        proc.stdin.close()
                self.procs[i] = self._spawn()
                self.restarts += 1

    def nudge(self) -> None:
        """Wake every worker now (called on each dispatcher notify, from the event loop)."""
        for proc in self.procs:
            if proc.stdin is None or proc.stdin.closed:
                continue
            with contextlib.suppress(BlockingIOError, BrokenPipeError):
                # A full pipe already holds plenty of wake-ups; a dead worker is restarted
                # by nobody, and its runs' leases expire into the reconciler.
                os.write(proc.stdin.fileno(), b"!")

    def stop(self, *, grace: float) -> None:
        """SIGTERM each worker, wait for their graceful stop, kill what is left."""
        self._stopping.set()
        for proc in self.procs:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def start_worker_processes(settings: Settings) -> WorkerProcesses:
    """Migrate, then start `settings.worker_processes` workers on the same database."""
    if settings.worker_processes < 1:
        return WorkerProcesses([], 0)
    asyncio.run(_migrate(settings.database_url))  # before any worker opens the database
    argv = [sys.executable, "-m", "billsync", "worker", "--db", settings.database_url]
    argv += ["--slots", str(settings.worker_slots)]
    argv += ["--rate-limit-processes", str(sharing_processes(settings))]
    argv += ["--parent-pid", str(os.getpid())]
    return WorkerProcesses(argv, settings.worker_processes)


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await db.migrate()
    finally:
        await db.dispose()
