"""Requests per second of each emulator, in-process, for a read and a create.

Usage: ``python benchmarks/emulator_throughput.py [--requests 2000]``.

Each emulator is called through ``httpx.ASGITransport`` behind its middleware
(limits off, no latency, no faults), one request after another: BC
``customers?$top=1`` and a customer create, Dataverse ``accounts?$top=1`` and an
account create. A trivial handler behind
the same middleware shows the floor set by httpx, ASGI and the middleware. Prints
one JSON object: requests per second per target and the mean milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from pointegration.emulators._asgi import Request, Response, json_response
from pointegration.emulators.middleware import ServiceApp, ServiceMiddleware
from pointegration.emulators.server import build_emulators, client_for

_WARM_UP = 50


Send = Callable[[int], Awaitable[httpx.Response]]


async def _rate(send: Send, count: int) -> dict[str, float]:
    for n in range(_WARM_UP):
        (await send(-n - 1)).raise_for_status()

    started = time.perf_counter()
    for n in range(count):
        (await send(n)).raise_for_status()
    elapsed = time.perf_counter() - started

    return {
        "requestsPerSecond": round(count / elapsed, 1),
        "meanMs": round(elapsed / count * 1000, 3),
    }


def _reads(client: httpx.AsyncClient, path: str) -> Send:
    return lambda n: client.get(path, params={"$top": "1"})


def _creates(client: httpx.AsyncClient, path: str, body: Callable[[int], Any]) -> Send:
    return lambda n: client.post(path, json=body(n))


async def _trivial(request: Request) -> Response:
    return json_response(200, {"value": []})


async def main(count: int) -> dict[str, object]:
    """Measure the three targets; the JSON-ready results."""
    emulators = build_emulators(seed=0)
    company = (
        f"/{emulators.tenant_id}/{emulators.environment}/api/v2.0"
        f"/companies({emulators.company_id})"
    )
    floor = ServiceApp(ServiceMiddleware(_trivial, service="bc"), in_process=True)

    async with (
        client_for(emulators, "bc") as bc,
        client_for(emulators, "dataverse") as dataverse,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=floor), base_url="http://floor"
        ) as trivial,
    ):
        customers = f"{company}/customers"
        accounts = "/api/data/v9.2/accounts"
        results = {
            "bc GET customers?$top=1": await _rate(_reads(bc, customers), count),
            "bc POST customers": await _rate(
                _creates(bc, customers, lambda n: {"displayName": f"Customer {n}"}),
                count,
            ),
            "dataverse GET accounts?$top=1": await _rate(
                _reads(dataverse, accounts), count
            ),
            "dataverse POST accounts": await _rate(
                _creates(dataverse, accounts, lambda n: {"name": f"Account {n}"}),
                count,
            ),
            "trivial handler (floor)": await _rate(_reads(trivial, "/x"), count),
        }

    return {"requests": count, "results": results}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    arguments = parser.parse_args()
    print(json.dumps(asyncio.run(main(arguments.requests)), indent=2))
