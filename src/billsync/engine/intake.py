"""Intake: authenticate a delivery, store its events and their runs in one transaction.

Persist, then acknowledge (design invariant 1): `receive_webhook` returns only after the
events and runs are committed, so the caller may answer 2xx. An app whose webhooks are
unsigned hints (Togai: `AppSpec.parse_hint`) has its hint committed instead: the hint is
what the delivery durably says, and engine/hints.py turns hints into events and runs
(re-fetched, many per list call), deleting each hint in the transaction that stores them.

One transaction inserts each event (ON CONFLICT DO NOTHING on (connection, external_id):
a provider retry or a poll that saw the same change creates nothing), matches the enabled
flows of that connection and trigger whose filter passes, inserts one run per flow
(UNIQUE(flow, event)) and tells the dispatcher; after the commit the dispatcher is
notified. The poller stores its events through `store`, with its cursor in the same
transaction.

Authentication comes before parsing: Razorpay's signature is checked on the raw bytes with
the connection's webhook secret; Togai signs nothing, so the URL carries a per-connection
token compared in constant time.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from billsync import errors
from billsync.clock import Clock, SystemClock
from billsync.connectors import spec
from billsync.domain import IncomingEvent
from billsync.engine import calls
from billsync.engine.clients import ClientCache
from billsync.engine.definitions import DefinitionCache
from billsync.engine.dispatch import Dispatcher
from billsync.engine.flow import FlowDefinition
from billsync.engine.inputs import trigger_matches
from billsync.engine.ratelimit import RateLimiters, connection_rate
from billsync.store import connections, cursors, events, flows, hints, runs
from billsync.store.database import Database
from billsync.store.models import Connection
from billsync.store.status import EventStatus
from billsync.store.vault import Vault

log = structlog.get_logger(__name__)

#: Largest webhook body accepted; providers send a few KiB.
MAX_BODY_BYTES = 1024 * 1024

WEBHOOKS = Counter(
    "billsync_webhooks_total",
    "Webhook deliveries by app and outcome",
    ["app", "outcome"],
)
HINTS_STORED = Counter(
    "billsync_webhook_hints_total", "Unsigned webhook hints stored for re-fetching", ["app"]
)
EVENTS_STORED = Counter(
    "billsync_events_stored_total", "New events stored, by app and source", ["app", "source"]
)


class UnknownConnectionError(errors.SyncError):
    """No connection of this app has that id."""


class MalformedWebhookError(errors.SyncError):
    """The webhook body is not valid JSON."""


class PayloadTooLargeError(errors.SyncError):
    """The webhook body is larger than 1 MiB."""


@dataclass(frozen=True)
class PollCursor:
    """A poll's new cursor, saved in the transaction that stores its events."""

    trigger: str
    value: Mapping[str, Any]


@dataclass
class IntakeResult:
    received: int = 0  #: events handed in
    stored: int = 0  #: events new to the inbox
    duplicates: int = 0  #: events already stored (provider retry, webhook + poll)
    run_ids: list[int] = field(default_factory=list)  #: runs created
    hints: int = 0  #: hints stored, to be re-fetched (unsigned webhooks)
    hinted: bool = False  #: the delivery was read as a hint (stored or already pending)


