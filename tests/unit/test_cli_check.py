"""``pointegration check``: settings problems, the readiness table and its exit code."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest

from pointegration.__main__ import main
from pointegration.auth import build_token_providers
from pointegration.cli import check
from pointegration.cli.check import (
    CheckContext,
    CheckResult,
    CheckRow,
    report,
    run_checks,
)
from pointegration.errors import AuthenticationError
from pointegration.settings import Settings
from tests.contracts import CONTRACT_SETTINGS, EXTRA_SETTINGS

SECRET = "s3cr3t~value.never-shown"
STATIC_TOKEN = "static-token-never-shown"
CONTRACT_NAMES = [*CONTRACT_SETTINGS, *EXTRA_SETTINGS]
SECRET_ENV = {
    "DATAVERSE_URL": "https://contoso.crm.dynamics.com",
    "BC_ENVIRONMENT": "sandbox",
    "BC_COMPANY_ID": "6b1b1c2e-0000-4000-8000-000000000001",
    "AZURE_TENANT_ID": "11111111-2222-3333-4444-555555555555",
    "AZURE_CLIENT_ID": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
    "AZURE_CLIENT_SECRET": SECRET,
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
}
STATIC_ENV = {
    **SECRET_ENV,
    "AUTH_MODE": "static",
    "AUTH_STATIC_TOKEN": STATIC_TOKEN,
    "DATAVERSE_URL": "http://127.0.0.1:5001",
    "BC_BASE_URL": "http://127.0.0.1:5002/v2.0",
}


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment with none of the integration's settings."""
    for name in CONTRACT_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def set_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


class FailingTokens:
    """A token provider whose identity service refuses every request."""

    async def get_token(self) -> str:
        raise AuthenticationError(
            "AZURE_CLIENT_SECRET was refused by Entra ID", code="AADSTS7000215"
        )

    def invalidate(self, token: str) -> None:
        """Nothing cached."""


class FixedTokens:
    """A token provider that always has a token."""

    async def get_token(self) -> str:
        return "fixed"

    def invalidate(self, token: str) -> None:
        """Nothing cached."""


async def passing(context: CheckContext) -> CheckResult:
    return True, "fine"


