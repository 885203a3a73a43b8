"""``python -m pointegration check``: is this deployment ready? (DESIGN §3.1).

First the settings: when any is missing or invalid, every problem is printed to
stderr, one per line under ``settings: N problems``, and the exit code is 1.
Then the readiness checks run in order, each a name and an async function of a
:class:`CheckContext` returning ``(ok, detail)``; ``ok`` is ``None`` when the
check could not be made. The table (or, with ``--json``, one JSON object
``{"ok", "checks": [{"name", "ok", "detail"}]}``) goes to stdout. The exit code
is 0 only when every check passed; a check not made counts as not ready.

To add a check, append ``(name, function)`` to :data:`CHECKS`. A check may read
``context.acquired`` to skip work when the token it needs was not had. Details
never hold a secret or a token: errors from :mod:`pointegration.auth` are
already clean, and a check must keep its own details that way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol

import httpx

from pointegration.auth import build_token_providers
from pointegration.errors import IntegrationError, SettingsError
from pointegration.http import RetryPolicy
from pointegration.settings import Settings

# A readiness check should answer in seconds, not wait out a long outage.
_QUICK = RetryPolicy(max_attempts=2, max_elapsed=5.0)

__all__ = [
    "CHECKS",
    "Check",
    "CheckContext",
    "CheckRow",
    "add_arguments",
    "report",
    "run",
    "run_checks",
]


class _Tokens(Protocol):
    async def get_token(self) -> str: ...

    def invalidate(self, token: str) -> None: ...


@dataclass
class CheckContext:
    """What every check may use: the settings and one token provider per system.

    ``acquired`` holds ``"dataverse"`` and ``"bc"`` once their token was had.
    """

    settings: Settings
    dataverse_tokens: _Tokens
    bc_tokens: _Tokens
    acquired: set[str] = field(default_factory=set)
    transports: dict[str, httpx.AsyncBaseTransport] = field(default_factory=dict)


CheckResult = tuple[bool | None, str]
Check = tuple[str, Callable[[CheckContext], Awaitable[CheckResult]]]


@dataclass(frozen=True)
class CheckRow:
    """One line of the readiness table."""

    name: str
    ok: bool | None
    detail: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``check``."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object instead of the table",
    )


def run(args: argparse.Namespace) -> int:
    """Validate the settings, run every check, print the outcome; 0 when ready."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        return _report_problems(exc.problems, as_json=args.json)

    rows = asyncio.run(run_checks(settings))

    return report(rows, as_json=args.json)


async def run_checks(
    settings: Settings,
    checks: Sequence[Check] | None = None,
    *,
    providers: tuple[_Tokens, _Tokens] | None = None,
    check_timeout: float | None = None,
    transports: dict[str, httpx.AsyncBaseTransport] | None = None,
) -> list[CheckRow]:
    """Run ``checks`` (default :data:`CHECKS`) in order after the settings row.

    A check that raises, or takes longer than ``check_timeout`` seconds (default
    three HTTP timeouts), fails with the reason as its detail; the others still
    run.
    """
    dataverse, bc = providers or build_token_providers(settings)
    context = CheckContext(settings, dataverse, bc, transports=dict(transports or {}))
    limit = (
        settings.http_timeout_seconds * 3 if check_timeout is None else check_timeout
    )
    rows = [CheckRow("settings", True, _describe(settings))]
    for name, check in CHECKS if checks is None else checks:
        ok, detail = await _guarded(check, context, limit)
        rows.append(CheckRow(name, ok, detail))

    return rows


async def _guarded(
    check: Callable[[CheckContext], Awaitable[CheckResult]],
    context: CheckContext,
    limit: float,
) -> CheckResult:
    try:
        return await asyncio.wait_for(check(context), limit)
    except TimeoutError:
        return False, f"no answer within {limit:g} s"
    except IntegrationError as exc:
        return False, str(exc)
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"


def report(
    rows: Sequence[CheckRow],
    *,
    as_json: bool,
    out: IO[str] | None = None,
) -> int:
    """Print ``rows`` as a table or JSON; 0 when every check passed, else 1."""
    out = out or sys.stdout
    ready = all(row.ok is True for row in rows)
    if as_json:
        checks = [{"name": r.name, "ok": r.ok, "detail": r.detail} for r in rows]
        print(json.dumps({"ok": ready, "checks": checks}), file=out)
    else:
        _print_table(rows, ready, out)

    return 0 if ready else 1


