"""Webhook URLs the CLI shows reach the server: BILLSYNC_PUBLIC_URL, else the URL the running
(or last) `billsync serve` recorded, else the default (issue #12, item 10)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.cli.conftest import Cli
from tests.servers import free_port


@contextmanager
def billsync_serve(db: Path, port: int) -> Iterator[str]:
    """`billsync serve --port PORT --db DB` in its own process, nothing else configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLSYNC_")}
    log = db.with_suffix(".serve.log")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "billsync", "serve", "--port", str(port), "--db", str(db)],
            env=env,
            cwd=db.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, log.read_text(errors="replace")
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.05)
            yield url
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def test_webhook_urls_follow_the_port_serve_listens_on(
    run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BILLSYNC_PUBLIC_URL", raising=False)
    monkeypatch.delenv("BILLSYNC_PORT", raising=False)
    port = free_port()
    assert port != 8000
    with billsync_serve(run.db, port) as served:
        togai_id, razorpay_id = run.add_connections()
        razorpay = run.json("connections", "show", str(razorpay_id))
        assert razorpay["webhook_url"] == f"{served}/webhooks/razorpay/{razorpay_id}"
        listed = run("connections", "list").stdout
        assert f"{served}/webhooks/razorpay/{razorpay_id}" in listed
        rotated = run("connections", "rotate-secret", str(togai_id)).stdout
        togai_url = rotated.split("Webhook URL: ", 1)[1].split()[0]
        assert togai_url.startswith(f"{served}/webhooks/togai/{togai_id}/")
        # The URL shown reaches this server, token and all: a wrong token is refused (401),
        # the shown one is not.
        forged = togai_url[:-4] + ("aaaa" if not togai_url.endswith("aaaa") else "bbbb")
        assert httpx.post(forged, json={}, timeout=5).status_code == 401
        assert httpx.post(togai_url, json={}, timeout=5).status_code != 401

        # BILLSYNC_PUBLIC_URL wins over what serve recorded.
        configured = dataclasses.replace(
            run,
            runner=CliRunner(
                env={"COLUMNS": "200", "BILLSYNC_PUBLIC_URL": "https://sync.example.com"}
            ),
        )
        shown = configured.json("connections", "show", str(razorpay_id))["webhook_url"]
        assert shown == f"https://sync.example.com/webhooks/razorpay/{razorpay_id}"

    # Stopped, the last serve's address is still the best guess.
    after = run.json("connections", "show", str(razorpay_id))["webhook_url"]
    assert after == f"{served}/webhooks/razorpay/{razorpay_id}"


def test_without_a_serve_webhook_urls_use_the_default_address(
    run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BILLSYNC_PUBLIC_URL", raising=False)
    monkeypatch.delenv("BILLSYNC_PORT", raising=False)
    _, razorpay_id = run.add_connections()
    shown = run.json("connections", "show", str(razorpay_id))["webhook_url"]
    assert shown == f"http://127.0.0.1:8000/webhooks/razorpay/{razorpay_id}"
