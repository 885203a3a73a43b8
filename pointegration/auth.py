"""Bearer tokens for Dataverse and Business Central: one provider per resource.

A provider has ``async get_token()`` and ``invalidate(token)``, the shape
:class:`pointegration.http.ServiceClient` expects. :func:`build_token_providers`
makes the pair the settings ask for:

- ``AUTH_MODE=secret`` or ``certificate``: Entra ID client credentials through
  MSAL's ``ConfidentialClientApplication``, with ``AZURE_CLIENT_SECRET`` or the
  PEM file at ``AZURE_CLIENT_CERTIFICATE_PATH`` (MSAL signs a client assertion
  with the key and the certificate's SHA-256 thumbprint);
- ``managed_identity``: MSAL's ``ManagedIdentityClient``, system-assigned, or
  user-assigned when ``AZURE_CLIENT_ID`` is set. It asks for a *resource*, so
  the scope loses its ``/.default``;
- ``static``: ``AUTH_STATIC_TOKEN`` as is, for the emulators.

Scopes are ``{DATAVERSE_URL}/.default`` and
``https://api.businesscentral.dynamics.com/.default``; the BC token comes from
``BC_TENANT_ID``'s authority, the Dataverse token from ``AZURE_TENANT_ID``'s.

Which cache decides: this module's. A provider keeps one token and acquires a
new one ``REFRESH_MARGIN`` seconds (five minutes) before it expires, by its own
clock, or after :meth:`~MsalTokenProvider.invalidate`. MSAL keeps a token cache
too; it is emptied after every acquisition, so MSAL never hands back a token this
module has dropped. Concurrent callers share one acquisition; MSAL is blocking,
so it runs in a worker thread.

Every failure is an :class:`~pointegration.errors.AuthenticationError` whose
message names the setting to fix and holds neither a secret nor a token, except
Entra ID being out of reach: that is a passing fault, raised as the retryable
:class:`~pointegration.errors.ServiceUnavailableError`.

Limitation: managed identity gets tokens in the identity's own tenant only; a BC
tenant other than that needs ``secret`` or ``certificate``.
Limitation: a static token is never refreshed; after a 401 the same token is
sent once more and the request fails.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pointegration.errors import (
    AuthenticationError,
    IntegrationError,
    ServiceUnavailableError,
)
from pointegration.settings import BC_SCOPE, Secret, Settings
from pointegration.telemetry import log_event

__all__ = [
    "AUTHORITY_HOST",
    "REFRESH_MARGIN",
    "MsalTokenProvider",
    "StaticTokenProvider",
    "build_token_providers",
]

logger = logging.getLogger("pointegration.auth")

AUTHORITY_HOST = "https://login.microsoftonline.com"
REFRESH_MARGIN = 300.0
_DEFAULT_LIFETIME = 3600.0
_UNREACHABLE = "entra_unreachable"

Clock = Callable[[], float]


class _TokenSource(Protocol):
    """Gets a fresh token from an identity service; blocking."""

    def acquire(self, scope: str, resource_setting: str) -> Mapping[str, Any]:
        """MSAL's successful result (``access_token``, ``expires_in``).

        Raises :class:`AuthenticationError` for every failure.
        """
        ...


class StaticTokenProvider:
    """Hands out ``AUTH_STATIC_TOKEN``; for the emulators on loopback only."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    async def get_token(self) -> str:
        """The configured token."""
        return self._token.get_secret_value()

    def invalidate(self, token: str) -> None:
        """Nothing to do: there is no other token to get."""

    def __repr__(self) -> str:
        return "StaticTokenProvider()"


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float

    def __repr__(self) -> str:
        return f"_Token(refresh_at={self.refresh_at!r})"


