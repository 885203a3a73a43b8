"""Limits, faults and request recording in front of an emulator's handler.

:class:`ServiceMiddleware` wraps one emulator's ``handler(request) -> Response``.
For every service request (any path outside ``/_admin/``) it, in this order:

1. records it in a :class:`RequestRecorder` (counts per route template, status
   and fault; a bounded log; current and peak requests in flight);
2. applies the service's per-user :class:`Limits` when given (the user is the
   bearer token, kept only as a hash);
3. sleeps the fixed latency plus the latency faults drawn for the request;
4. answers with the fault drawn from the :class:`FaultPlan`, or calls the emulator.

Admin routes are never limited, faulted or counted. They pass to the emulator,
except two answered here: ``GET /_admin/requests`` (the counts and the log as
JSON) and ``POST /_admin/requests/reset`` (204; counts, log and peak cleared).

Fault spec grammar (``--faults``)::

    spec        = rule *("," rule)
    rule        = service ":" method ":" path "=" fault
    service     = "bc" | "dv" | "*"
    method      = "GET" | "POST" | "PATCH" | "PUT" | "DELETE" | "*"
    path        = glob compared with the end of the route template, e.g.
                  "/salesInvoices", "/accounts(*)", "*"
    fault       = "latency:" duration [":" probability]
                | ("429" | "500" | "502" | "503" | "504") [":" probability]
                | ("timeout" | "lost") [":" probability]
    duration    = integer "ms" | number "s"
    probability = number from 0 to 1, or number "%"; 1 when left out

Example: ``bc:POST:/salesInvoices=lost:0.2,dv:*:*=503:5%,bc:*:*=latency:200ms``.
The route template is the path with every key segment written ``({id})`` and,
for BC, the tenant and environment written ``{tenant}`` and ``{environment}``:
``/v2.0/{tenant}/{environment}/api/v2.0/companies({id})/salesInvoices``.
A path pattern matches when it matches the whole template or its end, so
``/salesInvoices`` matches that template and ``/salesInvoices*`` also matches
``.../salesInvoices({id})``. ``*`` in a pattern matches any text, ``/`` too.

Every latency rule that fires adds its delay; of the other rules, the first one
that fires decides the outcome. Each rule draws its own number from a hash of the
seed, the rule's position, the route key (service, method, template) and how many
requests that route key has seen, so the same seed, spec and request sequence give
the same faults, and adding a rule leaves the draws of the others unchanged.

What the client sees:

- ``5xx`` and ``429``: the service's error body; ``429`` and ``503`` carry
  ``Retry-After: 1``. The emulator is not called.
- ``timeout``: no response. Over a real server the request is held until the
  client goes away, the server stops, or the hold (600 s by default) ends with a
  504; in-process (:class:`ServiceApp` with ``in_process=True``) the client gets
  ``httpx.ReadTimeout`` at once, since ``httpx.ASGITransport`` applies no
  timeouts. The emulator is not called.
- ``lost``: the emulator runs (the write commits) and the response never
  arrives. Over a real server the connection is aborted; in-process the client
  gets ``httpx.RemoteProtocolError``.

Limitation: dropping a connection uses the uvicorn connection's transport, which
uvicorn exposes only as the ``transport`` of the object behind ``send``; if it is
missing, the response is started and never finished, which uvicorn turns into a
closed connection (the client sees the status line first, then the close).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any, Literal

import httpx

from pointegration.emulators._asgi import (
    Handler,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    _lifespan,
    _read_request,
    json_response,
)
from pointegration.errors import ConfigurationError

__all__ = [
    "BC_LIMITS",
    "DATAVERSE_LIMITS",
    "FaultDraw",
    "FaultPlan",
    "FaultRule",
    "FaultSpecError",
    "Limits",
    "RequestRecord",
    "RequestRecorder",
    "ResponseLost",
    "ResponseWithheld",
    "Service",
    "ServiceApp",
    "ServiceMiddleware",
    "parse_fault_spec",
    "route_template",
    "service_error",
]

Service = Literal["dataverse", "bc"]
FaultKind = Literal["latency", "status", "timeout", "lost"]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_ADMIN_PREFIX = "/_admin/"
_REQUESTS_ROUTE = "/_admin/requests"
_RESET_ROUTE = "/_admin/requests/reset"
_DEFAULT_HOLD_S = 600.0
_FAULT_RETRY_AFTER_S = 1


# --- limits -----------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """One service's limits per user.

    ``concurrency`` requests are processed at once; up to ``queue_size`` more
    wait for a slot (0: the next one is refused at once) and one that waits
    longer than ``queue_timeout_s`` seconds gets 503. At most ``rate`` requests
    are admitted per sliding window of ``window_s`` seconds; the next gets 429
    with ``Retry-After`` (whole seconds until the window admits again).
    """

    concurrency: int
    queue_size: int
    queue_timeout_s: float
    rate: int
    window_s: float

    def scaled(self, time_scale: float) -> Limits:
        """The same limits with every duration multiplied by ``time_scale``."""
        return replace(
            self,
            queue_timeout_s=self.queue_timeout_s * time_scale,
            window_s=self.window_s * time_scale,
        )


BC_LIMITS = Limits(
    concurrency=5, queue_size=95, queue_timeout_s=480.0, rate=6000, window_s=300.0
)
"""BC online, OData per user (reference/businesscentral.md §5)."""

DATAVERSE_LIMITS = Limits(
    concurrency=52, queue_size=0, queue_timeout_s=0.0, rate=6000, window_s=300.0
)
"""Dataverse service protection, per user (reference/dataverse.md §3).

