"""Settings: every contract name read, validated together, secrets never shown."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from pointegration import settings as settings_module
from pointegration.dataverse.schema import BillingMethod, TransactionClassification
from pointegration.errors import ConfigurationError, SettingsError
from pointegration.settings import (
    DEFAULT_LINE_MAPPING,
    LineTarget,
    Settings,
    get_settings,
    reset_settings,
)

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
COMPANY = "6b1b1c2e-0000-4000-8000-000000000001"
SECRET = "s3cr3t~value.never-shown"
ACCOUNT_KEY = "QUNDT1VOVC1LRVktTkVWRVItU0hPV04="
STATIC_TOKEN = "static-token-never-shown"

BASE_ENV = {
    "DATAVERSE_URL": "https://contoso.crm.dynamics.com",
    "BC_ENVIRONMENT": "sandbox",
    "BC_COMPANY_ID": COMPANY,
    "AZURE_TENANT_ID": TENANT,
    "AZURE_CLIENT_ID": CLIENT_ID,
    "AZURE_CLIENT_SECRET": SECRET,
    "AzureWebJobsStorage": (
        f"DefaultEndpointsProtocol=https;AccountName=pobcstore;AccountKey={ACCOUNT_KEY};"
        "EndpointSuffix=core.windows.net"
    ),
}
LOOPBACK_ENV = {
    **BASE_ENV,
    "AUTH_MODE": "static",
    "AUTH_STATIC_TOKEN": STATIC_TOKEN,
    "DATAVERSE_URL": "http://127.0.0.1:5001",
    "BC_BASE_URL": "http://localhost:5002/v2.0",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
}


def read(**overrides: str) -> Settings:
    return Settings.from_env({**BASE_ENV, **overrides})


def problems_of(env: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    return caught.value.problems


def pem_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "app.pem"
    path.write_text(text)
    return str(path)


PEM = (
    "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"
    "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n"
)


def test_defaults_apply_when_only_required_settings_are_set() -> None:
    """Unset optional settings take the documented defaults."""
    settings = read()

    assert settings.bc_base_url == "https://api.businesscentral.dynamics.com/v2.0"
    assert settings.bc_postcodes_api == "pobc/integration/v1.0"
    assert settings.auth_mode == "secret"
    assert settings.sync_queue == "pobc-sync"
    assert settings.payment_poll_schedule == "0 */5 * * * *"
    assert settings.sync_invoice_on_confirm is False
    assert settings.bc_post_invoices is False
    assert settings.bc_line_mapping == DEFAULT_LINE_MAPPING
    assert settings.bc_max_concurrency == 5
    assert settings.dataverse_max_concurrency == 52
    assert settings.http_timeout_seconds == 30.0
    assert settings.bc_tenant_id == TENANT


def test_derived_urls_and_scopes_follow_the_contract() -> None:
    """The API roots and scopes are built from the settings as DESIGN §3.3 says."""
    settings = read(
        DATAVERSE_URL="https://contoso.crm.dynamics.com/",
        BC_BASE_URL="https://api.businesscentral.dynamics.com/v2.0/",
        BC_POSTCODES_API="/pobc/integration/v1.0/",
    )
    bc_env = f"https://api.businesscentral.dynamics.com/v2.0/{TENANT}/sandbox"

    assert settings.dataverse_url == "https://contoso.crm.dynamics.com"
    assert settings.dataverse_api_url == (
        "https://contoso.crm.dynamics.com/api/data/v9.2"
    )
    assert settings.dataverse_scope == "https://contoso.crm.dynamics.com/.default"
    assert settings.bc_api_url == f"{bc_env}/api/v2.0"
    assert settings.bc_company_url == f"{bc_env}/api/v2.0/companies({COMPANY})"
    assert settings.bc_postcodes_url == (
        f"{bc_env}/api/pobc/integration/v1.0/companies({COMPANY})"
    )
    assert settings.bc_scope == "https://api.businesscentral.dynamics.com/.default"
    assert settings.poison_queue == "pobc-sync-poison"


def test_bc_scope_stays_the_real_one_against_an_emulator() -> None:
    """Pointing BC_BASE_URL at an emulator does not change the BC scope."""
    settings = Settings.from_env(LOOPBACK_ENV)

    assert settings.bc_api_url.startswith("http://localhost:5002/v2.0/")
    assert settings.bc_scope == "https://api.businesscentral.dynamics.com/.default"


def test_every_optional_setting_is_read() -> None:
    """Each optional contract setting and knob is honoured when set."""
    mapping = {"default": {"lineType": "Item", "lineObjectNumber": "1000"}}
    settings = read(
        BC_TENANT_ID="Cronus.com",
        SYNC_QUEUE="pobc-sync-test",
        PAYMENT_POLL_SCHEDULE="0 0 9-17/2 * * mon-fri",
        SYNC_INVOICE_ON_CONFIRM="TRUE",
        BC_POST_INVOICES="1",
        BC_LINE_MAPPING=json.dumps(mapping),
        BC_MAX_CONCURRENCY="3",
        DATAVERSE_MAX_CONCURRENCY="20",
        HTTP_TIMEOUT_SECONDS="12.5",
    )

    assert settings.bc_tenant_id == "cronus.com"
    assert settings.sync_queue == "pobc-sync-test"
    assert settings.payment_poll_schedule == "0 0 9-17/2 * * mon-fri"
    assert settings.sync_invoice_on_confirm is True
    assert settings.bc_post_invoices is True
    assert settings.bc_line_mapping.to_json() == mapping
    assert (settings.bc_max_concurrency, settings.dataverse_max_concurrency) == (3, 20)
    assert settings.http_timeout_seconds == 12.5


def test_empty_values_count_as_unset() -> None:
    """A blank app setting falls back to the default instead of failing."""
    settings = read(SYNC_QUEUE="  ", BC_BASE_URL="", BC_LINE_MAPPING="")

    assert settings.sync_queue == "pobc-sync"
    assert settings.bc_base_url == "https://api.businesscentral.dynamics.com/v2.0"
    assert settings.bc_line_mapping == DEFAULT_LINE_MAPPING


@pytest.mark.parametrize(
    ("connection", "endpoint"),
    [
        pytest.param(
            "UseDevelopmentStorage=true",
            "http://127.0.0.1:10001/devstoreaccount1",
            id="azurite-shorthand",
        ),
        pytest.param(
            BASE_ENV["AzureWebJobsStorage"],
            "https://pobcstore.queue.core.windows.net",
            id="account-key",
        ),
        pytest.param(
            "QueueEndpoint=https://q.example.net/;SharedAccessSignature=sv=1&sig=x",
            "https://q.example.net",
            id="explicit-endpoint-with-sas",
        ),
    ],
)
def test_queue_endpoint_is_derived_from_the_connection_string(
    connection: str,
    endpoint: str,
) -> None:
    """The queue service URL comes from AzureWebJobsStorage without its credentials."""
    assert read(AzureWebJobsStorage=connection).queue_endpoint == endpoint


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"AZURE_CLIENT_ID": ""}, id="managed-identity-system-assigned"),
        pytest.param({}, id="managed-identity-user-assigned"),
        pytest.param(
            {"AZURE_TENANT_ID": "", "BC_TENANT_ID": TENANT},
            id="managed-identity-needs-no-azure-tenant",
        ),
    ],
)
def test_managed_identity_needs_no_secret(overrides: dict[str, str]) -> None:
    """managed_identity mode accepts an optional AZURE_CLIENT_ID and no secret."""
    settings = read(AUTH_MODE="managed_identity", AZURE_CLIENT_SECRET="", **overrides)

    assert settings.auth_mode == "managed_identity"
    assert settings.azure_client_id == (
        overrides.get("AZURE_CLIENT_ID", CLIENT_ID) or None
    )


def test_certificate_mode_accepts_a_pem_with_key_and_certificate(
    tmp_path: Path,
) -> None:
    """certificate mode accepts a readable PEM holding a key and a certificate."""
    path = pem_file(tmp_path, PEM)

    settings = read(AUTH_MODE="certificate", AZURE_CLIENT_CERTIFICATE_PATH=path)

    assert settings.azure_client_certificate_path == Path(path)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="ipv4-and-localhost"),
        pytest.param({"DATAVERSE_URL": "http://[::1]:5001"}, id="ipv6-loopback"),
        pytest.param({"DATAVERSE_URL": "http://127.8.9.10:5001"}, id="any-127-address"),
        pytest.param(
            {
                "AzureWebJobsStorage": "DefaultEndpointsProtocol=http;"
                "AccountName=devstoreaccount1;AccountKey=a2V5;"
                "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
            },
            id="explicit-azurite-endpoint",
        ),
    ],
)
def test_static_mode_is_allowed_when_every_url_is_loopback(
    overrides: dict[str, str],
) -> None:
    """AUTH_MODE static is accepted when Dataverse, BC and storage are loopback."""
    settings = Settings.from_env({**LOOPBACK_ENV, **overrides})

    assert settings.auth_mode == "static"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {"DATAVERSE_URL": ""},
            "DATAVERSE_URL is missing",
            id="dataverse-url-missing",
        ),
        pytest.param(
            {"DATAVERSE_URL": "contoso.crm.dynamics.com"},
            "DATAVERSE_URL 'contoso.crm.dynamics.com' is not an absolute http(s) URL",
            id="dataverse-url-not-absolute",
        ),
        pytest.param(
            {"DATAVERSE_URL": "http://contoso.crm.dynamics.com"},
            "DATAVERSE_URL 'http://contoso.crm.dynamics.com' must use https",
            id="http-refused-for-remote-url",
        ),
        pytest.param(
            {"DATAVERSE_URL": "https://contoso.crm.dynamics.com/api/data/v9.2"},
            "DATAVERSE_URL must be the environment URL",
            id="dataverse-url-with-api-path",
        ),
        pytest.param(
            {"BC_BASE_URL": "https://api.example.com:99999"},
            "BC_BASE_URL 'https://api.example.com:99999' has an invalid port",
            id="bc-base-url-bad-port",
        ),
        pytest.param(
            {"BC_COMPANY_ID": "CRONUS"},
            "BC_COMPANY_ID 'CRONUS' is not a GUID",
            id="company-not-guid",
        ),
        pytest.param(
            {"BC_ENVIRONMENT": ""},
            "BC_ENVIRONMENT is missing",
            id="environment-missing",
        ),
        pytest.param(
            {"BC_ENVIRONMENT": "sand/box"},
            "BC_ENVIRONMENT 'sand/box' is not valid",
            id="environment-with-slash",
        ),
        pytest.param(
            {"BC_POSTCODES_API": "pobc/v1.0"},
            "BC_POSTCODES_API 'pobc/v1.0' is not valid (publisher/group/version",
            id="postcodes-api-malformed",
        ),
        pytest.param(
            {"AUTH_MODE": "x"},
            "AUTH_MODE 'x' is not one of secret, certificate, managed_identity, static",
            id="auth-mode-unknown",
        ),
        pytest.param(
            {"AZURE_CLIENT_SECRET": ""},
            "AZURE_CLIENT_SECRET is missing",
            id="secret-mode-missing-client-secret",
        ),
        pytest.param(
            {"AZURE_TENANT_ID": ""},
            "AZURE_TENANT_ID is missing",
            id="secret-mode-missing-tenant",
        ),
        pytest.param(
            {"AZURE_CLIENT_ID": "my-app"},
            "AZURE_CLIENT_ID 'my-app' is not a GUID",
            id="client-id-not-guid",
        ),
        pytest.param(
            {"AZURE_TENANT_ID": "not a tenant"},
            "AZURE_TENANT_ID 'not a tenant' is neither a GUID nor a domain",
            id="tenant-not-guid-or-domain",
        ),
        pytest.param(
            {"AUTH_MODE": "certificate"},
            "AZURE_CLIENT_CERTIFICATE_PATH is missing",
            id="certificate-mode-missing-path",
        ),
        pytest.param(
            {"AUTH_MODE": "certificate", "AZURE_CLIENT_CERTIFICATE_PATH": "/nope.pem"},
            "AZURE_CLIENT_CERTIFICATE_PATH '/nope.pem' does not exist",
            id="certificate-file-missing",
        ),
        pytest.param(
            {"AUTH_MODE": "static", "AUTH_STATIC_TOKEN": ""},
            "AUTH_STATIC_TOKEN is missing",
            id="static-mode-missing-token",
        ),
        pytest.param(
            {"AUTH_MODE": "static", "AUTH_STATIC_TOKEN": STATIC_TOKEN},
            "AUTH_MODE 'static' is for the emulators and is refused unless every "
            "URL is loopback; not loopback: DATAVERSE_URL, BC_BASE_URL, "
            "AzureWebJobsStorage",
            id="static-refused-for-remote-url",
        ),
        pytest.param(
            {"AzureWebJobsStorage": ""},
            "AzureWebJobsStorage is missing",
            id="storage-missing",
        ),
        pytest.param(
            {"AzureWebJobsStorage": "AccountName=pobcstore"},
            "AzureWebJobsStorage has neither AccountKey nor SharedAccessSignature",
            id="storage-without-credential",
        ),
        pytest.param(
            {"AzureWebJobsStorage": "https://pobcstore.queue.core.windows.net"},
            "AzureWebJobsStorage is not a connection string of Key=Value pairs",
            id="storage-not-connection-string",
        ),
        pytest.param(
            {"PAYMENT_POLL_SCHEDULE": "*/5 * * * *"},
            "PAYMENT_POLL_SCHEDULE '*/5 * * * *' has 5 fields; NCRONTAB needs 6",
            id="schedule-five-field-cron",
        ),
        pytest.param(
            {"PAYMENT_POLL_SCHEDULE": "0 0 25 * * *"},
            "PAYMENT_POLL_SCHEDULE '0 0 25 * * *' has an invalid hour field '25'",
            id="schedule-hour-out-of-range",
        ),
        pytest.param(
            {"PAYMENT_POLL_SCHEDULE": "0 */0 * * * *"},
            "has an invalid minute field '*/0'",
            id="schedule-zero-step",
        ),
        pytest.param(
            {"PAYMENT_POLL_SCHEDULE": "0 0 0 * Foo *"},
            "has an invalid month field 'Foo'",
            id="schedule-unknown-month-name",
        ),
        pytest.param(
            {"PAYMENT_POLL_SCHEDULE": "0 0 17-9 * * *"},
            "has an invalid hour field '17-9'",
            id="schedule-backwards-range",
        ),
        pytest.param(
            {"SYNC_INVOICE_ON_CONFIRM": "yes please"},
            "SYNC_INVOICE_ON_CONFIRM 'yes please' is not true or false",
            id="boolean-invalid",
        ),
        pytest.param(
            {"BC_MAX_CONCURRENCY": "0"},
            "BC_MAX_CONCURRENCY '0' is not a whole number from 1 to 100",
            id="concurrency-zero",
        ),
        pytest.param(
            {"DATAVERSE_MAX_CONCURRENCY": "many"},
            "DATAVERSE_MAX_CONCURRENCY 'many' is not a whole number from 1 to 100",
            id="concurrency-not-a-number",
        ),
        pytest.param(
            {"HTTP_TIMEOUT_SECONDS": "601"},
            "HTTP_TIMEOUT_SECONDS '601' is not a number from 1 to 600",
            id="timeout-too-long",
        ),
        pytest.param(
            {"SYNC_QUEUE": "Pobc_Sync"},
            "SYNC_QUEUE 'Pobc_Sync' is not valid",
            id="queue-name-not-lowercase",
        ),
        pytest.param(
            {"BC_LINE_MAPPING": "{'default': 1}"},
            "BC_LINE_MAPPING is not valid JSON (Expecting property name enclosed in "
            "double quotes at line 1 column 2)",
            id="line-mapping-not-json",
        ),
        pytest.param(
            {"BC_LINE_MAPPING": "[]"},
            "BC_LINE_MAPPING must be a non-empty JSON object",
            id="line-mapping-not-an-object",
        ),
        pytest.param(
            {"BC_LINE_MAPPING": '{"timeAndMaterial.travel": {}}'},
            "BC_LINE_MAPPING key 'timeAndMaterial.travel' is not one of",
            id="line-mapping-unknown-key",
        ),
        pytest.param(
            {
                "BC_LINE_MAPPING": '{"default": {"lineType": "Comment", '
                '"lineObjectNumber": "X"}}'
            },
            "BC_LINE_MAPPING 'default' lineType 'Comment' is not one of Account, Item, "
            "Resource",
            id="line-mapping-unsupported-line-type",
        ),
        pytest.param(
            {
                "BC_LINE_MAPPING": '{"default": {"lineType": "Item", '
                '"lineObjectNumber": "1", "quantity": 1}}'
            },
            "BC_LINE_MAPPING 'default' must be an object with exactly lineType and "
            "lineObjectNumber",
            id="line-mapping-extra-property",
        ),
        pytest.param(
            {
                "BC_LINE_MAPPING": '{"default": {"lineType": "Item", '
                '"lineObjectNumber": "123456789012345678901"}}'
            },
            "BC_LINE_MAPPING 'default' lineObjectNumber must be a BC number of 1 to 20",
            id="line-mapping-number-too-long",
        ),
        pytest.param(
            {
                "BC_LINE_MAPPING": '{"timeAndMaterial": {"lineType": "Resource", '
                '"lineObjectNumber": "R1"}}'
            },
            "BC_LINE_MAPPING does not cover fixedPrice lines: add a 'fixedPrice' or a "
            "'default' entry",
            id="line-mapping-uncovered-billing-method",
        ),
    ],
)
def test_invalid_setting_is_reported_by_name(
    overrides: dict[str, str],
    expected: str,
) -> None:
    """Each missing or invalid setting yields a problem that names it."""
    problems = problems_of({**BASE_ENV, **overrides})

    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            PEM.split("-----BEGIN CERT")[0], "is not a PEM file", id="no-certificate"
        ),
        pytest.param("not pem at all", "is not a PEM file", id="not-pem"),
        pytest.param(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n"
            "-----END ENCRYPTED PRIVATE KEY-----\n"
            + PEM.split("-----END PRIVATE KEY-----\n")[1],
            "holds an encrypted private key",
            id="encrypted-key",
        ),
    ],
)
def test_certificate_file_content_is_checked(
    tmp_path: Path,
    text: str,
    expected: str,
) -> None:
    """The certificate file must be PEM with an unencrypted key and a certificate."""
    path = pem_file(tmp_path, text)

    problems = problems_of(
        {**BASE_ENV, "AUTH_MODE": "certificate", "AZURE_CLIENT_CERTIFICATE_PATH": path}
    )

    assert len(problems) == 1
    assert problems[0].startswith(f"AZURE_CLIENT_CERTIFICATE_PATH {path!r} {expected}")


def test_every_problem_is_reported_at_once() -> None:
    """All problems come in one SettingsError, in one message."""
    env = {
        "AUTH_MODE": "secret",
        "BC_COMPANY_ID": "CRONUS",
        "PAYMENT_POLL_SCHEDULE": "hourly",
        "BC_POST_INVOICES": "maybe",
    }

    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)

    assert caught.value.problems == [
        "DATAVERSE_URL is missing",
        "BC_ENVIRONMENT is missing",
        "BC_COMPANY_ID 'CRONUS' is not a GUID",
        "AZURE_TENANT_ID is missing",
        "AZURE_CLIENT_ID is missing",
        "AZURE_CLIENT_SECRET is missing",
        "BC_TENANT_ID is missing (and AZURE_TENANT_ID is unset)",
        "AzureWebJobsStorage is missing",
        "PAYMENT_POLL_SCHEDULE 'hourly' has 1 fields; NCRONTAB needs 6 "
        "(second minute hour day month day-of-week)",
        "BC_POST_INVOICES 'maybe' is not true or false",
    ]
    assert all(p in str(caught.value) for p in caught.value.problems)


def test_identity_based_storage_gets_a_specific_problem() -> None:
    """AzureWebJobsStorage__accountName alone is reported as unsupported."""
    env = {**BASE_ENV, "AzureWebJobsStorage": ""}
    env["AzureWebJobsStorage__accountName"] = "pobcstore"

    problems = problems_of(env)

    assert "identity-based AzureWebJobsStorage__* connections are not supported" in (
        " ".join(problems)
    )


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="valid-secret-mode"),
        pytest.param({"DATAVERSE_URL": "ftp://x"}, id="invalid-secret-mode"),
        pytest.param(
            {
                **LOOPBACK_ENV,
                "AZURE_CLIENT_SECRET": SECRET,
                "DATAVERSE_URL": "https://x.com",
            },
            id="refused-static-mode",
        ),
        pytest.param(
            {"AzureWebJobsStorage": f"AccountKey={ACCOUNT_KEY}"},
            id="storage-without-account",
        ),
        pytest.param(
            {"AUTH_STATIC_TOKEN": STATIC_TOKEN + " x", "AUTH_MODE": "static"},
            id="static-token-with-space",
        ),
    ],
)
def test_secrets_never_appear_in_repr_or_errors(overrides: dict[str, str]) -> None:
    """No secret value shows in a Settings repr or str, or in a SettingsError."""
    env = {**BASE_ENV, "AUTH_STATIC_TOKEN": STATIC_TOKEN, **overrides}
    try:
        shown = [repr(s := Settings.from_env(env)), str(s)]
    except SettingsError as exc:
        shown = [str(exc), repr(exc), *exc.problems]

    for text in shown:
        assert SECRET not in text
        assert ACCOUNT_KEY not in text
        assert STATIC_TOKEN not in text


def test_credentials_in_a_url_are_not_echoed() -> None:
    """A URL with user info is refused without repeating the password."""
    problems = problems_of({**BASE_ENV, "DATAVERSE_URL": "https://me:hunter2@x.com"})

    assert problems == [
        "DATAVERSE_URL must not hold credentials, a query or a fragment"
    ]


def test_secrets_are_revealed_only_on_request() -> None:
    """Secret values are available to the code that sends them."""
    settings = read()

    assert settings.azure_client_secret is not None
    assert settings.azure_client_secret.get_secret_value() == SECRET
    assert str(settings.azure_client_secret) == "**********"
    assert ACCOUNT_KEY in settings.azure_webjobs_storage.get_secret_value()


def test_settings_are_frozen() -> None:
    """Settings cannot be changed after they are read."""
    settings = read()

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.sync_queue = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "schedule",
    [
        "0 */5 * * * *",
        "0 30 9 * Jan Mon",
        "5-7 * * * * *",
        "5,8,10 * * * * *",
        "0 0 */2 * * *",
        "0 0 9-17/2 1-15 1,6,12 sun-sat",
    ],
)
def test_valid_ncrontab_schedules_are_accepted(schedule: str) -> None:
    """Six-field NCRONTAB with names, lists, ranges and steps is accepted."""
    assert read(PAYMENT_POLL_SCHEDULE=schedule).payment_poll_schedule == schedule


CUSTOM_MAPPING = {
    "timeAndMaterial.time": {"lineType": "Resource", "lineObjectNumber": "R01"},
    "timeAndMaterial": {"lineType": "Account", "lineObjectNumber": "6100"},
    "default": {"lineType": "Item", "lineObjectNumber": "1000"},
}
TM = BillingMethod.TIME_AND_MATERIAL
FIXED = BillingMethod.FIXED_PRICE


@pytest.mark.parametrize(
    ("method", "klass", "expected"),
    [
        pytest.param(
            TM, TransactionClassification.TIME, ("Resource", "R01"), id="specific-key"
        ),
        pytest.param(
            TM,
            TransactionClassification.EXPENSE,
            ("Account", "6100"),
            id="billing-method-key",
        ),
        pytest.param(TM, None, ("Account", "6100"), id="line-without-details"),
        pytest.param(
            TM,
            TransactionClassification.TAX,
            ("Account", "6100"),
            id="class-without-key",
        ),
        pytest.param(
            FIXED,
            TransactionClassification.MILESTONE,
            ("Item", "1000"),
            id="default-key",
        ),
        pytest.param(12345, None, ("Item", "1000"), id="unknown-billing-method"),
    ],
)
def test_line_mapping_resolves_the_most_specific_entry(
    method: int,
    klass: int | None,
    expected: tuple[str, str],
) -> None:
    """resolve tries billingMethod.class, then billingMethod, then default."""
    mapping = read(BC_LINE_MAPPING=json.dumps(CUSTOM_MAPPING)).bc_line_mapping

    assert mapping.resolve(method, klass) == LineTarget(*expected)  # type: ignore[arg-type]


def test_default_line_mapping_covers_every_po_line() -> None:
    """The default mapping gives every billing method and class a G/L account."""
    targets = {
        DEFAULT_LINE_MAPPING.resolve(method, klass)
        for method in BillingMethod
        for klass in [None, *TransactionClassification]
    }

    assert {t.line_type for t in targets} == {"Account"}
    assert DEFAULT_LINE_MAPPING.resolve(TM, TransactionClassification.FEE) == (
        LineTarget("Account", "40300")
    )


def test_unknown_billing_method_without_default_is_a_configuration_error() -> None:
    """A billing method the mapping cannot place raises ConfigurationError."""
    entries = {
        "timeAndMaterial": {"lineType": "Account", "lineObjectNumber": "1"},
        "fixedPrice": {"lineType": "Account", "lineObjectNumber": "2"},
    }
    mapping = read(BC_LINE_MAPPING=json.dumps(entries)).bc_line_mapping

    with pytest.raises(ConfigurationError, match="add a 'default' entry"):
        mapping.resolve(42)


def test_line_mapping_choice_values_match_the_dataverse_schema() -> None:
    """The choice values BC_LINE_MAPPING keys stand for are the schema's."""
    assert set(settings_module._BILLING_METHODS) == {m.value for m in BillingMethod}
    assert set(settings_module._TRANSACTION_CLASSES) <= {
        c.value for c in TransactionClassification
    }


def test_get_settings_reads_once_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    """get_settings caches the first read; reset_settings makes it read again."""
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    first = get_settings()
    monkeypatch.setenv("SYNC_QUEUE", "pobc-other")

    assert get_settings() is first
    reset_settings()
    assert get_settings().sync_queue == "pobc-other"
    reset_settings()
