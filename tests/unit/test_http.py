"""The retry policy and the status-to-exception table of pointegration.http."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from pointegration import errors
from pointegration.http import (
    RetryPolicy,
    ServiceClient,
    classify,
    parse_error_body,
    parse_retry_after,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class FakeClock:
    """Monotonic time that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeTokens:
    """Hands out numbered tokens and records invalidations."""

    def __init__(self) -> None:
        self.issued = 0
        self.invalidated: list[str] = []

    async def get_token(self) -> str:
        if self.issued == len(self.invalidated):
            self.issued += 1
        return f"token-{self.issued}"

    def invalidate(self, token: str) -> None:
        self.invalidated.append(token)


Handler = Callable[[httpx.Request], httpx.Response]


def scripted(
    *responses: httpx.Response | Exception,
) -> tuple[Handler, list[httpx.Request]]:
    """A transport handler answering with ``responses`` in order, and its log."""
    seen: list[httpx.Request] = []
    queue: Iterator[httpx.Response | Exception] = iter(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = next(queue)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


def error_body(code: str, message: str) -> dict[str, object]:
    return {"error": {"code": code, "message": message}}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tokens() -> FakeTokens:
    return FakeTokens()


def make_client(
    handler: Handler,
    clock: FakeClock,
    tokens: FakeTokens,
    retry: RetryPolicy | None = None,
) -> ServiceClient:
    return ServiceClient(
        system="bc",
        base_url="https://bc.test/v2.0",
        tokens=tokens,
        max_concurrency=5,
        retry=retry or RetryPolicy(max_attempts=5, max_elapsed=60, jitter=0.0),
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock,
        now=lambda: NOW,
        rng=random.Random(1),
    )


async def test_throttled_with_retry_after_waits_that_long(
    clock: FakeClock, tokens: FakeTokens
) -> None:
    """A 429 with Retry-After: 7 waits exactly 7 s, then the retry succeeds."""
    handler, seen = scripted(
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(200, json={"value": []}),
    )
    async with make_client(handler, clock, tokens) as client:
        response = await client.request("GET", "/customers")

    assert response.status_code == 200
    assert clock.sleeps == [7.0]
    assert len(seen) == 2


async def test_two_503s_then_success(clock: FakeClock, tokens: FakeTokens) -> None:
    """Two 503s are retried with growing backoff and the third attempt succeeds."""
    handler, seen = scripted(
        httpx.Response(503),
        httpx.Response(503),
        httpx.Response(200, json={}),
    )
    async with make_client(handler, clock, tokens) as client:
        response = await client.request("GET", "/customers")

    assert response.status_code == 200
    assert len(seen) == 3
    assert clock.sleeps == [0.5, 1.0]


async def test_retries_stop_at_attempt_cap(
    clock: FakeClock, tokens: FakeTokens
) -> None:
    """After max_attempts 503s the last one is raised as a retryable error."""
    handler, seen = scripted(*[httpx.Response(503) for _ in range(3)])
    policy = RetryPolicy(max_attempts=3, max_elapsed=600, jitter=0.0)
    async with make_client(handler, clock, tokens, policy) as client:
        with pytest.raises(errors.ServiceUnavailableError) as caught:
            await client.request("GET", "/customers")

    assert caught.value.status == 503
    assert isinstance(caught.value, errors.RetryableError)
    assert len(seen) == 3


async def test_retries_stop_at_time_cap(clock: FakeClock, tokens: FakeTokens) -> None:
    """A wait that would pass max_elapsed ends the loop with the last 429."""
    handler, seen = scripted(
        httpx.Response(429, headers={"Retry-After": "20"}),
        httpx.Response(429, headers={"Retry-After": "20"}),
        httpx.Response(429, headers={"Retry-After": "20"}),
    )
    policy = RetryPolicy(max_attempts=10, max_elapsed=30, jitter=0.0)
    async with make_client(handler, clock, tokens, policy) as client:
        with pytest.raises(errors.ThrottledError) as caught:
            await client.request("GET", "/customers")

    assert caught.value.status == 429
    assert caught.value.retry_after == 20.0
    assert clock.sleeps == [20.0]
    assert len(seen) == 2


async def test_bc_400_becomes_data_error_with_code_and_message(
    clock: FakeClock, tokens: FakeTokens
) -> None:
    """A BC 400 body becomes a DataError with BC's code, message and correlation id."""
    body = error_body(
        "BadRequest",
        "The property 'foo' does not exist on type 'Microsoft.NAV.customer'.  "
        "CorrelationId:  0b7e0e8a-8a7b-4a5e-9d3c-2f1e6d5c4b3a.",
    )
    handler, _ = scripted(httpx.Response(400, json=body))
    async with make_client(handler, clock, tokens) as client:
        with pytest.raises(errors.DataError) as caught:
            await client.request("POST", "/customers?$select=id", json={"foo": 1})

    error = caught.value
    assert error.code == "BadRequest"
    assert error.message.endswith("on type 'Microsoft.NAV.customer'.")
    assert error.correlation_id == "0b7e0e8a-8a7b-4a5e-9d3c-2f1e6d5c4b3a"
    assert error.path == "/v2.0/customers"
    assert clock.sleeps == []


async def test_401_refreshes_token_once_then_configuration_error(
    clock: FakeClock, tokens: FakeTokens
) -> None:
    """A 401 invalidates the token and repeats once; a second 401 is a setup error."""
    handler, seen = scripted(httpx.Response(401), httpx.Response(401))
    async with make_client(handler, clock, tokens) as client:
        with pytest.raises(errors.AuthenticationError) as caught:
            await client.request("GET", "/companies")

    assert isinstance(caught.value, errors.ConfigurationError)
    assert tokens.invalidated == ["token-1"]
    assert [r.headers["Authorization"] for r in seen] == [
        "Bearer token-1",
        "Bearer token-2",
    ]


async def test_401_then_success_after_refresh(
    clock: FakeClock, tokens: FakeTokens
) -> None:
    """A token refused once is replaced and the request goes through."""
    handler, seen = scripted(httpx.Response(401), httpx.Response(200, json={}))
    async with make_client(handler, clock, tokens) as client:
        response = await client.request("GET", "/companies")

    assert response.status_code == 200
    assert seen[1].headers["Authorization"] == "Bearer token-2"


async def test_post_is_not_repeated_after_lost_response(
    clock: FakeClock, tokens: FakeTokens
) -> None:
    """A POST whose answer was lost raises at once: it may have been committed."""
    handler, seen = scripted(httpx.ReadTimeout("lost"))
    async with make_client(handler, clock, tokens) as client:
        with pytest.raises(errors.RequestTimeoutError) as caught:
            await client.request("POST", "/salesInvoices", json={})

    assert "may have been processed" in caught.value.message
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert len(seen) == 1


async def test_get_is_repeated_after_lost_response(
    clock: FakeClock, tokens: FakeTokens
) -> None:
    """A GET whose answer was lost is simply asked again."""
    handler, seen = scripted(
        httpx.RemoteProtocolError("dropped"), httpx.Response(200, json={})
    )
    async with make_client(handler, clock, tokens) as client:
        response = await client.request("GET", "/customers")

    assert response.status_code == 200
    assert len(seen) == 2


async def test_post_is_not_repeated_after_504(
    clock: FakeClock, tokens: FakeTokens
) -> None:
    """A gateway timeout on a POST is raised, since the write may have happened."""
    handler, seen = scripted(httpx.Response(504))
    async with make_client(handler, clock, tokens) as client:
        with pytest.raises(errors.ServiceUnavailableError):
            await client.request("POST", "/salesInvoices", json={})

    assert len(seen) == 1


async def test_connect_error_is_retried_for_post(
    clock: FakeClock, tokens: FakeTokens
) -> None:
    """A refused connection sent nothing, so even a POST is tried again."""
    handler, seen = scripted(
        httpx.ConnectError("refused"), httpx.Response(201, json={})
    )
    async with make_client(handler, clock, tokens) as client:
        response = await client.request("POST", "/customers", json={})

    assert response.status_code == 201
    assert len(seen) == 2


async def test_no_lower_level_exception_leaks(
    clock: FakeClock, tokens: FakeTokens
) -> None:
    """Every transport failure surfaces as an IntegrationError."""
    failures = [httpx.ReadError("boom"), httpx.ReadError("boom")]
    handler, _ = scripted(*failures, httpx.UnsupportedProtocol("x"))
    policy = RetryPolicy(max_attempts=2, jitter=0.0)
    async with make_client(handler, clock, tokens, policy) as client:
        with pytest.raises(errors.IntegrationError):
            await client.request("GET", "/a")
        with pytest.raises(errors.IntegrationError):
            await client.request("GET", "/b")


async def test_retry_logs_a_warning_event_without_secrets(
    clock: FakeClock, tokens: FakeTokens, caplog: pytest.LogCaptureFixture
) -> None:
    """Each scheduled retry is one WARNING http.retry_scheduled event with fields."""
    handler, _ = scripted(httpx.Response(503), httpx.Response(200, json={}))
    caplog.set_level(logging.INFO, logger="pointegration.http")
    async with make_client(handler, clock, tokens) as client:
        await client.request("GET", "/customers?$filter=displayName eq 'Secret Co'")

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.__dict__["event"] for r in warnings] == ["http.retry_scheduled"]
    fields = warnings[0].__dict__["fields"]
    assert fields["status"] == 503
    assert fields["attempt"] == 1
    assert fields["path"] == "/v2.0/customers"
    assert "token-1" not in caplog.text
    assert "Secret Co" not in caplog.text


