"""Limits, faults and request recording in front of an emulator handler."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from pointegration._json import loads
from pointegration.emulators._asgi import Request, Response, json_response
from pointegration.emulators.faults import (
    FaultPlan,
    FaultRule,
    FaultSpecError,
    Service,
    parse_fault_spec,
)
from pointegration.emulators.limits import BC_LIMITS, DATAVERSE_LIMITS, Limits
from pointegration.emulators.middleware import (
    ServiceApp,
    ServiceMiddleware,
    route_template,
)

BC_CUSTOMERS = "/v2.0/tenant-1/production/api/v2.0/companies(c1)/customers"
BC_INVOICES = "/v2.0/tenant-1/production/api/v2.0/companies(c1)/salesInvoices"
TOKEN = "token-a"


class StubService:
    """An emulator stand-in: records writes; can hold requests until released."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.calls = 0
        self.active = 0
        self.peak = 0
        self.release = asyncio.Event()
        self.release.set()
        self.entered: asyncio.Event = asyncio.Event()
        self.enter_target = 0

    async def handle(self, request: Request) -> Response:
        self.calls += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        if self.active == self.enter_target:
            self.entered.set()
        try:
            await self.release.wait()
        finally:
            self.active -= 1
        if request.method == "POST":
            self.writes.append(request.path)
            return json_response(201, {"id": str(len(self.writes))})

        return json_response(200, {"value": []})

    def hold(self, until_active: int) -> None:
        """Hold requests until released; ``entered`` fires at ``until_active``."""
        self.release = asyncio.Event()
        self.entered = asyncio.Event()
        self.enter_target = until_active


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client_for(middleware: ServiceMiddleware, token: str = TOKEN) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=ServiceApp(middleware, in_process=True))
    return httpx.AsyncClient(
        transport=transport,
        base_url="http://emulator",
        headers={"authorization": f"Bearer {token}"},
    )


def middleware_for(
    stub: StubService,
    service: Service = "bc",
    *,
    limits: Limits | None = None,
    faults: str | None = None,
    seed: int = 0,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    latency_ms: float = 0.0,
) -> ServiceMiddleware:
    options: dict[str, object] = {}
    if clock is not None:
        options["clock"] = clock
    if sleep is not None:
        options["sleep"] = sleep
    return ServiceMiddleware(
        stub.handle,
        service=service,
        limits=limits,
        faults=FaultPlan.parse(faults, seed=seed),
        latency_ms=latency_ms,
        **options,  # type: ignore[arg-type]
    )