class MsalTokenProvider:
    """Tokens for one scope from Entra ID or a managed identity, cached here.

    Build one with :meth:`for_client_credential` or
    :meth:`for_managed_identity`. ``clock`` (seconds, monotonic) decides when a
    token is due for renewal: ``REFRESH_MARGIN`` before ``expires_in`` runs out,
    or halfway through a lifetime shorter than twice the margin.
    """

    def __init__(
        self,
        source: _TokenSource,
        scope: str,
        *,
        resource_setting: str,
        clock: Clock = time.monotonic,
        refresh_margin: float = REFRESH_MARGIN,
    ) -> None:
        self.scope = scope
        self._source = source
        self._resource_setting = resource_setting
        self._clock = clock
        self._margin = refresh_margin
        self._token: _Token | None = None
        # One lock per running loop: an asyncio.Lock is tied to the first loop
        # that waits on it, and a provider may outlive that loop.
        self._locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Lock
        ] = weakref.WeakKeyDictionary()

    @classmethod
    def for_client_credential(
        cls,
        *,
        tenant_id: str,
        client_id: str,
        credential: Secret | Path,
        scope: str,
        resource_setting: str,
        http_client: Any = None,
        timeout: float = 30.0,
        clock: Clock = time.monotonic,
    ) -> MsalTokenProvider:
        """Client credentials: ``AZURE_CLIENT_SECRET``, or a PEM key and certificate."""
        source = _ConfidentialClientSource(
            tenant_id=tenant_id,
            client_id=client_id,
            credential=credential,
            http_client=http_client,
            timeout=timeout,
        )
        return cls(source, scope, resource_setting=resource_setting, clock=clock)

    @classmethod
    def for_managed_identity(
        cls,
        *,
        scope: str,
        client_id: str | None = None,
        http_client: Any = None,
        timeout: float = 30.0,
        clock: Clock = time.monotonic,
    ) -> MsalTokenProvider:
        """The function app's managed identity; user-assigned when ``client_id``."""
        source = _ManagedIdentitySource(client_id, http_client, timeout)
        return cls(source, scope, resource_setting="AUTH_MODE", clock=clock)

    async def get_token(self) -> str:
        """A token valid for at least the refresh margin, acquiring one if due."""
        cached = self._cached()
        if cached is not None:
            return cached
        loop = asyncio.get_running_loop()
        async with self._locks.setdefault(loop, asyncio.Lock()):
            cached = self._cached()  # another caller may have just acquired one
            if cached is not None:
                return cached
            return await self._acquire()

    def invalidate(self, token: str) -> None:
        """Drop ``token`` if it is still the cached one (it drew a 401)."""
        if self._token is not None and self._token.value == token:
            self._token = None
            log_event(logger, logging.INFO, "auth.invalidated", scope=self.scope)

    def _cached(self) -> str | None:
        if self._token is not None and self._clock() < self._token.refresh_at:
            return self._token.value
        return None

    async def _acquire(self) -> str:
        started = self._clock()
        try:
            result = await asyncio.to_thread(
                self._source.acquire, self.scope, self._resource_setting
            )
        except IntegrationError as exc:
            log_event(
                logger,
                logging.WARNING,
                "auth.acquire_failed",
                scope=self.scope,
                code=exc.code,
            )
            raise
        except Exception as exc:  # a source must translate; never let one leak
            raise AuthenticationError(
                f"no token for {self.scope} ({type(exc).__name__})"
            ) from exc

        lifetime = _lifetime(result)
        self._token = _Token(
            value=str(result["access_token"]),
            refresh_at=started + lifetime - min(self._margin, lifetime / 2),
        )
        log_event(
            logger,
            logging.INFO,
            "auth.acquired",
            scope=self.scope,
            expires_in=round(lifetime),
        )

        return self._token.value

    def __repr__(self) -> str:
        return f"MsalTokenProvider(scope={self.scope!r})"


def _lifetime(result: Mapping[str, Any]) -> float:
    try:
        return max(float(result.get("expires_in", _DEFAULT_LIFETIME)), 0.0)
    except (TypeError, ValueError):
        return 0.0


# --- Confidential client (secret or certificate) --------------------------------

# What an AADSTS code asks to fix: a role (resolved to a setting name by the
# source) and a short reason. Codes from Entra ID's published error list.
_AADSTS: Mapping[int, tuple[str, str]] = {
    7000215: ("credential", "invalid client secret"),
    7000222: ("credential", "client secret expired"),
    700027: ("credential", "certificate not registered on the app registration"),
    700024: ("credential", "client assertion outside its validity period"),
    700016: ("client", "application not found in the tenant"),
    7000112: ("client", "application is disabled"),
    53003: ("client", "blocked by Conditional Access"),
    65001: ("client", "admin consent not granted"),
    650057: ("client", "API permission missing from the app registration"),
    90002: ("tenant", "tenant not found"),
    900023: ("tenant", "invalid tenant identifier"),
    500011: ("resource", "resource not found in the tenant"),
    70011: ("resource", "invalid scope"),
}