Limitation: the combined execution time limit (20 minutes per 300 s) is not
emulated.
"""


@dataclass
class _UserGate:
    """One user's slots in use, queue of waiters and admission times."""

    in_flight: int = 0
    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)
    admitted: deque[float] = field(default_factory=deque)

    def release(self) -> None:
        """Give a slot to the first live waiter, or free it."""
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.in_flight -= 1


class _Limiter:
    """Concurrency, queue and sliding-window rate for each user of one service."""

    def __init__(
        self,
        service: Service,
        limits: Limits,
        *,
        clock: Clock,
        sleep: Sleep,
        closing: asyncio.Event,
    ) -> None:
        self._service = service
        self._limits = limits
        self._clock = clock
        self._sleep = sleep
        self._closing = closing
        self._gates: dict[str, _UserGate] = {}

    async def acquire(self, user: str) -> Response | None:
        """Take a slot for ``user``, waiting in the queue if there is one.

        Returns ``None`` once the slot is held (call :meth:`release` after), or
        the refusal to answer instead.
        """
        gate = self._gates.setdefault(user, _UserGate())
        refusal = self._check_rate(gate)
        if refusal is not None:
            return refusal
        if gate.in_flight < self._limits.concurrency:
            gate.in_flight += 1
            gate.admitted.append(self._clock())
            return None
        if len(gate.waiting) >= self._limits.queue_size:
            return self._busy()

        gate.admitted.append(self._clock())
        return await self._wait_in_queue(gate)

    def release(self, user: str) -> None:
        """Give ``user``'s slot to the first waiting request, or free it."""
        self._gates[user].release()

    def _check_rate(self, gate: _UserGate) -> Response | None:
        now = self._clock()
        window = self._limits.window_s
        while gate.admitted and gate.admitted[0] <= now - window:
            gate.admitted.popleft()
        if len(gate.admitted) < self._limits.rate:
            return None
        retry_after = max(1, math.ceil(gate.admitted[0] + window - now))
        if self._service == "bc":
            text = (
                f"Too many requests reached. The limit is {self._limits.rate} "
                f"requests over {window:g} seconds."
            )
            return service_error("bc", 429, text, retry_after=retry_after)
        text = (
            f"Number of requests exceeded the limit of {self._limits.rate} "
            f"over time window of {window:g} seconds."
        )

        return service_error(
            "dataverse", 429, text, code="0x80072322", retry_after=retry_after
        )

    def _busy(self) -> Response:
        limits = self._limits
        if self._service == "dataverse":
            text = (
                "Number of concurrent requests exceeded the limit of "
                f"{limits.concurrency}."
            )
            return service_error(
                "dataverse", 429, text, code="0x80072326", retry_after=1
            )
        maximum = limits.concurrency + limits.queue_size
        text = (
            f"Too many requests reached. Actual ({maximum + 1}). Maximum ({maximum})."
        )

        return service_error("bc", 429, text, retry_after=1)

    async def _wait_in_queue(self, gate: _UserGate) -> Response | None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        gate.waiting.append(waiter)
        try:
            await _race(
                waiter,
                self._sleep(self._limits.queue_timeout_s),
                self._closing.wait(),
            )
        except asyncio.CancelledError:
            self._leave_queue(gate, waiter)
            raise
        if waiter.done():
            return None

        self._leave_queue(gate, waiter)
        return service_error(
            self._service, 503, "Service Temporarily Unavailable", retry_after=1
        )

    def _leave_queue(self, gate: _UserGate, waiter: asyncio.Future[None]) -> None:
        if waiter.done() and not waiter.cancelled():
            gate.release()  # the slot was handed over just as the request gave up
            return
        waiter.cancel()
        gate.waiting.remove(waiter)


