"""The settings of the integration (DESIGN §3.3, contract), read once, checked together.

:meth:`Settings.from_env` reads every setting from the environment (the function
app's application settings), validates them all, and either returns a frozen
:class:`Settings` or raises one :class:`~pointegration.errors.SettingsError` whose
``problems`` name each missing or invalid setting. Secret values
(``AZURE_CLIENT_SECRET``, ``AUTH_STATIC_TOKEN``, ``AzureWebJobsStorage``) are held
as :class:`Secret`, which never shows its value in ``repr``, ``str`` or a problem.

An empty value counts as unset. URLs lose their trailing slash. Beyond the
contract, three knobs can be set: ``BC_MAX_CONCURRENCY`` (default 5, BC's
per-user limit), ``DATAVERSE_MAX_CONCURRENCY`` (default 52, Dataverse's) and
``HTTP_TIMEOUT_SECONDS`` (default 30); each takes 1 to 100 (the timeout up to 600).
``BC_TENANT_ID`` falls back to ``AZURE_TENANT_ID`` when unset.

Limitation: ``AzureWebJobsStorage`` must be a connection string; identity-based
storage connections (``AzureWebJobsStorage__accountName``) are not supported.
Limitation: a certificate's private key must be unencrypted PEM.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from pointegration import ncrontab
from pointegration.errors import ConfigurationError, SettingsError

__all__ = [
    "AUTH_MODES",
    "BC_SCOPE",
    "DEFAULT_BC_BASE_URL",
    "DEFAULT_LINE_MAPPING",
    "AuthMode",
    "LineMapping",
    "LineTarget",
    "Secret",
    "Settings",
    "get_settings",
    "reset_settings",
]

AuthMode = Literal["secret", "certificate", "managed_identity", "static"]
LineType = Literal["Account", "Item", "Resource"]

AUTH_MODES: tuple[AuthMode, ...] = (
    "secret",
    "certificate",
    "managed_identity",
    "static",
)
DEFAULT_BC_BASE_URL = "https://api.businesscentral.dynamics.com/v2.0"
BC_SCOPE = "https://api.businesscentral.dynamics.com/.default"
AZURITE_QUEUE_ENDPOINT = "http://127.0.0.1:10001/devstoreaccount1"

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
_ENVIRONMENT = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
_API_ROUTE = re.compile(r"^[A-Za-z0-9_-]+/[A-Za-z0-9_-]+/(v\d+\.\d+|beta)$")
_QUEUE_NAME = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,54}[a-z0-9]$")
_SECRET_MASK = "**********"  # noqa: S105 - the mask shown instead of a secret


class Secret:
    """A setting whose value must never be shown; ``get_secret_value()`` reveals it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """The value itself, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{_SECRET_MASK}')"

    def __str__(self) -> str:
        return _SECRET_MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


# --- BC_LINE_MAPPING -------------------------------------------------------------

# Dataverse choice values (pointegration.dataverse.schema.BillingMethod and
# TransactionClassification) by the names BC_LINE_MAPPING keys use. Kept here so
# the platform layer imports nothing above it; a test holds the two in step.
_BILLING_METHODS: Mapping[int, str] = {
    192350000: "timeAndMaterial",
    192350001: "fixedPrice",
}
_TRANSACTION_CLASSES: Mapping[int, str] = {
    192350000: "time",
    192350001: "expense",
    192350002: "material",
    192350003: "milestone",
    192350004: "fee",
}
_LINE_TYPES: tuple[LineType, ...] = ("Account", "Item", "Resource")
_MAX_NUMBER_LENGTH = 20  # BC "No." is Code[20]


@dataclass(frozen=True)
class LineTarget:
    """Where a PO invoice line goes in BC: ``lineType`` and ``lineObjectNumber``."""

    line_type: LineType
    line_object_number: str


@dataclass(frozen=True)
class LineMapping:
    """How PO invoice lines map to BC sales invoice lines (``BC_LINE_MAPPING``).

    ``BC_LINE_MAPPING`` is a JSON object whose keys name PO lines and whose values
    say where they go in BC, for example::

        {"timeAndMaterial.time": {"lineType": "Resource", "lineObjectNumber": "R01"},
         "fixedPrice": {"lineType": "Item", "lineObjectNumber": "1000"},
         "default": {"lineType": "Account", "lineObjectNumber": "40100"}}

    ``lineType`` is ``Account`` (a G/L account), ``Item`` or ``Resource``, and
    ``lineObjectNumber`` its number in the BC company (1 to 20 characters). Keys
    are ``"<billingMethod>.<transactionClass>"``, ``"<billingMethod>"`` or
    ``"default"``, with billing methods ``timeAndMaterial`` and ``fixedPrice`` and
    transaction classes ``time``, ``expense``, ``material``, ``milestone`` and
    ``fee``. :meth:`resolve` tries the most specific key first; every billing
    method must be covered by its own key or by ``default``.

    Unset, the mapping is :data:`DEFAULT_LINE_MAPPING`, all G/L accounts:
    ``timeAndMaterial.time`` 40100, ``timeAndMaterial.expense`` 40400,
    ``timeAndMaterial.material`` 40200, ``timeAndMaterial.fee`` 40300,
    ``fixedPrice`` 40500 and ``default`` 40100. Those numbers are placeholders
    that the emulator's chart of accounts holds: a real company sets
    ``BC_LINE_MAPPING`` to its own accounts, items or resources.
    """

    entries: Mapping[str, LineTarget]

    def resolve(
        self,
        billing_method: int,
        transaction_class: int | None = None,
    ) -> LineTarget:
        """The BC target of a line, given Dataverse choice values.

        ``billing_method`` is ``msdyn_billingmethod``; ``transaction_class`` is
        the line detail's ``msdyn_transactionclassification``, or ``None`` for a
        line synced without details. A class without a key of its own (such as
        tax or commission) falls back to the billing method's entry. Raises
        :class:`~pointegration.errors.ConfigurationError` for an unknown billing
        method when there is no ``default`` entry.
        """
        method = _BILLING_METHODS.get(billing_method)
        klass = _TRANSACTION_CLASSES.get(transaction_class or 0)
        candidates = [f"{method}.{klass}", method] if method else []
        for key in [*candidates, "default"]:
            if key is not None and key in self.entries:
                return self.entries[key]

        raise ConfigurationError(
            f"BC_LINE_MAPPING has no entry for billing method {billing_method}; "
            "add a 'default' entry",
            code="line_mapping_missing",
        )

    def to_json(self) -> dict[str, dict[str, str]]:
        """The mapping in the ``BC_LINE_MAPPING`` JSON shape."""
        return {
            key: {"lineType": t.line_type, "lineObjectNumber": t.line_object_number}
            for key, t in self.entries.items()
        }


def _line_keys() -> frozenset[str]:
    methods = list(_BILLING_METHODS.values())
    specific = [f"{m}.{c}" for m in methods for c in _TRANSACTION_CLASSES.values()]
    return frozenset(["default", *methods, *specific])


_LINE_KEYS = _line_keys()


def _parse_line_mapping(data: Any, problems: list[str]) -> LineMapping | None:
    if not isinstance(data, dict) or not data:
        problems.append(
            "BC_LINE_MAPPING must be a non-empty JSON object of line keys to "
            '{"lineType", "lineObjectNumber"}'
        )
        return None

    entries: dict[str, LineTarget] = {}
    for key, value in data.items():
        target = _parse_line_target(key, value, problems)
        if target is not None:
            entries[key] = target
    for method in _BILLING_METHODS.values():
        if method not in entries and "default" not in entries:
            problems.append(
                f"BC_LINE_MAPPING does not cover {method} lines: "
                f"add a '{method}' or a 'default' entry"
            )

    return LineMapping(MappingProxyType(entries))


def _parse_line_target(key: str, value: Any, problems: list[str]) -> LineTarget | None:
    if key not in _LINE_KEYS:
        problems.append(
            f"BC_LINE_MAPPING key '{key}' is not one of default, timeAndMaterial, "
            "fixedPrice or '<billingMethod>.<class>' (classes: "
            + ", ".join(_TRANSACTION_CLASSES.values())
            + ")"
        )
        return None
    if not isinstance(value, dict) or set(value) != {"lineType", "lineObjectNumber"}:
        problems.append(
            f"BC_LINE_MAPPING '{key}' must be an object with exactly "
            "lineType and lineObjectNumber"
        )
        return None

    line_type, number = value["lineType"], value["lineObjectNumber"]
    if line_type not in _LINE_TYPES:
        problems.append(
            f"BC_LINE_MAPPING '{key}' lineType {line_type!r} is not one of "
            + ", ".join(_LINE_TYPES)
        )
        return None
    if not isinstance(number, str) or not 0 < len(number.strip()) <= _MAX_NUMBER_LENGTH:
        problems.append(
            f"BC_LINE_MAPPING '{key}' lineObjectNumber must be a BC number "
            f"of 1 to {_MAX_NUMBER_LENGTH} characters"
        )
        return None

    return LineTarget(cast(LineType, line_type), number.strip())


DEFAULT_LINE_MAPPING = LineMapping(
    MappingProxyType(
        {
            "timeAndMaterial.time": LineTarget("Account", "40100"),
            "timeAndMaterial.expense": LineTarget("Account", "40400"),
            "timeAndMaterial.material": LineTarget("Account", "40200"),
            "timeAndMaterial.fee": LineTarget("Account", "40300"),
            "fixedPrice": LineTarget("Account", "40500"),
            "default": LineTarget("Account", "40100"),
        }
    )
)


# --- Settings --------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Every setting, validated; attribute names are the settings in snake case.

    ``azure_webjobs_storage`` is ``AzureWebJobsStorage``; ``queue_endpoint`` is
    the queue service URL derived from it (no credentials). The derived URLs and
    scopes below are what the clients and token providers use.
    """

    dataverse_url: str
    bc_tenant_id: str
    bc_environment: str
    bc_company_id: str
    azure_webjobs_storage: Secret
    queue_endpoint: str
    bc_base_url: str = DEFAULT_BC_BASE_URL
    bc_postcodes_api: str = "pobc/integration/v1.0"
    auth_mode: AuthMode = "secret"
    azure_tenant_id: str | None = None
    azure_client_id: str | None = None
    azure_client_secret: Secret | None = None
    azure_client_certificate_path: Path | None = None
    auth_static_token: Secret | None = None
    sync_queue: str = "pobc-sync"
    payment_poll_schedule: str = "0 */5 * * * *"
    sync_invoice_on_confirm: bool = False
    bc_post_invoices: bool = False
    bc_line_mapping: LineMapping = DEFAULT_LINE_MAPPING
    bc_max_concurrency: int = 5
    dataverse_max_concurrency: int = 52
    http_timeout_seconds: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting from ``environ`` (default ``os.environ``).

        Raises :class:`~pointegration.errors.SettingsError` listing every problem.
        """
        return _read(os.environ if environ is None else environ)

    @property
    def dataverse_api_url(self) -> str:
        """The Web API root, ``{DATAVERSE_URL}/api/data/v9.2``."""
        return f"{self.dataverse_url}/api/data/v9.2"

    @property
    def dataverse_scope(self) -> str:
        """The client-credentials scope of the Dataverse environment."""
        return f"{self.dataverse_url}/.default"

    @property
    def bc_scope(self) -> str:
        """Business Central's scope; the same for every environment and emulator."""
        return BC_SCOPE

    @property
    def bc_environment_url(self) -> str:
        """``{BC_BASE_URL}/{tenant}/{environment}``, the root of every BC API."""
        return f"{self.bc_base_url}/{self.bc_tenant_id}/{self.bc_environment}"

    @property
    def bc_api_url(self) -> str:
        """The standard API root, ``.../api/v2.0``; ``companies`` lives here."""
        return f"{self.bc_environment_url}/api/v2.0"

    @property
    def bc_company_url(self) -> str:
        """The standard API root of the configured company."""
        return f"{self.bc_api_url}/companies({self.bc_company_id})"

    @property
    def bc_postcodes_url(self) -> str:
        """The custom post-code API of the configured company."""
        return (
            f"{self.bc_environment_url}/api/{self.bc_postcodes_api}"
            f"/companies({self.bc_company_id})"
        )

    @property
    def poison_queue(self) -> str:
        """Where the Functions host moves messages that failed too often."""
        return f"{self.sync_queue}-poison"


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings.from_env()


