"""`billsync demo --database-url postgresql+psycopg://… --workers N`: the demo as a cluster.

The sandboxes, the wiring, the seed and the printed URLs are `billsync demo`'s; billsync
itself runs as N + 1 OS processes, as it would on several machines: `billsync serve
--no-worker` (API, UI, webhooks, pollers) and N `billsync worker` processes executing the
runs through procrastinate (cli/processes.py starts and stops them). The demo migrates the
database before starting them, so they do not race each other's migrations.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import httpx
import typer

from billsync.app import App, tokens
from billsync.cli import processes
from billsync.cli.demo import banner, demo_token, seed, wire
from billsync.config import Settings
from billsync.tasks import wait_event


async def run_cluster(
    app: App,
    settings: Settings,
    workers: int,
    togai_url: str,
    razorpay_url: str,
    seed_count: int,
) -> int:
    """Start serve --no-worker and `workers` workers, wire and seed, run until Ctrl-C or
    SIGTERM (0) or until a child exits on its own (1); every child is stopped either way."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await app.migrate()  # once, before any child opens the database
    children = processes.Children()
    ui_name: str | None = None
    seeding: asyncio.Task[None] | None = None
    status = 0
    try:
        url = app.public_url
        children.start(
            "serve",
            processes.billsync_argv(
                "serve", "--no-worker", "--host", settings.host, "--port", str(settings.port),
                "--db", settings.database_url,
            ),
        )  # fmt: skip
        if not await processes.wait_healthy(url, children, stop):
            return 0 if stop.is_set() and children.exited() is None else 1
        for i in range(1, workers + 1):
            children.start(
                f"worker-{i}", processes.billsync_argv("worker", "--db", settings.database_url)
            )
        togai_hook, razorpay_hook = await wire(app, togai_url, razorpay_url)
        ui_name, ui_token = await demo_token(app)
        pids = ", ".join(f"{name} {proc.pid}" for name, proc in children.procs.items())
        hooks = (togai_hook, razorpay_hook)
        banner(url, ui_token, togai_url, razorpay_url, hooks, f"Processes         {pids}")
        if seed_count:
            seeding = asyncio.create_task(seed(togai_url, razorpay_url, seed_count))
        while not stop.is_set():
            died = children.exited()
            if died is not None:
                typer.echo(f"{died[0]} exited on its own (status {died[1]}); stopping", err=True)
                status = 1
                break
            await wait_event(stop, 0.5)
        return status
    finally:
        if seeding is not None:
            seeding.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await seeding
        # Blocking waits, off the loop: the signal handlers stay responsive meanwhile.
        await asyncio.to_thread(children.stop, settings.shutdown_grace_seconds + 10)
        if ui_name is not None:
            await tokens.revoke(app, ui_name, actor="demo")
        await app.stop()  # never started: closes its clients and the database
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def check_cluster_url(url: str) -> None:
    """--workers needs PostgreSQL: workers on other processes share it through procrastinate."""
    if not url.startswith("postgresql"):
        raise typer.BadParameter(
            "--workers starts billsync worker processes on procrastinate, which needs "
            "PostgreSQL: add --database-url postgresql+psycopg://USER@HOST:5432/DB",
            param_hint="--workers",
        )
