"""Token providers: MSAL flows against a fake Entra ID, caching, refresh, errors."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from pointegration.auth import (
    MsalTokenProvider,
    StaticTokenProvider,
    build_token_providers,
)
from pointegration.errors import AuthenticationError, ServiceUnavailableError
from pointegration.settings import BC_SCOPE, Secret, Settings

TENANT = "11111111-2222-3333-4444-555555555555"
OTHER_TENANT = "99999999-2222-3333-4444-555555555555"
CLIENT_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
SECRET = "s3cr3t~value.never-shown"
DATAVERSE = "https://contoso.crm.dynamics.com"
TOKEN_URL = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"

BASE_ENV = {
    "DATAVERSE_URL": DATAVERSE,
    "BC_ENVIRONMENT": "sandbox",
    "BC_COMPANY_ID": "6b1b1c2e-0000-4000-8000-000000000001",
    "AZURE_TENANT_ID": TENANT,
    "AZURE_CLIENT_ID": CLIENT_ID,
    "AZURE_CLIENT_SECRET": SECRET,
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
}


class FakeResponse:
    """The response shape MSAL reads: status_code, text, headers."""

    def __init__(self, status_code: int, body: Mapping[str, Any]) -> None:
        self.status_code = status_code
        self.text = json.dumps(body)
        self.headers: dict[str, str] = {}

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")


class FakeEntra:
    """Entra ID's OpenID discovery and token endpoints, in memory."""

    def __init__(self, *, expires_in: int = 3600) -> None:
        self.expires_in = expires_in
        self.gets: list[str] = []
        self.posts: list[dict[str, Any]] = []
        self.refusal: dict[str, Any] | None = None
        self.unknown_tenants: set[str] = set()
        self.failure: Exception | None = None

    def get(self, url: str, **kwargs: Any) -> FakeResponse:
        self.gets.append(url)
        tenant = url.split("/")[3]
        if tenant in self.unknown_tenants:
            return FakeResponse(400, {"error": "invalid_tenant"})
        root = f"https://login.microsoftonline.com/{tenant}"
        return FakeResponse(
            200,
            {
                "issuer": f"{root}/v2.0",
                "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                "token_endpoint": f"{root}/oauth2/v2.0/token",
            },
        )

    def post(self, url: str, **kwargs: Any) -> FakeResponse:
        self.posts.append({"url": url, "data": dict(kwargs.get("data") or {})})
        if self.failure is not None:
            raise self.failure
        if self.refusal is not None:
            return FakeResponse(401, self.refusal)
        body = {
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "access_token": f"token-{len(self.posts)}",
        }
        return FakeResponse(200, body)


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_settings(**overrides: str) -> Settings:
    return Settings.from_env({**BASE_ENV, **overrides})


def refusal(code: int, text: str, error: str = "invalid_client") -> dict[str, Any]:
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {text}\r\nTrace ID: t\r\nCorrelation "
        "ID: c\r\nTimestamp: 2026-12-03 12:00:00Z",
        "error_codes": [code],
        "correlation_id": "c0ffee00-0000-4000-8000-000000000000",
    }


