"""HTTP for both systems: one pooled client each, a concurrency cap, one retry policy.

:class:`ServiceClient` is the only place the integration sends HTTP. It adds the
bearer token, caps requests in flight (BC allows 5 per user, Dataverse 52), retries
what is worth retrying, and turns every failure into the tree of
:mod:`pointegration.errors` by one table, :data:`ERROR_RULES`.

What is retried here, and how often, is decided once:

- 429 and 503: the service refused the request before doing anything, so any
  method may be repeated;
- 502 and 504, read timeouts and dropped connections (reset, broken pipe, closed
  without an answer): only for idempotent requests (GET, PATCH, PUT, DELETE),
  because a POST may have been committed and its answer lost; a use case decides
  how to look for it;
- connect errors (nothing was sent): always.

A ``Retry-After`` (seconds or an HTTP date; BC documents it on 502 and 503,
Dataverse on 429) replaces the backoff for that wait. It is capped at
:data:`MAX_RETRY_AFTER` and travels on the raised error as ``retry_after``.

JSON bodies are written with exact decimals; a ``float`` anywhere in one, or a
value JSON cannot hold, is a :class:`~pointegration.errors.PayloadValidationError`
and nothing is sent.

Retries stop at ``RetryPolicy.max_attempts`` or when the next wait would pass
``RetryPolicy.max_elapsed`` seconds, whichever comes first; the last failure is then
raised as a :class:`~pointegration.errors.RetryableError` carrying its status, for
the queue to try again later. Waits grow exponentially with jitter. A 401 gets one
token refresh and one repeat, then becomes an
:class:`~pointegration.errors.AuthenticationError`.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import tenacity

from pointegration import _json
from pointegration.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    AuthenticationError,
    ConcurrencyError,
    ConfigurationError,
    IntegrationError,
    NotFoundError,
    PayloadValidationError,
    RejectedError,
    RequestTimeoutError,
    RetryableError,
    ServiceUnavailableError,
    ThrottledError,
)
from pointegration.telemetry import log_event

__all__ = [
    "ERROR_RULES",
    "RetryPolicy",
    "ServiceClient",
    "TokenProvider",
    "classify",
    "parse_retry_after",
]

logger = logging.getLogger("pointegration.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
#: The longest ``Retry-After`` taken at its word, in seconds (one hour).
MAX_RETRY_AFTER = 3600.0


class TokenProvider(Protocol):
    """Where a client gets its bearer token."""

    async def get_token(self) -> str:
        """A valid access token, from the cache when it has one."""
        ...

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (it was refused) so the next call acquires a new one."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retry loop; all durations in seconds."""

    max_attempts: int = 5
    max_elapsed: float = 60.0
    backoff_initial: float = 0.5
    backoff_max: float = 20.0
    jitter: float = 0.5

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Wait before attempt ``attempt + 1`` when the service named no wait."""
        base = min(self.backoff_max, self.backoff_initial * 2.0 ** (attempt - 1))
        return base + rng.uniform(0, self.jitter)


# One table decides which exception a failed response becomes. Rows are tried in
# order; a row matches when every given part matches (status, the service's error
# code, a fragment of its message). The first match wins.
ERROR_RULES: tuple[
    tuple[int | None, str | None, str | None, type[IntegrationError]], ...
] = (
    # BC error codes (reference/businesscentral.md §4)
    (None, "Internal_EntityWithSameKeyExists", None, AlreadyExistsError),
    (None, "Request_EntityChanged", None, ConcurrencyError),
    (None, "Internal_RecordNotFound", None, NotFoundError),
    (None, "Internal_CompanyNotFound", None, ConfigurationError),
    (None, "Internal_TenantUnavailable", None, ServiceUnavailableError),
    (None, "BadRequest_ResourceNotFound", None, ConfigurationError),
    (None, "Authentication_InvalidCredentials", None, AuthenticationError),
    # Dataverse error codes (reference/dataverse.md §2, §3)
    (None, "0x80040237", None, AlreadyExistsError),
    (None, "0x80040217", None, NotFoundError),
    (None, "0x80072322", None, ThrottledError),
    (None, "0x80072321", None, ThrottledError),
    (None, "0x80072326", None, ThrottledError),
    (404, None, "Resource not found for the segment", ConfigurationError),
    (412, None, "already exists", AlreadyExistsError),
    # by status
    (400, None, None, RejectedError),
    (401, None, None, AuthenticationError),
    (403, None, None, AccessDeniedError),
    (404, None, None, NotFoundError),
    (408, None, None, RequestTimeoutError),
    (409, None, None, ConcurrencyError),
    (412, None, None, ConcurrencyError),
    (413, None, None, RejectedError),
    (422, None, None, RejectedError),
    (429, None, None, ThrottledError),
)

_RETRY_ANY_METHOD = frozenset({429, 503})
_RETRY_IDEMPOTENT = frozenset({502, 504})
_CORRELATION = re.compile(r"\s*CorrelationId:\s*([0-9a-fA-F-]{36})\.?\s*$")


def classify(status: int, code: str | None, message: str) -> type[IntegrationError]:
    """The exception class for a failed response, from :data:`ERROR_RULES`."""
    for rule_status, rule_code, fragment, error in ERROR_RULES:
        if rule_status is not None and rule_status != status:
            continue
        if rule_code is not None and rule_code != code:
            continue
        if fragment is not None and fragment.lower() not in message.lower():
            continue
        return error
    if status >= 500:
        return ServiceUnavailableError
    return RejectedError


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date).

    None when absent or unreadable (a non-finite number counts as unreadable);
    at most :data:`MAX_RETRY_AFTER`, so a queue can always use the value.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is None:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None

    return min(MAX_RETRY_AFTER, max(0.0, seconds))


def parse_error_body(response: httpx.Response) -> tuple[str | None, str, str | None]:
    """``(code, message, correlation id)`` from an OData error body.

    Both services answer ``{"error": {"code": ..., "message": ...}}``; BC appends
    ``CorrelationId: <guid>.`` to the message, which is split off here.
    """
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {}
    code = error.get("code") or None
    message = str(error.get("message") or response.reason_phrase or "no message")
    correlation = None
    match = _CORRELATION.search(message)
    if match:
        correlation = match.group(1)
        message = message[: match.start()].rstrip()

    return (str(code) if code else None), message, correlation


class _Retry(Exception):
    """Internal signal: this attempt failed in a way worth repeating."""

    def __init__(self, error: IntegrationError, wait: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


class ServiceClient:
    """The HTTP client of one system, reused for the life of the process.

    ``json`` bodies are written with exact decimals. Responses with status 2xx or
    304 are returned; every other outcome raises an
    :class:`~pointegration.errors.IntegrationError` whose ``path`` carries no query
    string. ``sleep``, ``clock``, ``now`` and ``rng`` exist so tests control time.

    It may be built outside any event loop (at import time, as a Functions app
    may) and used from several loops one after another: each running loop gets
    its own connection pool and concurrency cap, opened on first use.
    ``max_concurrency`` therefore caps requests per loop; a process runs one.
    """

    def __init__(
        self,
        *,
        system: str,
        base_url: str,
        tokens: TokenProvider,
        max_concurrency: int,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> None:
        self.system = system
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._tokens = tokens
        self._max_concurrency = max_concurrency
        self._sleep = sleep
        self._clock = clock
        self._now = now
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self._client_options: dict[str, Any] = {
            "base_url": self.base_url,
            "timeout": httpx.Timeout(timeout),
            "transport": transport,
            "headers": {"Accept": "application/json", **(headers or {})},
            "limits": httpx.Limits(
                max_connections=max_concurrency,
                max_keepalive_connections=max_concurrency,
            ),
        }
        # Connections and the semaphore belong to the loop that uses them, so each
        # running loop gets its own; a finished loop's pool is dropped with it.
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = (
            weakref.WeakKeyDictionary()
        )

    async def __aenter__(self) -> ServiceClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool of the running loop; a later request opens one."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.http.aclose()

    def _pool(self) -> _Pool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            for finished in [other for other in self._pools if other.is_closed()]:
                del self._pools[finished]
            pool = _Pool(
                httpx.AsyncClient(**self._client_options),
                asyncio.Semaphore(self._max_concurrency),
            )
            self._pools[loop] = pool

        return pool

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        record_id: str | None = None,
        accept: Callable[[httpx.Response], bool] | None = None,
    ) -> httpx.Response:
        """Send one request with retries; see the module docstring for the rules.

        ``url`` is absolute or relative to the base URL. ``idempotent`` overrides
        the method's default when a POST is known to be safe to repeat (a bound
        action that checks state, a ``$batch`` of reads). ``accept`` marks failed
        responses the caller reads itself: one it returns True for is returned
        as it is, never retried (a ``$batch`` whose status is that of a part,
        with the parts before it already committed). A 401 is never accepted.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        send_headers = dict(headers or {})
        if json is not None:
            content = _encode_body(json, self.system, _path_of(url), record_id)
            send_headers.setdefault("Content-Type", "application/json")
        if "://" not in url:
            url = f"{self.base_url}/{url.lstrip('/')}"
        request = _Request(method, url, params, content, send_headers, record_id)

        started = self._clock()
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(_Retry),
            wait=self._wait,
            stop=lambda state: self._should_stop(state, started),
            sleep=self._sleep,
            before_sleep=lambda state: self._log_retry(state, request),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(
                        request, idempotent=idempotent, accept=accept
                    )
        except _Retry as exhausted:
            raise exhausted.error from exhausted.__cause__
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _wait(self, state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        failure = outcome.exception() if outcome else None
        if isinstance(failure, _Retry) and failure.wait is not None:
            return failure.wait
        return self.retry.backoff(state.attempt_number, self._rng)

    def _should_stop(self, state: tenacity.RetryCallState, started: float) -> bool:
        if state.attempt_number >= self.retry.max_attempts:
            return True
        elapsed = self._clock() - started

        return elapsed + state.upcoming_sleep > self.retry.max_elapsed

    def _log_retry(self, state: tenacity.RetryCallState, request: _Request) -> None:
        failure = state.outcome.exception() if state.outcome else None
        error = failure.error if isinstance(failure, _Retry) else None
        log_event(
            logger,
            logging.WARNING,
            "http.retry_scheduled",
            system=self.system,
            method=request.method,
            path=_path_of(request.url),
            status=error.status if error else None,
            reason=error.code if error else None,
            attempt=state.attempt_number,
            wait_seconds=round(state.upcoming_sleep, 3),
            record_id=request.record_id,
        )

    async def _attempt(
        self,
        request: _Request,
        *,
        idempotent: bool,
        accept: Callable[[httpx.Response], bool] | None,
    ) -> httpx.Response:
        async with self._pool().limit:
            response = await self._send_authenticated(request, idempotent=idempotent)
        if response.is_success or response.status_code == 304:
            return response
        if accept is not None and accept(response):
            return response

        error = self._error_from(request, response)
        status = response.status_code
        if status in _RETRY_ANY_METHOD or (idempotent and status in _RETRY_IDEMPOTENT):
            wait = error.retry_after if isinstance(error, RetryableError) else None
            raise _Retry(error, wait)
        raise error

    async def _send_authenticated(
        self, request: _Request, *, idempotent: bool
    ) -> httpx.Response:
        token = await self._tokens.get_token()
        response = await self._send(request, token, idempotent=idempotent)
        if response.status_code != 401:
            return response

        # One refresh: the token may have been revoked or rotated early.
        await response.aclose()
        self._tokens.invalidate(token)
        token = await self._tokens.get_token()
        response = await self._send(request, token, idempotent=idempotent)
        if response.status_code == 401:
            code, message, correlation = parse_error_body(response)
            raise AuthenticationError(
                f"{self.system} refused a freshly acquired token ({message}); "
                "check AZURE_CLIENT_ID and the application user's access",
                code=code,
                system=self.system,
                status=401,
                method=request.method,
                path=_path_of(request.url),
                record_id=request.record_id,
                correlation_id=correlation,
            )
        return response

    async def _send(
        self, request: _Request, token: str, *, idempotent: bool
    ) -> httpx.Response:
        headers = {**request.headers, "Authorization": f"Bearer {token}"}
        context = {
            "system": self.system,
            "method": request.method,
            "path": _path_of(request.url),
            "record_id": request.record_id,
        }
        started = self._clock()
        try:
            response = await self._pool().http.request(
                request.method,
                request.url,
                params=request.params,
                content=request.content,
                headers=headers,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            error = RequestTimeoutError(f"could not connect: {type(exc).__name__}")
            _set_context(error, context)
            raise _Retry(error) from exc
        except (
            httpx.TimeoutException,
            httpx.RemoteProtocolError,
            httpx.NetworkError,
        ) as exc:
            error = RequestTimeoutError(
                f"no complete response ({type(exc).__name__}); "
                "the request may have been processed"
            )
            _set_context(error, context)
            if idempotent:
                raise _Retry(error) from exc
            raise error from exc
        except httpx.HTTPError as exc:
            failure = ServiceUnavailableError(
                f"transport failure: {type(exc).__name__}"
            )
            _set_context(failure, context)
            raise failure from exc

        log_event(
            logger,
            logging.INFO,
            "http.request",
            status=response.status_code,
            elapsed_ms=round((self._clock() - started) * 1000, 1),
            **context,
        )
        return response

    def _error_from(
        self, request: _Request, response: httpx.Response
    ) -> IntegrationError:
        code, message, correlation = parse_error_body(response)
        error_type = classify(response.status_code, code, message)
        context: dict[str, Any] = {
            "code": code,
            "system": self.system,
            "status": response.status_code,
            "method": request.method,
            "path": _path_of(request.url),
            "record_id": request.record_id,
            "correlation_id": correlation,
        }
        if issubclass(error_type, RetryableError):
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), self._now()
            )
            return error_type(message, retry_after=retry_after, **context)

        return error_type(message, **context)