def _print_table(rows: Sequence[CheckRow], ready: bool, out: IO[str]) -> None:
    width = max(len(row.name) for row in rows)
    print(f"{'CHECK':<{width}}  {'STATUS':<7}  DETAIL", file=out)
    for row in rows:
        status = {True: "ok", False: "FAILED", None: "skipped"}[row.ok]
        print(f"{row.name:<{width}}  {status:<7}  {row.detail}", file=out)
    failed = sum(row.ok is False for row in rows)
    skipped = sum(row.ok is None for row in rows)
    summary = "ready" if ready else f"not ready: {failed} failed, {skipped} not checked"
    print(summary, file=out)


def _report_problems(problems: Sequence[str], *, as_json: bool) -> int:
    noun = "problem" if len(problems) == 1 else "problems"
    print(f"settings: {len(problems)} {noun}", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    if as_json:
        detail = f"{len(problems)} {noun}"
        check = {"name": "settings", "ok": False, "detail": detail}
        print(json.dumps({"ok": False, "checks": [{**check, "problems": problems}]}))

    return 1


def _describe(settings: Settings) -> str:
    return (
        f"AUTH_MODE {settings.auth_mode}; Dataverse {settings.dataverse_url}; "
        f"BC {settings.bc_environment_url} company {settings.bc_company_id}; "
        f"queue {settings.sync_queue} at {settings.queue_endpoint}"
    )


async def check_dataverse_token(context: CheckContext) -> CheckResult:
    """A Dataverse token can be had."""
    await context.dataverse_tokens.get_token()
    context.acquired.add("dataverse")

    return True, _token_detail(context.settings, context.settings.dataverse_scope)


async def check_bc_token(context: CheckContext) -> CheckResult:
    """A Business Central token can be had."""
    await context.bc_tokens.get_token()
    context.acquired.add("bc")

    return True, _token_detail(context.settings, context.settings.bc_scope)


def _token_detail(settings: Settings, scope: str) -> str:
    if settings.auth_mode == "static":
        return "AUTH_STATIC_TOKEN (static, emulators only)"
    return f"acquired for {scope} ({settings.auth_mode})"


async def check_dataverse_whoami(context: CheckContext) -> CheckResult:
    """Dataverse answers ``WhoAmI`` for the integration's identity."""
    if "dataverse" not in context.acquired:
        return None, "not checked: no Dataverse token"
    from pointegration.connections import dataverse_client

    client = dataverse_client(
        context.settings,
        context.dataverse_tokens,
        transport=context.transports.get("dataverse"),
        retry=_QUICK,
    )
    async with client:
        me = await client.who_am_i()

    return True, f"user {me.user_id} in organization {me.organization_id}"


async def check_bc_companies(context: CheckContext) -> CheckResult:
    """BC lists ``companies`` and the configured company is among them."""
    if "bc" not in context.acquired:
        return None, "not checked: no BC token"
    from pointegration.connections import bc_client

    client = bc_client(
        context.settings,
        context.bc_tokens,
        transport=context.transports.get("bc"),
        retry=_QUICK,
    )
    async with client:
        companies = await client.companies()

    wanted = context.settings.bc_company_id.lower()
    names = {str(c.get("id", "")).lower(): c.get("name") for c in companies}
    if wanted not in names:
        return False, (
            f"BC_COMPANY_ID {wanted} is not among the {len(companies)} companies "
            "of the environment"
        )
    return True, f"company {names[wanted]!r} found"


async def check_queue_storage(context: CheckContext) -> CheckResult:
    """The work queue is reachable in ``AzureWebJobsStorage``."""
    return await asyncio.to_thread(_queue_state, context.settings)


def _queue_state(settings: Settings) -> CheckResult:
    from azure.core.exceptions import AzureError, ResourceNotFoundError
    from azure.storage.queue import QueueClient

    connection = settings.azure_webjobs_storage.get_secret_value()
    queue = QueueClient.from_connection_string(
        connection,
        settings.sync_queue,
        retry_total=0,
        connection_timeout=5,
        read_timeout=5,
    )
    try:
        properties = queue.get_queue_properties()
    except ResourceNotFoundError:
        return True, f"queue {settings.sync_queue} not created yet (made on first use)"
    except (AzureError, ValueError) as exc:
        # The SDK's message can quote the endpoint but not the account key.
        return False, f"queue storage unreachable ({type(exc).__name__})"
    finally:
        queue.close()

    count = properties.approximate_message_count
    return True, f"queue {settings.sync_queue}: about {count} messages"


CHECKS: list[Check] = [
    ("dataverse token", check_dataverse_token),
    ("bc token", check_bc_token),
    ("dataverse WhoAmI", check_dataverse_whoami),
    ("bc companies", check_bc_companies),
    ("queue storage", check_queue_storage),
]
