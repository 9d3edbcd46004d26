"""Flow operations shared by the faces: create (from a template or a full definition),
validate against the registry and the stored connections, store a version, enable/disable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billsync import errors
from billsync.app.root import App
from billsync.engine.flow import FlowDefinition, parse_flow, validate_flow
from billsync.engine.templates import instantiate, list_templates
from billsync.store import audit
from billsync.store import connections as connection_store
from billsync.store import flows as store
from billsync.store.models import Flow


async def connection_apps(app: App) -> dict[str, str]:
    """Connection id (as flows refer to it) → app name."""
    async with app.db.read() as session:
        rows = await connection_store.list_all(session)
    return {str(row.id): row.app for row in rows}


async def validate(app: App, definition: FlowDefinition) -> None:
    validate_flow(definition, app.registry, await connection_apps(app))


async def create(
    app: App,
    definition: FlowDefinition | Mapping[str, Any],
    *,
    enabled: bool = False,
    template_key: str | None = None,
    actor: str = "system",
) -> Flow:
    """Validate, then store the flow with its first version."""
    defn = definition if isinstance(definition, FlowDefinition) else parse_flow(definition)
    await validate(app, defn)
    now = app.clock.now()
    async with app.db.write() as session:
        if await store.by_name(session, defn.name) is not None:
            raise errors.NameTakenError(f"a flow named {defn.name!r} already exists", field="name")
        flow = await store.create(
            session,
            name=defn.name,
            definition=defn.model_dump(mode="json"),
            now=now,
            enabled=enabled,
            template_key=template_key,
        )
        await audit.record(
            session,
            actor=actor,
            action="flow.create",
            target=f"flow:{flow.id}",
            now=now,
            detail={"name": defn.name, "template": template_key, "enabled": enabled},
        )
    if enabled:
        app.poller.kick()
    return flow


async def create_from_template(
    app: App,
    template_key: str,
    connections: Mapping[str, int | str],
    *,
    enabled: bool = False,
    name: str | None = None,
    actor: str = "system",
    options: Mapping[str, bool] | None = None,
) -> Flow:
    """Bind template `template_key` to connections (app name → connection id) and its
    options (engine/templates.py), and create it."""
    defn = instantiate(template_key, {k: str(v) for k, v in connections.items()}, options)
    if name is not None:
        defn = defn.model_copy(update={"name": name})
    return await create(app, defn, enabled=enabled, template_key=template_key, actor=actor)


async def set_enabled(app: App, flow_id: int, enabled: bool, *, actor: str = "system") -> Flow:
    now = app.clock.now()
    async with app.db.write() as session:
        flow = await store.set_enabled(session, flow_id, enabled, now=now)
        if flow is None:
            raise errors.FlowError(f"no flow {flow_id}", field="flow_id")
        await audit.record(
            session,
            actor=actor,
            action="flow.enable" if enabled else "flow.disable",
            target=f"flow:{flow_id}",
            now=now,
        )
    if enabled:
        app.poller.kick()
    return flow


async def ensure_templates(
    app: App,
    connections: Mapping[str, int | str],
    *,
    enabled: bool = True,
    actor: str = "system",
    options: Mapping[str, Mapping[str, bool]] | None = None,
) -> list[Flow]:
    """Every predefined flow bound to `connections`, created if missing (by template key,
    with `options[template key]`) and enabled or disabled as asked: re-running the demo
    reuses what exists."""
    async with app.db.read() as session:
        existing = {f.template_key: f for f in await store.list_all(session) if f.template_key}
    result: list[Flow] = []
    for template in list_templates():
        flow = existing.get(template.key)
        if flow is None:
            flow = await create_from_template(
                app,
                template.key,
                connections,
                enabled=enabled,
                actor=actor,
                options=(options or {}).get(template.key),
            )
        elif flow.enabled != enabled:
            flow = await set_enabled(app, flow.id, enabled, actor=actor)
        result.append(flow)
    return result