def write_pem(
    path: Path,
    *,
    expired: bool = False,
    mismatched: bool = False,
) -> tuple[Path, x509.Certificate]:
    """A PEM file with an RSA key and a self-signed certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certified = signer if mismatched else key
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pobc-test")])
    start = datetime.now(UTC) - timedelta(days=60 if expired else 1)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(certified.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=30))
        .sign(certified, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(key_pem + certificate.public_bytes(serialization.Encoding.PEM))
    return path, certificate


@pytest.fixture
def entra() -> FakeEntra:
    return FakeEntra()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def no_identity_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "IDENTITY_SERVER_THUMBPRINT",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "IMDS_ENDPOINT",
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


async def test_secret_flow_posts_client_credentials_per_scope(entra: FakeEntra) -> None:
    """Each resource gets its own client-credentials request with its own scope."""
    dataverse, bc = build_token_providers(make_settings(), http_client=entra)

    assert await dataverse.get_token() == "token-1"
    assert await bc.get_token() == "token-2"

    assert [p["url"] for p in entra.posts] == [TOKEN_URL, TOKEN_URL]
    first, second = (p["data"] for p in entra.posts)
    assert first["grant_type"] == "client_credentials"
    assert first["client_id"] == CLIENT_ID
    assert first["client_secret"] == SECRET
    assert first["scope"] == f"{DATAVERSE}/.default"
    assert second["scope"] == "https://api.businesscentral.dynamics.com/.default"


async def test_certificate_flow_sends_a_signed_client_assertion(
    entra: FakeEntra,
    tmp_path: Path,
) -> None:
    """The certificate flow sends a PS256 JWT with the SHA-256 thumbprint, no secret."""
    path, certificate = write_pem(tmp_path / "app.pem")
    settings = make_settings(
        AUTH_MODE="certificate",
        AZURE_CLIENT_SECRET="",
        AZURE_CLIENT_CERTIFICATE_PATH=str(path),
    )
    dataverse, _ = build_token_providers(settings, http_client=entra)

    assert await dataverse.get_token() == "token-1"

    data = entra.posts[0]["data"]
    assert "client_secret" not in data
    assert data["client_assertion_type"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    header = jwt.get_unverified_header(data["client_assertion"])
    thumbprint = base64.urlsafe_b64encode(certificate.fingerprint(hashes.SHA256()))
    assert header["alg"] == "PS256"
    assert header["x5t#S256"].rstrip("=") == thumbprint.decode().rstrip("=")
    claims = jwt.decode(
        data["client_assertion"],
        key=certificate.public_key(),  # type: ignore[arg-type]
        algorithms=["PS256"],
        audience=TOKEN_URL,
    )
    assert claims["iss"] == claims["sub"] == CLIENT_ID


@pytest.mark.parametrize(
    ("pem", "expected"),
    [
        pytest.param(
            {"mismatched": True}, "matches its private key", id="key-mismatch"
        ),
        pytest.param({"expired": True}, "expired on", id="expired-certificate"),
    ],
)
async def test_unusable_certificate_names_the_setting(
    entra: FakeEntra,
    tmp_path: Path,
    pem: dict[str, bool],
    expected: str,
) -> None:
    """A certificate MSAL could not use fails before any request, naming its setting."""
    path, _ = write_pem(tmp_path / "app.pem", **pem)
    settings = make_settings(
        AUTH_MODE="certificate", AZURE_CLIENT_CERTIFICATE_PATH=str(path)
    )
    dataverse, _ = build_token_providers(settings, http_client=entra)

    with pytest.raises(AuthenticationError) as caught:
        await dataverse.get_token()

    assert "AZURE_CLIENT_CERTIFICATE_PATH" in str(caught.value)
    assert expected in str(caught.value)
    assert entra.posts == []


async def test_token_is_cached_between_calls(
    entra: FakeEntra, clock: FakeClock
) -> None:
    """A second call within the lifetime is served from the cache."""
    dataverse, _ = build_token_providers(
        make_settings(), http_client=entra, clock=clock
    )

    tokens = [await dataverse.get_token(), await dataverse.get_token()]

    assert tokens == ["token-1", "token-1"]
    assert len(entra.posts) == 1


@pytest.mark.parametrize(
    ("expires_in", "elapsed", "expected"),
    [
        pytest.param(3600, 3299, "token-1", id="within-lifetime-uses-cache"),
        pytest.param(3600, 3300, "token-2", id="five-minutes-before-expiry-refreshes"),
        pytest.param(120, 59, "token-1", id="short-lifetime-cached-until-half"),
        pytest.param(120, 60, "token-2", id="short-lifetime-refreshes-at-half"),
    ],
)
async def test_token_is_refreshed_before_it_expires(
    clock: FakeClock,
    expires_in: int,
    elapsed: float,
    expected: str,
) -> None:
    """Renewal happens five minutes before expiry, or halfway for short lifetimes."""
    entra = FakeEntra(expires_in=expires_in)
    dataverse, _ = build_token_providers(
        make_settings(), http_client=entra, clock=clock
    )
    await dataverse.get_token()

    clock.now += elapsed

    assert await dataverse.get_token() == expected


async def test_concurrent_callers_share_one_acquisition(entra: FakeEntra) -> None:
    """Twenty callers at once cause one token request and all get its token."""
    dataverse, _ = build_token_providers(make_settings(), http_client=entra)

    tokens = await asyncio.gather(*(dataverse.get_token() for _ in range(20)))

    assert set(tokens) == {"token-1"}
    assert len(entra.posts) == 1
    assert len(entra.gets) == 1


async def test_invalidate_forces_a_new_token_past_msal_cache(entra: FakeEntra) -> None:
    """After invalidate the next call asks Entra ID again instead of MSAL's cache."""
    dataverse, _ = build_token_providers(make_settings(), http_client=entra)
    first = await dataverse.get_token()

    dataverse.invalidate(first)

    assert await dataverse.get_token() == "token-2"
    assert len(entra.posts) == 2


