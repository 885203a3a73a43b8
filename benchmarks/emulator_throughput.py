"""Requests per second of each emulator, in-process, for one simple GET.

Usage: ``python benchmarks/emulator_throughput.py [--requests 2000]``.

Each emulator is called through ``httpx.ASGITransport`` behind its middleware
(limits off, no latency, no faults), one request after another: BC
``customers?$top=1`` and Dataverse ``accounts?$top=1``. A trivial handler behind
the same middleware shows the floor set by httpx, ASGI and the middleware. Prints
one JSON object: requests per second per target and the mean milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import httpx

from pointegration.emulators._asgi import Request, Response, json_response
from pointegration.emulators.faults import ServiceApp, ServiceMiddleware
from pointegration.emulators.server import build_emulators, client_for

_WARM_UP = 50


async def _rate(client: httpx.AsyncClient, path: str, count: int) -> dict[str, float]:
    params = {"$top": "1"}
    for _ in range(_WARM_UP):
        (await client.get(path, params=params)).raise_for_status()

    started = time.perf_counter()
    for _ in range(count):
        (await client.get(path, params=params)).raise_for_status()
    elapsed = time.perf_counter() - started

    return {
        "requestsPerSecond": round(count / elapsed, 1),
        "meanMs": round(elapsed / count * 1000, 3),
    }


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
        results = {
            "bc customers?$top=1": await _rate(bc, f"{company}/customers", count),
            "dataverse accounts?$top=1": await _rate(
                dataverse, "/api/data/v9.2/accounts", count
            ),
            "trivial handler (floor)": await _rate(trivial, "/anything", count),
        }

    return {"requests": count, "results": results}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    arguments = parser.parse_args()
    print(json.dumps(asyncio.run(main(arguments.requests)), indent=2))
