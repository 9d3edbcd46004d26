"""Every row of the status → error tables: the default map and each connector's overlay.

Each row is checked twice: by `http.classify_status` (the table lookup) and end to end
through `http.request` with the connector's own error parser, so a parser that overrides
the class for a plain error body would show up here.
"""

from __future__ import annotations

import importlib
from typing import Any

import httpx
import pytest

from billsync import errors
from billsync.connectors import http

togai_errors: Any = importlib.import_module("billsync.connectors.togai.errors")
razorpay_errors: Any = importlib.import_module("billsync.connectors.razorpay.errors")

OVERLAYS: dict[str, tuple[http.ErrorMap, http.ErrorParser, dict[str, Any]]] = {
    "default": ({}, lambda status, body: http.ErrorDetail(message="boom"), {"message": "boom"}),
    "togai": (togai_errors.ERROR_OVERLAY, togai_errors.parse_error, {"message": "boom"}),
    "razorpay": (
        razorpay_errors.ERROR_OVERLAY,
        razorpay_errors.parse_error,
        {"error": {"code": "SERVER_ERROR", "description": "boom"}},
    ),
}

#: Statuses in no table: unknown 5xx → unavailable, any other unknown status → rejected.
FALLBACKS = {
    418: errors.RejectedError,
    451: errors.RejectedError,
    501: errors.UnavailableError,
    599: errors.UnavailableError,
}


def rows() -> list[Any]:
    out = []
    for name, (overlay, _parser, _body) in OVERLAYS.items():
        table = {**http.DEFAULT_ERROR_MAP, **overlay, **FALLBACKS}
        for status, cls in sorted(table.items()):
            if status in FALLBACKS and status in overlay:
                continue  # an overlay row wins over the fallback; covered by its own row
            out.append(pytest.param(name, status, cls, id=f"{name}-{status}"))
    return out


def test_every_overlay_row_is_listed() -> None:
    listed = {(p.values[0], p.values[1]) for p in rows()}
    for name, (overlay, _parser, _body) in OVERLAYS.items():
        for status in {**http.DEFAULT_ERROR_MAP, **overlay}:
            assert (name, status) in listed


def test_overlay_rows_name_connector_error_classes() -> None:
    for overlay, _parser, _body in OVERLAYS.values():
        for status, cls in overlay.items():
            assert 400 <= status <= 599 and issubclass(cls, errors.ConnectorError)


@pytest.mark.parametrize(("name", "status", "cls"), rows())
def test_classify_status(name: str, status: int, cls: type[errors.ConnectorError]) -> None:
    overlay = OVERLAYS[name][0]
    assert http.classify_status(status, overlay) is cls


@pytest.mark.parametrize(("name", "status", "cls"), rows())
async def test_request_raises_the_row_class(
    name: str, status: int, cls: type[errors.ConnectorError]
) -> None:
    overlay, parser, body = OVERLAYS[name]
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body))
    async with http.make_client("http://app.test", transport=transport) as client:
        with pytest.raises(errors.ConnectorError) as info:
            await http.request(
                client,
                "GET",
                "/thing",
                app=name,
                operation="get_thing",
                parse_error=parser,
                overlay=overlay,
            )
    assert type(info.value) is cls
    assert info.value.status == status
    assert info.value.app == name and info.value.operation == "get_thing"
    assert "boom" in str(info.value)


def test_retry_classes_match_the_taxonomy() -> None:
    # What the engine does depends only on these bases.
    for cls in (errors.RateLimitedError, errors.UnavailableError):
        assert issubclass(cls, errors.RetryableError)
    for cls in (errors.AuthError, errors.NotFoundError, errors.RejectedError):
        assert issubclass(cls, errors.PermanentError)
