"""How Togai's error responses are read and classified.

Togai answers every error with `{"message": "<reason>"}` (≤500 chars) and documents
400/401/403/404/409/422/429 plus 503 on ingestion. All of those already mean in
`http.DEFAULT_ERROR_MAP` what they mean at Togai, so the overlay only records where Togai
differs from the default. It is empty today; it is still passed on every request so a
difference found against the live API is one line here.
"""

from __future__ import annotations

from typing import Any

from billsync.connectors import http

#: Togai-specific status → error class rows, merged over http.DEFAULT_ERROR_MAP.
ERROR_OVERLAY: http.ErrorMap = {}

_MAX_MESSAGE = 500


def parse_error(status: int, body: Any) -> http.ErrorDetail:
    """Read Togai's `{"message": ...}`; any other shape still yields a usable message."""
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message.strip():
            return http.ErrorDetail(message=message.strip()[:_MAX_MESSAGE])
    return http.ErrorDetail(message=f"HTTP {status}")