# --- error bodies -------------------------------------------------------------

_BC_CODES = {429: "Application_TooManyRequests", 500: "Internal_ServerError"}
_DATAVERSE_CODES = {429: "0x80072322", 500: "0x80040216"}
_REASONS = {
    429: "Too many requests.",
    500: "An unexpected error occurred.",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Timeout",
}


def service_error(
    service: Service,
    status: int,
    message: str | None = None,
    *,
    code: str | None = None,
    retry_after: int | None = None,
) -> Response:
    """An error response with the service's body shape.

    BC: ``{"error": {"code", "message"}}`` with the message ending in
    ``  CorrelationId:  <guid>.``; ``Application_TooManyRequests`` for 429
    (Limitation: not in Microsoft's catalogue of BC error codes; it is the code
    seen in published BC throttling responses), ``Internal_ServerError`` for 500
    and ``Unknown`` (the catalogue's catch-all) for 502, 503 and 504.
    Dataverse: the same shape with a hex code: ``0x80072322`` (request rate)
    for 429, ``0x80040216`` (unexpected error) for 500 and an empty code, as the
    gateway often sends, for 502, 503 and 504.
    """
    text = message if message is not None else _REASONS.get(status, "Error")
    headers = {"retry-after": str(retry_after)} if retry_after is not None else None
    if service == "bc":
        text = f"{text}  CorrelationId:  {uuid.uuid4()}."
        code = code or _BC_CODES.get(status, "Unknown")
    else:
        code = code if code is not None else _DATAVERSE_CODES.get(status, "")

    return json_response(status, {"error": {"code": code, "message": text}}, headers)


# --- faults ---------------------------------------------------------------------


class FaultSpecError(ConfigurationError):
    """A fault spec that does not follow the grammar; the message names the rule."""

    default_code = "invalid_fault_spec"


@dataclass(frozen=True)
class FaultRule:
    """One rule of a fault spec; ``service`` and ``method`` ``None`` match all."""

    service: Service | None
    method: str | None
    path: str
    kind: FaultKind
    probability: float
    latency_s: float = 0.0
    status: int = 0

    @property
    def name(self) -> str:
        """How the request log names this fault: ``lost``, ``503``, ``latency``."""
        if self.kind == "status":
            return str(self.status)
        return self.kind

    def matches(self, service: Service, method: str, route: str) -> bool:
        """Whether a request to ``route`` falls under this rule."""
        if self.service is not None and self.service != service:
            return False
        if self.method is not None and self.method != method:
            return False

        return self.path == "*" or fnmatchcase(route, "*" + self.path)


