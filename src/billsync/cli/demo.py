"""`billsync demo`: both sandboxes, billsync wired to them, and sample data to watch.

Starts the Togai and Razorpay sandboxes (in-process uvicorn servers on their own threads),
runs billsync like `billsync serve`, creates (or reuses) one connection per sandbox,
registers billsync's webhook URLs with both sandboxes, enables every predefined flow and,
with --seed N, creates N accounts with a due invoice in Togai and pays some of the
resulting Razorpay invoices. Ctrl-C stops everything. Re-running on the same database
reuses its connections and flows; sample ids are new on every run because the sandboxes
start empty. With --workers N (PostgreSQL) billsync runs as separate OS processes instead
of inside this one (cli/demo_cluster.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import typer
import uvicorn
from sqlalchemy.engine import make_url

from billsync import web
from billsync.api.server import create_api
from billsync.app import App, build, tokens
from billsync.app import connections as connection_ops
from billsync.app import flows as flow_ops
from billsync.app.logs import configure_logging
from billsync.app.root import dispatcher_kind
from billsync.cli.serve import load_settings
from billsync.sandbox import razorpay as razorpay_sandbox
from billsync.sandbox import togai as togai_sandbox

TOGAI_TOKEN = "togai_sandbox_token"
DEMO_TOKEN_PREFIX = "demo-"
RAZORPAY_KEY_ID = "rzp_test_sandbox"
RAZORPAY_KEY_SECRET = "sandbox_secret"
RAZORPAY_WEBHOOK_SECRET = "billsync_demo_webhook_secret"
TOGAI_CONNECTION = "Demo Togai sandbox"
RAZORPAY_CONNECTION = "Demo Razorpay sandbox"
#: The demo reads the payment list every 5 s (60 s by default), so a payment whose webhook
#: was lost shows up in Togai while one watches.
RAZORPAY_POLL_INTERVAL = "5"
INVOICE_TEMPLATE = "togai-invoice-to-razorpay-invoice"


@contextmanager
def background_server(asgi_app: Any, port: int, name: str) -> Iterator[str]:
    """Serve `asgi_app` on 127.0.0.1:`port` from a thread; yield its URL; stop on exit."""
    config = uvicorn.Config(
        asgi_app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve()), name=f"sandbox-{name}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise typer.BadParameter(f"the {name} sandbox could not listen on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def wire(app: App, togai_url: str, razorpay_url: str) -> tuple[str, str]:
    """Connections to both sandboxes, webhooks registered, every template enabled.
    Returns the two webhook URLs."""
    togai = await connection_ops.ensure(
        app,
        app_name="togai",
        name=TOGAI_CONNECTION,
        values={"api_token": TOGAI_TOKEN, "base_url": togai_url, "sandbox": "yes"},
    )
    razorpay = await connection_ops.ensure(
        app,
        app_name="razorpay",
        name=RAZORPAY_CONNECTION,
        values={
            "key_id": RAZORPAY_KEY_ID,
            "key_secret": RAZORPAY_KEY_SECRET,
            "webhook_secret": RAZORPAY_WEBHOOK_SECRET,
            "base_url": razorpay_url,
            "sandbox": "yes",
            "poll_interval": RAZORPAY_POLL_INTERVAL,
        },
    )
    async with httpx.AsyncClient(timeout=10) as http:
        registered = await http.post(
            f"{togai_url}/_sandbox/webhooks", json={"url": togai.webhook_url}
        )
        registered.raise_for_status()
        registered = await http.post(
            f"{razorpay_url}/_sandbox/webhooks",
            json={"url": razorpay.webhook_url, "secret": RAZORPAY_WEBHOOK_SECRET},
        )
        registered.raise_for_status()
    await flow_ops.ensure_templates(
        app,
        {"togai": togai.id, "razorpay": razorpay.id},
        # Partial payments on, so the partially-paid flow can be seen working (seed pays
        # one invoice in two parts).
        options={INVOICE_TEMPLATE: {"partial_payment": True}},
    )
    return togai.webhook_url, razorpay.webhook_url


async def seed(togai_url: str, razorpay_url: str, count: int, *, wait: float = 60.0) -> None:
    """`count` Togai accounts with a due invoice each; pay every other Razorpay invoice once
    billsync has created it (the first in two parts, when partial payments are on)."""
    tag = secrets.token_hex(3)
    phone_base = secrets.randbelow(10**6)
    togai_headers = {"Authorization": f"Bearer {TOGAI_TOKEN}"}
    invoice_ids: list[str] = []
    async with httpx.AsyncClient(timeout=10) as http:
        for i in range(1, count + 1):
            account_id = f"demo-{tag}-{i}"
            created = await http.post(
                f"{togai_url}/customers",
                headers=togai_headers,
                json={
                    "id": account_id,
                    "name": f"Demo customer {i}",
                    "primaryEmail": f"{account_id}@example.com",
                    "address": {"line1": "12 MG Road", "city": "Bengaluru", "country": "IN"},
                    "account": {
                        "id": account_id,
                        "name": f"Demo account {i}",
                        "primaryEmail": f"{account_id}@example.com",
                        "invoiceCurrency": "INR",
                        "address": {"phoneNumber": f"+919{phone_base:06d}{i:03d}"},
                    },
                },
            )
            created.raise_for_status()
            invoice = await http.post(
                f"{togai_url}/_sandbox/invoices",
                json={"accountId": account_id, "totalAmount": 500 + 250 * i, "status": "DUE"},
            )
            invoice.raise_for_status()
            invoice_ids.append(str(invoice.json()["id"]))
        typer.echo(f"seeded {count} Togai accounts with a due invoice each")
        to_pay = invoice_ids[::2]
        auth = (RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET)
        deadline = time.monotonic() + wait
        paid = 0
        while to_pay and time.monotonic() < deadline:
            remaining = []
            for togai_id in to_pay:
                found = await http.get(
                    f"{razorpay_url}/v1/invoices", params={"receipt": togai_id}, auth=auth
                )
                items = found.json().get("items", []) if found.status_code == 200 else []
                if not items:
                    remaining.append(togai_id)
                    continue
                found_invoice = items[0]
                pay_url = f"{razorpay_url}/_sandbox/invoices/{found_invoice['id']}/pay"
                if paid == 0 and found_invoice.get("partial_payment"):
                    # The first one in two parts: invoice.partially_paid, then invoice.paid.
                    part = {"amount": found_invoice["amount_due"] // 2}
                    (await http.post(pay_url, json=part)).raise_for_status()
                await http.post(pay_url, json={})
                paid += 1
            to_pay = remaining
            if to_pay:
                await asyncio.sleep(0.5)
        typer.echo(f"paid {paid} Razorpay invoices; billsync records them in Togai")


async def run_demo(
    app: App, host: str, port: int, togai_url: str, razorpay_url: str, seed_count: int
) -> None:
    config = uvicorn.Config(
        create_api(app, extra_routers=(web.router,)),
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            raise typer.Exit(1)
        await asyncio.sleep(0.05)
    togai_hook, razorpay_hook = await wire(app, togai_url, razorpay_url)
    # An admin token for this demo run, so a newcomer can open the UI at once; like
    # `billsync tokens create`, its plaintext is shown once and only its digest is stored.
    # It lives only while the demo runs: revoked when the demo stops (and, should a demo
    # have been killed, on the next start), so demo databases never collect live tokens.
    ui_name, ui_token = await demo_token(app)
    banner(app.public_url, ui_token, togai_url, razorpay_url, (togai_hook, razorpay_hook))
    seeding = asyncio.create_task(seed(togai_url, razorpay_url, seed_count)) if seed_count else None
    try:
        await serving
    finally:
        await tokens.revoke(app, ui_name, actor="demo")
        if seeding is not None:
            seeding.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await seeding


def banner(
    url: str,
    ui_token: str,
    togai_url: str,
    razorpay_url: str,
    hooks: tuple[str, str],
    *extra: str,
) -> None:
    typer.echo(
        "\n".join(
            [
                f"billsync          {url}  (health: {url}/healthz)",
                f"Admin UI          {url}/ui  (log in with token {ui_token})",
                f"REST API          {url}/docs  (Authorization: Bearer <token>)",
                f"Togai sandbox     {togai_url}  (token {TOGAI_TOKEN})",
                f"Razorpay sandbox  {razorpay_url}  (key {RAZORPAY_KEY_ID})",
                f"Togai webhook     {hooks[0]}",
                f"Razorpay webhook  {hooks[1]}",
                *extra,
                "Press Ctrl-C to stop.",
            ]
        )
    )


async def demo_token(app: App) -> tuple[str, str]:
    """Revoke every live `demo-*` token left by an earlier demo, then create this run's."""
    for old in await tokens.list_all(app):
        if old.active and old.name.startswith(DEMO_TOKEN_PREFIX):
            await tokens.revoke(app, old.name, actor="demo")
    info, token = await tokens.create(
        app, f"{DEMO_TOKEN_PREFIX}{secrets.token_hex(3)}", actor="demo"
    )
    return info.name, token


