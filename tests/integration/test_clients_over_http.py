"""The product's clients against both emulators served on real loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pointegration.auth import StaticTokenProvider
from pointegration.connections import bc_client, dataverse_client
from pointegration.emulators.server import RunningEmulators, build_emulators, serve
from pointegration.errors import RequestTimeoutError
from pointegration.settings import Secret, Settings
from tests.fakes import no_wait
from tests.integration.conftest import QUICK


def settings_for(running: RunningEmulators) -> Settings:
    """Settings exactly as a user would write them from the emulate JSON line."""
    info = running.connection_info()
    return Settings.from_env(
        {
            "DATAVERSE_URL": info["dataverseUrl"],
            "BC_BASE_URL": info["bcBaseUrl"],
            "BC_TENANT_ID": info["tenantId"],
            "BC_ENVIRONMENT": info["environment"],
            "BC_COMPANY_ID": info["companyId"],
            "AUTH_MODE": "static",
            "AUTH_STATIC_TOKEN": info["token"],
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        }
    )


@pytest.fixture
async def running() -> AsyncIterator[RunningEmulators]:
    emulators = build_emulators(
        seed=5,
        token="wire-token",
        limits="real",
        faults="bc:POST:/customers=lost:0.5",
    )
    async with serve(emulators=emulators) as served:
        yield served


async def test_both_clients_work_over_real_sockets(running: RunningEmulators) -> None:
    """WhoAmI, an account create and a BC company listing go over loopback HTTP."""
    settings = settings_for(running)
    tokens = StaticTokenProvider(Secret(running.emulators.token))

    async with dataverse_client(settings, tokens, retry=QUICK, sleep=no_wait) as dv:
        me = await dv.who_am_i()
        account_id = await dv.create("accounts", {"name": "Over the wire"})
        row = await dv.get("accounts", account_id, select=["name"])
    async with bc_client(settings, tokens, retry=QUICK, sleep=no_wait) as bc:
        companies = await bc.companies()

    assert me.user_id == running.emulators.dataverse.user_id
    assert row["name"] == "Over the wire"
    assert [c["id"] for c in companies] == [running.emulators.company_id]


async def test_lost_answers_over_http_leave_exactly_one_record(
    running: RunningEmulators,
) -> None:
    """A connection dropped after a commit is a timeout; BC holds each record once."""
    settings = settings_for(running)
    tokens = StaticTokenProvider(Secret(running.emulators.token))
    lost = 0
    async with bc_client(settings, tokens, retry=QUICK, sleep=no_wait) as bc:
        for n in range(8):
            try:
                await bc.create("customers", {"number": f"W{n}", "displayName": "W"})
            except RequestTimeoutError:
                lost += 1

    numbers = sorted(c["number"] for c in running.emulators.bc.rows("customers"))
    assert numbers == [f"W{n}" for n in range(8)]
    assert 0 < lost < 8


async def test_concurrent_reads_over_http_stay_within_bc_limits(
    running: RunningEmulators,
) -> None:
    """Thirty concurrent reads over sockets never exceed BC's five in flight."""
    settings = settings_for(running)
    tokens = StaticTokenProvider(Secret(running.emulators.token))

    async with bc_client(settings, tokens, retry=QUICK, sleep=no_wait) as bc:
        results = await asyncio.gather(*(bc.companies() for _ in range(30)))

    assert all(len(r) == 1 for r in results)
    assert running.emulators.bc_service.recorder.peak_in_flight <= 5
