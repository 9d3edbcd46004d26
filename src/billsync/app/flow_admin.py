"""Flow operations beyond creation: list, show with versions, update (a new version),
delete, and preview against a sample payload or a stored event. (Creation from a template
or a definition and enable/disable are in app/flows.py.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from billsync import errors
from billsync.app import flows
from billsync.app.root import App
from billsync.connectors import spec
from billsync.engine import preview as engine_preview
from billsync.engine.flow import FlowDefinition, StepDef, parse_flow
from billsync.engine.mapping import StoreIdLookup
from billsync.engine.templates import get_template
from billsync.store import audit, events, runs
from billsync.store import connections as connection_store
from billsync.store import flows as store
from billsync.store.models import Connection, Flow, FlowVersion


class FlowNotFoundError(errors.SyncError):
    """No flow has that id."""


class FlowInUseError(errors.SyncError):
    """The flow has runs and cannot be removed."""


class PreviewEventNotFoundError(errors.SyncError):
    """No stored event has that id."""


@dataclass(frozen=True)
class FlowDetail:
    flow: Flow
    definition: dict[str, Any]  #: the current version's definition
    versions: list[int]  #: every version number, newest first


async def create_with_companions(
    app: App,
    template_key: str,
    connections: Mapping[str, int | str],
    *,
    enabled: bool = False,
    name: str | None = None,
    actor: str = "cli",
    options: Mapping[str, bool] | None = None,
) -> tuple[Flow, list[Flow]]:
    """The template's flow plus its companions not created yet (paid goes with partially
    paid: every payment, partial or final, must be recorded)."""
    template = get_template(template_key)
    async with app.db.read() as session:
        existing = await store.list_all(session)
    made = {f.template_key for f in existing}
    wanted = [key for key in template.companions if key not in made]
    # Check every name first, so a companion that cannot be created leaves nothing behind.
    taken = {f.name for f in existing}
    names = [name or template.name, *(get_template(key).name for key in wanted)]
    clashes = [
        (f"companions[{i - 1}]" if i else "name", f"a flow named {n!r} already exists")
        for i, n in enumerate(names)
        if n in taken
    ]
    if clashes:
        raise errors.NameTakenError(clashes[0][1], field=clashes[0][0], problems=clashes)
    flow = await flows.create_from_template(
        app, template.key, connections, enabled=enabled, name=name, actor=actor, options=options
    )
    companions = [
        await flows.create_from_template(app, key, connections, enabled=enabled, actor=actor)
        for key in wanted
    ]
    return flow, companions


async def list_all(app: App) -> list[FlowDetail]:
    async with app.db.read() as session:
        result: list[FlowDetail] = []
        for flow in await store.list_all(session):
            current = await store.current(session, flow.id)
            definition = current[1].definition if current else {}
            result.append(FlowDetail(flow, dict(definition), [flow.current_version]))
    return result


async def get(app: App, flow_id: int) -> FlowDetail:
    async with app.db.read() as session:
        current = await store.current(session, flow_id)
        if current is None:
            raise FlowNotFoundError(f"no flow {flow_id}")
        versions = await store.versions(session, flow_id)
    flow, version = current
    return FlowDetail(flow, dict(version.definition), [v.version for v in versions])


async def get_version(app: App, flow_id: int, version: int) -> FlowVersion:
    async with app.db.read() as session:
        row = await store.get_version(session, flow_id, version)
    if row is None:
        raise FlowNotFoundError(f"flow {flow_id} has no version {version}")
    return row


async def update(
    app: App,
    flow_id: int,
    definition: FlowDefinition | Mapping[str, Any],
    *,
    actor: str = "cli",
) -> FlowDetail:
    """Validate and store `definition` as the flow's new current version. Runs already
    created keep the version they started with."""
    defn = definition if isinstance(definition, FlowDefinition) else parse_flow(definition)
    await flows.validate(app, defn)
    now = app.clock.now()
    async with app.db.write() as session:
        if await store.get(session, flow_id) is None:
            raise FlowNotFoundError(f"no flow {flow_id}")
        other = await store.by_name(session, defn.name)
        if other is not None and other.id != flow_id:
            raise errors.NameTakenError(f"a flow named {defn.name!r} already exists", field="name")
        version = await store.add_version(
            session, flow_id, definition=defn.model_dump(mode="json"), now=now, name=defn.name
        )
        if version is None:
            raise FlowNotFoundError(f"no flow {flow_id}")
        await audit.record(
            session,
            actor=actor,
            action="flow.update",
            target=f"flow:{flow_id}",
            now=now,
            detail={"version": version.version, "name": defn.name},
        )
    app.poller.kick()
    return await get(app, flow_id)


async def delete(app: App, flow_id: int, *, actor: str = "cli") -> None:
    """Remove a flow that never ran; one with runs keeps its history (disable it)."""
    now = app.clock.now()
    async with app.db.write() as session:
        flow = await store.get(session, flow_id)
        if flow is None:
            raise FlowNotFoundError(f"no flow {flow_id}")
        if await runs.list_recent(session, flow_id=flow_id, limit=1):
            raise FlowInUseError(
                f"flow {flow.name!r} has runs; disable it instead to keep their history"
            )
        name = flow.name
        await session.delete(flow)
        await session.flush()
        await audit.record(
            session,
            actor=actor,
            action="flow.delete",
            target=f"flow:{flow_id}",
            now=now,
            detail={"name": name},
        )


async def _contexts(app: App, defn: FlowDefinition) -> dict[str, tuple[Connection, Any]]:
    """Connection id → (row, client) for every connection the flow's steps use."""
    wanted = {step.connection_id for step in defn.steps}
    result: dict[str, tuple[Connection, Any]] = {}
    async with app.db.read() as session:
        rows = [await connection_store.get(session, int(c)) for c in wanted if c.isdigit()]
    for row in rows:
        if row is not None:
            result[str(row.id)] = (row, await app.clients.get(row))
    return result


async def preview(
    app: App,
    definition: FlowDefinition | Mapping[str, Any],
    *,
    payload: Mapping[str, Any] | None = None,
    event_id: int | None = None,
) -> engine_preview.FlowPreview:
    """Dry-run `definition` against a sample payload or a stored event's payload: reads go
    to the apps, writes are never sent."""
    defn = definition if isinstance(definition, FlowDefinition) else parse_flow(definition)
    if event_id is not None:
        async with app.db.read() as session:
            event = await events.get(session, event_id)
        if event is None:
            raise PreviewEventNotFoundError(f"no event {event_id}")
        payload = event.payload
    await flows.validate(app, defn)
    contexts = await _contexts(app, defn)
    ids = StoreIdLookup(app.db)

    def make_context(step: StepDef, index: int) -> spec.ActionContext:
        row, client = contexts[step.connection_id]
        return spec.ActionContext(
            client=client,
            options={k: str(v) for k, v in row.options.items() if v is not None},
            ids=ids,
            idempotency_key=f"preview:{index}",
            dry_run=True,
        )

    return await engine_preview.preview(
        defn,
        app.registry,
        dict(payload or {}),
        make_context,
        connections=await flows.connection_apps(app),
    )
