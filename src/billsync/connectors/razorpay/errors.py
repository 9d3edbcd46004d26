"""How Razorpay's error bodies map onto billsync's error tree.

Razorpay answers `{"error": {"code", "description", "field", "source", "step", "reason",
"metadata"}}`. Its quirks live in the body, not the status: a missing id is a 400
("The id provided does not exist"), and auth failures come as BAD_REQUEST_ERROR.
"""

from __future__ import annotations

from typing import Any

from billsync import errors
from billsync.connectors import http

APP = "razorpay"

#: Status overlay over http.DEFAULT_ERROR_MAP. Razorpay answers 409 only while a request
#: with the same idempotency key is still being processed (reference §8): try later.
ERROR_OVERLAY: dict[int, type[errors.ConnectorError]] = {409: errors.UnavailableError}

#: Descriptions that decide the class whatever the status says.
_NOT_FOUND = ("the id provided does not exist",)
_AUTH = (
    "the api key provided is invalid",
    "the api secret provided is invalid",
    "authentication failed",
)
#: Razorpay fills unused attribution keys with "NA".
_PLACEHOLDERS = {"", "NA", "na"}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if text in _PLACEHOLDERS else text


def parse_error(status: int, body: Any) -> http.ErrorDetail:
    """Read Razorpay's error envelope (or whatever a proxy put there instead)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        message = body.get("message") if isinstance(body, dict) else None
        return http.ErrorDetail(message=_text(message) or f"HTTP {status} without error details")
    description = _text(error.get("description")) or f"HTTP {status}"
    lowered = description.lower().rstrip(".")
    error_class: type[errors.ConnectorError] | None = None
    if lowered in _NOT_FOUND:
        error_class = errors.NotFoundError
    elif lowered in _AUTH:
        error_class = errors.AuthError
    return http.ErrorDetail(
        message=description,
        code=_text(error.get("code")),
        field=_text(error.get("field")),
        reason=_text(error.get("reason")),
        error_class=error_class,
    )