@dataclass(frozen=True)
class FaultDraw:
    """What the plan drew for one request: total latency and the outcome rule."""

    latency_s: float = 0.0
    outcome: FaultRule | None = None
    names: tuple[str, ...] = ()


class FaultPlan:
    """Rules plus a seed; draws each request's faults deterministically."""

    def __init__(self, rules: Sequence[FaultRule] = (), *, seed: int = 0) -> None:
        self.rules = tuple(rules)
        self.seed = seed
        self._seen: Counter[str] = Counter()

    @classmethod
    def parse(cls, spec: str | None, *, seed: int = 0) -> FaultPlan:
        """A plan from a spec (see the module docstring); ``FaultSpecError``."""
        return cls(parse_fault_spec(spec or ""), seed=seed)

    def draw(self, service: Service, method: str, route: str) -> FaultDraw:
        """The faults of the next request to ``method route`` on ``service``."""
        key = f"{service} {method} {route}"
        nth = self._seen[key]
        self._seen[key] += 1

        latency = 0.0
        outcome: FaultRule | None = None
        names: list[str] = []
        for index, rule in enumerate(self.rules):
            if outcome is not None and rule.kind != "latency":
                continue
            if not rule.matches(service, method, route):
                continue
            if _uniform(self.seed, index, key, nth) >= rule.probability:
                continue
            names.append(rule.name)
            if rule.kind == "latency":
                latency += rule.latency_s
            else:
                outcome = rule

        return FaultDraw(latency, outcome, tuple(names))


def _uniform(seed: int, index: int, key: str, nth: int) -> float:
    digest = hashlib.blake2b(
        f"{seed}\x00{index}\x00{key}\x00{nth}".encode(), digest_size=8
    ).digest()

    return int.from_bytes(digest, "big") / 2**64


_SERVICES: dict[str, Service | None] = {"bc": "bc", "dv": "dataverse", "*": None}
_METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE", "*"}
_STATUSES = {"429", "500", "502", "503", "504"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s)")
_PROBABILITY = re.compile(r"(\d+(?:\.\d+)?)(%?)")


def parse_fault_spec(spec: str) -> list[FaultRule]:
    """The rules of ``spec``; an empty spec has none. Raises ``FaultSpecError``."""
    if not spec.strip():
        return []

    rules: list[FaultRule] = []
    for position, text in enumerate(spec.split(","), start=1):
        try:
            rules.append(_parse_rule(text.strip()))
        except ValueError as exc:
            raise FaultSpecError(
                f"fault rule {position} {text.strip()!r}: {exc}"
            ) from None

    return rules


def _parse_rule(text: str) -> FaultRule:
    where, equals, fault = text.partition("=")
    parts = [part.strip() for part in where.split(":", 2)]
    if not equals or len(parts) != 3:
        raise ValueError("expected SERVICE:METHOD:PATH=FAULT")
    service_text, method_text, path = parts
    if service_text.lower() not in _SERVICES:
        raise ValueError(f"unknown service {service_text!r} (use bc, dv or *)")
    method = method_text.upper()
    if method not in _METHODS:
        raise ValueError(f"unknown method {method_text!r}")
    if not path.startswith(("/", "*")):
        raise ValueError("the path must start with / or *")

    service = _SERVICES[service_text.lower()]
    return _parse_fault(fault.strip(), service, None if method == "*" else method, path)


def _parse_fault(
    text: str, service: Service | None, method: str | None, path: str
) -> FaultRule:
    kind, _, rest = text.lower().partition(":")
    if kind == "latency":
        duration, _, chance = rest.partition(":")
        return FaultRule(
            service,
            method,
            path,
            "latency",
            _probability(chance),
            latency_s=_duration(duration),
        )
    if kind in _STATUSES:
        return FaultRule(
            service, method, path, "status", _probability(rest), status=int(kind)
        )
    if kind in ("timeout", "lost"):
        fault_kind: FaultKind = "timeout" if kind == "timeout" else "lost"
        return FaultRule(service, method, path, fault_kind, _probability(rest))

    raise ValueError(
        f"unknown fault {kind!r} (use latency:DURATION, 429, 500, 502, 503, "
        "504, timeout or lost)"
    )