async def test_invalidating_a_stale_token_keeps_the_current_one(
    entra: FakeEntra,
) -> None:
    """A late 401 for an old token does not throw away the newer cached one."""
    dataverse, _ = build_token_providers(make_settings(), http_client=entra)
    first = await dataverse.get_token()
    dataverse.invalidate(first)
    await dataverse.get_token()

    dataverse.invalidate(first)

    assert await dataverse.get_token() == "token-2"
    assert len(entra.posts) == 2


@pytest.mark.parametrize(
    ("code", "text", "resource", "setting"),
    [
        pytest.param(
            7000215,
            "Invalid client secret provided.",
            "dataverse",
            "AZURE_CLIENT_SECRET was refused by Entra ID (AADSTS7000215 invalid "
            "client secret)",
            id="invalid-secret-names-AZURE_CLIENT_SECRET",
        ),
        pytest.param(
            7000222,
            "The provided client secret keys are expired.",
            "bc",
            "AZURE_CLIENT_SECRET was refused",
            id="expired-secret-names-AZURE_CLIENT_SECRET",
        ),
        pytest.param(
            700016,
            "Application with identifier 'x' was not found in the directory.",
            "dataverse",
            "AZURE_CLIENT_ID was refused",
            id="unknown-app-names-AZURE_CLIENT_ID",
        ),
        pytest.param(
            500011,
            "The resource principal named https://x was not found in the tenant.",
            "dataverse",
            "DATAVERSE_URL was refused",
            id="unknown-resource-names-DATAVERSE_URL",
        ),
        pytest.param(
            500011,
            "The resource principal named https://x was not found in the tenant.",
            "bc",
            "AZURE_TENANT_ID was refused",
            id="bc-missing-in-tenant-names-AZURE_TENANT_ID",
        ),
        pytest.param(
            123456,
            "Something new went wrong. More text follows.",
            "dataverse",
            "(invalid_client: Something new went wrong.); check AZURE_TENANT_ID, "
            "AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
            id="unknown-code-lists-the-auth-settings",
        ),
    ],
)
async def test_entra_refusal_names_the_setting_to_fix(
    entra: FakeEntra,
    code: int,
    text: str,
    resource: str,
    setting: str,
) -> None:
    """An AADSTS refusal becomes an AuthenticationError naming the setting."""
    entra.refusal = refusal(code, text)
    dataverse, bc = build_token_providers(make_settings(), http_client=entra)

    with pytest.raises(AuthenticationError) as caught:
        await (dataverse if resource == "dataverse" else bc).get_token()

    error = caught.value
    assert setting in str(error)
    assert error.code == f"AADSTS{code}"
    assert error.correlation_id == "c0ffee00-0000-4000-8000-000000000000"
    assert SECRET not in str(error)
    assert SECRET not in repr(error)


async def test_unknown_tenant_names_AZURE_TENANT_ID(entra: FakeEntra) -> None:
    """Failed OpenID discovery for the tenant becomes an error naming the tenant."""
    entra.unknown_tenants.add(TENANT)
    dataverse, _ = build_token_providers(make_settings(), http_client=entra)

    with pytest.raises(AuthenticationError) as caught:
        await dataverse.get_token()

    assert f"AZURE_TENANT_ID '{TENANT}' was not found by Entra ID" in str(caught.value)
    assert isinstance(caught.value.__cause__, ValueError)


async def test_network_failure_is_retryable(entra: FakeEntra) -> None:
    """A connection error to Entra ID is a retryable error, with the cause kept."""
    entra.failure = ConnectionError("connection refused")
    dataverse, _ = build_token_providers(make_settings(), http_client=entra)

    with pytest.raises(ServiceUnavailableError) as caught:
        await dataverse.get_token()

    assert "Entra ID could not be reached" in str(caught.value)
    assert isinstance(caught.value.__cause__, ConnectionError)


async def test_failure_is_not_cached(entra: FakeEntra) -> None:
    """After a refusal is fixed, the next call acquires a token normally."""
    entra.refusal = refusal(7000215, "Invalid client secret provided.")
    dataverse, _ = build_token_providers(make_settings(), http_client=entra)
    with pytest.raises(AuthenticationError):
        await dataverse.get_token()

    entra.refusal = None

    assert await dataverse.get_token() == "token-2"


