"""Both emulators behind their middleware, in-process or on loopback sockets.

:func:`build_emulators` creates the Dataverse and BC emulators with one bearer
token and wraps each in a :class:`~pointegration.emulators.middleware.ServiceMiddleware`
(limits, faults, recording). From there:

- in-process: :func:`transport_for` gives an ``httpx.ASGITransport`` (and
  :func:`client_for` a ready client) that reaches an emulator without a socket;
- over HTTP: ``async with serve(...) as running`` starts two uvicorn servers in
  the running event loop, on loopback only, and stops them on exit.

::

    async with serve(seed=1, limits="real") as running:
        print(running.connection_info())   # URLs, tenant, environment, company, token

Servers stop cleanly: requests held by a ``timeout`` fault or waiting in a BC
queue are answered first (504 and 503), so shutdown never waits on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import httpx
import uvicorn

from pointegration.emulators._asgi import Handler
from pointegration.emulators.businesscentral import BusinessCentralEmulator
from pointegration.emulators.dataverse import DataverseEmulator
from pointegration.emulators.faults import FaultPlan, Service
from pointegration.emulators.limits import BC_LIMITS, DATAVERSE_LIMITS, Limits
from pointegration.emulators.middleware import ServiceApp, ServiceMiddleware
from pointegration.errors import ConfigurationError

__all__ = [
    "BC_IN_PROCESS_URL",
    "DATAVERSE_IN_PROCESS_URL",
    "Emulators",
    "Listener",
    "RunningEmulators",
    "build_emulators",
    "client_for",
    "listen",
    "loopback_host",
    "serve",
    "transport_for",
]

DATAVERSE_IN_PROCESS_URL = "http://dataverse.emulator"
"""Base URL for in-process Dataverse calls (the client appends /api/data/v9.2)."""

BC_IN_PROCESS_URL = "http://bc.emulator/v2.0"
"""``BC_BASE_URL`` for in-process BC calls."""

_SERVICES: tuple[Service, ...] = ("dataverse", "bc")
_HOLD_S = 600.0
_STARTUP_TIMEOUT_S = 10.0
_SHUTDOWN_GRACE_S = 5


@dataclass
class Emulators:
    """The two emulators, their middleware and the token both accept."""

    dataverse: DataverseEmulator
    bc: BusinessCentralEmulator
    dataverse_service: ServiceMiddleware
    bc_service: ServiceMiddleware
    token: str

    @property
    def tenant_id(self) -> str:
        """The BC tenant in every BC URL."""
        return str(self.bc.tenant_id)

    @property
    def environment(self) -> str:
        """The BC environment name."""
        return str(self.bc.environment)

    @property
    def company_id(self) -> str:
        """The id of the BC company the integration writes to."""
        return str(self.bc.company_id)

    def service(self, name: Service) -> ServiceMiddleware:
        """The middleware in front of the ``dataverse`` or ``bc`` emulator."""
        return self.dataverse_service if name == "dataverse" else self.bc_service

    def app(self, name: Service, *, in_process: bool = True) -> ServiceApp:
        """An ASGI app for one emulator (see :class:`ServiceApp`)."""
        return ServiceApp(self.service(name), in_process=in_process)

    async def aclose(self) -> None:
        """Release every request still waiting in a queue or a held fault."""
        await self.dataverse_service.aclose()
        await self.bc_service.aclose()


def build_emulators(
    *,
    seed: int = 0,
    limits: Literal["real", "off"] = "off",
    latency_ms: float = 0.0,
    faults: str | FaultPlan | None = None,
    token: str | None = None,
    time_scale: float = 1.0,
    bc_limits: Limits | None = None,
    dataverse_limits: Limits | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    dataverse_options: Mapping[str, Any] | None = None,
    bc_options: Mapping[str, Any] | None = None,
) -> Emulators:
    """Both emulators, seeded, wrapped in limits, faults and recording.

    ``limits="real"`` applies the documented per-user limits with every window
    multiplied by ``time_scale``; ``bc_limits`` and ``dataverse_limits`` replace
    them outright (and switch them on). ``faults`` is a spec (see
    :mod:`pointegration.emulators.faults`) or a plan; a bad spec raises
    ``FaultSpecError``. ``token`` defaults to a random one. ``clock`` and
    ``sleep`` drive the middleware's windows and waits; ``*_options`` go to the
    emulator constructors as keyword arguments.
    """
    token = token or secrets.token_urlsafe(24)
    plan = (
        faults if isinstance(faults, FaultPlan) else FaultPlan.parse(faults, seed=seed)
    )
    if limits not in ("real", "off"):
        raise ConfigurationError(f"limits must be 'real' or 'off', not {limits!r}")
    if limits == "real":
        dataverse_limits = dataverse_limits or DATAVERSE_LIMITS.scaled(time_scale)
        bc_limits = bc_limits or BC_LIMITS.scaled(time_scale)

    def wrap(
        handler: Handler, service: Service, chosen: Limits | None
    ) -> ServiceMiddleware:
        return ServiceMiddleware(
            handler,
            service=service,
            limits=chosen,
            faults=plan,
            latency_ms=latency_ms,
            hold_s=_HOLD_S * time_scale,
            clock=clock,
            sleep=sleep,
        )

    dataverse = DataverseEmulator(token=token, seed=seed, **(dataverse_options or {}))
    bc = BusinessCentralEmulator(token=token, seed=seed, **(bc_options or {}))

    return Emulators(
        dataverse=dataverse,
        bc=bc,
        dataverse_service=wrap(dataverse.handle, "dataverse", dataverse_limits),
        bc_service=wrap(bc.handle, "bc", bc_limits),
        token=token,
    )


def transport_for(emulators: Emulators, service: Service) -> httpx.ASGITransport:
    """An in-process transport to one emulator; faults surface as httpx errors."""
    return httpx.ASGITransport(app=emulators.app(service, in_process=True))


def client_for(
    emulators: Emulators, service: Service, **options: Any
) -> httpx.AsyncClient:
    """An in-process client with the emulator's base URL and the bearer token.

    The Dataverse client's base URL is the environment URL (add
    ``/api/data/v9.2``); the BC one is ``BC_BASE_URL`` (add
    ``/{tenant}/{environment}/api/v2.0``). ``options`` go to ``httpx.AsyncClient``.
    """
    base_url = DATAVERSE_IN_PROCESS_URL if service == "dataverse" else BC_IN_PROCESS_URL
    headers = {"authorization": f"Bearer {emulators.token}"}
    headers.update(options.pop("headers", {}))

    return httpx.AsyncClient(
        transport=transport_for(emulators, service),
        base_url=base_url,
        headers=headers,
        **options,
    )


# --- serving on loopback ----------------------------------------------------------


def loopback_host(host: str) -> str:
    """``host`` as an address to bind; ``ConfigurationError`` unless loopback."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigurationError(
            f"host {host!r} is not an IP address; the emulators listen on "
            "loopback only (127.0.0.1, ::1 or localhost)"
        ) from None
    if not address.is_loopback:
        raise ConfigurationError(
            f"host {host} is not a loopback address; the emulators listen on "
            "loopback only (127.0.0.1, ::1 or localhost)"
        )

    return str(address)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves the process's signals to its owner."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Listener:
    """One uvicorn server serving an ASGI app on a bound loopback socket."""

    def __init__(
        self, server: _Server, task: asyncio.Task[None], sock: socket.socket
    ) -> None:
        self._server = server
        self._task = task
        address = sock.getsockname()
        self.host: str = address[0]
        self.port: int = address[1]

    @property
    def url(self) -> str:
        """``http://host:port`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        """Ask the server to exit and wait until it has."""
        self._server.should_exit = True
        await self._task


async def listen(app: Any, host: str = "127.0.0.1", port: int = 0) -> Listener:
    """Serve ``app`` with uvicorn on ``host:port`` (0: any free port) until stopped.

    Returns once the server accepts connections. Raises ``ConfigurationError``
    for a host that is not loopback or a port that cannot be bound.
    """
    address = loopback_host(host)
    sock = _bind(address, port)
    config = uvicorn.Config(
        app,
        host=address,
        port=sock.getsockname()[1],
        log_level="warning",
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=_SHUTDOWN_GRACE_S,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await _started(server, task)

    return Listener(server, task, sock)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"cannot listen on {host} port {port}: {exc.strerror or exc}"
        ) from None

    return sock


async def _started(server: _Server, task: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the emulator server stopped during startup")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the emulator server did not start in time")
        await asyncio.sleep(0.005)


class RunningEmulators:
    """Both emulators served over HTTP; an async context manager.

    ``dataverse_url`` is the environment URL (``DATAVERSE_URL``) and
    ``bc_base_url`` the ``BC_BASE_URL`` (ending ``/v2.0``). Ports are known once
    entered.
    """

    def __init__(
        self,
        emulators: Emulators,
        *,
        host: str = "127.0.0.1",
        dataverse_port: int = 0,
        bc_port: int = 0,
    ) -> None:
        self.emulators = emulators
        self.host = loopback_host(host)
        self._ports: dict[Service, int] = {"dataverse": dataverse_port, "bc": bc_port}
        self._listeners: dict[Service, Listener] = {}

    @property
    def dataverse_url(self) -> str:
        """The Dataverse environment URL."""
        return self._listeners["dataverse"].url

    @property
    def bc_base_url(self) -> str:
        """The BC base URL, ``http://host:port/v2.0``."""
        return f"{self._listeners['bc'].url}/v2.0"

    def connection_info(self) -> dict[str, str]:
        """What a client needs: the ``emulate`` command prints exactly this."""
        return {
            "dataverseUrl": self.dataverse_url,
            "bcBaseUrl": self.bc_base_url,
            "tenantId": self.emulators.tenant_id,
            "environment": self.emulators.environment,
            "companyId": self.emulators.company_id,
            "token": self.emulators.token,
        }

    async def start(self) -> None:
        """Start both servers (stopping the first if the second fails)."""
        try:
            for name in _SERVICES:
                app = self.emulators.app(name, in_process=False)
                self._listeners[name] = await listen(app, self.host, self._ports[name])
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Answer waiting requests, then stop both servers and wait for them."""
        await self.emulators.aclose()
        listeners = list(self._listeners.values())
        self._listeners.clear()
        await asyncio.gather(*(listener.stop() for listener in listeners))

    async def __aenter__(self) -> RunningEmulators:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


def serve(
    host: str = "127.0.0.1",
    dataverse_port: int = 0,
    bc_port: int = 0,
    *,
    emulators: Emulators | None = None,
    **options: Any,
) -> RunningEmulators:
    """Both emulators on loopback: ``async with serve(...) as running``.

    ``emulators`` defaults to ``build_emulators(**options)``. Ports 0 pick free
    ports. Raises ``ConfigurationError`` for a host that is not loopback, and
    on entering, for a port that cannot be bound.
    """
    host = loopback_host(host)
    if emulators is not None and options:
        raise TypeError("pass either emulators or options to build them, not both")
    emulators = emulators or build_emulators(**options)

    return RunningEmulators(
        emulators, host=host, dataverse_port=dataverse_port, bc_port=bc_port
    )