def demo(
    port: int = typer.Option(8000, help="Port of billsync."),
    togai_port: int = typer.Option(8101, help="Port of the Togai sandbox."),
    razorpay_port: int = typer.Option(8102, help="Port of the Razorpay sandbox."),
    db: str | None = typer.Option(
        None, help="SQLite file (or database URL) [default: ./billsync-demo.db]."
    ),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="Database URL, e.g. postgresql+psycopg://USER@HOST:5432/DB (instead of --db).",
    ),
    workers: int = typer.Option(
        0,
        min=0,
        help="Run billsync as `serve --no-worker` plus this many `billsync worker` "
        "processes on procrastinate (needs a PostgreSQL --database-url); 0: one process.",
    ),
    seed_count: int = typer.Option(0, "--seed", min=0, help="Sample accounts to create."),
    togai_rate_limit: float = typer.Option(
        0,
        min=0,
        help="Requests per second the Togai sandbox answers before 429 "
        "(0 = none; real Togai's default is 10).",
    ),
    razorpay_rate_limit: float = typer.Option(
        0,
        min=0,
        help="Requests per second the Razorpay sandbox answers before 429 "
        "(0 = none; Razorpay documents a limit but no figure).",
    ),
) -> None:
    """Run billsync against local Togai and Razorpay sandboxes, with sample data."""
    # Imported here: the cluster variant reuses this module's wiring, seed and banner.
    from billsync.cli.demo_cluster import check_cluster_url, run_cluster

    host = "127.0.0.1"
    if db is not None and database_url is not None:
        raise typer.BadParameter("give --db or --database-url, not both", param_hint="--db")
    db = database_url or db or "./billsync-demo.db"
    if workers:
        check_cluster_url(db)
    settings = load_settings(host=host, port=port, db=db)
    configure_logging(settings)
    if "://" not in db:
        typer.echo(f"database: {Path(db).resolve()}")
    elif workers:
        typer.echo(
            f"database: {make_url(db).render_as_string()} (dispatcher: "
            f"{dispatcher_kind(settings)}, {workers} worker processes)"
        )
    # Rate limits are off unless asked for: on, the sandboxes answer 429 as the real
    # services would, and billsync's retries (with backoff) absorb them.
    togai_app = togai_sandbox.create_app(
        togai_sandbox.TogaiSandboxConfig(token=TOGAI_TOKEN, rate_limit=togai_rate_limit)
    )
    razorpay_app = razorpay_sandbox.create_app(
        razorpay_sandbox.RazorpaySandboxConfig(
            key_id=RAZORPAY_KEY_ID,
            key_secret=RAZORPAY_KEY_SECRET,
            webhook_secret=RAZORPAY_WEBHOOK_SECRET,
            rate_limit=razorpay_rate_limit,
        )
    )
    with (
        background_server(togai_app, togai_port, "Togai") as togai_url,
        background_server(razorpay_app, razorpay_port, "Razorpay") as razorpay_url,
    ):
        app = build(settings)
        if workers:
            status = asyncio.run(
                run_cluster(app, settings, workers, togai_url, razorpay_url, seed_count)
            )
        else:
            status = 0
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(run_demo(app, host, port, togai_url, razorpay_url, seed_count))
    typer.echo("stopped")
    if status:
        raise typer.Exit(status)