def _duration(text: str) -> float:
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"latency needs a duration such as 200ms or 1.5s, not {text!r}"
        )
    value = float(match[1])

    return value / 1000 if match[2] == "ms" else value


def _probability(text: str) -> float:
    if not text.strip():
        return 1.0
    match = _PROBABILITY.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"a probability is a number such as 0.2 or 20%, not {text!r}")
    value = float(match[1]) / (100 if match[2] else 1)
    if value > 1:
        raise ValueError(f"a probability cannot exceed 1 (100%), got {text!r}")

    return value


# --- request recording --------------------------------------------------------

_KEY_SEGMENT = re.compile(r"\((?:'(?:[^']|'')*'|[^()'])*\)")
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_SECRET_PARAMETERS = {
    "code",
    "sig",
    "token",
    "access_token",
    "client_secret",
    "key",
    "secret",
    "password",
}


def route_template(path: str) -> str:
    """``path`` with ids replaced: keys ``({id})``, BC tenant and environment."""
    segments = _KEY_SEGMENT.sub("({id})", path).split("/")
    if len(segments) > 4 and segments[1] == "v2.0":
        if segments[4] == "api":
            segments[2:4] = ["{tenant}", "{environment}"]
        elif segments[3] == "api":
            segments[2] = "{environment}"

    return "/".join("{id}" if _GUID.fullmatch(s) else s for s in segments)


def _target(request: Request) -> str:
    """The path and query, with the values of secret-looking parameters masked."""
    if not request.query_string:
        return request.path
    pairs = []
    for pair in request.query_string.split("&"):
        name, equals, _ = pair.partition("=")
        masked = name.lower() in _SECRET_PARAMETERS and equals
        pairs.append(f"{name}=***" if masked else pair)

    return f"{request.path}?{'&'.join(pairs)}"


@dataclass(frozen=True)
class RequestRecord:
    """One service request as the log keeps it.

    ``status`` is what the emulator produced: for a ``lost`` fault the status the
    client never saw, for ``timeout`` 504. ``faults`` names the faults applied
    in order (``("latency", "lost")``).
    """

    method: str
    target: str
    route: str
    status: int
    duration_ms: float
    faults: tuple[str, ...] = ()

    @property
    def fault(self) -> str | None:
        """The faults joined with ``+`` (``latency+lost``), or ``None``."""
        return "+".join(self.faults) or None

    def to_json(self) -> dict[str, Any]:
        """The record as the admin route writes it."""
        return {
            "method": self.method,
            "path": self.target,
            "route": self.route,
            "status": self.status,
            "durationMs": round(self.duration_ms, 3),
            "fault": self.fault,
        }


class RequestRecorder:
    """Counts, a bounded log and the in-flight gauge of one emulator."""

    def __init__(self, service: Service, *, log_size: int = 1000) -> None:
        self.service = service
        self.total = 0
        self.by_route: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.by_fault: Counter[str] = Counter()
        self.log: deque[RequestRecord] = deque(maxlen=log_size)
        self.in_flight = 0
        self.peak_in_flight = 0

    def enter(self) -> None:
        """A request started being processed (past the limits)."""
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        """A request stopped being processed."""
        self.in_flight -= 1

    def record(self, record: RequestRecord) -> None:
        """Count and log a finished request."""
        self.total += 1
        self.by_route[f"{record.method} {record.route}"] += 1
        self.by_status[record.status] += 1
        self.by_fault.update(record.faults)
        self.log.append(record)

    def reset(self) -> None:
        """Forget counts and log; the peak restarts from the current in-flight."""
        self.total = 0
        self.by_route.clear()
        self.by_status.clear()
        self.by_fault.clear()
        self.log.clear()
        self.peak_in_flight = self.in_flight

    def snapshot(self) -> dict[str, Any]:
        """Everything recorded, as ``GET /_admin/requests`` answers it."""
        return {
            "service": self.service,
            "total": self.total,
            "inFlight": self.in_flight,
            "peakInFlight": self.peak_in_flight,
            "byRoute": dict(sorted(self.by_route.items())),
            "byStatus": {str(k): v for k, v in sorted(self.by_status.items())},
            "byFault": dict(sorted(self.by_fault.items())),
            "log": [record.to_json() for record in self.log],
        }