# --- the spec grammar -----------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            "bc:POST:/salesInvoices=lost:0.2",
            FaultRule("bc", "POST", "/salesInvoices", "lost", 0.2),
            id="lost-with-probability",
        ),
        pytest.param(
            "dv:*:*=503:5%",
            FaultRule("dataverse", None, "*", "status", 0.05, status=503),
            id="status-with-percentage",
        ),
        pytest.param(
            "*:get:/accounts(*)=latency:200ms",
            FaultRule(None, "GET", "/accounts(*)", "latency", 1.0, latency_s=0.2),
            id="latency-always",
        ),
        pytest.param(
            "bc:PATCH:*=latency:1.5s:0.5",
            FaultRule("bc", "PATCH", "*", "latency", 0.5, latency_s=1.5),
            id="latency-in-seconds-with-probability",
        ),
        pytest.param(
            " bc:*:* = timeout ",
            FaultRule("bc", None, "*", "timeout", 1.0),
            id="spaces-ignored",
        ),
    ],
)
def test_a_rule_parses_to_its_fields(spec: str, expected: FaultRule) -> None:
    """Each rule form of the grammar parses to the fields it names."""
    assert [expected] == parse_fault_spec(spec)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        pytest.param("bc:GET=lost", "expected SERVICE:METHOD:PATH=FAULT", id="no-path"),
        pytest.param("xx:GET:*=lost", "unknown service 'xx'", id="unknown-service"),
        pytest.param("bc:FETCH:*=lost", "unknown method 'FETCH'", id="unknown-method"),
        pytest.param("bc:GET:customers=lost", "must start with / or *", id="bad-path"),
        pytest.param("bc:GET:*=418", "unknown fault '418'", id="unknown-status"),
        pytest.param("bc:GET:*=latency", "needs a duration", id="latency-no-duration"),
        pytest.param("bc:GET:*=latency:200", "needs a duration", id="latency-no-unit"),
        pytest.param("bc:GET:*=lost:1.5", "cannot exceed 1", id="probability-too-big"),
        pytest.param("bc:GET:*=lost:often", "such as 0.2", id="probability-not-number"),
        pytest.param("bc:GET:*=lost,", "fault rule 2", id="trailing-comma"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_rule(spec: str, fragment: str) -> None:
    """A spec off the grammar raises FaultSpecError saying which rule and why."""
    with pytest.raises(FaultSpecError) as caught:
        parse_fault_spec(spec)

    assert fragment in str(caught.value)


def test_an_empty_spec_has_no_rules() -> None:
    """An empty or blank spec means no faults."""
    assert parse_fault_spec("  ") == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(
            "/v2.0/0f6d-tenant/production/api/v2.0/companies(8f2e)/salesInvoices",
            "/v2.0/{tenant}/{environment}/api/v2.0/companies({id})/salesInvoices",
            id="bc-tenant-environment-company",
        ),
        pytest.param(
            "/v2.0/sandbox/api/pobc/integration/v1.0/companies(1)/postCodes(2)",
            "/v2.0/{environment}/api/pobc/integration/v1.0/companies({id})/postCodes({id})",
            id="bc-without-tenant",
        ),
        pytest.param(
            "/api/data/v9.2/accounts(name='a(b)''c')/contact_customer_accounts",
            "/api/data/v9.2/accounts({id})/contact_customer_accounts",
            id="dataverse-quoted-key",
        ),
        pytest.param(
            "/api/data/v9.2/WhoAmI", "/api/data/v9.2/WhoAmI", id="dataverse-function"
        ),
        pytest.param(
            "/hooks/3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "/hooks/{id}",
            id="bare-guid-segment",
        ),
    ],
)
def test_route_templates_hide_ids(path: str, expected: str) -> None:
    """Route templates replace keys, GUIDs, tenant and environment."""
    assert expected == route_template(path)


# --- drawing faults ---------------------------------------------------------------


def _outcomes(plan: FaultPlan, count: int) -> list[str | None]:
    route = route_template(BC_INVOICES)
    draws = [plan.draw("bc", "POST", route) for _ in range(count)]
    return [None if d.outcome is None else d.outcome.name for d in draws]


def test_the_same_seed_draws_the_same_faults() -> None:
    """Two plans with one seed and spec fault the same requests of a sequence."""
    spec = "bc:POST:/salesInvoices=lost:0.3,bc:*:*=503:0.3"

    first = _outcomes(FaultPlan.parse(spec, seed=7), 200)
    second = _outcomes(FaultPlan.parse(spec, seed=7), 200)

    assert first == second
    assert {None, "lost", "503"} == set(first)


def test_another_seed_draws_other_faults() -> None:
    """A different seed faults a different set of requests."""
    spec = "bc:POST:/salesInvoices=lost:0.3"

    assert _outcomes(FaultPlan.parse(spec, seed=1), 200) != _outcomes(
        FaultPlan.parse(spec, seed=2), 200
    )


def test_probability_is_roughly_honoured() -> None:
    """A 20% rule faults about a fifth of a long sequence."""
    outcomes = _outcomes(FaultPlan.parse("bc:*:*=lost:20%", seed=3), 2000)

    assert 320 < outcomes.count("lost") < 480


def test_adding_a_rule_keeps_the_draws_of_earlier_rules() -> None:
    """A rule appended to a spec leaves the faults the earlier rules drew."""
    before = _outcomes(FaultPlan.parse("bc:*:*=lost:0.3", seed=5), 100)
    after = _outcomes(FaultPlan.parse("bc:*:*=lost:0.3,bc:*:*=503:0.3", seed=5), 100)

    assert [i for i, o in enumerate(before) if o] == [
        i for i, o in enumerate(after) if o == "lost"
    ]


def test_rules_match_the_end_of_the_route() -> None:
    """``/salesInvoices`` matches the collection, not its items."""
    plan = FaultPlan.parse("bc:*:/salesInvoices=500")

    collection = plan.draw("bc", "GET", route_template(BC_INVOICES))
    item = plan.draw("bc", "GET", route_template(BC_INVOICES + "(9)"))
    other_service = plan.draw("dataverse", "GET", route_template(BC_INVOICES))

    assert (
        collection.outcome and collection.outcome.name,
        item.outcome,
        other_service.outcome,
    ) == ("500", None, None)


