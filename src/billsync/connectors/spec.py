"""How an app is declared: frozen specs of its connection fields, triggers and actions.

The engine knows apps only through these types. An action is a plain
`async def action(ctx: ActionContext, data: InputModel) -> ActionResult`; it classifies
failures by raising `billsync.errors` exceptions and never retries (the engine does).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, Field

from billsync.domain import Hint, IdLink, IncomingEvent, LinkKind, Side


class Idempotency:
    """How an action avoids creating twice (shown in the catalogue and docs)."""

    MAPPING_THEN_NATURAL_KEY = "mapping, then natural key at the provider"
    NATURAL_KEY = "natural key at the provider"
    STATE_CHECK = "current state at the provider decides"
    READ_ONLY = "read-only"


@dataclass(frozen=True)
class ConnectionField:
    """One field of a connection form. Secret fields are encrypted at rest, never shown."""

    name: str
    label: str
    secret: bool = False
    required: bool = True
    default: str | None = None
    description: str = ""
    choices: tuple[str, ...] = ()
    #: The URL of the app's API: the host every outbound secret is sent to. Checked as a
    #: URL (https; http only on loopback for a connection marked `sandbox`), and changing it
    #: requires the outbound secrets in the same request (app/connection_admin.py).
    url: bool = False
    #: For secret fields: whether the secret is sent to the app's host (API keys, tokens).
    #: False for secrets that only check what the app sends us (a webhook signing secret).
    outbound: bool = True
    #: (least, most): the value must be a number in this range (e.g. seconds).
    number_range: tuple[float, float] | None = None

    def problem(self, value: str) -> str | None:
        """Why `value` is not acceptable for this field, or None."""
        if self.choices and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}"
        if self.number_range is not None:
            least, most = self.number_range
            try:
                number = float(value)
            except ValueError:
                number = float("nan")
            if not least <= number <= most:
                return f"must be a number from {least:g} to {most:g}"
        return None


#: Marks a connection as a local sandbox/test connection: its API URL may then be plain
#: http on this machine (billsync's sandboxes, tests). Every app with a URL field has it.
SANDBOX_FIELD = ConnectionField(
    name="sandbox",
    label="Local sandbox",
    required=False,
    default="no",
    choices=("no", "yes"),
    description=(
        "yes: a test connection whose API base URL may be http:// on this machine "
        "(127.0.0.1, ::1, localhost), e.g. billsync's sandboxes; no: https only."
    ),
)


class IdLookup(Protocol):
    """Read access to the id mapping, given to actions by the engine."""

    async def find(self, kind: LinkKind, side: Side, value: str) -> str | None:
        """Return the id on the other side of `value`, or None when unmapped."""
        ...


@dataclass
class ActionContext:
    """Everything an action may use. Built by the engine for one attempt of one step."""

    client: Any  #: the app's client for this connection (see AppSpec.make_client)
    options: Mapping[str, str]  #: the connection's non-secret options
    ids: IdLookup
    idempotency_key: str  #: f"{run_id}:{step_index}", stable across attempts
    after_ambiguous_failure: bool = False  #: the previous attempt may have written
    #: an earlier attempt of this step exists (a natural-key lookup may be worth its call)
    earlier_attempt: bool = False
    dry_run: bool = False  #: preview: read calls are allowed, writes must not be sent


def _is_none(value: Any) -> bool:
    return value is None


def preview_only() -> Any:
    """An output field only a dry run fills (e.g. `would_send`): left out of the output of
    a real run instead of showing as null there."""
    return Field(default=None, exclude_if=_is_none)


@dataclass(frozen=True)
class ActionResult:
    """An action's output plus the id mappings the engine stores with the step result."""

    output: BaseModel
    links: tuple[IdLink, ...] = ()


ActionFn = Callable[[ActionContext, Any], Awaitable[ActionResult]]


@dataclass(frozen=True)
class ActionSpec:
    key: str  #: verb_object, e.g. "create_customer"
    title: str
    description: str  #: one line, shown by `billsync apps` and the UI
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    run: ActionFn
    idempotency: str
    writes: bool = True  #: False for read-only actions (allowed during preview)
    #: input field → JMESPath over {"event": <trigger payload>, "steps": {<step id>: output}}
    #: used when a flow does not override the field.
    default_input: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TriggerSpec:
    key: str  #: the upstream event name, e.g. "invoice.paid"
    title: str
    description: str
    payload_model: type[BaseModel] | None = None  #: shape of IncomingEvent.payload
    webhook: bool = True
    polling: bool = False


