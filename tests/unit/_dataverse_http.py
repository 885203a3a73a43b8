"""Fakes shared by the Dataverse client tests: tokens, a recording transport."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from pointegration import _json
from pointegration.dataverse.client import DataverseClient
from pointegration.http import RetryPolicy, ServiceClient

ORG = "https://contoso.crm.dynamics.com"
BASE = f"{ORG}/api/data/v9.2"
ACCOUNT_ID = "00000000-0000-0000-0000-000000000001"
OTHER_ID = "d31ba648-c592-ed11-aad1-000d3a993550"
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


def json_response(status: int, body: Any, **headers: str) -> httpx.Response:
    """A response whose body is written with exact decimals."""
    return httpx.Response(
        status,
        content=_json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json; odata.metadata=minimal", **headers},
    )


def error_response(status: int, code: str, message: str) -> httpx.Response:
    """A Dataverse error body."""
    return json_response(status, {"error": {"code": code, "message": message}})


async def _no_wait(seconds: float) -> None:
    """Waits are switched off in tests."""


def make_service(handler: Handler, base_url: str = BASE) -> ServiceClient:
    """A Dataverse service client on ``handler`` with waits switched off."""
    return ServiceClient(
        system="dataverse",
        base_url=base_url,
        tokens=FakeTokens(),
        max_concurrency=52,
        retry=RetryPolicy(max_attempts=3, max_elapsed=60, jitter=0.0),
        transport=httpx.MockTransport(handler),
        sleep=_no_wait,
        clock=lambda: 0.0,
        now=lambda: NOW,
        rng=random.Random(1),
    )


def make_client(handler: Handler) -> DataverseClient:
    """A Dataverse client on ``handler`` whose boundary ids count up from 1."""
    counter = itertools.count(1)
    return DataverseClient(make_service(handler), new_id=lambda: f"id{next(counter)}")