class _ConfidentialClientSource:
    """One MSAL confidential client application, built on first use."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        credential: Secret | Path,
        http_client: Any,
        timeout: float,
        tenant_setting: str = "AZURE_TENANT_ID",
    ) -> None:
        self._tenant_id = tenant_id
        self._client_id = client_id
        self._credential = credential
        self._http_client = http_client
        self._timeout = timeout
        self._app: Any = None
        self._building = threading.Lock()
        self._roles = {
            "credential": "AZURE_CLIENT_SECRET"
            if isinstance(credential, Secret)
            else "AZURE_CLIENT_CERTIFICATE_PATH",
            "client": "AZURE_CLIENT_ID",
            "tenant": tenant_setting,
        }

    def acquire(self, scope: str, resource_setting: str) -> Mapping[str, Any]:
        app = self._application(scope)
        try:
            result = app.acquire_token_for_client(scopes=[scope])
        except Exception as exc:
            raise self._failure(_unreachable(exc, scope), code=_UNREACHABLE) from exc
        finally:
            _forget_tokens(app.token_cache)

        if not isinstance(result, Mapping) or "access_token" not in result:
            raise self._refusal(result or {}, scope, resource_setting)
        return result

    def _application(self, scope: str) -> Any:
        with self._building:
            if self._app is None:
                self._app = self._build(scope)
            return self._app

    def _build(self, scope: str) -> Any:
        import msal

        credential = (
            self._credential.get_secret_value()
            if isinstance(self._credential, Secret)
            else _certificate_credential(self._credential)
        )
        client = self._http_client or _RequestsClient(self._timeout)
        try:
            return msal.ConfidentialClientApplication(
                self._client_id,
                client_credential=credential,
                authority=f"{AUTHORITY_HOST}/{self._tenant_id}",
                http_client=client,
                instance_discovery=False,
                token_cache=msal.TokenCache(),
            )
        except ValueError as exc:
            raise self._failure(self._build_refused(exc)) from exc
        except Exception as exc:
            raise self._failure(_unreachable(exc, scope), code=_UNREACHABLE) from exc

    def _build_refused(self, exc: ValueError) -> str:
        if "authority" in str(exc).lower() or "discovery" in str(exc).lower():
            return (
                f"{self._roles['tenant']} {self._tenant_id!r} was not found by "
                "Entra ID (OpenID configuration discovery failed)"
            )
        return (
            f"{self._roles['credential']} was refused by MSAL "
            f"({type(exc).__name__}: {_first_sentence(str(exc))})"
        )

    def _refusal(
        self,
        result: Mapping[str, Any],
        scope: str,
        resource_setting: str,
    ) -> IntegrationError:
        error = str(result.get("error") or "no_access_token")
        description = str(result.get("error_description") or "")
        code = _aadsts_code(result, description)
        role, reason = _AADSTS.get(code or 0, ("", ""))
        setting = self._roles.get(role, resource_setting)
        if reason:
            message = (
                f"{setting} was refused by Entra ID (AADSTS{code} {reason}) "
                f"getting a token for {scope}"
            )
        else:
            message = (
                f"Entra ID refused the token request for {scope} ({error}: "
                f"{_first_sentence(description)}); check "
                f"{self._roles['tenant']}, AZURE_CLIENT_ID and "
                f"{self._roles['credential']}"
            )
        return self._failure(
            message,
            code=f"AADSTS{code}" if code else error,
            correlation_id=result.get("correlation_id"),
        )

    def _failure(
        self,
        message: str,
        *,
        code: str | None = None,
        correlation_id: Any = None,
    ) -> IntegrationError:
        secrets = (
            [self._credential.get_secret_value()]
            if isinstance(self._credential, Secret)
            else []
        )
        # Entra ID out of reach is a passing fault, not a setup to fix: retry later.
        error_type = (
            ServiceUnavailableError if code == _UNREACHABLE else AuthenticationError
        )
        return error_type(
            _scrub(message, secrets),
            code=code,
            system="entra",
            correlation_id=str(correlation_id) if correlation_id else None,
        )


def _aadsts_code(result: Mapping[str, Any], description: str) -> int | None:
    codes = result.get("error_codes")
    if isinstance(codes, list) and codes and isinstance(codes[0], int):
        return codes[0]
    found = re.search(r"AADSTS(\d+)", description)
    return int(found.group(1)) if found else None


_PEM_KEY = re.compile(
    r"-----BEGIN (?:RSA |EC )?PRIVATE KEY-----.+?"
    r"-----END (?:RSA |EC )?PRIVATE KEY-----",
    re.DOTALL,
)
_PEM_CERT = re.compile(
    r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL
)


def _certificate_credential(path: Path) -> dict[str, str]:
    """MSAL's credential for a PEM file: the key and the certificate it belongs to.

    MSAL computes the SHA-256 thumbprint from ``public_certificate`` and signs
    the client assertion with PS256.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    setting = "AZURE_CLIENT_CERTIFICATE_PATH"
    try:
        text = path.read_text(encoding="ascii")
        key_pem = _PEM_KEY.search(text)
        if key_pem is None:
            raise ValueError("no private key")
        key = serialization.load_pem_private_key(key_pem.group().encode(), None)
        certificates = [
            (pem, x509.load_pem_x509_certificate(pem.encode()))
            for pem in _PEM_CERT.findall(text)
        ]
    except (OSError, ValueError, TypeError) as exc:
        raise AuthenticationError(
            f"{setting} {str(path)!r} could not be read as a PEM private key and "
            f"certificate ({type(exc).__name__})",
            system="entra",
        ) from exc

    public = _public_bytes(key.public_key())
    for pem, certificate in certificates:
        if _public_bytes(certificate.public_key()) == public:
            if certificate.not_valid_after_utc.timestamp() < time.time():
                raise AuthenticationError(
                    f"{setting} {str(path)!r}: the certificate expired on "
                    f"{certificate.not_valid_after_utc:%Y-%m-%d}",
                    system="entra",
                )
            return {"private_key": key_pem.group(), "public_certificate": pem}

    raise AuthenticationError(
        f"{setting} {str(path)!r}: no certificate in the file matches its private key",
        system="entra",
    )