@dataclass(frozen=True)
class _Pool:
    """What one event loop sends with: its connections and its concurrency cap."""

    http: httpx.AsyncClient
    limit: asyncio.Semaphore


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    params: Mapping[str, str] | None
    content: bytes | None
    headers: dict[str, str]
    record_id: str | None


def _path_of(url: str) -> str:
    """The URL's path, without host or query string: safe to log and to show."""
    return httpx.URL(url.split("?", 1)[0]).path


def _encode_body(body: Any, system: str, path: str, record_id: str | None) -> bytes:
    """``body`` as exact JSON, or :class:`PayloadValidationError` naming the spot.

    A ``float`` anywhere is refused: money and quantities travel as ``Decimal``,
    and a float would have lost its exact value before it got here.
    """
    where = _float_in(body, "body")
    problem = f"{where} is a float; send a Decimal" if where else None
    if problem is None:
        try:
            return _json.dumps(body).encode("utf-8")
        except (TypeError, ValueError) as exc:
            problem = f"the body cannot be written as JSON ({exc})"
    raise PayloadValidationError(problem, system=system, path=path, record_id=record_id)


def _float_in(value: Any, where: str) -> str | None:
    if isinstance(value, float):
        return where
    if isinstance(value, Mapping):
        items: Any = ((f"{where}.{k}", v) for k, v in value.items())
    elif isinstance(value, list | tuple):
        items = ((f"{where}[{n}]", v) for n, v in enumerate(value))
    else:
        return None
    for inner_where, inner in items:
        found = _float_in(inner, inner_where)
        if found:
            return found
    return None


def _set_context(error: IntegrationError, context: Mapping[str, Any]) -> None:
    error.system = context["system"]
    error.method = context["method"]
    error.path = context["path"]
    error.record_id = context["record_id"]