# --- the middleware -------------------------------------------------------------


class ResponseLost(Exception):
    """The emulator did the work; the client must get no response (``lost``)."""

    def __init__(self, response: Response) -> None:
        super().__init__("the response was lost (fault injected)")
        self.response = response


class ResponseWithheld(Exception):
    """The client must get no response until it gives up (``timeout``).

    ``response`` is what a server sends if the hold ends first.
    """

    def __init__(self, response: Response) -> None:
        super().__init__("the response was withheld (fault injected)")
        self.response = response


@dataclass
class _Outcome:
    status: int = 500
    faults: list[str] = field(default_factory=list)


class ServiceMiddleware:
    """Limits, faults and recording around one emulator's handler.

    ``limits`` ``None`` switches limits off; ``latency_ms`` delays every service
    request; ``hold_s`` is how long a server holds a ``timeout`` fault before
    answering 504. ``clock`` (monotonic seconds) drives the rate windows and
    ``sleep`` every wait, so tests can replace both. Raises :class:`ResponseLost`
    and :class:`ResponseWithheld` for the faults that leave the client without a
    response; :class:`ServiceApp` turns them into what a client would see.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        service: Service,
        limits: Limits | None = None,
        faults: FaultPlan | None = None,
        latency_ms: float = 0.0,
        hold_s: float = _DEFAULT_HOLD_S,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        log_size: int = 1000,
    ) -> None:
        self.handler = handler
        self.service: Service = service
        self.limits = limits
        self.faults = faults or FaultPlan()
        self.latency_s = latency_ms / 1000
        self.hold_s = hold_s
        self.sleep = sleep
        self.recorder = RequestRecorder(service, log_size=log_size)
        self.closing = asyncio.Event()
        self._limiter = (
            None
            if limits is None
            else _Limiter(
                service, limits, clock=clock, sleep=sleep, closing=self.closing
            )
        )

    async def handle(self, request: Request) -> Response:
        """Answer one request (the ``Handler`` signature)."""
        if request.path.startswith(_ADMIN_PREFIX):
            return await self._admin(request)

        outcome = _Outcome()
        route = route_template(request.path)
        started = time.perf_counter()
        try:
            response = await self._limited(request, route, outcome)
            outcome.status = response.status
            return response
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            record = RequestRecord(
                method=request.method,
                target=_target(request),
                route=route,
                status=outcome.status,
                duration_ms=elapsed_ms,
                faults=tuple(outcome.faults),
            )
            self.recorder.record(record)

    async def aclose(self) -> None:
        """End every wait: queued requests get 503, held ones their 504."""
        self.closing.set()

    async def _limited(
        self, request: Request, route: str, outcome: _Outcome
    ) -> Response:
        if self._limiter is None:
            return await self._processed(request, route, outcome)

        user = _user_of(request)
        refusal = await self._limiter.acquire(user)
        if refusal is not None:
            return refusal
        try:
            return await self._processed(request, route, outcome)
        finally:
            self._limiter.release(user)

    async def _processed(
        self, request: Request, route: str, outcome: _Outcome
    ) -> Response:
        self.recorder.enter()
        try:
            draw = self.faults.draw(self.service, request.method, route)
            outcome.faults.extend(draw.names)
            delay = self.latency_s + draw.latency_s
            if delay > 0:
                await self.sleep(delay)
            return await self._outcome(request, draw.outcome, outcome)
        finally:
            self.recorder.leave()

    async def _outcome(
        self, request: Request, rule: FaultRule | None, outcome: _Outcome
    ) -> Response:
        if rule is None:
            return await self.handler(request)
        if rule.kind == "status":
            retry_after = _FAULT_RETRY_AFTER_S if rule.status in (429, 503) else None
            return service_error(self.service, rule.status, retry_after=retry_after)
        if rule.kind == "timeout":
            outcome.status = 504
            raise ResponseWithheld(service_error(self.service, 504))

        response = await self.handler(request)
        outcome.status = response.status
        raise ResponseLost(response)

    async def _admin(self, request: Request) -> Response:
        routes = {_REQUESTS_ROUTE: "GET", _RESET_ROUTE: "POST"}
        expected = routes.get(request.path)
        if expected is None:
            return await self.handler(request)
        if request.method != expected:
            return json_response(
                405,
                {"error": {"code": "MethodNotAllowed", "message": f"Use {expected}."}},
                {"allow": expected},
                content_type="application/json",
            )
        if expected == "POST":
            self.recorder.reset()
            return Response(204)

        return json_response(
            200, self.recorder.snapshot(), content_type="application/json"
        )


def _user_of(request: Request) -> str:
    """A stable, non-secret key for the bearer token that identifies the user."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return "anonymous"

    return hashlib.sha256(credentials.strip().encode()).hexdigest()[:16]


