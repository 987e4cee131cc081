"""The exception tree of the producer: the retry decision is encoded in the type.

    ProducerError
    ├── ConfigError                  bad environment, contract file or CLI input → exit 2
    ├── SourceError                  anything that went wrong talking to the platform API
    │   ├── TransientSourceError     retry later (429, 5xx, reset, truncated body); has retry_after
    │   ├── PermanentSourceError     retrying the same request cannot help (4xx, loop in cursors)
    │   ├── QuotaExceededError       a 429 whose Retry-After exceeds the cap (daily limits)
    │   └── AuthError                no valid token can be had (invalid_client, repeated 401s)
    ├── StoreError                   object store failed after its own retries
    │   └── PreconditionFailedError  a conditional write (If-Match / If-None-Match) lost
    ├── StreamError                  the event bus stayed unavailable past the retry budget
    ├── CheckpointConflictError      the checkpoint CAS was lost: another writer owns the domain
    │   ├── LeaseHeldError           another live writer holds the domain's writer lease
    │   └── LeaseLostError           this writer no longer holds the lease
    ├── AccountingError              fetched != landed + dead-lettered for a window: never commit
    ├── WindowAbandonedError         shutdown cut a window off after its grace: nothing committed
    ├── ContractConflictError        a published contract version would change (immutable)
    └── ContractViolationError       a landed line does not fit the version a consumer declared

Messages never contain secrets or tokens: raise sites pass identifiers, not credentials.
``FailureReason`` names why one request to the platform failed (the retry decision and the
``reason`` label of the retry metric and log line).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

__all__ = [
    "AccountingError",
    "AuthError",
    "CheckpointConflictError",
    "ConfigError",
    "ContractConflictError",
    "ContractViolationError",
    "FailureReason",
    "LeaseHeldError",
    "LeaseLostError",
    "PermanentSourceError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "ProducerError",
    "QuotaExceededError",
    "SourceError",
    "StoreError",
    "StreamError",
    "TransientSourceError",
    "WindowAbandonedError",
]


class FailureReason(StrEnum):
    """Why one request to the platform failed; the value is the metric and log label."""

    UNAUTHORIZED = "unauthorized"  # 401: that token is invalidated, the request retried
    FORBIDDEN = "forbidden"  # 403: a permission is missing (``PermissionDeniedError``)
    PERMANENT = "permanent"  # another 4xx: retrying cannot help
    THROTTLED = "throttled"  # 429: the whole domain pauses for Retry-After
    SERVER_ERROR = "server_error"  # 5xx: retried with backoff
    CONNECTION = "connection"  # a reset, a timeout: retried with backoff
    BAD_BODY = "bad_body"  # a 2xx body that is not JSON: retried
    BAD_SHAPE = "bad_shape"  # a 2xx body without the expected shape: retried


class ProducerError(Exception):
    """Base of every error the producer raises on purpose."""


class ConfigError(ProducerError):
    """Configuration or input is wrong; the process exits 2 with this one-line message."""


class SourceError(ProducerError):
    """The platform API did not give us what we asked for."""


class TransientSourceError(SourceError):
    """A failure that may go away: retry after ``retry_after`` seconds (None: use backoff)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSourceError(SourceError):
    """Retrying the same request cannot succeed (a 4xx other than 401/429, a cursor loop)."""


class PermissionDeniedError(PermanentSourceError):
    """The platform refused a request with 403: the domain's OAuth client lacks a permission.

    ``permission`` names it when known (``docs/permissions.md``)."""

    def __init__(self, message: str, *, permission: str | None) -> None:
        super().__init__(message)
        self.permission = permission


class QuotaExceededError(SourceError):
    """A 429 asked us to wait longer than we are willing to (a daily cap): give up the request."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(SourceError):
    """No valid token: the client is rejected (``reason`` is e.g. ``invalid_client``)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class StoreError(ProducerError):
    """The object store failed a request after its own retries."""


class PreconditionFailedError(StoreError):
    """A conditional write was refused: the object exists, or its ETag changed."""


class StreamError(ProducerError):
    """The event bus (a Kinesis stream) failed a publish after its retries: fail the window."""


class CheckpointConflictError(ProducerError):
    """Another writer advanced the checkpoint first; this worker does not own the domain."""


class AccountingError(ProducerError):
    """A window's counts do not add up (fetched != landed + dead-lettered)."""


class LeaseHeldError(CheckpointConflictError):
    """Another live writer holds the domain's lease (it renewed it while we watched)."""


class LeaseLostError(CheckpointConflictError):
    """This writer no longer holds the lease (taken over, or it cannot prove it still does)."""


class WindowAbandonedError(ProducerError):
    """Shutdown cut the window off after its grace period; nothing of it was committed."""


class ContractConflictError(ProducerError):
    """The registry already holds other content for a version: published versions are immutable.

    ``conflicts`` names each ``(domain, version)``; the message lists them all.
    """

    def __init__(self, message: str, *, conflicts: Sequence[tuple[str, str]]) -> None:
        super().__init__(message)
        self.conflicts = tuple(conflicts)


class ContractViolationError(ProducerError):
    """A landed line is not a valid envelope, or its record does not fit the declared version."""
