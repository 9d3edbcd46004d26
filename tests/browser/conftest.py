"""Browser-test wiring, like `billsync demo`: both sandboxes and billsync (API + UI, worker,
poller) on free ports over a temporary SQLite database, driven by Debian's Chromium.

Nothing is configured up front except one admin API token: the tests add the connections,
bind the flows and register the webhook URLs through the UI, as an operator would.
Screenshots go to test-artifacts/browser/ (gitignored). The README's screenshots come from
the real demo instead: docs/screenshots/capture.py (`make screenshots`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from billsync import web
from billsync.api.server import create_api
from billsync.app import App, build, tokens
from billsync.config import Settings
from billsync.sandbox import razorpay as razorpay_sandbox
from billsync.sandbox import togai as togai_sandbox
from tests.servers import free_port, serve

CHROMIUM = "/usr/bin/chromium"
#: stack.md §4.12: Debian's Chromium, headless, no downloads and no background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"

TOGAI_TOKEN = "togai_browser_token"
RAZORPAY_KEY_ID = "rzp_test_browser"
RAZORPAY_KEY_SECRET = "browser_key_secret"
RAZORPAY_WEBHOOK_SECRET = "browser_webhook_secret"


@dataclass(frozen=True)
class Stack:
    billsync: str
    togai: str
    razorpay: str
    admin_token: str
    app: App


def _settings(tmp: Path, port: int) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite+aiosqlite:///{tmp / 'billsync.db'}",
        key_file=tmp / "billsync.key",
        public_url=f"http://127.0.0.1:{port}",
        port=port,
        # Fast retries so a faulted run is dead within a second; webhooks, not polls, drive
        # the runs (the poller is a safety net with its own tests).
        retry_max_attempts=2,
        retry_base_seconds=0.05,
        retry_cap_seconds=0.2,
        poll_interval=3600,
        worker_poll_seconds=0.2,
        http_timeout=5,
        log_level="WARNING",
    )


async def _create_token(settings: Settings) -> str:
    """Migrate and create the admin token with a throwaway App (its engine is disposed, so
    the served App's event loop never sees a connection from this one)."""
    setup = build(settings)
    try:
        await setup.migrate()
        _, token = await tokens.create(setup, "browser-admin", actor="test")
        return token
    finally:
        await setup.db.dispose()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("browser-stack")
    port = free_port()
    settings = _settings(tmp, port)
    # In a thread of its own: Playwright's sync API may already run a loop on this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        token = pool.submit(lambda: asyncio.run(_create_token(settings))).result()
    app = build(settings)
    togai_app = togai_sandbox.create_app(
        togai_sandbox.TogaiSandboxConfig(token=TOGAI_TOKEN, webhook_base_delay=0.2)
    )
    razorpay_app = razorpay_sandbox.create_app(
        razorpay_sandbox.RazorpaySandboxConfig(
            key_id=RAZORPAY_KEY_ID,
            key_secret=RAZORPAY_KEY_SECRET,
            webhook_secret=RAZORPAY_WEBHOOK_SECRET,
        )
    )
    with ExitStack() as running:
        togai_url = running.enter_context(serve(togai_app))
        razorpay_url = running.enter_context(serve(razorpay_app))
        api = create_api(app, extra_routers=(web.router,))
        billsync_url = running.enter_context(serve(api, port=port))
        yield Stack(billsync_url, togai_url, razorpay_url, token, app)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def page(stack: Stack, browser: Browser) -> Iterator[Page]:
    """One logged-out browser tab shared by the module's tests, which run in file order."""
    context = browser.new_context(base_url=stack.billsync, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
