"""Take the README's screenshots from the real demo (`billsync demo --seed 5`).

    make screenshots        # = .venv/bin/python docs/screenshots/capture.py

Starts the demo in a temporary folder on free ports, waits for its seeding runs, pays one
issued invoice in the Razorpay sandbox (as the README's walk-through does), adds a Razorpay
customer by hand (drift for the reconciliation page to show), then logs in to the UI with
the token the demo printed and saves 1280-px-wide PNGs beside this file with Debian's
Chromium (never `playwright install`). Ctrl-C to the demo at the end revokes its token.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect, sync_playwright

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage"]
WIDTH, HEIGHT = 1280, 800
#: what the demo's sandboxes accept (billsync/cli/demo.py)
RAZORPAY_AUTH = ("rzp_test_sandbox", "sandbox_secret")
#: runs the demo's seeding makes: 5 customers, 5 invoices, 3 payments and 1 partial payment
SEED_RUNS = 14


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def eventually(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.25)


@contextmanager
def demo(workdir: Path) -> Iterator[tuple[str, str, str]]:
    """(billsync URL, Razorpay sandbox URL, admin token) of a running demo."""
    port, togai_port, razorpay_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLSYNC_")}
    log = workdir / "demo.log"
    command = [
        sys.executable,
        "-m",
        "billsync",
        "demo",
        "--seed",
        "5",
        "--port",
        str(port),
        "--togai-port",
        str(togai_port),
        "--razorpay-port",
        str(razorpay_port),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=out)
        try:

            def started() -> str | None:
                if proc.poll() is not None:
                    raise SystemExit(f"the demo exited:\n{log.read_text(errors='replace')}")
                text = log.read_text(errors="replace")
                return text if "Press Ctrl-C" in text else None

            text: str = eventually(started, "the demo to start")
            token = re.search(r"log in with token (\S+)\)", text)
            if token is None:
                raise SystemExit(f"no token in the demo's output:\n{text}")
            yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{razorpay_port}", token[1]
        finally:
            proc.send_signal(signal.SIGINT)  # Ctrl-C: the demo revokes its token
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def settle(api: httpx.Client, count: int) -> list[dict[str, Any]]:
    """The runs, once at least `count` exist and every one has finished."""

    def done() -> list[dict[str, Any]] | None:
        runs: list[dict[str, Any]] = api.get("/api/v1/runs", params={"limit": 100}).json()
        finished = all(r["status"] in ("succeeded", "failed", "dead") for r in runs)
        return runs if len(runs) >= count and finished else None

    result: list[dict[str, Any]] = eventually(done, f"{count} finished runs")
    return result


def pay_one_invoice(razorpay: httpx.Client) -> str:
    """What the walk-through does: pay the first issued invoice in the Razorpay sandbox."""
    invoices = razorpay.get("/v1/invoices").json()["items"]
    issued = next(i["id"] for i in invoices if i["status"] == "issued")
    paid = razorpay.post(f"/_sandbox/invoices/{issued}/pay", json={"method": "upi"})
    paid.raise_for_status()
    return str(paid.json()["payment_id"])


def shoot(page: Page, name: str, *, height: int = HEIGHT) -> None:
    """The top `height` pixels of the page (small files: no full-page captures)."""
    path = HERE / f"{name}.png"
    page.screenshot(
        path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": WIDTH, "height": height}
    )
    print(f"{path.relative_to(HERE.parents[1])}: {path.stat().st_size // 1024} KiB")  # noqa: T201 (a script reports what it wrote)


def main() -> None:
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="billsync-screenshots-") as tmp:
        with (
            demo(Path(tmp)) as (billsync, razorpay_url, token),
            httpx.Client(
                base_url=billsync, headers={"Authorization": f"Bearer {token}"}, timeout=10
            ) as api,
            httpx.Client(base_url=razorpay_url, auth=RAZORPAY_AUTH, timeout=10) as razorpay,
        ):
            settle(api, SEED_RUNS)
            pay_one_invoice(razorpay)
            runs = settle(api, SEED_RUNS + 1)
            flows = {f["name"]: f["id"] for f in api.get("/api/v1/flows").json()}
            invoice_run = next(
                r["id"] for r in runs if r["flow_id"] == flows["Togai invoice → Razorpay invoice"]
            )
            paid_account = next(
                r["entity_key"].split(":", 1)[1]
                for r in runs
                if r["flow_id"] == flows["Razorpay paid → Togai payment"]
            )
            # Drift to show: a Razorpay customer whose notes name a Togai account that does
            # not exist (as if it was deleted in Togai); reconciliation reports it as an
            # orphan and never touches it.
            razorpay.post(
                "/v1/customers",
                json={
                    "name": "Deleted Account",
                    "email": "deleted@example.com",
                    "contact": "+919000000001",
                    "notes": {"togai_account_id": "demo-deleted-account"},
                },
            ).raise_for_status()

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                page = browser.new_page(
                    base_url=billsync, viewport={"width": WIDTH, "height": HEIGHT}
                )
                page.goto("/ui/login")
                page.fill("#token", token)
                page.click("button:has-text('Log in')")
                expect(page.locator("h1")).to_have_text("Sync health")
                shoot(page, "dashboard")
                page.goto(f"/ui/customers?q={paid_account}")
                shoot(page, "customers")
                page.goto(f"/ui/runs/{invoice_run}")
                expect(page.locator(".skip-reason")).to_have_count(1)
                shoot(page, "run", height=1150)
                page.goto("/ui/flows")
                shoot(page, "flows")
                page.goto("/ui/flows/new")
                shoot(page, "wizard")
                page.goto("/ui/reconciliation")
                page.click("button:has-text('Start reconciliation')")
                expect(page.locator("#reconciliation-status")).to_have_text(
                    "succeeded", timeout=60_000
                )
                counts = page.locator("#reconciliation-counts")
                expect(counts.locator("[data-state=orphan]")).to_have_attribute("data-count", "1")
                shoot(page, "reconciliation", height=880)
                browser.close()


if __name__ == "__main__":
    main()
