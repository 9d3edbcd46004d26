"""Shapes every endpoint shares: the error body, ids."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

#: The largest id a request may name: JSON numbers beyond 2**53 are not exact in a double
#: (JavaScript, and schemathesis judging `maximum`: with 2**63 - 1 it took 2**63 + 191 for
#: valid), and far more rows than a database of billsync will ever hold.
MAX_ID = 2**53 - 1
#: A stored row's id in a request body.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


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
