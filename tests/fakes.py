"""Fakes shared by the client tests: tokens, a recording transport, a service client.

HTTP is faked at the transport (``httpx.MockTransport``) and waits are switched
off, so the clients run their real code without network or time passing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from pointegration import _json
from pointegration.http import RetryPolicy, ServiceClient

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


def json_response(
    status: int,
    body: Any,
    *,
    content_type: str = "application/json",
    **headers: str,
) -> httpx.Response:
    """A response whose body is written with exact decimals."""
    return httpx.Response(
        status,
        content=_json.dumps(body).encode("utf-8"),
        headers={"Content-Type": content_type, **headers},
    )


async def no_wait(seconds: float) -> None:
    """Waits are switched off in tests."""


def make_service(
    handler: Handler,
    *,
    system: str,
    base_url: str,
    max_concurrency: int,
) -> ServiceClient:
    """A service client on ``handler`` with waits switched off and jitter fixed."""
    return ServiceClient(
        system=system,
        base_url=base_url,
        tokens=FakeTokens(),
        max_concurrency=max_concurrency,
        retry=RetryPolicy(max_attempts=3, max_elapsed=60, jitter=0.0),
        transport=httpx.MockTransport(handler),
        sleep=no_wait,
        clock=lambda: 0.0,
        now=lambda: NOW,
        rng=random.Random(1),
    )
