"""Clients and token providers across event loops, and shared under concurrency.

Azure Functions may build clients at import time, and a command may call
``asyncio.run`` more than once; neither may bind a client to the first loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from pointegration.auth import MsalTokenProvider
from pointegration.http import RetryPolicy, ServiceClient
from tests.fakes import FakeTokens, no_wait


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def loopback_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/api"
    server.shutdown()
    server.server_close()


def _service(
    base_url: str,
    transport: httpx.AsyncBaseTransport | None,
) -> ServiceClient:
    return ServiceClient(
        system="bc",
        base_url=base_url,
        tokens=FakeTokens(),
        max_concurrency=1,
        retry=RetryPolicy(max_attempts=2, max_elapsed=5, jitter=0.0),
        transport=transport,
        sleep=no_wait,
    )


def test_a_client_built_before_any_loop_serves_two_loops_over_real_sockets(
    loopback_url: str,
) -> None:
    """Pooled connections of a finished loop are not reused by the next one."""
    client = _service(loopback_url, None)

    async def one() -> int:
        return (await client.request("GET", "companies")).status_code

    assert asyncio.run(one()) == 200
    assert asyncio.run(one()) == 200


def test_the_concurrency_cap_works_in_a_second_loop() -> None:
    """Requests queued at the cap in one loop, then in another, all complete."""

    async def answer(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        return httpx.Response(200, json={})

    client = _service("https://bc.test/api", httpx.MockTransport(answer))

    async def burst() -> list[int]:
        responses = await asyncio.gather(
            *(client.request("GET", f"r{n}") for n in range(3))
        )
        return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [200, 200, 200]
    assert asyncio.run(burst()) == [200, 200, 200]


class _CountingSource:
    """A token source whose tokens are due at once, so every caller takes the lock."""

    def __init__(self) -> None:
        self.calls = 0

    def acquire(self, scope: str, resource_setting: str) -> Mapping[str, Any]:
        self.calls += 1
        return {"access_token": f"t{self.calls}", "expires_in": 0}


def test_a_token_provider_serves_concurrent_callers_in_two_loops() -> None:
    """The provider's lock is not tied to the loop that first waited on it."""
    provider = MsalTokenProvider(
        _CountingSource(), "https://x/.default", resource_setting="X"
    )

    async def burst() -> list[str]:
        return list(await asyncio.gather(*(provider.get_token() for _ in range(3))))

    assert len(asyncio.run(burst())) == 3
    assert len(asyncio.run(burst())) == 3


class _LongLivedSource:
    """Hands out t1, t2, ... each valid for an hour."""

    def __init__(self) -> None:
        self.calls = 0

    def acquire(self, scope: str, resource_setting: str) -> Mapping[str, Any]:
        self.calls += 1
        return {"access_token": f"t{self.calls}", "expires_in": 3600}


async def test_concurrent_401s_share_one_token_refresh() -> None:
    """Ten requests refused with a revoked token cause one new acquisition, not ten."""
    source = _LongLivedSource()
    provider = MsalTokenProvider(source, "https://x/.default", resource_setting="X")
    await provider.get_token()

    async def answer(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        if request.headers["Authorization"] == "Bearer t1":
            return httpx.Response(401)
        return httpx.Response(200, json={})

    service = ServiceClient(
        system="bc",
        base_url="https://bc.test/api",
        tokens=provider,
        max_concurrency=5,
        transport=httpx.MockTransport(answer),
        sleep=no_wait,
    )
    async with service:
        responses = await asyncio.gather(
            *(service.request("GET", f"r{n}") for n in range(10))
        )

    assert [r.status_code for r in responses] == [200] * 10
    assert source.calls == 2