# --- faults through the middleware --------------------------------------------------


@pytest.mark.parametrize(
    ("service", "status", "code", "retry_after"),
    [
        pytest.param("bc", 503, "Unknown", "1", id="bc-503-retry-after"),
        pytest.param("bc", 500, "Internal_ServerError", None, id="bc-500"),
        pytest.param("bc", 429, "Application_TooManyRequests", "1", id="bc-429"),
        pytest.param("dataverse", 429, "0x80072322", "1", id="dataverse-429"),
        pytest.param("dataverse", 502, "", None, id="dataverse-502"),
    ],
)
async def test_status_faults_answer_in_the_service_shape(
    service: Service, status: int, code: str, retry_after: str | None
) -> None:
    """A status fault answers the service's error body and never calls it."""
    stub = StubService()
    spec = f"{'bc' if service == 'bc' else 'dv'}:*:*={status}"
    async with client_for(middleware_for(stub, service, faults=spec)) as client:
        response = await client.get("/anything")

    error = response.json()["error"]
    assert (status, code, retry_after, 0) == (
        response.status_code,
        error["code"],
        response.headers.get("retry-after"),
        stub.calls,
    )
    assert ("CorrelationId:" in error["message"]) is (service == "bc")


async def test_a_lost_response_commits_the_write_and_drops_the_reply() -> None:
    """``lost`` runs the handler, then the client sees a transport error."""
    stub = StubService()
    middleware = middleware_for(stub, faults="bc:POST:/salesInvoices=lost")

    async with client_for(middleware) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(BC_INVOICES, json={"customerNumber": "C1"})

    record = middleware.recorder.log[-1]
    assert (stub.writes, record.status, record.fault) == ([BC_INVOICES], 201, "lost")


async def test_a_timeout_in_process_raises_read_timeout_without_calling() -> None:
    """``timeout`` in-process surfaces as httpx.ReadTimeout; the write never runs."""
    stub = StubService()
    middleware = middleware_for(stub, "dataverse", faults="dv:POST:*=timeout")

    async with client_for(middleware) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/api/data/v9.2/accounts", json={"name": "A"})

    assert (
        stub.writes,
        middleware.recorder.log[-1].status,
        middleware.recorder.log[-1].fault,
    ) == ([], 504, "timeout")


