"""Togai's error shape: `{"message": "..."}` with the HTTP status."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from billsync.sandbox.togai.responses import json_response


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message[:500]  # the client model caps message at 500 characters


def render_error(status: int, message: str) -> dict[str, Any]:
    return {"message": message}


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return json_response({"message": exc.message}, exc.status)


async def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return json_response({"message": exc.detail}, exc.status_code, exc.headers)
