"""Helpers shared by the Dataverse emulator tests (no tests of its own)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from pointegration.emulators.dataverse import DataverseEmulator

TOKEN = "test-token"
API = "/api/data/v9.2"
BASE_URL = "http://dv.test"
ANNOTATIONS = {"Prefer": 'odata.include-annotations="*"'}


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 15, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += timedelta(seconds=seconds)


def new_emulator(**options: Any) -> DataverseEmulator:
    """An emulator with the test token and a fixed clock."""
    options.setdefault("clock", Clock())

    return DataverseEmulator(token=TOKEN, **options)


@asynccontextmanager
async def api_client(
    emulator: DataverseEmulator, token: str | None = TOKEN
) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of ``emulator``, authenticated unless ``token`` is None."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=emulator.asgi)
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE_URL, headers=headers
    ) as client:
        yield client


def entity_id(response: httpx.Response) -> str:
    """The GUID in a create's ``OData-EntityId`` header."""
    header = response.headers["OData-EntityId"]

    return header[header.rindex("(") + 1 : -1]


async def create(client: httpx.AsyncClient, entity_set: str, body: Any) -> str:
    """POST a row and return its id; fails the test unless the answer is 204."""
    response = await client.post(f"{API}/{entity_set}", json=body)
    assert response.status_code == 204, response.text

    return entity_id(response)


@pytest.fixture
def emulator() -> DataverseEmulator:
    """A fresh emulator with the test token and a fixed clock."""
    return new_emulator()


@pytest.fixture
async def client(emulator: DataverseEmulator) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated in-process client of the ``emulator`` fixture."""
    async with api_client(emulator) as api:
        yield api
