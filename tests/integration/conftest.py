"""Fixtures wiring the product's clients to the in-process emulators."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pointegration.auth import StaticTokenProvider
from pointegration.businesscentral.client import BusinessCentralClient
from pointegration.connections import bc_client, dataverse_client
from pointegration.dataverse.client import DataverseClient
from pointegration.emulators.server import (
    Emulators,
    build_emulators,
    transport_for,
)
from pointegration.http import RetryPolicy
from pointegration.settings import Secret, Settings
from tests.fakes import no_wait

QUICK = RetryPolicy(max_attempts=4, max_elapsed=30, jitter=0.0)


def emulated_settings(emulators: Emulators, **overrides: str) -> Settings:
    """Settings pointing at the in-process emulators with the static token."""
    env = {
        # Loopback, as AUTH_MODE=static demands; the transport never opens a socket.
        "DATAVERSE_URL": "http://127.0.0.1:7001",
        "BC_BASE_URL": "http://127.0.0.1:7002/v2.0",
        "BC_TENANT_ID": emulators.tenant_id,
        "BC_ENVIRONMENT": emulators.environment,
        "BC_COMPANY_ID": emulators.company_id,
        "AUTH_MODE": "static",
        "AUTH_STATIC_TOKEN": emulators.token,
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        **overrides,
    }
    return Settings.from_env(env)


@pytest.fixture
async def emulators() -> AsyncIterator[Emulators]:
    built = build_emulators(seed=7, token="integration-token")
    yield built
    await built.aclose()


@pytest.fixture
async def dataverse(emulators: Emulators) -> AsyncIterator[DataverseClient]:
    settings = emulated_settings(emulators)
    client = dataverse_client(
        settings,
        StaticTokenProvider(Secret(emulators.token)),
        transport=transport_for(emulators, "dataverse"),
        retry=QUICK,
        sleep=no_wait,
    )
    async with client:
        yield client


@pytest.fixture
async def bc(emulators: Emulators) -> AsyncIterator[BusinessCentralClient]:
    settings = emulated_settings(emulators)
    client = bc_client(
        settings,
        StaticTokenProvider(Secret(emulators.token)),
        transport=transport_for(emulators, "bc"),
        retry=QUICK,
        sleep=no_wait,
    )
    async with client:
        yield client