def _public_bytes(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    data: bytes = key.public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    return data


# --- Managed identity ------------------------------------------------------------


class _ManagedIdentitySource:
    """MSAL's managed identity client; App Service, Functions, VM and Arc alike."""

    def __init__(self, client_id: str | None, http_client: Any, timeout: float) -> None:
        self._client_id = client_id
        self._http_client = http_client
        self._timeout = timeout
        self._client: Any = None
        self._cache: Any = None
        self._building = threading.Lock()

    def acquire(self, scope: str, resource_setting: str) -> Mapping[str, Any]:
        resource = _resource_of(scope)
        client = self._msal_client()
        try:
            result = client.acquire_token_for_client(resource=resource)
        except Exception as exc:
            raise AuthenticationError(
                "AUTH_MODE managed_identity: no managed identity endpoint answered "
                f"({type(exc).__name__}); run on Azure with an identity enabled, "
                "or choose another AUTH_MODE",
                code="managed_identity_unreachable",
                system="managed_identity",
            ) from exc
        finally:
            _forget_tokens(self._cache)

        if not isinstance(result, Mapping) or "access_token" not in result:
            raise self._refusal(result or {}, resource)
        return result

    def _msal_client(self) -> Any:
        import msal

        with self._building:
            if self._client is None:
                identity = (
                    msal.UserAssignedManagedIdentity(client_id=self._client_id)
                    if self._client_id
                    else msal.SystemAssignedManagedIdentity()
                )
                self._cache = msal.TokenCache()
                self._client = msal.ManagedIdentityClient(
                    identity,
                    http_client=self._http_client or _RequestsClient(self._timeout),
                    token_cache=self._cache,
                )
            return self._client

    def _refusal(self, result: Mapping[str, Any], resource: str) -> AuthenticationError:
        error = str(result.get("error") or "no_access_token")
        detail = _first_sentence(str(result.get("error_description") or ""))
        if self._client_id:
            message = (
                f"AZURE_CLIENT_ID {self._client_id!r} got no token for {resource} "
                f"({error}: {detail}); attach that user-assigned identity to the "
                "function app"
            )
        else:
            message = (
                "AUTH_MODE managed_identity: the system-assigned identity got no "
                f"token for {resource} ({error}: {detail}); enable it on the "
                "function app, or set AZURE_CLIENT_ID to a user-assigned identity"
            )
        return AuthenticationError(message, code=error, system="managed_identity")


def _resource_of(scope: str) -> str:
    return scope.removesuffix("/.default")


# --- Shared helpers --------------------------------------------------------------


class _RequestsClient:
    """The blocking HTTP client MSAL calls: ``requests`` with a timeout per call."""

    def __init__(self, timeout: float) -> None:
        import requests

        self._session = requests.Session()
        self._timeout = timeout

    def get(self, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self._timeout)
        return self._session.get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self._timeout)
        return self._session.post(url, **kwargs)

    def close(self) -> None:
        self._session.close()


