"""`billsync apps`: the apps billsync ships, with their connection fields, triggers and actions."""

from __future__ import annotations

import json
from typing import Any

import typer

from billsync.connectors import catalogue
from billsync.connectors.spec import AppSpec


def describe(app: AppSpec) -> dict[str, Any]:
    """One app as plain data (what `--json` prints)."""
    return {
        "name": app.name,
        "title": app.title,
        "description": app.description,
        "webhook_signature": app.verify_webhook is not None,
        "fields": [
            {
                "name": f.name,
                "label": f.label,
                "secret": f.secret,
                "required": f.required,
                "default": f.default,
                "choices": list(f.choices),
                "description": f.description,
            }
            for f in app.fields
        ],
        "triggers": [
            {
                "key": t.key,
                "title": t.title,
                "description": t.description,
                "webhook": t.webhook,
                "polling": t.polling or t.key in app.poll,
            }
            for t in app.triggers
        ],
        "actions": [
            {
                "key": a.key,
                "title": a.title,
                "description": a.description,
                "writes": a.writes,
                "idempotency": a.idempotency,
                "input": list(a.input_model.model_fields),
                "output": list(a.output_model.model_fields),
                "default_input": dict(a.default_input),
            }
            for a in app.actions
        ],
    }


def _text(app: dict[str, Any]) -> list[str]:
    lines = [f"{app['name']}: {app['title']}. {app['description']}"]
    fields = []
    for f in app["fields"]:
        note = " (secret)" if f["secret"] else ""
        if f["choices"]:
            note += f" [{'|'.join(f['choices'])}]"
        elif f["default"]:
            note += f" [{f['default']}]"
        fields.append(f"{f['name']}{note}")
    lines.append(f"  connection: {', '.join(fields)}")
    lines.append("  triggers:")
    for t in app["triggers"]:
        how = "+".join(k for k in ("webhook", "polling") if t[k]) or "-"
        lines.append(f"    {t['key']:<26} {how:<16} {t['description']}")
    lines.append("  actions:")
    for a in app["actions"]:
        kind = "write" if a["writes"] else "read"
        lines.append(f"    {a['key']:<26} {kind:<16} {a['description']}")
    return lines


def apps(
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """List the apps with their triggers and actions."""
    described = [describe(app) for app in catalogue.default_registry().apps]
    if as_json:
        typer.echo(json.dumps(described, indent=2, ensure_ascii=False))
        return
    blocks = ["\n".join(_text(app)) for app in described]
    typer.echo("\n\n".join(blocks))
