"""Limits, faults and request recording in front of an emulator's handler.

:class:`ServiceMiddleware` wraps one emulator's ``handler(request) -> Response``.
For every service request (any path outside ``/_admin/``) it, in this order:

1. records it in a :class:`RequestRecorder` (counts per route template, status
   and fault; a bounded log; current and peak requests in flight);
2. applies the service's per-user :class:`~pointegration.emulators.limits.Limits`
   when given (the user is the bearer token, kept only as a hash);
3. sleeps the fixed latency plus the latency faults drawn for the request;
4. answers with the fault drawn from the
   :class:`~pointegration.emulators.faults.FaultPlan`, or calls the emulator.

Admin routes are never limited, faulted or counted. They pass to the emulator,
except two answered here: ``GET /_admin/requests`` (the counts and the log as
JSON) and ``POST /_admin/requests/reset`` (204; counts, log and peak cleared).

What the client sees of a fault:

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
import re
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

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
from pointegration.emulators.faults import FaultPlan, FaultRule, Service, service_error
from pointegration.emulators.limits import Limits, _Limiter, _race

__all__ = [
    "RequestRecord",
    "RequestRecorder",
    "ResponseLost",
    "ResponseWithheld",
    "ServiceApp",
    "ServiceMiddleware",
    "route_template",
]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_ADMIN_PREFIX = "/_admin/"
_REQUESTS_ROUTE = "/_admin/requests"
_RESET_ROUTE = "/_admin/requests/reset"
_DEFAULT_HOLD_S = 600.0
_FAULT_RETRY_AFTER_S = 1


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
