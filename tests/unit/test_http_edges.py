"""Edge cases of the retry policy in pointegration.http found in review."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from pointegration import errors
from pointegration.http import RetryPolicy, ServiceClient, parse_retry_after

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)

Handler = Callable[[httpx.Request], Any]


class Clock:
    """Monotonic time that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 500.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Tokens:
    """Always the same token."""

    async def get_token(self) -> str:
        return "token-1"

    def invalidate(self, token: str) -> None:
        """Nothing to forget."""


def scripted(*answers: httpx.Response | Exception) -> tuple[Handler, list[str]]:
    """A handler answering in order, and the methods it saw."""
    seen: list[str] = []
    queue: Iterator[httpx.Response | Exception] = iter(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        answer = next(queue)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


def client_on(
    handler: Handler,
    clock: Clock,
    *,
    max_concurrency: int = 5,
    sleep: Callable[[float], Any] | None = None,
) -> ServiceClient:
    return ServiceClient(
        system="bc",
        base_url="https://bc.test/v2.0",
        tokens=Tokens(),
        max_concurrency=max_concurrency,
        retry=RetryPolicy(max_attempts=4, max_elapsed=60, jitter=0.0),
        transport=httpx.MockTransport(handler),
        sleep=sleep or clock.sleep,
        clock=clock,
        now=lambda: NOW,
        rng=random.Random(1),
    )


async def test_retry_after_on_a_503_is_honoured() -> None:
    """A 503 with Retry-After: 9 (BC documents it there) waits 9 s, not the backoff."""
    clock = Clock()
    handler, seen = scripted(
        httpx.Response(503, headers={"Retry-After": "9"}),
        httpx.Response(200, json={}),
    )
    async with client_on(handler, clock) as client:
        await client.request("GET", "customers")

    assert clock.sleeps == [9.0]
    assert seen == ["GET", "GET"]


async def test_a_503_retry_after_past_the_time_cap_is_raised_with_it() -> None:
    """A 503 asking for more than the time cap is raised at once, carrying the wait."""
    clock = Clock()
    handler, seen = scripted(httpx.Response(503, headers={"Retry-After": "120"}))

    async with client_on(handler, clock) as client:
        with pytest.raises(errors.ServiceUnavailableError) as raised:
            await client.request("GET", "customers")

    assert seen == ["GET"]
    assert clock.sleeps == []
    assert raised.value.retry_after == 120.0


@pytest.mark.parametrize("header", ["inf", "nan", "-inf", "1e400"])
def test_a_non_finite_retry_after_is_ignored(header: str) -> None:
    """A Retry-After that is not a finite number of seconds counts as absent."""
    assert parse_retry_after(header, NOW) is None


def test_a_huge_retry_after_is_capped_at_an_hour() -> None:
    """A Retry-After of days is capped at one hour, so a queue can still use it."""
    assert parse_retry_after("999999", NOW) == 3600.0


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadError("connection reset"), httpx.WriteError("broken pipe")],
    ids=["read-error", "write-error"],
)
async def test_a_dropped_connection_on_a_get_is_retried(
    failure: httpx.TransportError,
) -> None:
    """A GET whose connection dropped mid-exchange is simply asked again."""
    clock = Clock()
    handler, seen = scripted(failure, httpx.Response(200, json={}))
    async with client_on(handler, clock) as client:
        response = await client.request("GET", "customers")

    assert response.status_code == 200
    assert seen == ["GET", "GET"]


async def test_a_dropped_connection_on_a_post_is_a_lost_reply() -> None:
    """A POST whose connection dropped is not repeated and may have been applied."""
    clock = Clock()
    handler, seen = scripted(httpx.ReadError("connection reset"))

    async with client_on(handler, clock) as client:
        with pytest.raises(errors.RequestTimeoutError, match="may have been"):
            await client.request("POST", "customers", json={"displayName": "A"})

    assert seen == ["POST"]


@pytest.mark.parametrize(
    "body",
    [
        {"when": datetime(2026, 1, 1, tzinfo=UTC)},
        {"amount": Decimal("NaN")},
        {"amount": 12.5},
        {"lines": [{"unitPrice": 0.1}]},
    ],
    ids=["datetime", "decimal-nan", "float", "nested-float"],
)
async def test_a_body_json_cannot_hold_exactly_is_refused_before_sending(
    body: dict[str, Any],
) -> None:
    """A body with a float, NaN or a non-JSON value is a PayloadValidationError."""
    clock = Clock()
    handler, seen = scripted()

    async with client_on(handler, clock) as client:
        with pytest.raises(errors.PayloadValidationError):
            await client.request("POST", "customers", json=body)

    assert seen == []


async def test_a_request_waiting_to_retry_holds_no_concurrency_slot() -> None:
    """While one request sleeps before its retry, another one is sent and answered."""
    clock = Clock()
    other_done = asyncio.Event()
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path.endswith("/slow") and calls.count(request.url.path) == 1:
            return httpx.Response(429, headers={"Retry-After": "30"})
        return httpx.Response(200, json={})

    async def sleep(seconds: float) -> None:
        await other_done.wait()

    async with client_on(handler, clock, max_concurrency=1, sleep=sleep) as client:

        async def other() -> None:
            await asyncio.sleep(0)
            await client.request("GET", "fast")
            other_done.set()

        await asyncio.wait_for(
            asyncio.gather(client.request("GET", "slow"), other()), timeout=5
        )

    assert calls == ["/v2.0/slow", "/v2.0/fast", "/v2.0/slow"]
