"""Shapes every endpoint shares: the error body."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorOut(BaseModel):
    """Any refusal other than a validation error: what went wrong, safe to show."""

    detail: str


class ProblemOut(BaseModel):
    """One failing field of a 422 (FastAPI's validation-error item, plus `field`)."""

    loc: list[str | int]
    msg: str
    type: str
    field: str = ""


class ValidationErrorOut(BaseModel):
    """422: every failing field at once."""

    detail: list[ProblemOut]