class Intake:
    def __init__(
        self,
        db: Database,
        registry: spec.Registry,
        clients: ClientCache,
        dispatcher: Dispatcher,
        vault: Vault,
        *,
        clock: Clock | None = None,
        limiters: RateLimiters | None = None,
    ) -> None:
        self._db = db
        self._limiters = limiters or RateLimiters()
        self._registry = registry
        self._clients = clients
        self._dispatcher = dispatcher
        self._vault = vault
        self._clock = clock or SystemClock()
        self._definitions = DefinitionCache()
        self._hint_listeners: list[Callable[[], None]] = []

    async def receive_webhook(
        self,
        app_name: str,
        connection_id: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        token: str | None = None,
    ) -> IntakeResult:
        """Authenticate, parse and store one delivery. Raises UnknownConnectionError,
        errors.SignatureError, PayloadTooLargeError, MalformedWebhookError, or a
        ConnectorError when the entity could not be re-fetched (answer 503: the provider
        retries and the poller is the safety net)."""
        try:
            result = await self._receive(app_name, connection_id, headers, body, token)
        except errors.SignatureError:
            WEBHOOKS.labels(app_name, "unauthenticated").inc()
            raise
        except (UnknownConnectionError, PayloadTooLargeError, MalformedWebhookError):
            WEBHOOKS.labels(app_name, "rejected").inc()
            raise
        except errors.ConnectorError:
            WEBHOOKS.labels(app_name, "unavailable").inc()
            raise
        outcome = (
            "stored"
            if result.stored
            else "hint"
            if result.hints
            else "duplicate"
            if result.duplicates
            else "empty"
        )
        WEBHOOKS.labels(app_name, outcome).inc()
        return result

    async def _receive(
        self,
        app_name: str,
        connection_id: int,
        headers: Mapping[str, str],
        body: bytes,
        token: str | None,
    ) -> IntakeResult:
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLargeError
        # The runner's connection-row cache (a few seconds; edits through billsync drop it
        # at once): a read transaction per delivery was a tenth of a sync's transactions.
        row = self._clients.cached_row(connection_id)
        if row is None:
            async with self._db.read() as session:
                row = await connections.get(session, connection_id)
            if row is not None:
                self._clients.remember_row(row)
        if row is None or row.app != app_name:
            raise UnknownConnectionError(f"no {app_name} connection {connection_id}")
        app = self._registry.app(row.app)
        self._authenticate(app, row, headers, body, token)
        try:
            json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise MalformedWebhookError from None
        if app.parse_hint is not None:
            return await self._store_hint(app, row.id, headers, body)
        client = await self._clients.get(row)
        # Parsing may call the app (Togai's entity is re-fetched): each request takes a token
        # from the connection's bucket in the client; a 429 slows that shared bucket down.
        bucket = self._limiters.get(str(row.id), connection_rate(row))
        try:
            with calls.purpose("refetch"):
                incoming = await app.parse_webhook(client, headers, body)
        except errors.RejectedError as exc:
            # The connector refused the envelope (not an object, no event type...).
            raise MalformedWebhookError(exc.message) from None
        except errors.RateLimitedError as exc:
            bucket.penalize(exc.retry_after)
            raise
        return await self.store(row.id, incoming, source="webhook")

    async def _store_hint(
        self, app: spec.AppSpec, connection_id: int, headers: Mapping[str, str], body: bytes
    ) -> IntakeResult:
        """An unsigned delivery: store the hint it carries (acknowledged once durable) and
        wake the hint resolver, which re-fetches hinted entities in batches."""
        assert app.parse_hint is not None
        try:
            found = app.parse_hint(headers, body)
        except errors.RejectedError as exc:
            raise MalformedWebhookError(exc.message) from None
        if isinstance(found, IncomingEvent):
            return await self.store(connection_id, [found], source="webhook")
        result = IntakeResult(received=1, hinted=True)
        async with self._db.write() as session:
            if await hints.insert(session, connection_id, found, now=self._clock.now()):
                result.hints = 1
            else:
                result.duplicates = 1
        if result.hints:
            HINTS_STORED.labels(app.name).inc()
            for wake in self._hint_listeners:
                wake()
        return result

    def on_hint(self, wake: Callable[[], None]) -> None:
        """Call `wake` after each new hint is committed (the hint resolver listens)."""
        self._hint_listeners.append(wake)

    async def _flows_of(
        self, session: AsyncSession, connection_id: int
    ) -> list[tuple[int, int, FlowDefinition]]:
        """Enabled flows (current versions) triggered by this connection."""
        found: list[tuple[int, int, FlowDefinition]] = []
        for flow_id, version, stamp in await flows.enabled_current_stamps(session):
            defn = self._definitions.get(stamp)
            if defn is None:
                raw = await flows.definition_of(session, stamp[0])
                if raw is None:
                    continue
                defn = self._definitions.parse(stamp, raw)
            if isinstance(defn, str):
                log.warning("skipping an enabled flow with an invalid definition", flow_id=flow_id)
                continue
            if defn.trigger.connection_id == str(connection_id):
                found.append((flow_id, version, defn))
        return found

    def _authenticate(
        self,
        app: spec.AppSpec,
        row: Connection,
        headers: Mapping[str, str],
        body: bytes,
        token: str | None,
    ) -> None:
        if app.verify_webhook is not None:
            secret = connections.secret_values(self._vault, row).get("webhook_secret", "")
            app.verify_webhook(headers, body, secret)
            return
        expected = connections.webhook_token(self._vault, row)
        if not expected or not token:
            raise errors.SignatureError("webhook token missing")
        if not hmac.compare_digest(expected.encode(), token.encode()):
            raise errors.SignatureError("webhook token does not match")

    async def store(
        self,
        connection_id: int,
        incoming: Sequence[IncomingEvent],
        *,
        cursor: PollCursor | None = None,
        source: str = "webhook",
        resolved_hints: Sequence[int] = (),
    ) -> IntakeResult:
        """Store events and their runs (and the poll cursor, and the deletion of the hints
        they resolve) in one transaction; commit; then wake the workers. Returns once
        everything is durable."""
        result = IntakeResult(received=len(incoming))
        incoming = [_storable(item) for item in incoming]
        app_name = ""
        async with self._db.write() as session:
            found_app = await connections.app_of(session, connection_id)
            if found_app is None:
                raise UnknownConnectionError(f"no connection {connection_id}")
            app_name = found_app
            candidates = await self._flows_of(session, connection_id) if incoming else []
            now = self._clock.now()
            for item in incoming:
                matching = [
                    (flow_id, version)
                    for flow_id, version, defn in candidates
                    if defn.trigger.trigger == item.trigger and _passes(defn, item, flow_id)
                ]
                status = EventStatus.RECEIVED if item.trigger and matching else EventStatus.IGNORED
                event_id = await events.insert_id(
                    session, connection_id, item, now=now, status=status
                )
                if event_id is None:
                    result.duplicates += 1
                    continue
                result.stored += 1
                for flow_id, version in matching:
                    run_id = await runs.create_id(
                        session,
                        flow_id=flow_id,
                        flow_version=version,
                        event_id=event_id,
                        entity_key=item.entity_key,
                        now=now,
                    )
                    if run_id is not None:
                        result.run_ids.append(run_id)
            if cursor is not None:
                await cursors.put(session, connection_id, cursor.trigger, cursor.value, now=now)
            if resolved_hints:
                await hints.delete(session, resolved_hints)
            if result.run_ids:
                await self._dispatcher.wake(session, result.run_ids)
        if result.stored:
            EVENTS_STORED.labels(app_name, source).inc(result.stored)
        if result.run_ids:
            self._dispatcher.notify()
        # Empty polls every interval would drown the log: only news is info.
        emit = log.info if result.stored or result.run_ids else log.debug
        emit(
            "intake stored events",
            connection_id=connection_id,
            source=source,
            received=result.received,
            stored=result.stored,
            duplicates=result.duplicates,
            runs=len(result.run_ids),
        )
        return result


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def _storable(item: IncomingEvent) -> IncomingEvent:
    """The event with U+0000 replaced by U+FFFD in every string. PostgreSQL cannot store
    U+0000 in text or JSONB, and a signed body may carry one (a customer-typed note): the
    event is kept, on both databases alike, rather than refused with a 500 that the provider
    would retry until it disables the webhook."""
    text = (item.external_id, item.entity_key, item.event_type, json.dumps(item.payload))
    if not any("\x00" in t or "\\u0000" in t for t in text):
        return item
    return replace(
        item,
        external_id=_without_nul(item.external_id),
        entity_key=_without_nul(item.entity_key),
        event_type=_without_nul(item.event_type),
        payload=_without_nul(item.payload),
    )


def _passes(defn: FlowDefinition, item: IncomingEvent, flow_id: int) -> bool:
    try:
        return trigger_matches(defn.trigger, item.payload)
    except errors.RejectedError as exc:
        # A filter that cannot be evaluated on this payload matches nothing; the event is
        # still stored, so nothing is lost if the flow is fixed and the event replayed.
        log.warning("flow filter failed", flow_id=flow_id, reason=exc.message)
        return False