async def _race(*waits: Awaitable[Any]) -> int:
    """Wait for the first of ``waits`` and return its position.

    Coroutines passed in are cancelled once one finishes; futures passed in are
    left as they are. When several finish together the lowest position wins.
    """
    futures = [asyncio.ensure_future(w) for w in waits]
    created = [f for f, w in zip(futures, waits, strict=True) if f is not w]
    try:
        done, _ = await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in created:
            future.cancel()
    first = min(i for i, future in enumerate(futures) if future in done)
    futures[first].result()  # a failure of the first one is not swallowed

    return first


# --- ASGI ---------------------------------------------------------------------------


class ServiceApp:
    """ASGI adapter for a :class:`ServiceMiddleware`.

    ``in_process=True`` (for ``httpx.ASGITransport``) raises ``httpx`` transport
    errors for ``lost`` and ``timeout``; ``False`` (under uvicorn) aborts the
    connection or holds the response, as a real server would look to a client.
    """

    def __init__(self, middleware: ServiceMiddleware, *, in_process: bool) -> None:
        self.middleware = middleware
        self.in_process = in_process

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return

        request = await _read_request(scope, receive)
        try:
            response = await self.middleware.handle(request)
        except ResponseLost as lost:
            await self._lose(lost.response, send)
            return
        except ResponseWithheld as withheld:
            if self.in_process:
                raise httpx.ReadTimeout("no response (timeout fault)") from None
            if not await self._hold(receive):
                return
            response = withheld.response

        await _send(send, response)
        if response.after_send is not None:
            await response.after_send()

    async def _lose(self, response: Response, send: Send) -> None:
        if not self.in_process:
            await _abort(send)
        if response.after_send is not None:
            await response.after_send()
        if self.in_process:
            message = "Server disconnected without sending a response."
            raise httpx.RemoteProtocolError(message)

    async def _hold(self, receive: Receive) -> bool:
        """Hold a withheld response; ``True`` when the client is still there."""
        first = await _race(
            _disconnected(receive),
            self.middleware.closing.wait(),
            self.middleware.sleep(self.middleware.hold_s),
        )

        return first != 0


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _send(send: Send, response: Response) -> None:
    headers = [
        (k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()
    ]
    await send(
        {"type": "http.response.start", "status": response.status, "headers": headers}
    )
    await send({"type": "http.response.body", "body": response.body})


async def _abort(send: Send) -> None:
    """Close the client's connection without a response (see the Limitation)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if isinstance(transport, asyncio.WriteTransport):
        transport.abort()
        await asyncio.sleep(0)  # let the server see the loss before the app returns
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"1")],
        }
    )
