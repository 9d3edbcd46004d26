"""The OpenAPI shapes of connection values, one per app, built from the apps catalogue and
app/connection_fields.py (the rules every face checks), so the document states exactly
what POST and PATCH /api/v1/connections enforce:

- POST: a `oneOf` discriminated by `app`; each app's `values` name its required fields,
  refuse unknown ones (`additionalProperties: false`), bound every value (`maxLength`)
  and give each field's pattern or choices;
- PATCH: `values` is any one app's fields, all optional, but a URL field comes with the
  outbound secrets (`dependentRequired`). Values valid for another app than the stored
  connection's answer 409 (the connection's app decides, not the request).

An http:// base_url needs `sandbox: "yes"` in the same values (the `anyOf` of each app).
"""

from __future__ import annotations

from typing import Any

from billsync.app import base_url, connection_fields
from billsync.connectors import spec

_REF = "#/components/schemas/"


def _optional(pattern: str) -> str:
    """`^X$` → `^(?:X)?$`: the empty string (the field's default) matches too."""
    return f"^(?:{pattern[1:-1]})?$"


def _value(field: spec.ConnectionField) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "title": field.label}
    if not field.choices:
        schema["maxLength"] = connection_fields.max_length(field)
    notes = [field.description.rstrip(".") + "."] if field.description else []
    if field.required:
        schema["minLength"] = 1
    elif field.default:
        notes.append(f'Empty or left out: "{field.default}".')
    if field.secret:
        schema["writeOnly"] = True
        notes.append("Secret: stored encrypted, never shown.")
    if field.url:
        schema["pattern"] = _optional(base_url.SANDBOX_PATTERN)
        notes.append('https:// only; http:// toward this machine with "sandbox": "yes".')
    elif field.choices:
        schema["enum"] = [*field.choices, *([] if field.required else [""])]
    elif field.number_range is not None:
        least, most = connection_fields.number_bounds(field)
        schema["pattern"] = connection_fields.number_pattern(field)
        notes.append(f"A whole number from {least} to {most}.")
    elif not connection_fields.is_free_text(field):
        schema["pattern"] = connection_fields.TOKEN_PATTERN
    if field.default:
        schema["default"] = field.default
    if notes:
        schema["description"] = " ".join(notes)
    return schema


def _sandbox_rule(app_spec: spec.AppSpec) -> list[dict[str, Any]]:
    """`anyOf`: sandbox "yes" (its URL fields may be http:// on loopback), or not."""
    urls = [f.name for f in app_spec.fields if f.url]
    if not urls or not any(f.name == "sandbox" for f in app_spec.fields):
        return []
    https = {"pattern": _optional(base_url.HTTPS_PATTERN)}
    return [
        {
            "title": "a local sandbox",
            "required": ["sandbox"],
            "properties": {"sandbox": {"const": "yes"}},
        },
        {
            "title": "https only",
            "properties": {"sandbox": {"not": {"const": "yes"}}, **dict.fromkeys(urls, https)},
        },
    ]


def values_schema(app_spec: spec.AppSpec, *, partial: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "title": f"{app_spec.title} connection values" + (" (changes)" if partial else ""),
        "properties": {f.name: _value(f) for f in app_spec.fields},
        "additionalProperties": False,
    }
    required = [f.name for f in app_spec.fields if f.required]
    if partial:
        secrets = [f.name for f in connection_fields.outbound_secrets(app_spec)]
        urls = [f.name for f in app_spec.fields if f.url]
        if secrets and urls:
            schema["dependentRequired"] = dict.fromkeys(urls, secrets)
        schema["description"] = (
            "Only the fields given change. Changing the API base URL needs the secrets sent "
            f"to it ({', '.join(secrets)}) in the same request."
        )
    elif required:
        schema["required"] = required
    rule = _sandbox_rule(app_spec)
    if rule:
        schema["anyOf"] = rule
    return schema


def _name(app_spec: spec.AppSpec, suffix: str) -> str:
    return f"{app_spec.title.replace(' ', '')}{suffix}"


def components(registry: spec.Registry, generated: dict[str, Any]) -> dict[str, Any]:
    """Component schemas replacing FastAPI's ConnectionCreate and ConnectionUpdate (their
    `name` and `rate_limit` come from `generated`, the pydantic models' own schemas)."""
    create = generated["ConnectionCreate"]["properties"]
    update = generated["ConnectionUpdate"]
    out: dict[str, Any] = {}
    variants: dict[str, str] = {}
    changes: list[dict[str, Any]] = []
    for app_spec in registry.apps:
        values = _name(app_spec, "ConnectionValues")
        out[values] = values_schema(app_spec, partial=False)
        out[values + "Update"] = values_schema(app_spec, partial=True)
        changes.append({"$ref": _REF + values + "Update"})
        variant = _name(app_spec, "ConnectionCreate")
        variants[app_spec.name] = _REF + variant
        out[variant] = {
            "type": "object",
            "title": f"A {app_spec.title} connection",
            "properties": {
                "app": {"type": "string", "const": app_spec.name},
                "name": create["name"],
                "values": {"$ref": _REF + values},
                "rate_limit": create["rate_limit"],
            },
            "required": ["app", "name", "values"],
            "additionalProperties": False,
        }
    out["ConnectionCreate"] = {
        "title": "ConnectionCreate",
        "description": "One app's connection: `app` decides which `values` it takes "
        "(GET /api/v1/apps lists each app's fields).",
        "oneOf": [{"$ref": ref} for ref in variants.values()],
        "discriminator": {"propertyName": "app", "mapping": variants},
    }
    out["ConnectionUpdate"] = {
        **update,
        "properties": {
            **update["properties"],
            "values": {"anyOf": [*changes, {"type": "null"}], "title": "Values"},
        },
    }
    return out