def _forget_tokens(cache: Any) -> None:
    """Empty MSAL's access-token cache: this module's cache decides."""
    for entry in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
        cache.remove_at(entry)


def _unreachable(exc: Exception, scope: str) -> str:
    return (
        f"no token for {scope}: Entra ID could not be reached at {AUTHORITY_HOST} "
        f"({type(exc).__name__}); check the network and proxy settings"
    )


def _first_sentence(text: str) -> str:
    text = re.sub(r"^AADSTS\d+:\s*", "", text.strip())
    first = re.split(r"(?<=\.)\s|\r?\n", text, maxsplit=1)[0]
    return first[:200]


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


AnyTokenProvider = MsalTokenProvider | StaticTokenProvider


def build_token_providers(
    settings: Settings,
    *,
    http_client: Any = None,
    clock: Clock = time.monotonic,
) -> tuple[AnyTokenProvider, AnyTokenProvider]:
    """The (Dataverse, Business Central) token providers ``AUTH_MODE`` asks for.

    ``http_client`` replaces the HTTP client MSAL uses (an object with
    ``get``/``post`` like ``requests.Session``); tests pass a fake. Nothing is
    sent until the first ``get_token``.
    """
    if settings.auth_mode == "static":
        assert settings.auth_static_token is not None  # guaranteed by Settings
        static = StaticTokenProvider(settings.auth_static_token)
        return static, static

    timeout = settings.http_timeout_seconds
    if settings.auth_mode == "managed_identity":
        source = _ManagedIdentitySource(settings.azure_client_id, http_client, timeout)
        return (
            MsalTokenProvider(
                source,
                settings.dataverse_scope,
                resource_setting="DATAVERSE_URL",
                clock=clock,
            ),
            MsalTokenProvider(
                source, BC_SCOPE, resource_setting="AUTH_MODE", clock=clock
            ),
        )

    dataverse_source = _confidential_source(settings, "AZURE_TENANT_ID", http_client)
    bc_tenant_setting = (
        "AZURE_TENANT_ID"
        if settings.bc_tenant_id == settings.azure_tenant_id
        else "BC_TENANT_ID"
    )
    bc_source = (
        dataverse_source
        if bc_tenant_setting == "AZURE_TENANT_ID"
        else _confidential_source(settings, "BC_TENANT_ID", http_client)
    )
    return (
        MsalTokenProvider(
            dataverse_source,
            settings.dataverse_scope,
            resource_setting="DATAVERSE_URL",
            clock=clock,
        ),
        MsalTokenProvider(
            bc_source, BC_SCOPE, resource_setting=bc_tenant_setting, clock=clock
        ),
    )


def _confidential_source(
    settings: Settings,
    tenant_setting: str,
    http_client: Any,
) -> _ConfidentialClientSource:
    tenant_id = (
        settings.azure_tenant_id
        if tenant_setting == "AZURE_TENANT_ID"
        else settings.bc_tenant_id
    )
    credential: Secret | Path | None = (
        settings.azure_client_secret
        if settings.auth_mode == "secret"
        else settings.azure_client_certificate_path
    )
    # Settings.from_env guarantees these for AUTH_MODE secret and certificate.
    assert tenant_id is not None
    assert settings.azure_client_id is not None
    assert credential is not None
    return _ConfidentialClientSource(
        tenant_id=tenant_id,
        client_id=settings.azure_client_id,
        credential=credential,
        http_client=http_client,
        timeout=settings.http_timeout_seconds,
        tenant_setting=tenant_setting,
    )
