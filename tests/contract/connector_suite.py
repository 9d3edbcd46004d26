"""The connector contract suite: written once, instantiated per app (Meltano get_tap_test_class).

An app's test module is one statement::

    TestRazorpayConnector = connector_test_class(RAZORPAY)   # RAZORPAY: an AppHarness

Every test runs twice, against a fresh sandbox each time: in-process
(`httpx.ASGITransport`, with client timeouts enforced by the suite) and over a real socket
(`tests.servers.serve`) through the production default transport (aiohttp, see
connectors/transport.py). What the suite checks, for every app:

- each action case: happy path (output is the spec's output model, the expected object
  exists, declared links are returned); a retry with the mapping recorded and one with the
  mapping lost after an ambiguous failure both leave exactly one object; a dry run writes
  nothing;
- a write whose response is lost (the suite's own transport drops the answer after the
  sandbox applied it) raises UnavailableError(ambiguous=True), and the retry with
  `after_ambiguous_failure=True` does not write twice;
- errors via sandbox faults on the harness's `fault_case`: 429 → RateLimitedError carrying
  Retry-After, 503 with an HTML body → UnavailableError (not ambiguous), timeout →
  UnavailableError(ambiguous=True), lost response → ambiguous and then a safe retry;
  wrong credentials → AuthError;
- pagination to the end; verify() with right credentials, wrong ones (AuthError) and an
  unreachable base URL (UnavailableError);
- webhooks (when the harness has a `webhook` case): the sandbox's real deliveries to a
  receiver on a socket pass `app.verify_webhook` (a tampered body does not) and
  `app.parse_webhook` yields the expected triggers, each with a distinct external_id.

The harness (`AppHarness`) an app provides:

- `app`: its AppSpec; clients it makes must have `async aclose()`.
- `sandbox`: `() -> ASGI app`, a fresh sandbox; if it has `async aclose()` the suite calls
  it after in-process tests (no lifespan runs there).
- `connection` / `bad_connection`: connection values without the base URL (the suite adds
  `base_url_field`); `bad_connection` has wrong credentials.
- `set_fault(raw, fault)`: make the next API call fail with `fault` (a `Fault`); `raw` is a
  plain httpx client on the sandbox's base URL without credentials. RATE_LIMITED must send
  `Retry-After: RETRY_AFTER`. `clear_faults(raw)` undoes it.
- `cases`: `ActionCase`s, one or more per action. `build(client, ids)` creates the case's
  prerequisites through the app's client, records any id mappings in `ids` (a `DictIds`)
  and returns the action input; `count(raw)` counts the objects in the state the action
  produces, through the sandbox's API or control plane; after a success it must be
  `expected`, and it must be 0 before the action runs.
- `seed(client, n)` creates n listable objects and returns their ids; `list_all(client,
  page_size)` pages through them to the end and returns every id it saw.
- `fault_case`: the key of the case used for the fault tests (a write action whose first
  request is its write is the sharpest choice).
- `webhook` (optional): a `WebhookCase`. `emit(raw, client, ids)` makes the sandbox send
  webhooks (e.g. pays an invoice through its control plane) and returns the trigger keys
  expected among the resulting events; `secret` is what the sandbox signs with (it is
  registered with the receiver's URL via POST /_sandbox/webhooks {"url", "secret"}).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from billsync import errors
from billsync.connectors.spec import ActionContext, ActionResult, ActionSpec, AppSpec
from billsync.connectors.transport import AiohttpTransport
from billsync.domain import LinkKind, Side
from tests.servers import free_port, serve

#: Retry-After (seconds) the harness's RATE_LIMITED fault must send.
RETRY_AFTER = 7
#: Client timeout for the timeout test; the sandbox holds the request much longer.
SHORT_TIMEOUT = 1.0
MODES = ("asgi", "socket")


class Fault(enum.Enum):
    RATE_LIMITED = "429 with Retry-After"
    UNAVAILABLE_HTML = "503 with an HTML body"
    TIMEOUT = "no answer until the client gives up"
    LOST_RESPONSE = "request applied, response never sent"


@dataclass
class DictIds:
    """ActionContext.ids backed by a dict: {(kind, togai id): other side's id}."""

    links: dict[tuple[LinkKind, str], str] = field(default_factory=dict)

    def add(self, kind: LinkKind, togai_id: str, other_id: str) -> None:
        self.links[(kind, togai_id)] = other_id

    def record(self, result: ActionResult) -> None:
        """What the engine does with a step result: store its links."""
        for link in result.links:
            self.add(link.kind, link.togai_id, link.razorpay_id)

    async def find(self, kind: LinkKind, side: Side, value: str) -> str | None:
        if side is Side.TOGAI:
            return self.links.get((kind, value))
        for (k, togai_id), other in self.links.items():
            if k is kind and other == value:
                return togai_id
        return None


Raw = httpx.AsyncClient


@dataclass(frozen=True)
class ActionCase:
    action: str  #: ActionSpec.key
    build: Callable[[Any, DictIds], Awaitable[dict[str, Any]]]
    count: Callable[[Raw], Awaitable[int]]
    expected: int = 1
    links: tuple[LinkKind, ...] = ()  #: link kinds a successful first run returns
    name: str = ""  #: test id; defaults to the action key

    @property
    def id(self) -> str:
        return self.name or self.action


@dataclass(frozen=True)
class WebhookCase:
    emit: Callable[[Raw, Any, DictIds], Awaitable[set[str]]]
    secret: str = ""
    expected_deliveries: int = 1  #: wait for at least this many


@dataclass(frozen=True)
class AppHarness:
    app: AppSpec
    sandbox: Callable[[], Any]
    connection: Mapping[str, str]
    bad_connection: Mapping[str, str]
    set_fault: Callable[[Raw, Fault], Awaitable[None]]
    clear_faults: Callable[[Raw], Awaitable[None]]
    cases: tuple[ActionCase, ...]
    seed: Callable[[Any, int], Awaitable[list[str]]]
    list_all: Callable[[Any, int], Awaitable[list[str]]]
    fault_case: str
    base_url_field: str = "base_url"
    page_size: int = 3
    seeded: int = 7  #: more than two pages
    webhook: WebhookCase | None = None

    def case(self, key: str) -> ActionCase:
        return next(c for c in self.cases if c.id == key)


class TimeoutASGITransport(httpx.ASGITransport):
    """ASGITransport ignores timeouts; enforce the read timeout as a socket would."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {}).get("read")
        try:
            return await asyncio.wait_for(super().handle_async_request(request), timeout)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("timed out waiting for the sandbox", request=request) from exc


class LoseWriteResponses(httpx.AsyncBaseTransport):
    """Deliver the first write, then lose its response: the provider applied it."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "GET" and self.lost == 0:
            await response.aread()
            await response.aclose()
            self.lost += 1
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class Receiver:
    """An ASGI app that stores every POST it gets (headers, raw body) and answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.received.append((headers, b"".join(chunks)))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@dataclass
class SuiteEnv:
    """One sandbox, reachable in-process or over a socket, and clients on it."""

    harness: AppHarness
    mode: str
    sandbox: Any
    base_url: str
    raw: Raw
    clients: list[Any] = field(default_factory=list)

    def transport(self) -> httpx.AsyncBaseTransport:
        if self.mode == "asgi":
            return TimeoutASGITransport(self.sandbox)
        return AiohttpTransport()  # what make_client uses when given no transport

    def client(
        self,
        values: Mapping[str, str] | None = None,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Any:
        merged = {
            **(values if values is not None else self.harness.connection),
            self.harness.base_url_field: self.base_url,
        }
        made = self.harness.app.make_client(
            merged, transport=transport or self.transport(), timeout=timeout
        )
        self.clients.append(made)
        return made

    async def aclose(self) -> None:
        for made in self.clients:
            await made.aclose()
        await self.raw.aclose()


def ctx(client: Any, ids: DictIds, **kw: Any) -> ActionContext:
    return ActionContext(client=client, options={}, ids=ids, idempotency_key="run-1:0", **kw)


async def run(spec: ActionSpec, context: ActionContext, data: Mapping[str, Any]) -> ActionResult:
    result = await spec.run(context, spec.input_model.model_validate(dict(data)))
    assert isinstance(result.output, spec.output_model)
    return result


def connector_test_class(harness: AppHarness) -> type:
    """Build the test class for one app. Assign it to a module-level `Test…` name."""
    cases = harness.cases
    case_ids = [c.id for c in cases]

    class ConnectorContract:
        @pytest.fixture(params=MODES)
        async def env(self, request: pytest.FixtureRequest) -> Any:
            sandbox = harness.sandbox()
            if request.param == "asgi":
                base_url = "http://sandbox.test"
                raw = httpx.AsyncClient(transport=httpx.ASGITransport(sandbox), base_url=base_url)
                suite_env = SuiteEnv(harness, "asgi", sandbox, base_url, raw)
                try:
                    yield suite_env
                finally:
                    await suite_env.aclose()
                    if hasattr(sandbox, "aclose"):
                        await sandbox.aclose()
            else:
                with serve(sandbox) as base_url:
                    raw = httpx.AsyncClient(base_url=base_url)
                    suite_env = SuiteEnv(harness, "socket", sandbox, base_url, raw)
                    try:
                        yield suite_env
                    finally:
                        await suite_env.aclose()

        # Actions

        @pytest.mark.parametrize("case", cases, ids=case_ids)
        async def test_happy_path(self, env: SuiteEnv, case: ActionCase) -> None:
            spec = harness.app.action(case.action)
            client, ids = env.client(), DictIds()
            data = await case.build(client, ids)
            assert await case.count(env.raw) == 0
            result = await run(spec, ctx(client, ids), data)
            assert await case.count(env.raw) == case.expected
            assert {link.kind for link in result.links} == set(case.links)

        @pytest.mark.parametrize("case", cases, ids=case_ids)
        async def test_retry_with_mapping_is_idempotent(
            self, env: SuiteEnv, case: ActionCase
        ) -> None:
            spec = harness.app.action(case.action)
            client, ids = env.client(), DictIds()
            data = await case.build(client, ids)
            ids.record(await run(spec, ctx(client, ids), data))
            await run(spec, ctx(client, ids), data)
            assert await case.count(env.raw) == case.expected

        @pytest.mark.parametrize("case", cases, ids=case_ids)
        async def test_retry_without_mapping_uses_the_natural_key(
            self, env: SuiteEnv, case: ActionCase
        ) -> None:
            # The mapping write was lost with the first attempt's answer.
            spec = harness.app.action(case.action)
            client, ids = env.client(), DictIds()
            data = await case.build(client, ids)
            first = await run(spec, ctx(client, ids), data)
            second = await run(spec, ctx(client, ids, after_ambiguous_failure=True), data)
            assert await case.count(env.raw) == case.expected
            assert second.links == first.links  # the same object, found again

        @pytest.mark.parametrize("case", cases, ids=case_ids)
        async def test_dry_run_writes_nothing(self, env: SuiteEnv, case: ActionCase) -> None:
            spec = harness.app.action(case.action)
            client, ids = env.client(), DictIds()
            data = await case.build(client, ids)
            result = await run(spec, ctx(client, ids, dry_run=True), data)
            assert await case.count(env.raw) == 0
            assert result.links == ()

        @pytest.mark.parametrize("case", cases, ids=case_ids)
        async def test_lost_write_then_safe_retry(self, env: SuiteEnv, case: ActionCase) -> None:
            spec = harness.app.action(case.action)
            ids = DictIds()
            data = await case.build(env.client(), ids)
            lossy = env.client(transport=LoseWriteResponses(env.transport()))
            with pytest.raises(errors.UnavailableError) as info:
                await run(spec, ctx(lossy, ids), data)
            assert info.value.ambiguous
            assert await case.count(env.raw) == case.expected  # it did land
            await run(spec, ctx(env.client(), ids, after_ambiguous_failure=True), data)
            assert await case.count(env.raw) == case.expected

        # Errors, through the sandbox's faults

        async def _fail(self, env: SuiteEnv, fault: Fault, client_timeout: float = 10.0) -> Any:
            case = harness.case(harness.fault_case)
            spec = harness.app.action(case.action)
            ids = DictIds()
            data = await case.build(env.client(), ids)
            faulty = env.client(timeout=client_timeout)
            await harness.set_fault(env.raw, fault)
            try:
                with pytest.raises(errors.ConnectorError) as info:
                    await run(spec, ctx(faulty, ids), data)
            finally:
                await harness.clear_faults(env.raw)
            return info.value, case, spec, ids, data

        async def test_rate_limited(self, env: SuiteEnv) -> None:
            error, *_ = await self._fail(env, Fault.RATE_LIMITED)
            assert isinstance(error, errors.RateLimitedError)
            assert error.retry_after == RETRY_AFTER
            assert error.status == 429

        async def test_gateway_html_is_unavailable_not_ambiguous(self, env: SuiteEnv) -> None:
            error, case, *_ = await self._fail(env, Fault.UNAVAILABLE_HTML)
            assert isinstance(error, errors.UnavailableError)
            assert error.status == 503
            assert not error.ambiguous
            assert await case.count(env.raw) == 0

        async def test_timeout_is_ambiguous(self, env: SuiteEnv) -> None:
            error, *_ = await self._fail(env, Fault.TIMEOUT, client_timeout=SHORT_TIMEOUT)
            assert isinstance(error, errors.UnavailableError)
            assert error.ambiguous

        async def test_lost_response_is_ambiguous_and_retry_is_safe(self, env: SuiteEnv) -> None:
            error, case, spec, ids, data = await self._fail(env, Fault.LOST_RESPONSE)
            assert isinstance(error, errors.UnavailableError)
            assert error.ambiguous
            await run(spec, ctx(env.client(), ids, after_ambiguous_failure=True), data)
            assert await case.count(env.raw) == case.expected

        async def test_wrong_credentials_fail_actions_with_auth_error(self, env: SuiteEnv) -> None:
            case = harness.case(harness.fault_case)
            spec = harness.app.action(case.action)
            ids = DictIds()
            data = await case.build(env.client(), ids)
            with pytest.raises(errors.AuthError):
                await run(spec, ctx(env.client(harness.bad_connection), ids), data)
            assert await case.count(env.raw) == 0

        # Listing and verification

        async def test_pagination_reaches_the_end(self, env: SuiteEnv) -> None:
            client = env.client()
            seeded = await harness.seed(client, harness.seeded)
            assert len(seeded) == harness.seeded > 2 * harness.page_size
            listed = await harness.list_all(client, harness.page_size)
            assert len(listed) == len(set(listed)), "an object was listed twice"
            assert set(seeded) <= set(listed)

        async def test_verify_accepts_right_credentials(self, env: SuiteEnv) -> None:
            await harness.app.verify(env.client())

        async def test_verify_rejects_wrong_credentials(self, env: SuiteEnv) -> None:
            with pytest.raises(errors.AuthError) as info:
                await harness.app.verify(env.client(harness.bad_connection))
            for name, value in harness.bad_connection.items():
                secret = any(f.secret and f.name == name for f in harness.app.fields)
                assert not (secret and value in str(info.value)), f"{name} leaked"

        async def test_verify_reports_unreachable(self, env: SuiteEnv) -> None:
            values = {
                **harness.connection,
                harness.base_url_field: f"http://127.0.0.1:{free_port()}",
            }
            client = harness.app.make_client(values, timeout=2.0)
            env.clients.append(client)
            with pytest.raises(errors.UnavailableError) as info:
                await harness.app.verify(client)
            assert not info.value.ambiguous

        # Webhooks: the sandbox's real deliveries through the connector's verify and parse

        @pytest.mark.skipif(harness.webhook is None, reason="the app declares no webhook case")
        async def test_sandbox_webhooks_verify_and_parse(self, env: SuiteEnv) -> None:
            case = harness.webhook
            assert case is not None
            receiver = Receiver()
            with serve(receiver) as url:
                target = {"url": f"{url}/hook", "secret": case.secret}
                (await env.raw.post("/_sandbox/webhooks", json=target)).raise_for_status()
                expected = await case.emit(env.raw, env.client(), DictIds())
                for _ in range(500):
                    if len(receiver.received) >= case.expected_deliveries:
                        break
                    await asyncio.sleep(0.02)
            assert len(receiver.received) >= case.expected_deliveries, "no webhook arrived"
            client, seen, triggers = env.client(), set(), set()
            for headers, body in receiver.received:
                if harness.app.verify_webhook is not None:
                    harness.app.verify_webhook(headers, body, case.secret)
                    with pytest.raises(errors.SignatureError):
                        harness.app.verify_webhook(headers, body + b" ", case.secret)
                for event in await harness.app.parse_webhook(client, headers, body):
                    assert event.external_id not in seen
                    assert event.entity_key
                    seen.add(event.external_id)
                    if event.trigger is not None:
                        harness.app.trigger(event.trigger)  # a declared trigger
                        triggers.add(event.trigger)
            assert expected <= triggers

    ConnectorContract.__name__ = f"Test{harness.app.name.title()}Connector"
    ConnectorContract.__qualname__ = ConnectorContract.__name__
    return ConnectorContract
