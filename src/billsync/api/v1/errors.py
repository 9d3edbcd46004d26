"""How operation errors become HTTP answers, and the `responses=` each route declares.

404 nothing has that id · 409 the state forbids it (in use, not replayable) · 422 invalid
input, with every failing field (a FlowError's problems) in FastAPI's validation shape ·
502 the app could not be reached or answered oddly while verifying credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

from billsync import errors
from billsync.api.schemas.common import ErrorOut, ValidationErrorOut
from billsync.app import connection_admin, flow_admin
from billsync.app import events as event_ops
from billsync.app import reconciliation_reports as reconciliation_ops
from billsync.app import runs as run_ops

NOT_FOUND = (
    connection_admin.ConnectionNotFoundError,
    flow_admin.PreviewEventNotFoundError,
    flow_admin.FlowNotFoundError,
    run_ops.RunNotFoundError,
    event_ops.EventNotFoundError,
    reconciliation_ops.ReconciliationNotFoundError,
)
CONFLICT = (
    errors.NameTakenError,
    connection_admin.ConnectionInUseError,
    flow_admin.FlowInUseError,
    run_ops.RunStateError,
    reconciliation_ops.ReconciliationStateError,
    reconciliation_ops.ReconciliationConflictError,
)

_MESSAGES = {
    400: "The body is not valid JSON",
    401: "No or invalid admin token",
    404: "Not found",
    409: "Conflicts with the current state (a name already taken, in use, not replayable)",
    422: "Invalid input; every failing field is listed",
    429: "Too many refused admin tokens from this address; wait Retry-After seconds",
    502: "The app could not be reached",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the error codes a route can answer (routes taking a JSON
    body list 400: FastAPI answers it for bytes that are not JSON)."""
    declared: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        model = ValidationErrorOut if code == 422 else ErrorOut
        declared[code] = {"model": model, "description": _MESSAGES[code]}
        if code == 429:
            declared[code]["headers"] = {
                "Retry-After": {
                    "description": "Seconds until the address may try again",
                    "schema": {"type": "integer"},
                }
            }
    return declared


def _loc(field: str) -> list[str | int]:
    """ "steps[1].input.amount" → ["body", "steps", 1, "input", "amount"]."""
    parts: list[str | int] = ["body"]
    for name in field.replace("[", ".[").split("."):
        if not name:
            continue
        if name.startswith("[") and name.endswith("]") and name[1:-1].isdigit():
            parts.append(int(name[1:-1]))
        else:
            parts.append(name)
    return parts


def invalid(problems: list[tuple[str, str]], prefix: str = "") -> RequestValidationError:
    """A 422 naming every field: `prefix` is where the checked data sits in the body."""
    items: list[Mapping[str, Any]] = []
    for field, message in problems:
        path = ".".join(p for p in (prefix, field) if p)
        items.append({"loc": _loc(path), "msg": message, "type": "value_error", "field": path})
    return RequestValidationError(items)


def raise_for(exc: errors.SyncError, *, prefix: str = "") -> NoReturn:
    """Raise the HTTP answer for an operation error (anything unexpected propagates)."""
    if isinstance(exc, NOT_FOUND):
        raise HTTPException(404, exc.message) from exc
    if isinstance(exc, CONFLICT):
        raise HTTPException(409, exc.message) from exc
    if isinstance(exc, errors.FlowError | reconciliation_ops.ReconciliationInputError):
        raise invalid(exc.problems, prefix) from exc
    if isinstance(exc, errors.PermanentError):
        # The app refused these credentials or values: the request is what is wrong.
        field = f"values.{exc.field}" if exc.field else "values"
        raise invalid([(field, exc.message)]) from exc
    if isinstance(exc, errors.ConnectorError):
        raise HTTPException(502, exc.message) from exc
    raise exc