async def test_decimal_body_is_sent_exactly(
    clock: FakeClock, tokens: FakeTokens
) -> None:
    """A Decimal in a JSON body goes out as the exact JSON number."""
    handler, seen = scripted(httpx.Response(201, json={}))
    async with make_client(handler, clock, tokens) as client:
        await client.request("POST", "/x", json={"unitPrice": Decimal("1234.565")})

    assert seen[0].content == b'{"unitPrice":1234.565}'
    assert seen[0].headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        pytest.param(429, None, "", errors.ThrottledError, id="throttled"),
        pytest.param(503, None, "", errors.ServiceUnavailableError, id="unavailable"),
        pytest.param(
            500,
            "Internal_ServerError",
            "",
            errors.ServiceUnavailableError,
            id="bc-internal-error",
        ),
        pytest.param(
            400,
            "BadRequest",
            "does not exist",
            errors.RejectedError,
            id="bc-unknown-property",
        ),
        pytest.param(
            400,
            "Internal_EntityWithSameKeyExists",
            "already exists",
            errors.AlreadyExistsError,
            id="bc-duplicate-key",
        ),
        pytest.param(
            409,
            "Request_EntityChanged",
            "",
            errors.ConcurrencyError,
            id="bc-stale-etag",
        ),
        pytest.param(
            412,
            "0x80060882",
            "The version of the existing record doesn't",
            errors.ConcurrencyError,
            id="dataverse-stale-etag",
        ),
        pytest.param(
            412,
            None,
            "A record with matching key values already exists.",
            errors.AlreadyExistsError,
            id="dataverse-create-only-upsert",
        ),
        pytest.param(
            404,
            "0x80040217",
            "account With Id = x Does Not Exist",
            errors.NotFoundError,
            id="dataverse-missing-record",
        ),
        pytest.param(
            404,
            None,
            "Resource not found for the segment 'pobc_countries'.",
            errors.ConfigurationError,
            id="dataverse-table-not-provisioned",
        ),
        pytest.param(
            404,
            "BadRequest_ResourceNotFound",
            "",
            errors.ConfigurationError,
            id="bc-api-not-installed",
        ),
        pytest.param(401, None, "", errors.AuthenticationError, id="unauthenticated"),
        pytest.param(403, None, "", errors.AccessDeniedError, id="forbidden"),
        pytest.param(
            429,
            "0x80072326",
            "concurrent",
            errors.ThrottledError,
            id="dataverse-concurrency-limit",
        ),
        pytest.param(418, None, "", errors.RejectedError, id="unknown-4xx"),
    ],
)
def test_status_table(
    status: int, code: str | None, message: str, expected: type[Exception]
) -> None:
    """The status, code and message of a failure decide its exception class."""
    assert classify(status, code, message) is expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("7", 7.0, id="seconds"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("Thu, 03 Dec 2026 12:00:30 GMT", 30.0, id="http-date"),
        pytest.param("Thu, 03 Dec 2026 11:00:00 GMT", 0.0, id="http-date-past"),
        pytest.param("soon", None, id="garbage"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_retry_after_forms(header: str | None, expected: float | None) -> None:
    """Retry-After is read as seconds or as an HTTP date relative to now."""
    assert parse_retry_after(header, NOW) == expected


def test_error_body_without_json() -> None:
    """A non-JSON error body still yields a message from the reason phrase."""
    response = httpx.Response(502, text="<html>Bad gateway</html>")
    assert parse_error_body(response) == (None, "Bad Gateway", None)


def test_retry_after_http_date_uses_now() -> None:
    """An HTTP-date Retry-After is measured from the injected wall clock."""
    later = NOW + timedelta(seconds=90)
    header = "Thu, 03 Dec 2026 12:01:30 GMT"
    assert parse_retry_after(header, later) == 0.0
