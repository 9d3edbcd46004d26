"""`billsync flows templates|add|list|show|enable|disable|preview|remove`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from billsync.app import App, flow_admin, flows
from billsync.cli.context import (
    ACTOR,
    DB_HELP,
    JSON_HELP,
    console,
    database_exists,
    print_fields,
    print_json,
    print_table,
    run,
)
from billsync.engine.preview import FlowPreview
from billsync.engine.templates import list_templates

app = typer.Typer(help="Flows: a trigger on one connection and the steps it runs.")

DB = typer.Option(None, "--db", help=DB_HELP)
JSON = typer.Option(False, "--json", help=JSON_HELP)


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {what} from {path}: {exc}") from None
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{what} in {path} must be a JSON object")
    return data


def _bindings(pairs: list[str]) -> dict[str, int]:
    bound: dict[str, int] = {}
    for pair in pairs:
        app_name, sep, value = pair.partition("=")
        if not sep or not value.strip().isdigit():
            raise typer.BadParameter(
                f"expected APP=CONNECTION_ID, got {pair!r}", param_hint="--connection"
            )
        bound[app_name.strip()] = int(value)
    return bound


def _options(pairs: list[str]) -> dict[str, bool]:
    chosen: dict[str, bool] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        answer = {"true": True, "yes": True, "false": False, "no": False}.get(value.strip().lower())
        if not sep or not key.strip() or answer is None:
            raise typer.BadParameter(
                f"expected NAME=true|false, got {pair!r}", param_hint="--option"
            )
        chosen[key.strip()] = answer
    return chosen


def _summary(detail: flow_admin.FlowDetail) -> list[Any]:
    flow = detail.flow
    trigger = detail.definition.get("trigger", {}).get("trigger", "")
    return [flow.id, flow.name, "yes" if flow.enabled else "no", flow.current_version, trigger]


def _public(detail: flow_admin.FlowDetail) -> dict[str, Any]:
    flow = detail.flow
    return {
        "id": flow.id,
        "name": flow.name,
        "enabled": flow.enabled,
        "current_version": flow.current_version,
        "template_key": flow.template_key,
        "created_at": flow.created_at,
        "updated_at": flow.updated_at,
        "definition": detail.definition,
        "versions": detail.versions,
    }


@app.command("templates")
def templates(as_json: bool = JSON, db: str | None = DB) -> None:
    """The predefined flows, and the flows already created from each."""
    items = list_templates()
    # The catalogue needs no database: before set-up there are simply no flows yet.
    existing = run(db, flow_admin.list_all) if database_exists(db) else []
    made: dict[str, list[int]] = {}
    for detail in existing:
        if detail.flow.template_key:
            made.setdefault(detail.flow.template_key, []).append(detail.flow.id)
    if as_json:
        print_json(
            [
                {
                    "key": t.key,
                    "name": t.name,
                    "description": t.description,
                    "direction": t.direction,
                    "apps": t.apps,
                    "companions": t.companions,
                    "flow_ids": made.get(t.key, []),
                }
                for t in items
            ]
        )
        return
    print_table(
        "Flow templates",
        ["key", "name", "needs", "flows"],
        [
            [t.key, t.name, ", ".join(t.apps), ", ".join(map(str, made.get(t.key, [])))]
            for t in items
        ],
    )


@app.command("add")
def add(
    template: str | None = typer.Option(None, help="A template key (see `flows templates`)."),
    connection: list[str] = typer.Option(
        [], "--connection", "-c", help="APP=CONNECTION_ID binding for the template (repeatable)."
    ),
    name: str | None = typer.Option(None, help="Name the flow (templates have a default)."),
    option: list[str] = typer.Option(
        [],
        "--option",
        "-o",
        help="NAME=true|false: a template option, e.g. partial_payment=true (repeatable).",
    ),
    file: Path | None = typer.Option(None, "--file", "-f", help="A full definition (JSON)."),
    enable: bool = typer.Option(False, "--enable", help="Enable it at once."),
    as_json: bool = JSON,
    db: str | None = DB,
) -> None:
    """Create a flow from a template (plus its companions) or from a definition file."""
    if (template is None) == (file is None):
        raise typer.BadParameter("give either --template or --file")
    definition = _read_json(file, "the flow definition") if file is not None else None
    if definition is not None and isinstance(definition.get("definition"), dict):
        # The REST API's body ({"definition": …, "enabled": …}) works as a file too.
        enable = enable or definition.get("enabled") is True
        definition = definition["definition"]
    bound = _bindings(connection)
    chosen = _options(option)
    if chosen and template is None:
        raise typer.BadParameter("--option needs --template", param_hint="--option")

    async def op(app: App) -> list[flow_admin.FlowDetail]:
        if definition is not None:
            created = [await flows.create(app, definition, enabled=enable, actor=ACTOR)]
        else:
            assert template is not None
            flow, companions = await flow_admin.create_with_companions(
                app, template, bound, enabled=enable, name=name, actor=ACTOR, options=chosen
            )
            created = [flow, *companions]
        return [await flow_admin.get(app, f.id) for f in created]

    details = run(db, op, create=True)
    if as_json:
        print_json([_public(d) for d in details])
        return
    for detail in details:
        state = "enabled" if detail.flow.enabled else "disabled"
        console.print(f"Flow {detail.flow.id} {detail.flow.name!r} created ({state}).")


@app.command("list")
def list_(as_json: bool = JSON, db: str | None = DB) -> None:
    """Every flow with its current version."""
    rows = run(db, flow_admin.list_all)
    if as_json:
        print_json([_public(d) for d in rows])
        return
    print_table(
        "Flows", ["id", "name", "enabled", "version", "trigger"], [_summary(d) for d in rows]
    )


@app.command("show")
def show(flow_id: int, as_json: bool = JSON, db: str | None = DB) -> None:
    """One flow: its current definition and its versions."""
    detail = run(db, lambda app: flow_admin.get(app, flow_id))
    if as_json:
        print_json(_public(detail))
        return
    print_fields(f"Flow {flow_id}", list(_public(detail).items()))


def _set(flow_id: int, enabled: bool, db: str | None) -> None:
    async def op(app: App) -> None:
        await flow_admin.get(app, flow_id)
        await flows.set_enabled(app, flow_id, enabled, actor=ACTOR)

    run(db, op)
    console.print(f"Flow {flow_id} {'enabled' if enabled else 'disabled'}.")


@app.command("enable")
def enable_(flow_id: int, db: str | None = DB) -> None:
    """New events start runs of this flow."""
    _set(flow_id, True, db)


@app.command("disable")
def disable(flow_id: int, db: str | None = DB) -> None:
    """New events no longer start runs (runs already queued still finish)."""
    _set(flow_id, False, db)


@app.command("remove")
def remove(flow_id: int, db: str | None = DB) -> None:
    """Remove a flow that never ran (disable one that did)."""
    run(db, lambda app: flow_admin.delete(app, flow_id, actor=ACTOR))
    console.print(f"Flow {flow_id} removed.")


@app.command("preview")
def preview(
    flow_id: int,
    payload: Path | None = typer.Option(None, help="A sample trigger payload (JSON file)."),
    event: int | None = typer.Option(None, help="A stored event id to replay in dry-run."),
    as_json: bool = JSON,
    db: str | None = DB,
) -> None:
    """Dry-run the flow: reads go to the apps, writes are never sent."""
    if (payload is None) == (event is None):
        raise typer.BadParameter("give either --payload or --event")
    sample = _read_json(payload, "the payload") if payload is not None else None

    async def op(app: App) -> FlowPreview:
        definition = (await flow_admin.get(app, flow_id)).definition
        return await flow_admin.preview(app, definition, payload=sample, event_id=event)

    result = run(db, op)
    if as_json:
        print_json(result)
        return
    matched = "matches" if result.trigger_matched else "does NOT match"
    console.print(f"The trigger filter {matched} this event.")
    print_table(
        f"Preview of flow {flow_id}",
        ["step", "action", "writes", "status", "detail"],
        [
            [
                s.step_id,
                f"{s.app}.{s.action}",
                "yes" if s.writes else "no",
                s.status,
                s.error or s.reason or json.dumps(s.output, sort_keys=True),
            ]
            for s in result.steps
        ],
    )
