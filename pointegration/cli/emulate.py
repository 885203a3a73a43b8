"""``pointegration emulate``: both emulators as HTTP servers on loopback.

Once both servers accept connections the command prints exactly one JSON line to
stdout and nothing else::

    {"dataverseUrl": "http://127.0.0.1:P", "bcBaseUrl": "http://127.0.0.1:Q/v2.0",
     "tenantId": "...", "environment": "...", "companyId": "...", "token": "..."}

then serves until SIGINT or SIGTERM and exits 0. Logs go to stderr. A bad flag or
fault spec prints one line and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from typing import TYPE_CHECKING

from pointegration.errors import ConfigurationError
from pointegration.telemetry import log_event

if TYPE_CHECKING:
    from pointegration.emulators.faults import FaultPlan

__all__ = ["add_arguments", "run"]

logger = logging.getLogger(__name__)

_FAULTS_HELP = """\
fault spec (--faults), comma-separated rules:
  SERVICE:METHOD:PATH=FAULT
    SERVICE  bc | dv | *
    METHOD   GET | POST | PATCH | PUT | DELETE | *
    PATH     glob matched against the end of the route template, where keys
             read ({id}): /salesInvoices, /accounts(*), *
    FAULT    latency:DURATION[:P]   DURATION 200ms or 1.5s
             429|500|502|503|504[:P]
             timeout[:P]            no response until the client gives up
             lost[:P]               the write happens, the response never arrives
    P        probability 0..1 or a percentage (20%); default 1
  latency rules add up; of the others, the first that fires wins.
  Faults are drawn from --seed, the rule and the request's position on its
  route, so a run repeats exactly.
example:
  --faults 'bc:POST:/salesInvoices=lost:0.2,dv:*:*=503:5%,bc:*:*=latency:200ms'
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``emulate`` flags."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _FAULTS_HELP
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address (default %(default)s)"
    )
    parser.add_argument(
        "--dataverse-port", type=int, default=0, help="port, 0 for any free one"
    )
    parser.add_argument(
        "--bc-port", type=int, default=0, help="port, 0 for any free one"
    )
    parser.add_argument(
        "--limits",
        choices=("real", "off"),
        default="off",
        help="apply the services' concurrency and rate limits (default off)",
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="added to every request"
    )
    parser.add_argument("--faults", metavar="SPEC", help="faults to inject (below)")
    parser.add_argument("--seed", type=int, default=0, help="seed for data and faults")
    parser.add_argument(
        "--token", help="bearer token the emulators accept (default: a random one)"
    )


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; 0 on a clean stop."""
    # Imported here so that other commands do not load the emulators.
    from pointegration.emulators.faults import FaultPlan
    from pointegration.emulators.server import loopback_host

    plan = FaultPlan.parse(args.faults, seed=args.seed)
    loopback_host(args.host)
    for flag in ("dataverse_port", "bc_port"):
        if not 0 <= getattr(args, flag) <= 65535:
            raise ConfigurationError(f"--{flag.replace('_', '-')} must be 0 to 65535")
    if args.latency_ms < 0:
        raise ConfigurationError("--latency-ms cannot be negative")
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )

    asyncio.run(_emulate(args, plan))

    return 0


async def _emulate(args: argparse.Namespace, plan: FaultPlan) -> None:
    from pointegration.emulators.server import serve

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    running = serve(
        args.host,
        args.dataverse_port,
        args.bc_port,
        seed=args.seed,
        limits=args.limits,
        latency_ms=args.latency_ms,
        faults=plan,
        token=args.token,
    )
    async with running:
        sys.stdout.write(json.dumps(running.connection_info()) + "\n")
        sys.stdout.flush()
        log_event(
            logger,
            logging.INFO,
            "emulate.ready",
            dataverse_url=running.dataverse_url,
            bc_base_url=running.bc_base_url,
            limits=args.limits,
            faults=len(plan.rules),
            seed=args.seed,
        )
        await stop.wait()
    log_event(logger, logging.INFO, "emulate.stopped")