async def test_latency_adds_the_fixed_and_the_drawn_delays() -> None:
    """``--latency-ms`` and every latency rule that fires add up in one wait."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    stub = StubService()
    spec = "bc:*:*=latency:200ms,bc:GET:*=latency:1s"
    middleware = middleware_for(stub, faults=spec, sleep=sleep, latency_ms=50)
    async with client_for(middleware) as client:
        response = await client.get(BC_CUSTOMERS)

    assert response.status_code == 200
    assert waits == [pytest.approx(1.25)]
    assert middleware.recorder.log[-1].fault == "latency+latency"


# --- limits -------------------------------------------------------------------


async def test_bc_processes_at_most_five_requests_at_once() -> None:
    """Twenty concurrent BC requests never have more than five in flight."""
    stub = StubService()
    stub.hold(until_active=5)
    middleware = middleware_for(stub, limits=BC_LIMITS)

    async with client_for(middleware) as client:
        requests = [asyncio.create_task(client.get(BC_CUSTOMERS)) for _ in range(20)]
        await stub.entered.wait()
        for _ in range(5):
            await asyncio.sleep(0)
        held = (middleware.recorder.in_flight, stub.active)
        stub.release.set()
        responses = await asyncio.gather(*requests)

    assert (held, middleware.recorder.peak_in_flight, stub.peak) == ((5, 5), 5, 5)
    assert [r.status_code for r in responses] == [200] * 20


async def test_bc_refuses_past_the_queue_at_once() -> None:
    """With every slot and queue place taken, the next BC request gets 429."""
    stub = StubService()
    stub.hold(until_active=2)
    limits = Limits(
        concurrency=2, queue_size=3, queue_timeout_s=480, rate=100, window_s=300
    )
    middleware = middleware_for(stub, limits=limits)

    async with client_for(middleware) as client:
        waiting = [asyncio.create_task(client.get(BC_CUSTOMERS)) for _ in range(5)]
        await stub.entered.wait()
        refused = await client.get(BC_CUSTOMERS)
        stub.release.set()
        served = await asyncio.gather(*waiting)

    assert (
        refused.status_code,
        refused.json()["error"]["code"],
    ) == (429, "Application_TooManyRequests")
    assert "Actual (6). Maximum (5)." in refused.json()["error"]["message"]
    assert [r.status_code for r in served] == [200] * 5


async def test_bc_answers_503_to_a_request_queued_too_long() -> None:
    """A BC request still queued when the queue timeout passes gets 503."""
    timer = asyncio.Event()

    async def sleep(seconds: float) -> None:
        await timer.wait()

    stub = StubService()
    stub.hold(until_active=1)
    limits = Limits(
        concurrency=1, queue_size=5, queue_timeout_s=480, rate=100, window_s=300
    )
    middleware = middleware_for(stub, limits=limits, sleep=sleep)

    async with client_for(middleware) as client:
        first = asyncio.create_task(client.get(BC_CUSTOMERS))
        await stub.entered.wait()
        queued = asyncio.create_task(client.get(BC_CUSTOMERS))
        for _ in range(5):
            await asyncio.sleep(0)
        timer.set()
        late = await queued
        stub.release.set()
        await first

    assert (late.status_code, late.headers["retry-after"], stub.calls) == (503, "1", 1)


async def test_closing_ends_the_wait_of_queued_requests() -> None:
    """``aclose`` answers queued requests 503 instead of leaving them waiting."""
    stub = StubService()
    stub.hold(until_active=1)
    limits = Limits(
        concurrency=1, queue_size=5, queue_timeout_s=480, rate=100, window_s=300
    )
    middleware = middleware_for(stub, limits=limits)

    async with client_for(middleware) as client:
        first = asyncio.create_task(client.get(BC_CUSTOMERS))
        await stub.entered.wait()
        queued = asyncio.create_task(client.get(BC_CUSTOMERS))
        for _ in range(5):
            await asyncio.sleep(0)
        await middleware.aclose()
        late = await queued
        stub.release.set()
        await first

    assert late.status_code == 503


async def test_bc_rate_limit_answers_429_with_retry_after() -> None:
    """Past the requests allowed per window, BC answers 429 until the window slides."""
    clock = FakeClock()
    stub = StubService()
    limits = Limits(
        concurrency=5, queue_size=95, queue_timeout_s=480, rate=3, window_s=10
    )
    middleware = middleware_for(stub, limits=limits, clock=clock)

    async with client_for(middleware) as client:
        allowed = []
        for _ in range(3):
            allowed.append((await client.get(BC_CUSTOMERS)).status_code)
            clock.now += 2
        throttled = await client.get(BC_CUSTOMERS)
        clock.now += 4.5
        again = await client.get(BC_CUSTOMERS)

    assert (
        allowed,
        throttled.status_code,
        throttled.headers["retry-after"],
        again.status_code,
    ) == ([200, 200, 200], 429, "4", 200)
    assert throttled.json()["error"]["code"] == "Application_TooManyRequests"


async def test_limits_are_per_user() -> None:
    """One user's exhausted rate does not throttle another token."""
    stub = StubService()
    limits = Limits(
        concurrency=5, queue_size=95, queue_timeout_s=480, rate=1, window_s=300
    )
    middleware = middleware_for(stub, limits=limits, clock=FakeClock())

    async with (
        client_for(middleware, "user-a") as a,
        client_for(middleware, "user-b") as b,
    ):
        statuses = [
            (await a.get(BC_CUSTOMERS)).status_code,
            (await a.get(BC_CUSTOMERS)).status_code,
            (await b.get(BC_CUSTOMERS)).status_code,
        ]

    assert statuses == [200, 429, 200]


