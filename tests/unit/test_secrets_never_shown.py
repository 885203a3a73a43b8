"""Tokens, client secrets and storage keys never reach a log, an error or a repr.

Every logger is captured at DEBUG (MSAL's and httpx's included) while the
platform fails in the ways it can; the secrets are then looked for in every
record, every exception message and repr, and every exception they were
chained from.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from pointegration.auth import build_token_providers
from pointegration.errors import IntegrationError, SettingsError
from pointegration.http import RetryPolicy, ServiceClient
from pointegration.settings import Settings
from tests.fakes import no_wait
from tests.unit.test_auth import BASE_ENV, SECRET, FakeEntra, FakeResponse

ACCESS_TOKEN = "eyJ0eXAi.access-token-never-shown.sig"
ACCOUNT_KEY = "c3RvcmFnZS1rZXktbmV2ZXItc2hvd24="
SAS = "sv=2024&sig=sas-signature-never-shown"

SECRETS = (SECRET, ACCESS_TOKEN, ACCOUNT_KEY, "sas-signature-never-shown")


class LeakyEntra(FakeEntra):
    """Entra ID answering with a distinctive token, or echoing the secret back."""

    def post(self, url: str, **kwargs: Any) -> FakeResponse:
        answer = super().post(url, **kwargs)
        if answer.status_code == 200:
            body = {"token_type": "Bearer", "expires_in": 3600}
            return FakeResponse(200, {**body, "access_token": ACCESS_TOKEN})
        return answer


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _assert_hidden(
    caplog: pytest.LogCaptureFixture, raised: list[BaseException]
) -> None:
    shown = [record.getMessage() for record in caplog.records]
    shown += [str(record.__dict__) for record in caplog.records]
    for error in raised:
        # Our errors only: a foreign cause keeps the words its library chose.
        for link in _chain(error):
            if isinstance(link, IntegrationError):
                shown += [str(link), repr(link)]
    text = "\n".join(shown)
    for secret in SECRETS:
        assert secret not in text


async def test_token_acquisition_failures_never_show_the_secret_or_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Success, a refusal echoing the secret and an outage log and raise no secret."""
    caplog.set_level(logging.DEBUG)
    raised: list[BaseException] = []
    entra = LeakyEntra()
    dataverse, _ = build_token_providers(Settings.from_env(BASE_ENV), http_client=entra)

    assert await dataverse.get_token() == ACCESS_TOKEN
    dataverse.invalidate(ACCESS_TOKEN)
    entra.refusal = {
        "error": "invalid_client",
        "error_description": f"AADSTS7000215: Invalid client secret {SECRET}.",
        "error_codes": [7000215],
    }
    with pytest.raises(IntegrationError) as refused:
        await dataverse.get_token()
    raised.append(refused.value)
    entra.refusal = None
    entra.failure = ConnectionError(f"proxy said no to client_secret={SECRET}")
    with pytest.raises(IntegrationError) as unreachable:
        await dataverse.get_token()
    raised.append(unreachable.value)

    _assert_hidden(caplog, raised)
    assert repr(dataverse).count(ACCESS_TOKEN) == 0


class _Token:
    async def get_token(self) -> str:
        return ACCESS_TOKEN

    def invalidate(self, token: str) -> None:
        """Nothing else to hand out."""


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(401, json={"error": {"code": "Unauthorized", "message": "no"}}),
        httpx.Response(503),
        httpx.Response(500, text="<html>boom</html>"),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    ],
    ids=["401-twice", "503-retried", "500", "connect-error", "read-timeout"],
)
async def test_failed_requests_never_show_the_bearer_token(
    caplog: pytest.LogCaptureFixture, answer: httpx.Response | Exception
) -> None:
    """Whatever a request meets, the token stays out of logs and errors."""
    caplog.set_level(logging.DEBUG)

    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = ServiceClient(
        system="bc",
        base_url="https://bc.test/api",
        tokens=_Token(),
        max_concurrency=5,
        retry=RetryPolicy(max_attempts=3, max_elapsed=60, jitter=0.0),
        transport=httpx.MockTransport(handler),
        sleep=no_wait,
    )
    async with client:
        with pytest.raises(IntegrationError) as raised:
            await client.request("GET", "v2.0/companies?$filter=name eq 'x'")

    _assert_hidden(caplog, [raised.value])


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (
            "AzureWebJobsStorage",
            f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={ACCOUNT_KEY}"
            ";QueueEndpoint=http://queue.example.com",
        ),
        (
            "AzureWebJobsStorage",
            f"QueueEndpoint=http://acct.example.com?{SAS};SharedAccessSignature={SAS}",
        ),
        ("DATAVERSE_URL", f"https://contoso.crm.dynamics.com/?{SAS}"),
        ("BC_BASE_URL", f"http://bc.example.com/v2.0?{SAS}"),
    ],
    ids=["bad-queue-endpoint", "sas", "dataverse-url-query", "bc-url-query"],
)
def test_settings_problems_never_show_a_key(
    caplog: pytest.LogCaptureFixture, name: str, value: str
) -> None:
    """A refused setting is named in the problem, never echoed with its secret."""
    caplog.set_level(logging.DEBUG)

    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**BASE_ENV, name: value, "BC_ENVIRONMENT": "bad env"})

    assert any(name in problem for problem in raised.value.problems)
    _assert_hidden(caplog, [raised.value])


def test_settings_repr_hides_every_secret() -> None:
    """The settings object's repr masks the client secret and the storage key."""
    settings = Settings.from_env(
        {
            **BASE_ENV,
            "AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountName=acct;"
            f"AccountKey={ACCOUNT_KEY}",
        }
    )

    shown = repr(settings) + str(settings)

    assert SECRET not in shown
    assert ACCOUNT_KEY not in shown
