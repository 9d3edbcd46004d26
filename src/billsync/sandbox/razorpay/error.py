"""Razorpay's error body, and the exception the sandbox raises to produce it."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

BAD_REQUEST = "BAD_REQUEST_ERROR"
NOT_FOUND_URL = "The requested URL was not found on the server."
ID_NOT_FOUND = "The id provided does not exist"


class RazorpayError(Exception):
    """A refusal rendered as {"error": {...}}; validation errors default to Razorpay's labels."""

    def __init__(
        self,
        description: str,
        *,
        status: int = 400,
        field: str | None = None,
        code: str = BAD_REQUEST,
        source: str = "business",
        step: str = "payment_initiation",
        reason: str = "input_validation_failed",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.status = status
        self.field = field
        self.code = code
        self.source = source
        self.step = step
        self.reason = reason
        self.metadata = metadata or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "description": self.description,
                "field": self.field,
                "source": self.source,
                "step": self.step,
                "reason": self.reason,
                "metadata": self.metadata,
            }
        }

    def response(self) -> Response:
        return Response(
            json.dumps(self.body()), status_code=self.status, media_type="application/json"
        )


def not_applicable(description: str, status: int = 400) -> RazorpayError:
    """Errors Razorpay labels source/step/reason "NA" (auth, routing)."""
    return RazorpayError(description, status=status, source="NA", step="NA", reason="NA")


def not_found(field: str | None = None) -> RazorpayError:
    return RazorpayError(ID_NOT_FOUND, field=field)


def not_sent(names: list[str]) -> RazorpayError:
    """Razorpay's refusal of body fields an endpoint does not take (in the order sent)."""
    return RazorpayError(
        f"{', '.join(names)} is/are not required and should not be sent",
        field=names[0],
        reason="NA",
    )


def invalid_state(kind: str, status: str) -> RazorpayError:
    return RazorpayError(f"Operation not allowed for {kind} in {status} status.", reason="NA")


async def handle(request: Request, exc: Exception) -> Response:
    """Starlette exception handler: every RazorpayError becomes Razorpay's JSON error."""
    assert isinstance(exc, RazorpayError)
    return exc.response()


async def handle_http(request: Request, exc: Exception) -> Response:
    """Unknown path or method: Razorpay answers 400, not 404/405."""
    return not_applicable(NOT_FOUND_URL).response()