async def test_dataverse_refuses_the_53rd_concurrent_request_at_once() -> None:
    """With 52 requests in flight, the 53rd gets 429 at once, not a queue place."""
    stub = StubService()
    stub.hold(until_active=52)
    middleware = middleware_for(stub, "dataverse", limits=DATAVERSE_LIMITS)

    async with client_for(middleware) as client:
        url = "/api/data/v9.2/accounts"
        held = [asyncio.create_task(client.get(url)) for _ in range(52)]
        await stub.entered.wait()
        refused = await client.get(url)
        stub.release.set()
        served = await asyncio.gather(*held)

    assert (
        refused.status_code,
        refused.json()["error"]["code"],
        refused.json()["error"]["message"],
    ) == (
        429,
        "0x80072326",
        "Number of concurrent requests exceeded the limit of 52.",
    )
    assert "retry-after" in refused.headers
    assert ([r.status_code for r in served], stub.peak) == ([200] * 52, 52)


async def test_dataverse_rate_limit_uses_the_documented_error() -> None:
    """Past the request rate, Dataverse answers 429 with code 0x80072322."""
    clock = FakeClock()
    limits = DATAVERSE_LIMITS.scaled(0.01)
    limits = Limits(limits.concurrency, 0, 0.0, 2, limits.window_s)
    middleware = middleware_for(StubService(), "dataverse", limits=limits, clock=clock)

    async with client_for(middleware) as client:
        for _ in range(2):
            await client.get("/api/data/v9.2/accounts")
        throttled = await client.get("/api/data/v9.2/accounts")

    assert (
        throttled.status_code,
        throttled.json()["error"]["code"],
        throttled.headers["retry-after"],
    ) == (429, "0x80072322", "3")
    assert (
        throttled.json()["error"]["message"]
        == "Number of requests exceeded the limit of 2 over time window of 3 seconds."
    )


def test_scaling_shortens_every_window() -> None:
    """``scaled`` multiplies the rate window and the queue timeout only."""
    assert Limits(5, 95, 4.8, 6000, 3.0) == BC_LIMITS.scaled(0.01)


# --- recording and admin routes ---------------------------------------------------


async def test_admin_routes_are_never_limited_faulted_or_counted() -> None:
    """Admin routes pass through even when every service request is refused."""
    stub = StubService()
    limits = Limits(
        concurrency=5, queue_size=0, queue_timeout_s=0, rate=1, window_s=300
    )
    middleware = middleware_for(
        stub, limits=limits, faults="*:*:*=500", clock=FakeClock()
    )

    async with client_for(middleware) as client:
        service = [(await client.get(BC_CUSTOMERS)).status_code for _ in range(2)]
        admin = (await client.post("/_admin/bc/payments", json={})).status_code
        counts = (await client.get("/_admin/requests")).json()

    assert (service, admin, counts["total"]) == ([500, 429], 201, 2)
    assert counts["byStatus"] == {"500": 1, "429": 1}


async def test_the_request_log_counts_routes_and_masks_secrets() -> None:
    """``GET /_admin/requests`` counts by route template and hides query secrets."""
    stub = StubService()
    middleware = middleware_for(stub, faults="bc:POST:*=lost")

    async with client_for(middleware) as client:
        await client.get(BC_CUSTOMERS + "?$top=1&code=s3cr3t")
        await client.get(BC_CUSTOMERS.replace("(c1)", "(c2)"))
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(BC_INVOICES, json={})
        snapshot = (await client.get("/_admin/requests")).json()

    template = "/v2.0/{tenant}/{environment}/api/v2.0/companies({id})"
    assert {
        f"GET {template}/customers": 2,
        f"POST {template}/salesInvoices": 1,
    } == snapshot["byRoute"]
    assert (
        snapshot["byStatus"],
        snapshot["byFault"],
    ) == ({"200": 2, "201": 1}, {"lost": 1})
    assert snapshot["log"][0]["path"] == BC_CUSTOMERS + "?$top=1&code=***"
    assert "s3cr3t" not in str(snapshot)


async def test_reset_clears_counts_and_log() -> None:
    """``POST /_admin/requests/reset`` answers 204 and starts the counts again."""
    middleware = middleware_for(StubService())

    async with client_for(middleware) as client:
        await client.get(BC_CUSTOMERS)
        reset = await client.post("/_admin/requests/reset")
        wrong_method = await client.delete("/_admin/requests")
        snapshot = loads((await client.get("/_admin/requests")).content)

    assert (
        reset.status_code,
        wrong_method.status_code,
        snapshot["total"],
        snapshot["log"],
    ) == (204, 405, 0, [])