class WebhookVerifier(Protocol):
    def __call__(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        """Raise errors.SignatureError unless the delivery is authentic."""
        ...


class WebhookParser(Protocol):
    async def __call__(
        self, client: Any, headers: Mapping[str, str], body: bytes
    ) -> Sequence[IncomingEvent]:
        """Turn one verified delivery into events (may re-fetch the entity via client)."""
        ...


class Poller(Protocol):
    async def __call__(
        self,
        client: Any,
        cursor: Mapping[str, Any] | None,
        known: Callable[[Sequence[str]], Awaitable[set[str]]] | None = None,
    ) -> tuple[Sequence[IncomingEvent], Mapping[str, Any]]:
        """Return the events since `cursor` and the cursor to persist afterwards. `known`
        (external ids → those already in the inbox) lets it skip re-fetching those."""
        ...


class CatchUpPoll(Protocol):
    async def __call__(
        self,
        client: Any,
        cursor: Mapping[str, Any] | None,
        known: Callable[[Sequence[str]], Awaitable[set[str]]] | None = None,
        *,
        triggers: frozenset[str],
        now: datetime,
        start: datetime,
    ) -> tuple[Sequence[IncomingEvent], Mapping[str, Any]]:
        """Like Poller, for several triggers in one walk: the events of `triggers` since
        `cursor` (None: since `start`) and the cursor to persist."""
        ...


@dataclass(frozen=True)
class CatchUp:
    """One poll per connection whose walk serves several polling triggers (Razorpay's
    payment list serves every payment trigger), on its own interval."""

    cursor: str  #: the poll cursor's name
    triggers: frozenset[str]
    poll: CatchUpPoll
    #: Connection option holding the interval in seconds, and its default.
    interval_option: str
    default_interval: float


Known = Callable[[Sequence[str]], Awaitable[set[str]]]


@dataclass(frozen=True)
class HintResolution:
    """What re-fetching a batch of hints found: the events (at most one per entity and
    transition), and how many list pages a sweep read (None: no sweep), which the engine
    remembers to judge whether the next batch is big enough to sweep again."""

    events: Sequence[IncomingEvent] = ()
    list_pages: int | None = None
    #: entity ids whose hints stay for a later round (a fetch failed: 5xx, timeout)
    unresolved: frozenset[str] = frozenset()
    #: where the next sweep of this kind's list may start (an opaque list token; None: no
    #: page was read this time, keep the previous one; "": the API refused it, drop it)
    resume: str | None = None


class HintParser(Protocol):
    def __call__(self, headers: Mapping[str, str], body: bytes) -> Hint | IncomingEvent:
        """Read one authenticated delivery without calling the app: the hint to re-fetch
        later, or an event to store as is (one no trigger knows). Raises RejectedError
        for a body that is not an envelope."""
        ...


class HintResolver(Protocol):
    async def __call__(
        self,
        client: Any,
        kind: str,
        hints: Sequence[Hint],
        known: Known,
        *,
        list_pages: int | None = None,
        resume: str | None = None,
    ) -> HintResolution:
        """Re-fetch the entities `hints` (all of one kind) name and return their events.
        `known` (external ids → those already in the inbox) lets it skip what is stored;
        `list_pages` is what the last sweep of this kind's list cost, `resume` where the
        last sweep that reached the list's end started its last page. A failed fetch leaves
        its entity in `unresolved`; raises only when nothing could be resolved."""
        ...


class ClientFactory(Protocol):
    def __call__(
        self,
        values: Mapping[str, str],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> Any:
        """Build a client from the connection's field values (secrets already decrypted)."""
        ...


@dataclass(frozen=True)
class AppSpec:
    name: str  #: "togai", "razorpay"
    title: str
    description: str
    fields: tuple[ConnectionField, ...]
    triggers: tuple[TriggerSpec, ...]
    actions: tuple[ActionSpec, ...]
    make_client: ClientFactory
    verify: Callable[[Any], Awaitable[None]]  #: raises AuthError/UnavailableError/...
    parse_webhook: WebhookParser
    verify_webhook: WebhookVerifier | None = None  #: None: authenticated by URL token
    poll: Mapping[str, Poller] = field(default_factory=dict)  #: trigger key → poller
    catch_up: CatchUp | None = None
    #: Unsigned webhooks: read as hints, acknowledged once stored, resolved in batches
    #: (engine/hints.py). None: `parse_webhook` runs before the acknowledgement.
    parse_hint: HintParser | None = None
    resolve_hints: HintResolver | None = None
    #: the order in which hint kinds are resolved (accounts before their invoices)
    hint_kinds: tuple[str, ...] = ()

    def action(self, key: str) -> ActionSpec:
        for spec in self.actions:
            if spec.key == key:
                return spec
        raise KeyError(f"{self.name} has no action {key!r}")

    def trigger(self, key: str) -> TriggerSpec:
        for spec in self.triggers:
            if spec.key == key:
                return spec
        raise KeyError(f"{self.name} has no trigger {key!r}")


class DuplicateAppError(ValueError):
    """Two apps (or two actions/triggers of one app) share a name."""


@dataclass(frozen=True)
class Registry:
    """An explicit, validated set of apps. Built once by the composition root."""

    apps: tuple[AppSpec, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for app in self.apps:
            if app.name in seen:
                raise DuplicateAppError(f"app {app.name!r} registered twice")
            seen.add(app.name)
            for kind, keys in (
                ("action", [a.key for a in app.actions]),
                ("trigger", [t.key for t in app.triggers]),
            ):
                if len(keys) != len(set(keys)):
                    raise DuplicateAppError(f"{app.name}: duplicate {kind} key in {keys}")

    def app(self, name: str) -> AppSpec:
        for app in self.apps:
            if app.name == name:
                return app
        raise KeyError(f"unknown app {name!r}")