async def test_secret_and_tokens_never_reach_the_logs(
    entra: FakeEntra,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Neither the client secret nor an access token appears in any log record."""
    caplog.set_level(logging.DEBUG)
    dataverse, _ = build_token_providers(make_settings(), http_client=entra)
    token = await dataverse.get_token()
    entra.refusal = refusal(7000215, "Invalid client secret provided.")
    dataverse.invalidate(token)
    with pytest.raises(AuthenticationError):
        await dataverse.get_token()

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "auth.acquired" in logged
    assert "auth.acquire_failed" in logged
    assert SECRET not in logged
    assert token not in logged


async def test_bc_token_comes_from_the_bc_tenant(entra: FakeEntra) -> None:
    """With BC_TENANT_ID set to another tenant, the BC token is asked there."""
    settings = make_settings(BC_TENANT_ID=OTHER_TENANT)
    dataverse, bc = build_token_providers(settings, http_client=entra)

    await dataverse.get_token()
    await bc.get_token()

    assert [p["url"].split("/")[3] for p in entra.posts] == [TENANT, OTHER_TENANT]


class FakeIdentityEndpoint:
    """App Service's or the VM's managed identity endpoint, in memory."""

    def __init__(self, body: Mapping[str, Any] | None = None) -> None:
        self.body = body
        self.calls: list[dict[str, Any]] = []
        self.failure: Exception | None = None

    def get(self, url: str, **kwargs: Any) -> FakeResponse:
        self.calls.append({"url": url, **kwargs})
        if self.failure is not None:
            raise self.failure
        number = len(self.calls)
        body = self.body or {
            "access_token": f"mi-token-{number}",
            "expires_on": str(int(time.time()) + 3600),
            "expires_in": "3600",
            "resource": kwargs["params"]["resource"],
            "token_type": "Bearer",
        }
        return FakeResponse(200, body)

    def post(self, url: str, **kwargs: Any) -> FakeResponse:
        raise AssertionError("managed identity never POSTs")


@pytest.mark.parametrize(
    ("client_id", "expected_params"),
    [
        pytest.param("", {}, id="system-assigned"),
        pytest.param(CLIENT_ID, {"client_id": CLIENT_ID}, id="user-assigned"),
    ],
)
async def test_managed_identity_on_app_service_asks_for_resources(
    no_identity_env: pytest.MonkeyPatch,
    client_id: str,
    expected_params: dict[str, str],
) -> None:
    """On App Service the identity endpoint gets each resource without /.default."""
    no_identity_env.setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:41999/msi/token")
    no_identity_env.setenv("IDENTITY_HEADER", "header-value")
    endpoint = FakeIdentityEndpoint()
    settings = make_settings(AUTH_MODE="managed_identity", AZURE_CLIENT_ID=client_id)
    dataverse, bc = build_token_providers(settings, http_client=endpoint)

    assert await dataverse.get_token() == "mi-token-1"
    assert await bc.get_token() == "mi-token-2"
    assert await dataverse.get_token() == "mi-token-1"

    first, second = endpoint.calls
    assert first["url"] == "http://127.0.0.1:41999/msi/token"
    assert first["headers"]["X-IDENTITY-HEADER"] == "header-value"
    assert first["params"] == {
        "api-version": "2019-08-01",
        "resource": DATAVERSE,
        **expected_params,
    }
    assert second["params"]["resource"] == "https://api.businesscentral.dynamics.com"


async def test_managed_identity_on_a_vm_uses_imds(
    no_identity_env: pytest.MonkeyPatch,
) -> None:
    """Without App Service variables MSAL asks the VM's IMDS endpoint."""
    endpoint = FakeIdentityEndpoint({"access_token": "vm-token", "expires_in": "3599"})
    settings = make_settings(AUTH_MODE="managed_identity")
    _, bc = build_token_providers(settings, http_client=endpoint)

    assert await bc.get_token() == "vm-token"

    call = endpoint.calls[0]
    assert call["url"] == "http://169.254.169.254/metadata/identity/oauth2/token"
    assert call["headers"]["Metadata"] == "true"
    assert call["params"]["resource"] == "https://api.businesscentral.dynamics.com"


async def test_managed_identity_invalidate_gets_a_new_token(
    no_identity_env: pytest.MonkeyPatch,
) -> None:
    """A refused managed-identity token is replaced, not served from MSAL's cache."""
    no_identity_env.setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:41999/msi/token")
    no_identity_env.setenv("IDENTITY_HEADER", "header-value")
    endpoint = FakeIdentityEndpoint()
    settings = make_settings(AUTH_MODE="managed_identity")
    dataverse, _ = build_token_providers(settings, http_client=endpoint)
    first = await dataverse.get_token()

    dataverse.invalidate(first)

    assert await dataverse.get_token() == "mi-token-2"


@pytest.mark.parametrize(
    ("client_id", "setting"),
    [
        pytest.param("", "the system-assigned identity got no token", id="system"),
        pytest.param(CLIENT_ID, f"AZURE_CLIENT_ID '{CLIENT_ID}'", id="user-assigned"),
    ],
)
async def test_managed_identity_refusal_names_the_setting(
    no_identity_env: pytest.MonkeyPatch,
    client_id: str,
    setting: str,
) -> None:
    """An identity endpoint error names AZURE_CLIENT_ID or the system identity."""
    body = {"error": "invalid_request", "error_description": "Identity not found"}
    endpoint = FakeIdentityEndpoint(body)
    settings = make_settings(AUTH_MODE="managed_identity", AZURE_CLIENT_ID=client_id)
    dataverse, _ = build_token_providers(settings, http_client=endpoint)

    with pytest.raises(AuthenticationError) as caught:
        await dataverse.get_token()

    assert setting in str(caught.value)
    assert "Identity not found" in str(caught.value)


async def test_managed_identity_unreachable_becomes_authentication_error(
    no_identity_env: pytest.MonkeyPatch,
) -> None:
    """No identity endpoint (not on Azure) is an AuthenticationError with the cause."""
    endpoint = FakeIdentityEndpoint()
    endpoint.failure = ConnectionError("no route to host")
    settings = make_settings(AUTH_MODE="managed_identity")
    dataverse, _ = build_token_providers(settings, http_client=endpoint)

    with pytest.raises(AuthenticationError) as caught:
        await dataverse.get_token()

    assert "AUTH_MODE managed_identity" in str(caught.value)
    assert isinstance(caught.value.__cause__, ConnectionError)


async def test_static_mode_hands_out_the_configured_token() -> None:
    """AUTH_MODE static gives both resources AUTH_STATIC_TOKEN, even after a 401."""
    settings = make_settings(
        AUTH_MODE="static",
        AUTH_STATIC_TOKEN="emulator-token",
        DATAVERSE_URL="http://127.0.0.1:5001",
        BC_BASE_URL="http://127.0.0.1:5002/v2.0",
    )
    dataverse, bc = build_token_providers(settings)

    dataverse.invalidate("emulator-token")

    assert await dataverse.get_token() == "emulator-token"
    assert await bc.get_token() == "emulator-token"
    assert "emulator-token" not in repr(dataverse)


async def test_provider_repr_shows_scope_not_token(entra: FakeEntra) -> None:
    """A provider's repr names its scope and never the cached token."""
    provider = MsalTokenProvider.for_client_credential(
        tenant_id=TENANT,
        client_id=CLIENT_ID,
        credential=Secret(SECRET),
        scope=BC_SCOPE,
        resource_setting="AZURE_TENANT_ID",
        http_client=entra,
    )
    token = await provider.get_token()

    assert repr(provider) == f"MsalTokenProvider(scope={BC_SCOPE!r})"
    assert token not in repr(provider.__dict__)
    assert SECRET not in repr(provider.__dict__)


def test_static_provider_keeps_token_out_of_repr() -> None:
    """StaticTokenProvider's repr never shows the token."""
    assert "abc" not in repr(StaticTokenProvider(Secret("abc")))


class BrokenSource:
    """A token source with a bug: it raises something other than the contract."""

    def acquire(self, scope: str, resource_setting: str) -> Mapping[str, Any]:
        raise KeyError("access_token")


async def test_no_lower_level_exception_leaks_from_a_provider() -> None:
    """Whatever a source raises, callers see an AuthenticationError with the cause."""
    provider = MsalTokenProvider(BrokenSource(), BC_SCOPE, resource_setting="AUTH_MODE")

    with pytest.raises(AuthenticationError) as caught:
        await provider.get_token()

    assert isinstance(caught.value.__cause__, KeyError)
