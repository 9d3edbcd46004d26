"""Where a connection's credentials may go (issue 11): a stored secret never leaves for a
host it was not entered for, base URLs are checked before anything is sent, and failed
verifications all give the same answer (base_url is not a port scanner)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from pydantic import SecretStr

from billsync.api.server import create_api
from billsync.app import App, audit, build, tokens
from billsync.app import connections as connection_ops
from billsync.clock import FakeClock
from billsync.config import Settings
from billsync.engine.clients import real_network
from billsync.sandbox import razorpay as razorpay_sandbox
from billsync.sandbox import togai as togai_sandbox
from billsync.store import connections as connection_store
from billsync.store.models import Connection
from billsync.store.vault import Vault
from tests.api.conftest import RAZORPAY_VALUES, RZP, TOGAI_TOKEN, TOGAI_VALUES


@dataclass
class Captured:
    """Requests that reached a host that is not one of the sandboxes."""

    requests: list[httpx.Request] = field(default_factory=list)

    def secrets_seen(self) -> str:
        seen = []
        for request in self.requests:
            auth = request.headers.get("authorization", "")
            seen.append(auth)
            if auth.lower().startswith("basic "):
                seen.append(base64.b64decode(auth[6:]).decode())
        return "\n".join(seen)


class ByHost(httpx.AsyncBaseTransport):
    """Routes by the request's host, like DNS would: the sandboxes at their names (and at
    `*-moved.test`, a second address of the same service), anything else is captured."""

    def __init__(self, togai: Any, razorpay: Any, captured: Captured) -> None:
        self._apps = {
            "togai.test": httpx.ASGITransport(app=togai),
            "togai-moved.test": httpx.ASGITransport(app=togai),
            "razorpay.test": httpx.ASGITransport(app=razorpay),
            "razorpay-moved.test": httpx.ASGITransport(app=razorpay),
        }
        self._captured = captured

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = self._apps.get(request.url.host)
        if target is not None:
            return await target.handle_async_request(request)
        self._captured.requests.append(request)
        return httpx.Response(404, json={"error": "capture server: internal banner 7f3a"})


@dataclass
class Hosts:
    app: App
    http: httpx.AsyncClient
    captured: Captured


@pytest.fixture
async def hosts(tmp_path: Path) -> AsyncIterator[Hosts]:
    togai = togai_sandbox.create_app(togai_sandbox.TogaiSandboxConfig())
    razorpay = razorpay_sandbox.create_app(RZP)
    captured = Captured()

    def transport_for(_connection: Connection) -> httpx.AsyncBaseTransport:
        return ByHost(togai, razorpay, captured)

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{quote(str(tmp_path / 'h.db'))}",
        secret_keys=SecretStr(Vault.generate_key()),
        public_url="http://billsync.test",
    )
    app = build(settings, clock=FakeClock(), transport_for=transport_for)
    await app.migrate()
    _, token = await tokens.create(app, "tester")
    api = create_api(app, start_worker=False, start_poller=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api),
        base_url="http://billsync.test",
        headers={"Authorization": f"Bearer {token}"},
    ) as http:
        yield Hosts(app, http, captured)
    await app.stop()
    await togai.aclose()
    await razorpay.aclose()


def _fields(r: httpx.Response) -> set[str]:
    return {item["field"] for item in r.json()["detail"]}


async def _create(hosts: Hosts) -> tuple[int, int]:
    togai = await connection_ops.create(hosts.app, app_name="togai", name="T", values=TOGAI_VALUES)
    razorpay = await connection_ops.create(
        hosts.app, app_name="razorpay", name="R", values=RAZORPAY_VALUES
    )
    return togai.id, razorpay.id


async def test_a_new_base_url_without_the_secrets_is_refused_and_nothing_is_sent(
    hosts: Hosts,
) -> None:
    togai_id, razorpay_id = await _create(hosts)
    r = await hosts.http.patch(
        f"/api/v1/connections/{razorpay_id}",
        json={"values": {"base_url": "https://exfil.test"}},
    )
    assert r.status_code == 422, r.text
    # key_secret is sent to the host; the webhook secret only checks what Razorpay sends us.
    assert _fields(r) == {"values.key_secret"}
    r = await hosts.http.patch(
        f"/api/v1/connections/{togai_id}", json={"values": {"base_url": "https://exfil.test"}}
    )
    assert r.status_code == 422
    assert _fields(r) == {"values.api_token"}
    assert hosts.captured.requests == []
    # Nothing changed: the stored URL is still the old one, and the poller's client too.
    async with hosts.app.db.read() as session:
        row = await connection_store.get(session, togai_id)
    assert row is not None and row.options["base_url"] == "https://togai.test"
    client = await hosts.app.clients.get(row)
    assert str(client.base_url).startswith("https://togai.test")


async def test_secrets_typed_for_a_new_host_go_there_and_the_stored_ones_never_do(
    hosts: Hosts,
) -> None:
    _, razorpay_id = await _create(hosts)
    r = await hosts.http.patch(
        f"/api/v1/connections/{razorpay_id}",
        json={"values": {"base_url": "https://exfil.test", "key_secret": "typed-for-exfil"}},
    )
    # The capture server is not Razorpay: one generic answer, nothing of its text echoed.
    assert r.status_code == 502, r.text
    assert "7f3a" not in r.text and "capture server" not in r.text
    seen = hosts.captured.secrets_seen()
    assert "typed-for-exfil" in seen
    assert RZP.key_secret not in seen


async def test_moving_a_connection_is_audited_with_both_urls_and_no_secret(hosts: Hosts) -> None:
    togai_id, _ = await _create(hosts)
    r = await hosts.http.patch(
        f"/api/v1/connections/{togai_id}",
        json={"values": {"base_url": "https://togai-moved.test", "api_token": TOGAI_TOKEN}},
    )
    assert r.status_code == 200, r.text
    [entry] = await audit.recent(hosts.app, target=f"connection:{togai_id}", limit=1)
    assert entry.action == "connection.update"
    assert entry.detail["base_url"] == {
        "old": "https://togai.test",
        "new": "https://togai-moved.test",
    }
    assert entry.detail["secrets_entered"] == ["api_token"]
    assert TOGAI_TOKEN not in str(entry.detail)
    # The engine's next client (poller, runs) talks to the new host.
    async with hosts.app.db.read() as session:
        row = await connection_store.get(session, togai_id)
    assert row is not None
    client = await hosts.app.clients.get(row)
    assert str(client.base_url).startswith("https://togai-moved.test")
    assert hosts.captured.requests == []


async def test_the_ui_form_with_blank_secrets_cannot_move_a_connection(hosts: Hosts) -> None:
    # The UI leaves blank secret fields out of the change (they mean "keep"), so a form
    # that only edits base_url reaches the same rule: refused, nothing sent.
    _, razorpay_id = await _create(hosts)
    from billsync.app import connection_admin

    with pytest.raises(connection_ops.InvalidConnectionError) as refused:
        await connection_admin.update(
            hosts.app,
            razorpay_id,
            values={"key_id": RZP.key_id, "base_url": "https://exfil.test"},
            actor="web:tester",
        )
    assert [f for f, _ in refused.value.problems] == ["key_secret"]
    assert hosts.captured.requests == []


@pytest.mark.parametrize(
    ("url", "sandbox"),
    [
        ("file:///etc/passwd", "no"),
        ("gopher://127.0.0.1:70/", "yes"),
        ("ftp://razorpay.test", "no"),
        ("https://user:pass@razorpay.test", "no"),
        ("https://user@razorpay.test", "no"),
        ("http://razorpay.test", "no"),  # plain http outside a sandbox
        ("http://10.0.0.7:8080", "yes"),  # plain http toward another machine
        ("http://127.0.0.1:8303/exfil", "no"),  # loopback, but not marked as a sandbox
        ("https://razorpay.test:99999", "no"),
        ("https://", "no"),
        ("https://razorpay.test/?a=1", "no"),
        ("https://razorpay.test/" + "a" * 3000, "no"),
        ("https://razor pay.test", "no"),
    ],
)
async def test_base_urls_are_checked_before_anything_is_sent(
    hosts: Hosts, url: str, sandbox: str
) -> None:
    values = {**RAZORPAY_VALUES, "base_url": url, "sandbox": sandbox}
    r = await hosts.http.post(
        "/api/v1/connections", json={"app": "razorpay", "name": "R", "values": values}
    )
    assert r.status_code == 422, r.text
    assert _fields(r) == {"values.base_url"}
    assert "user:pass" not in r.text  # the URL (and a password in it) is not echoed
    assert hosts.captured.requests == []


async def test_loopback_http_is_allowed_for_a_sandbox_connection(hosts: Hosts) -> None:
    values = {**RAZORPAY_VALUES, "base_url": "http://127.0.0.1:9", "sandbox": "yes"}
    r = await hosts.http.post(
        "/api/v1/connections", json={"app": "razorpay", "name": "R", "values": values}
    )
    # Accepted as a URL (the capture transport answers 404: not Razorpay, hence 502).
    assert r.status_code == 502, r.text
    assert [req.url.host for req in hosts.captured.requests] == ["127.0.0.1"]


# -- over real sockets: unreachable and "not Razorpay" are indistinguishable ----------------


@contextlib.asynccontextmanager
async def _other_service() -> AsyncIterator[int]:
    """A real HTTP server that is not Razorpay (it answers 404 with a telling banner)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"error": "nginx internal admin 1.2.3 at 10.1.2.3"}'
        writer.write(
            b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_and_not_razorpay_give_the_same_answer(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{quote(str(tmp_path / 'n.db'))}",
        secret_keys=SecretStr(Vault.generate_key()),
        public_url="http://billsync.test",
        http_timeout=3.0,
    )
    app = build(settings, transport_for=real_network)
    await app.migrate()
    _, token = await tokens.create(app, "tester")
    api = create_api(app, start_worker=False, start_poller=False)
    answers = []
    async with (
        _other_service() as other,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api),
            base_url="http://billsync.test",
            headers={"Authorization": f"Bearer {token}"},
        ) as http,
    ):
        for i, port in enumerate((_closed_port(), other)):
            values = {**RAZORPAY_VALUES, "base_url": f"http://127.0.0.1:{port}", "sandbox": "yes"}
            r = await http.post(
                "/api/v1/connections",
                json={"app": "razorpay", "name": f"R{i}", "values": values},
            )
            answers.append((r.status_code, r.json()))
    await app.stop()
    assert answers[0] == answers[1], answers
    assert answers[0][0] == 502
    assert "nginx" not in str(answers[1]) and "10.1.2.3" not in str(answers[1])
