"""Serving the emulators: loopback uvicorn servers and in-process transports."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from pointegration.emulators._asgi import Request, Response, json_response
from pointegration.emulators.faults import FaultPlan
from pointegration.emulators.limits import Limits
from pointegration.emulators.middleware import ServiceApp, ServiceMiddleware
from pointegration.emulators.server import (
    Emulators,
    build_emulators,
    client_for,
    listen,
    loopback_host,
    serve,
)
from pointegration.errors import ConfigurationError


class Recorder:
    """A stand-in emulator that records the writes it commits."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    async def handle(self, request: Request) -> Response:
        if request.method == "POST":
            self.writes.append(request.path)
            return json_response(201, {"id": len(self.writes)})
        return json_response(200, {"value": []})


# --- one server ---------------------------------------------------------------------


async def test_a_listener_serves_on_a_free_loopback_port() -> None:
    """Port 0 binds a free loopback port that answers HTTP."""
    middleware = ServiceMiddleware(Recorder().handle, service="bc")
    listener = await listen(ServiceApp(middleware, in_process=False))
    try:
        async with httpx.AsyncClient(base_url=listener.url) as client:
            response = await client.get("/v2.0/t/production/api/v2.0/companies")
    finally:
        await listener.stop()

    assert response.status_code == 200
    assert listener.url == f"http://127.0.0.1:{listener.port}"
    assert listener.port > 0


async def test_a_lost_response_over_http_commits_and_drops_the_connection() -> None:
    """Over a real socket, ``lost`` commits the write and closes without a reply."""
    recorder = Recorder()
    plan = FaultPlan.parse("bc:POST:*=lost")
    middleware = ServiceMiddleware(recorder.handle, service="bc", faults=plan)
    listener = await listen(ServiceApp(middleware, in_process=False))
    try:
        async with httpx.AsyncClient(base_url=listener.url) as client:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post("/v2.0/t/production/api/v2.0/companies(1)/customers")
            after = await client.get("/_admin/requests")
    finally:
        await listener.stop()

    assert recorder.writes == ["/v2.0/t/production/api/v2.0/companies(1)/customers"]
    assert after.json()["byFault"] == {"lost": 1}


async def test_a_held_timeout_is_answered_504_when_the_server_closes() -> None:
    """A request held by ``timeout`` gets 504 once the middleware closes."""
    holding = asyncio.Event()

    async def sleep(seconds: float) -> None:
        holding.set()
        await asyncio.Event().wait()

    plan = FaultPlan.parse("dv:GET:*=timeout")
    middleware = ServiceMiddleware(
        Recorder().handle, service="dataverse", faults=plan, sleep=sleep
    )
    listener = await listen(ServiceApp(middleware, in_process=False))
    try:
        async with httpx.AsyncClient(base_url=listener.url) as client:
            held = asyncio.create_task(client.get("/api/data/v9.2/accounts"))
            await holding.wait()
            waiting = held.done()
            await middleware.aclose()
            response = await held
    finally:
        await listener.stop()

    assert (waiting, response.status_code) == (False, 504)
    assert response.json()["error"]["message"] == "Gateway Timeout"


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("0.0.0.0", id="any-address"),  # noqa: S104 - refused, not bound
        pytest.param("192.168.1.10", id="lan-address"),
        pytest.param("example.com", id="host-name"),
    ],
)
def test_a_non_loopback_host_is_refused(host: str) -> None:
    """Only loopback addresses may be served; others raise ConfigurationError."""
    with pytest.raises(ConfigurationError, match="loopback only"):
        loopback_host(host)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("localhost", "127.0.0.1", id="localhost"),
        pytest.param("127.0.0.2", "127.0.0.2", id="other-loopback-v4"),
        pytest.param("::1", "::1", id="loopback-v6"),
    ],
)
def test_loopback_hosts_are_accepted(host: str, expected: str) -> None:
    """Loopback names and addresses are accepted as the address to bind."""
    assert loopback_host(host) == expected


