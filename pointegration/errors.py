"""The exceptions of the integration, named for the decision they force.

Every failure the product can meet ends as one of these, so a caller decides what
to do from the class alone: retry later, fix the data, or fix the configuration.
Lower-level exceptions (httpx, MSAL, pydantic) are translated at the boundary with
``raise ... from exc`` and never leak out of a client.

::

    IntegrationError                   anything this package raises on purpose
    ├── RetryableError                 try again later; the work goes back to the queue
    │   ├── ThrottledError             429 or a full request queue (retry_after)
    │   ├── ServiceUnavailableError    502 / 503 / 504, or another transient 5xx
    │   ├── RequestTimeoutError        connect / read / write timeout, lost reply
    │   ├── ConcurrencyError           stale ETag (412 / 409): re-read and try again
    │   └── DependencyNotReadyError    a record this one needs is not synced yet
    ├── DataError                      fix the record: retrying will not help
    │   ├── PayloadValidationError     refused by our models before sending
    │   ├── NotFoundError              404 / BC Internal_RecordNotFound
    │   ├── AlreadyExistsError         duplicate key: callers may look it up
    │   └── RejectedError              400 / 422: the service refused the data
    └── ConfigurationError             fix the setup: settings, credentials, permissions
        ├── SettingsError              missing or invalid settings (lists every one)
        ├── AuthenticationError        no token, or 401 after one refresh
        └── AccessDeniedError          403: the identity lacks a permission

Errors carry what an operator needs and nothing secret: the system, the HTTP
status, the service's error code and message, the method and the path without its
query string, and, where known, the record id and correlation id.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AccessDeniedError",
    "AlreadyExistsError",
    "AuthenticationError",
    "ConcurrencyError",
    "ConfigurationError",
    "DataError",
    "DependencyNotReadyError",
    "IntegrationError",
    "NotFoundError",
    "PayloadValidationError",
    "RejectedError",
    "RequestTimeoutError",
    "RetryableError",
    "ServiceUnavailableError",
    "SettingsError",
    "ThrottledError",
]


class IntegrationError(Exception):
    """Base of every error the integration raises on purpose.

    ``code`` is a stable identifier for the error table (``pobc_code``): the
    service's own code where it gave one, else the class's default.
    """

    default_code = "integration_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        system: str | None = None,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        record_id: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.system = system
        self.status = status
        self.method = method
        self.path = path
        self.record_id = record_id
        self.correlation_id = correlation_id

    def __str__(self) -> str:
        where = " ".join(p for p in (self.system, self.method, self.path) if p)
        status = f" {self.status}" if self.status is not None else ""
        prefix = f"[{where}{status}] " if where or status else ""
        return f"{prefix}{self.code}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, "
            f"system={self.system!r}, message={self.message!r})"
        )


class RetryableError(IntegrationError):
    """A transient failure: the same request may succeed later.

    ``retry_after`` is the wait in seconds the service asked for (``Retry-After``
    on a 429, 502 or 503), or None when it named none.
    """

    default_code = "retryable"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class ThrottledError(RetryableError):
    """The service refused the request for load; ``retry_after`` is in seconds."""

    default_code = "throttled"


class ServiceUnavailableError(RetryableError):
    """The service or a gateway in front of it failed transiently (5xx)."""

    default_code = "service_unavailable"


class RequestTimeoutError(RetryableError):
    """No complete answer arrived in time; the write may or may not have happened."""

    default_code = "timeout"


class ConcurrencyError(RetryableError):
    """The record changed since it was read (stale ETag): re-read and retry."""

    default_code = "concurrency_conflict"


class DependencyNotReadyError(RetryableError):
    """A record this one depends on is not synced yet."""

    default_code = "dependency_not_ready"


class DataError(IntegrationError):
    """The data is wrong for the target system; a person has to fix it."""

    default_code = "data_error"


class PayloadValidationError(DataError):
    """Our own payload model refused the data before any request was sent."""

    default_code = "payload_invalid"


class NotFoundError(DataError):
    """The addressed record does not exist."""

    default_code = "not_found"


class AlreadyExistsError(DataError):
    """A record with the same key exists; callers may turn this into a lookup."""

    default_code = "already_exists"


class RejectedError(DataError):
    """The service validated the request and refused it (400, 422)."""

    default_code = "rejected"


class ConfigurationError(IntegrationError):
    """The setup is wrong: settings, credentials, permissions or target setup."""

    default_code = "configuration_error"


class SettingsError(ConfigurationError):
    """One or more settings are missing or invalid; ``problems`` names each."""

    default_code = "settings_invalid"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid settings: " + "; ".join(self.problems))


class AuthenticationError(ConfigurationError):
    """No token could be had, or the service refused it after a refresh."""

    default_code = "authentication_failed"


class AccessDeniedError(ConfigurationError):
    """The identity is authenticated but lacks a permission."""

    default_code = "access_denied"
