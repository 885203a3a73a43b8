"""Fakes shared by the BC client tests: tokens, a recording transport, a client."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from pointegration import _json
from pointegration.businesscentral.client import BusinessCentralClient
from pointegration.http import RetryPolicy, ServiceClient

BASE = "https://api.bc.test/v2.0/tenant-1/production/api"
COMPANY = "6f7d0a1c-2b3e-4f50-8a6b-7c8d9e0f1a2b"
RECORD = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)

Handler = Callable[[httpx.Request], httpx.Response]


class FakeTokens:
    """Always hands out the same token."""

    async def get_token(self) -> str:
        return "token-1"

    def invalidate(self, token: str) -> None:
        """Nothing to forget."""


class Recorder:
    """A transport handler that logs each request and answers with ``answer``."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    def bodies(self) -> list[Any]:
        """Each request's JSON body, read with exact decimals."""
        return [_json.loads(r.content) if r.content else None for r in self.requests]


def json_response(status: int, body: Any, **headers: str) -> httpx.Response:
    """A response whose body is written with exact decimals."""
    return httpx.Response(
        status,
        content=_json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json", **headers},
    )


async def _no_wait(seconds: float) -> None:
    """Waits are switched off in tests."""


def make_service(handler: Handler) -> ServiceClient:
    """A BC service client on ``handler`` with waits switched off."""
    return ServiceClient(
        system="bc",
        base_url=BASE,
        tokens=FakeTokens(),
        max_concurrency=5,
        retry=RetryPolicy(max_attempts=3, max_elapsed=60, jitter=0.0),
        transport=httpx.MockTransport(handler),
        sleep=_no_wait,
        clock=lambda: 0.0,
        now=lambda: NOW,
        rng=random.Random(1),
    )


def make_client(handler: Handler) -> BusinessCentralClient:
    """A BC client for :data:`COMPANY` on ``handler``."""
    return BusinessCentralClient(make_service(handler), company_id=COMPANY)


def path_of(request: httpx.Request) -> str:
    """The request's path below :data:`BASE`, without the query."""
    prefix = httpx.URL(BASE).path
    return request.url.path.removeprefix(prefix)
