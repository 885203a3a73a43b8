"""GET /api/health as the Functions host registers and calls it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest

import function_app
from pointegration.settings import reset_settings

VALID = {
    "DATAVERSE_URL": "http://127.0.0.1:5555",
    "BC_BASE_URL": "http://127.0.0.1:5556/v2.0",
    "BC_TENANT_ID": "11111111-1111-1111-1111-111111111111",
    "BC_ENVIRONMENT": "production",
    "BC_COMPANY_ID": "22222222-2222-2222-2222-222222222222",
    "AUTH_MODE": "static",
    "AUTH_STATIC_TOKEN": "very-secret-token",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
}


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in VALID:
        monkeypatch.delenv(name, raising=False)
    reset_settings()
    yield
    reset_settings()


# The host lists the functions once; azure-functions refuses a second listing.
FUNCTIONS = {f.get_function_name(): f for f in function_app.app.get_functions()}


def health_function() -> Any:
    return FUNCTIONS["health"]


def call_health() -> func.HttpResponse:
    request = func.HttpRequest("GET", "http://localhost/api/health", body=b"")
    response: func.HttpResponse = health_function().get_user_function()(request)
    return response


def test_health_is_an_anonymous_get_route() -> None:
    """The app registers health as an anonymous GET on route 'health'."""
    binding = json.loads(health_function().get_function_json())["bindings"][0]

    assert binding["route"] == "health"
    assert binding["methods"] == ["GET"]
    assert binding["authLevel"] == "ANONYMOUS"


def test_health_is_200_with_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """With valid settings every check passes and the answer is 200."""
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)

    response = call_health()

    assert response.status_code == 200
    assert json.loads(response.get_body())["checks"]["settings"]["ok"] is True


def test_health_is_503_naming_settings_without_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bad settings give 503 naming the settings, never their values."""
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATAVERSE_URL", "https://contoso.crm.dynamics.com")
    monkeypatch.delenv("BC_COMPANY_ID")

    response = call_health()
    body = response.get_body().decode()

    assert response.status_code == 503
    assert "BC_COMPANY_ID" in body
    assert "very-secret-token" not in body
    assert "contoso" not in body