def test_settings_problems_are_listed_on_stderr(
    environ: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Bad settings print a count line and one line per problem, and exit 1."""
    set_env(environ, {**SECRET_ENV, "DATAVERSE_URL": "", "BC_COMPANY_ID": "CRONUS"})

    code = main(["check"])

    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.splitlines() == [
        "settings: 2 problems",
        "  DATAVERSE_URL is missing",
        "  BC_COMPANY_ID 'CRONUS' is not a GUID",
    ]
    assert captured.out == ""
    assert "Traceback" not in captured.err


def test_one_problem_is_counted_in_the_singular(
    environ: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A single problem reads 'settings: 1 problem'."""
    set_env(environ, {**SECRET_ENV, "AZURE_CLIENT_SECRET": ""})

    assert main(["check"]) == 1

    assert capsys.readouterr().err.splitlines()[0] == "settings: 1 problem"


def test_settings_problems_in_json(
    environ: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With --json the problems also come as one JSON object on stdout."""
    set_env(environ, {**SECRET_ENV, "AUTH_MODE": "static", "AUTH_STATIC_TOKEN": "t"})

    assert main(["check", "--json"]) == 1

    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is False
    [settings_row] = result["checks"]
    assert settings_row["name"] == "settings"
    assert settings_row["problems"][0].startswith("AUTH_MODE 'static' is for the")


def test_secret_never_printed_for_settings_problems(
    environ: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Problem output never repeats a secret value."""
    set_env(environ, {**STATIC_ENV, "DATAVERSE_URL": "https://x.com"})

    main(["check", "--json"])

    captured = capsys.readouterr()
    assert STATIC_TOKEN not in captured.out + captured.err
    assert SECRET not in captured.out + captured.err


async def queue_ready(context: CheckContext) -> CheckResult:
    return True, "queue stub"


async def not_made(context: CheckContext) -> CheckResult:
    return None, "skipped"


def emulated() -> tuple[Settings, dict[str, Any]]:
    """Settings and in-process transports for both emulators."""
    import httpx

    from pointegration.emulators.businesscentral import BusinessCentralEmulator
    from pointegration.emulators.dataverse import DataverseEmulator

    bc = BusinessCentralEmulator(token=STATIC_TOKEN)
    dataverse = DataverseEmulator(token=STATIC_TOKEN)
    env = {
        **STATIC_ENV,
        "BC_TENANT_ID": bc.tenant_id,
        "BC_ENVIRONMENT": bc.environment,
        "BC_COMPANY_ID": bc.company_id,
    }
    transports = {
        "dataverse": httpx.ASGITransport(app=dataverse.asgi),
        "bc": httpx.ASGITransport(app=bc.asgi),
    }
    return Settings.from_env(env), transports


async def test_emulated_services_make_every_row_ready() -> None:
    """Against both emulators WhoAmI and companies pass and the table says ready."""
    settings, transports = emulated()
    checks = [*check.CHECKS[:-1], ("queue storage", queue_ready)]
    rows = await run_checks(settings, checks, transports=transports)
    out = io.StringIO()

    code = report(rows, as_json=False, out=out)

    lines = out.getvalue().splitlines()
    assert code == 0
    assert lines[0].split() == ["CHECK", "STATUS", "DETAIL"]
    assert [row.name for row in rows] == [
        "settings",
        "dataverse token",
        "bc token",
        "dataverse WhoAmI",
        "bc companies",
        "queue storage",
    ]
    assert lines[-1] == "ready"
    assert "company 'CRONUS USA, Inc.' found" in rows[4].detail
    assert STATIC_TOKEN not in out.getvalue()


async def test_unknown_company_fails_its_row() -> None:
    """A BC_COMPANY_ID the environment lacks fails the companies row by name."""
    settings, transports = emulated()
    env = {
        **STATIC_ENV,
        "BC_TENANT_ID": settings.bc_tenant_id,
        "BC_ENVIRONMENT": settings.bc_environment,
    }
    rows = await run_checks(
        Settings.from_env(env), check.CHECKS[1:4:2], transports=transports
    )

    companies = rows[-1]
    assert companies.name == "bc companies"
    assert companies.ok is False
    assert companies.detail.startswith("BC_COMPANY_ID 6b1b1c2e")


async def test_every_check_passing_means_ready() -> None:
    """When every check passes the report says ready and the exit code is 0."""
    settings = Settings.from_env(STATIC_ENV)
    rows = await run_checks(settings, [("a", passing), ("b", passing)])
    out = io.StringIO()

    assert report(rows, as_json=False, out=out) == 0
    assert out.getvalue().splitlines()[-1] == "ready"


async def test_token_failure_is_reported_per_resource() -> None:
    """A refused token fails its own row while the other resource's still passes."""
    settings = Settings.from_env(SECRET_ENV)

    rows = await run_checks(settings, providers=(FixedTokens(), FailingTokens()))

    by_name = {row.name: row for row in rows}
    assert by_name["dataverse token"].ok is True
    assert by_name["bc token"].ok is False
    assert "AZURE_CLIENT_SECRET was refused" in by_name["bc token"].detail


async def test_entra_refusal_detail_never_holds_the_secret() -> None:
    """A real MSAL refusal reaches the table naming the setting, not its value."""

    class RefusingEntra:
        def get(self, url: str, **kwargs: Any) -> Any:
            root = "https://login.microsoftonline.com/" + url.split("/")[3]
            body = {
                "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                "token_endpoint": f"{root}/oauth2/v2.0/token",
            }
            return Answer(200, body)

        def post(self, url: str, **kwargs: Any) -> Any:
            body = {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
                "error_codes": [7000215],
            }
            return Answer(401, body)

    settings = Settings.from_env(SECRET_ENV)
    providers = build_token_providers(settings, http_client=RefusingEntra())

    rows = await run_checks(settings, providers=providers)
    out = io.StringIO()
    report(rows, as_json=True, out=out)

    assert "AZURE_CLIENT_SECRET was refused by Entra ID" in out.getvalue()
    assert SECRET not in out.getvalue()


class Answer:
    """A minimal HTTP response for MSAL."""

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        self.status_code = status_code
        self.text = json.dumps(body)
        self.headers: dict[str, str] = {}

    def raise_for_status(self) -> None:
        """Never raises; MSAL reads the body."""


async def crashing(context: CheckContext) -> CheckResult:
    raise RuntimeError("boom")


async def hanging(context: CheckContext) -> CheckResult:
    await asyncio.Event().wait()
    return True, "never"


async def test_a_crashing_check_fails_its_row_only() -> None:
    """A check that raises fails with the reason; later checks still run."""
    settings = Settings.from_env(STATIC_ENV)

    rows = await run_checks(settings, [("broken", crashing), ("after", passing)])

    assert [(r.name, r.ok, r.detail) for r in rows[1:]] == [
        ("broken", False, "RuntimeError: boom"),
        ("after", True, "fine"),
    ]


async def test_a_hanging_check_times_out() -> None:
    """A check that does not finish in time fails with 'no answer within'."""
    settings = Settings.from_env(STATIC_ENV)

    rows = await run_checks(settings, [("hanging", hanging)], check_timeout=0)

    assert rows[1] == CheckRow("hanging", False, "no answer within 0 s")


async def test_json_report_shape() -> None:
    """--json prints ok and every check with name, ok (null if not made) and detail."""
    settings = Settings.from_env(STATIC_ENV)
    rows = await run_checks(settings, [("not made", not_made)])
    out = io.StringIO()

    code = report(rows, as_json=True, out=out)

    result = json.loads(out.getvalue())
    assert code == 1
    assert result["ok"] is False
    assert result["checks"][0] == {
        "name": "settings",
        "ok": True,
        "detail": "AUTH_MODE static; Dataverse http://127.0.0.1:5001; BC "
        "http://127.0.0.1:5002/v2.0/11111111-2222-3333-4444-555555555555/sandbox "
        "company 6b1b1c2e-0000-4000-8000-000000000001; queue pobc-sync at "
        "http://127.0.0.1:10001/devstoreaccount1",
    }
    assert result["checks"][1] == {"name": "not made", "ok": None, "detail": "skipped"}


async def test_unreachable_queue_storage_fails_without_the_key() -> None:
    """Queue storage that does not answer fails its row and never shows the key."""
    key = "c2VjcmV0LWFjY291bnQta2V5LW5ldmVyLXNob3du"
    connection = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={key};QueueEndpoint=http://127.0.0.1:9/devstoreaccount1"
    )
    settings = Settings.from_env({**STATIC_ENV, "AzureWebJobsStorage": connection})

    rows = await run_checks(settings, [check.CHECKS[-1]])

    queue = rows[-1]
    assert queue.ok is False
    assert queue.detail.startswith("queue storage unreachable")
    assert key not in queue.detail