async def test_a_port_in_use_is_a_configuration_error() -> None:
    """Binding a port another socket listens on raises ConfigurationError."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        app = ServiceApp(
            ServiceMiddleware(Recorder().handle, service="bc"), in_process=False
        )
        with pytest.raises(ConfigurationError, match=f"port {port}"):
            await listen(app, port=port)
    finally:
        taken.close()


# --- the real emulators -------------------------------------------------------------


def _bc_companies(emulators: Emulators) -> str:
    return f"/{emulators.tenant_id}/{emulators.environment}/api/v2.0/companies"


async def test_serve_answers_whoami_and_companies_over_http() -> None:
    """``serve`` puts both emulators on loopback, reachable with the token."""
    async with serve(seed=1) as running:
        info = running.connection_info()
        headers = {"authorization": f"Bearer {info['token']}"}
        async with httpx.AsyncClient(headers=headers) as client:
            whoami = await client.get(f"{info['dataverseUrl']}/api/data/v9.2/WhoAmI")
            companies = await client.get(
                f"{info['bcBaseUrl']}{_bc_companies(running.emulators)}"
            )
            anonymous = await client.get(
                f"{info['dataverseUrl']}/api/data/v9.2/WhoAmI",
                headers={"authorization": ""},
            )

    assert (whoami.status_code, companies.status_code, anonymous.status_code) == (
        200,
        200,
        401,
    )
    assert info["companyId"] in {c["id"] for c in companies.json()["value"]}
    assert info["bcBaseUrl"].endswith("/v2.0")


async def test_in_process_clients_reach_both_emulators() -> None:
    """``client_for`` reaches each emulator without a socket."""
    emulators = build_emulators(seed=2)
    company = f"{_bc_companies(emulators)}({emulators.company_id})"

    async with (
        client_for(emulators, "bc") as bc,
        client_for(emulators, "dataverse") as dv,
    ):
        customers = await bc.get(f"{company}/customers", params={"$top": "1"})
        accounts = await dv.get("/api/data/v9.2/accounts", params={"$top": "1"})

    assert (customers.status_code, accounts.status_code) == (200, 200)
    assert emulators.bc_service.recorder.total == 1


async def test_twenty_concurrent_bc_requests_never_exceed_five_in_flight() -> None:
    """With real limits, the BC emulator processes at most five requests at once."""
    gate = asyncio.Event()
    waiting = 0
    five_in = asyncio.Event()

    async def sleep(seconds: float) -> None:
        nonlocal waiting
        waiting += 1
        if waiting == 5:
            five_in.set()
        await gate.wait()

    emulators = build_emulators(seed=3, limits="real", latency_ms=1, sleep=sleep)
    company = f"{_bc_companies(emulators)}({emulators.company_id})"
    async with client_for(emulators, "bc") as bc:
        calls = [
            asyncio.create_task(bc.get(f"{company}/customers", params={"$top": "1"}))
            for _ in range(20)
        ]
        await five_in.wait()
        for _ in range(10):
            await asyncio.sleep(0)
        in_flight = emulators.bc_service.recorder.in_flight
        gate.set()
        responses = await asyncio.gather(*calls)

    assert (in_flight, emulators.bc_service.recorder.peak_in_flight) == (5, 5)
    assert [r.status_code for r in responses] == [200] * 20


async def test_a_lost_create_is_committed_in_both_real_emulators() -> None:
    """A ``lost`` create raises a transport error yet the record exists after."""
    emulators = build_emulators(
        seed=4, faults="bc:POST:/customers=lost,dv:POST:/accounts=lost"
    )
    company = f"{_bc_companies(emulators)}({emulators.company_id})"

    async with (
        client_for(emulators, "bc") as bc,
        client_for(emulators, "dataverse") as dv,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            await bc.post(
                f"{company}/customers", json={"number": "LOST-1", "displayName": "Lost"}
            )
        with pytest.raises(httpx.RemoteProtocolError):
            await dv.post("/api/data/v9.2/accounts", json={"name": "Lost account"})
        customers = await bc.get(
            f"{company}/customers", params={"$filter": "number eq 'LOST-1'"}
        )
        accounts = await dv.get(
            "/api/data/v9.2/accounts", params={"$filter": "name eq 'Lost account'"}
        )

    assert [c["displayName"] for c in customers.json()["value"]] == ["Lost"]
    assert [a["name"] for a in accounts.json()["value"]] == ["Lost account"]


async def test_the_real_bc_emulator_answers_429_past_a_scaled_rate() -> None:
    """With a small rate limit, the fourth BC request in the window gets 429."""
    now = [0.0]
    limits = Limits(concurrency=5, queue_size=95, queue_timeout_s=1, rate=3, window_s=6)
    emulators = build_emulators(seed=5, bc_limits=limits, clock=lambda: now[0])
    company = f"{_bc_companies(emulators)}({emulators.company_id})"

    async with client_for(emulators, "bc") as bc:
        statuses = []
        for _ in range(4):
            statuses.append((await bc.get(f"{company}/customers")).status_code)
            now[0] += 1
        throttled = await bc.get(f"{company}/customers")

    assert statuses == [200, 200, 200, 429]
    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "2")
