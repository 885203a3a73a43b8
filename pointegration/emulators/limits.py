"""The services' per-user limits, as the emulators enforce them.

:class:`Limits` holds one service's numbers; :data:`BC_LIMITS` and
:data:`DATAVERSE_LIMITS` are the documented ones (reference/businesscentral.md
§5, reference/dataverse.md §3), and :meth:`Limits.scaled` shortens every window
so tests stay fast. The limiter admits, queues or refuses each request; refusals
are the services' own 429 and 503 answers, with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pointegration.emulators._asgi import Response
from pointegration.emulators.faults import Service, service_error

__all__ = ["BC_LIMITS", "DATAVERSE_LIMITS", "Limits"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


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