def reset_settings() -> None:
    """Forget the cached settings, so the next :func:`get_settings` reads again."""
    get_settings.cache_clear()


# --- Reading and validating ------------------------------------------------------


class _Reader:
    """Reads settings by name and collects every problem instead of stopping."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or None

    def required(self, name: str) -> str | None:
        value = self.raw(name)
        if value is None:
            self.problems.append(f"{name} is missing")
        return value

    def guid(self, name: str, *, required: bool) -> str | None:
        value = self.required(name) if required else self.raw(name)
        if value is not None and not _GUID.match(value.lower()):
            self.problems.append(f"{name} {value!r} is not a GUID")
            return None
        return value.lower() if value else None

    def tenant(self, name: str, value: str | None) -> str | None:
        if value is None:
            return None
        if not (_GUID.match(value.lower()) or _DOMAIN.match(value.lower())):
            self.problems.append(f"{name} {value!r} is neither a GUID nor a domain")
            return None
        return value.lower()

    def url(self, name: str, default: str | None = None) -> str | None:
        value = self.raw(name) or default
        if value is None:
            self.problems.append(f"{name} is missing")
            return None
        problem = _url_problem(value)
        if problem:
            self.problems.append(f"{name}{_shown(value)} {problem}")
            return None
        return value.rstrip("/")

    def matching(
        self,
        name: str,
        pattern: re.Pattern[str],
        default: str | None = None,
    ) -> str | None:
        value = self.raw(name) or default
        if value is None:
            self.problems.append(f"{name} is missing")
            return None
        value = value.strip("/")
        if not pattern.match(value):
            self.problems.append(f"{name} {value!r} is not valid ({_HINTS[name]})")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() in ("true", "1"):
            return True
        if value.lower() not in ("false", "0"):
            self.problems.append(f"{name} {value!r} is not true or false")
        return False

    def number(self, name: str, default: float, high: float, *, whole: bool) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value) if whole else float(value)
        except ValueError:
            number = 0
        if not 0 < number <= high:
            kind = "a whole number" if whole else "a number"
            self.problems.append(f"{name} {value!r} is not {kind} from 1 to {high:g}")
        return number


_HINTS = {
    "BC_ENVIRONMENT": "letters, digits, '-' and '_' only",
    "BC_POSTCODES_API": "publisher/group/version, e.g. pobc/integration/v1.0",
    "SYNC_QUEUE": "3 to 56 lowercase letters, digits and single hyphens",
}


def _shown(url: str) -> str:
    """`` 'url'`` for a problem message, without anything that may be a credential.

    A query or fragment (a SAS token, a function key) becomes ``?...``; a URL with
    user info is not shown at all.
    """
    if "@" in url:
        return ""
    base = re.split(r"[?#]", url, maxsplit=1)[0]
    shown = base if base == url else f"{base}?..."

    return f" {shown!r}"


def _url_problem(value: str) -> str | None:
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "has an invalid port"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an absolute http(s) URL"
    if parts.username or parts.password or parts.query or parts.fragment:
        return "must not hold credentials, a query or a fragment"
    if parts.scheme == "http" and not _is_loopback(value):
        return "must use https (http is allowed on loopback only)"
    return None


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read(environ: Mapping[str, str]) -> Settings:
    reader = _Reader(environ)
    values: dict[str, Any] = {
        "dataverse_url": reader.url("DATAVERSE_URL"),
        "bc_base_url": reader.url("BC_BASE_URL", DEFAULT_BC_BASE_URL),
        "bc_environment": reader.matching("BC_ENVIRONMENT", _ENVIRONMENT),
        "bc_company_id": reader.guid("BC_COMPANY_ID", required=True),
        "bc_postcodes_api": reader.matching(
            "BC_POSTCODES_API", _API_ROUTE, "pobc/integration/v1.0"
        ),
    }
    if values["dataverse_url"] and "/api/data" in values["dataverse_url"]:
        reader.problems.append(
            "DATAVERSE_URL must be the environment URL, without /api/data/..."
        )
    values.update(_read_auth(reader))
    values["bc_tenant_id"] = _read_bc_tenant(reader, values["azure_tenant_id"])
    values.update(_read_storage(reader))
    values.update(_read_behaviour(reader))
    if values["auth_mode"] == "static":
        _refuse_remote_static(values, reader.problems)

    if reader.problems:
        raise SettingsError(reader.problems)
    return Settings(**values)


def _read_bc_tenant(reader: _Reader, azure_tenant_id: str | None) -> str | None:
    value = reader.raw("BC_TENANT_ID")
    if value is None and reader.raw("AZURE_TENANT_ID") is None:
        reader.problems.append("BC_TENANT_ID is missing (and AZURE_TENANT_ID is unset)")

    return reader.tenant("BC_TENANT_ID", value) if value else azure_tenant_id


def _read_auth(reader: _Reader) -> dict[str, Any]:
    mode = (reader.raw("AUTH_MODE") or "secret").lower()
    if mode not in AUTH_MODES:
        reader.problems.append(
            f"AUTH_MODE {mode!r} is not one of " + ", ".join(AUTH_MODES)
        )
    needs_app = mode in ("secret", "certificate")
    tenant = (
        reader.required("AZURE_TENANT_ID")
        if needs_app
        else reader.raw("AZURE_TENANT_ID")
    )
    values: dict[str, Any] = {
        "auth_mode": mode,
        "azure_tenant_id": reader.tenant("AZURE_TENANT_ID", tenant),
        "azure_client_id": reader.guid("AZURE_CLIENT_ID", required=needs_app),
        "azure_client_secret": _secret(reader, "AZURE_CLIENT_SECRET", mode == "secret"),
        "auth_static_token": _secret(reader, "AUTH_STATIC_TOKEN", mode == "static"),
    }
    path = (
        reader.required("AZURE_CLIENT_CERTIFICATE_PATH")
        if mode == "certificate"
        else reader.raw("AZURE_CLIENT_CERTIFICATE_PATH")
    )
    if path is not None:
        values["azure_client_certificate_path"] = Path(path)
        if mode == "certificate":
            _check_certificate(Path(path), reader.problems)
    token = values["auth_static_token"]
    if token is not None and any(c.isspace() for c in token.get_secret_value()):
        reader.problems.append("AUTH_STATIC_TOKEN must not contain whitespace")

    return values


def _secret(reader: _Reader, name: str, required: bool) -> Secret | None:
    value = reader.required(name) if required else reader.raw(name)
    return Secret(value) if value is not None else None


def _check_certificate(path: Path, problems: list[str]) -> None:
    name = "AZURE_CLIENT_CERTIFICATE_PATH"
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        problems.append(f"{name} {str(path)!r} does not exist")
        return
    except UnicodeDecodeError:
        text = ""
    except OSError as exc:
        problems.append(f"{name} {str(path)!r} cannot be read ({exc.strerror})")
        return

    if "ENCRYPTED" in text:
        problems.append(
            f"{name} {str(path)!r} holds an encrypted private key; "
            "a passphrase is not supported"
        )
    elif not re.search(r"-----BEGIN (RSA |EC )?PRIVATE KEY-----", text) or (
        "-----BEGIN CERTIFICATE-----" not in text
    ):
        problems.append(
            f"{name} {str(path)!r} is not a PEM file holding a private key and a "
            "certificate (convert a .pfx with: openssl pkcs12 -in app.pfx "
            "-out app.pem -nodes)"
        )


def _read_storage(reader: _Reader) -> dict[str, Any]:
    name = "AzureWebJobsStorage"
    value = reader.raw(name)
    if value is None:
        identity_based = any(key.startswith(f"{name}__") for key in reader.environ)
        reader.problems.append(
            f"{name} is missing"
            + (
                " (identity-based AzureWebJobsStorage__* connections are not "
                "supported; set a connection string)"
                if identity_based
                else ""
            )
        )
        return {"azure_webjobs_storage": None, "queue_endpoint": None}

    endpoint, problem = _queue_endpoint(value)
    if problem:
        reader.problems.append(f"{name} {problem}")
    return {"azure_webjobs_storage": Secret(value), "queue_endpoint": endpoint}


def _queue_endpoint(connection: str) -> tuple[str | None, str | None]:
    """The queue service URL of a connection string, or the problem with it."""
    parts: dict[str, str] = {}
    for piece in filter(None, (p.strip() for p in connection.split(";"))):
        key, equals, value = piece.partition("=")
        if not equals:
            return None, "is not a connection string of Key=Value pairs"
        parts[key.strip().lower()] = value.strip()

    if parts.get("usedevelopmentstorage", "").lower() == "true":
        return AZURITE_QUEUE_ENDPOINT, None
    if not (parts.get("accountkey") or parts.get("sharedaccesssignature")):
        return None, "has neither AccountKey nor SharedAccessSignature"
    if "queueendpoint" in parts:
        endpoint = parts["queueendpoint"].split("?")[0].rstrip("/")
    elif "accountname" in parts:
        protocol = parts.get("defaultendpointsprotocol", "https")
        suffix = parts.get("endpointsuffix", "core.windows.net")
        endpoint = f"{protocol}://{parts['accountname']}.queue.{suffix}"
    else:
        return None, "names neither AccountName nor QueueEndpoint"
    problem = _url_problem(endpoint)
    if problem:
        return None, f"queue endpoint{_shown(endpoint)} {problem}"

    return endpoint, None


def _read_behaviour(reader: _Reader) -> dict[str, Any]:
    schedule = reader.raw("PAYMENT_POLL_SCHEDULE") or "0 */5 * * * *"
    problem = ncrontab.problem(schedule)
    if problem:
        reader.problems.append(f"PAYMENT_POLL_SCHEDULE {schedule!r} {problem}")

    return {
        "sync_queue": reader.matching("SYNC_QUEUE", _QUEUE_NAME, "pobc-sync"),
        "payment_poll_schedule": schedule,
        "sync_invoice_on_confirm": reader.boolean("SYNC_INVOICE_ON_CONFIRM", False),
        "bc_post_invoices": reader.boolean("BC_POST_INVOICES", False),
        "bc_line_mapping": _read_line_mapping(reader),
        "bc_max_concurrency": int(
            reader.number("BC_MAX_CONCURRENCY", 5, 100, whole=True)
        ),
        "dataverse_max_concurrency": int(
            reader.number("DATAVERSE_MAX_CONCURRENCY", 52, 100, whole=True)
        ),
        "http_timeout_seconds": reader.number(
            "HTTP_TIMEOUT_SECONDS", 30.0, 600, whole=False
        ),
    }


def _read_line_mapping(reader: _Reader) -> LineMapping | None:
    text = reader.raw("BC_LINE_MAPPING")
    if text is None:
        return DEFAULT_LINE_MAPPING
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        reader.problems.append(
            f"BC_LINE_MAPPING is not valid JSON ({exc.msg} at line {exc.lineno} "
            f"column {exc.colno})"
        )
        return None

    return _parse_line_mapping(data, reader.problems)


def _refuse_remote_static(values: Mapping[str, Any], problems: list[str]) -> None:
    urls = {
        "DATAVERSE_URL": values["dataverse_url"],
        "BC_BASE_URL": values["bc_base_url"],
        "AzureWebJobsStorage": values["queue_endpoint"],
    }
    remote = [name for name, url in urls.items() if url and not _is_loopback(url)]
    if remote:
        problems.append(
            "AUTH_MODE 'static' is for the emulators and is refused unless every "
            "URL is loopback; not loopback: " + ", ".join(remote)
        )
