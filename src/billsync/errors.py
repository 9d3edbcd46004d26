"""The whole billsync exception tree, classified by what must happen next.

    SyncError                              base; str(err) is safe to show to users
    ├── ConfigError                        bad settings at startup → exit
    ├── FlowError(field)                   invalid flow definition → API 422 naming the field
    ├── SignatureError                     webhook signature/token wrong or missing → 401
    └── ConnectorError(app, operation, status, code, field, reason, internal_message)
        ├── RetryableError                 the engine reschedules the step
        │   ├── RateLimitedError(retry_after)   429
        │   ├── UnavailableError(ambiguous)     5xx, 408, timeouts, connection errors,
        │   │                                   non-JSON gateway bodies
        │   └── DependencyNotReadyError    e.g. an invoice whose account is not synced yet
        ├── PermanentError                 the run fails at once, no retry
        │   ├── AuthError                  401/403: fix the credentials
        │   ├── NotFoundError              404, Razorpay's 400 "The id provided does not exist"
        │   ├── RejectedError              400/422 and business-rule refusals (field, reason)
        │   └── MappingError               missing or conflicting id mapping
        └── SkipEventError                 the event is irrelevant: the step is skipped, not failed

`UnavailableError.ambiguous` is true when the request may have reached the provider
(a timeout after sending, a lost response): the next attempt must look up the natural
key before writing again. Retries happen only in the engine (design invariant 5).
"""

from __future__ import annotations

from typing import Any


class SyncError(Exception):
    """billsync failed."""

    def __init__(self, message: str | None = None) -> None:
        # The class docstring is the default message, so writing one writes the other.
        super().__init__(message or (self.__doc__ or type(self).__name__).strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConfigError(SyncError):
    """The configuration is invalid."""


class FlowError(SyncError):
    """The flow definition is invalid."""

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str = "",
        problems: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        #: Every (field, message) found, so an API can answer 422 with all of them at once.
        self.problems = problems if problems else [(field, self.message)]


class NameTakenError(FlowError):
    """Another flow or connection already has that name: a conflict with what is stored
    (the API answers 409), not a malformed request."""


class SignatureError(SyncError):
    """The webhook signature or token is wrong or missing."""


class ConnectorError(SyncError):
    """A call to an external app failed."""

    def __init__(
        self,
        message: str | None = None,
        *,
        app: str = "",
        operation: str = "",
        status: int | None = None,
        code: str | None = None,
        field: str | None = None,
        reason: str | None = None,
        internal_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.app = app
        self.operation = operation
        self.status = status
        self.code = code
        self.field = field
        self.reason = reason
        # For logs only; never shown to users. Scrub credentials before setting it.
        self.internal_message = internal_message


class RetryableError(ConnectorError):
    """The app is temporarily unable to answer; try again later."""


class RateLimitedError(RetryableError):
    """The app rate-limited the request."""

    def __init__(
        self, message: str | None = None, *, retry_after: float | None = None, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class UnavailableError(RetryableError):
    """The app is unavailable (server error, timeout or connection failure)."""

    def __init__(self, message: str | None = None, *, ambiguous: bool = False, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.ambiguous = ambiguous


class DependencyNotReadyError(RetryableError):
    """Something this step depends on has not been synced yet."""


class PermanentError(ConnectorError):
    """The app refused the request; retrying will not help."""


class AuthError(PermanentError):
    """The app rejected the credentials: check the connection's keys."""


class NotFoundError(PermanentError):
    """The object does not exist in the app."""


class RejectedError(PermanentError):
    """The app rejected the request as invalid."""


class MappingError(PermanentError):
    """The id mapping between Togai and Razorpay is missing or conflicting."""


class SkipEventError(ConnectorError):
    """The event is not relevant to this flow."""
