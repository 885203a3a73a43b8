"""Shared helpers for the BC emulator tests (this module holds no tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from pointegration.emulators.businesscentral import BusinessCentralEmulator

TOKEN = "test-token"
START = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)


class Clock:
    """A settable clock; each read is a millisecond later than the last."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


class Bc:
    """An httpx client bound to one emulator's company, with short helpers."""

    def __init__(self, emulator: BusinessCentralEmulator, client: httpx.AsyncClient):
        self.emulator = emulator
        self.client = client
        tenant, environment = emulator.tenant_id, emulator.environment
        self.root = f"/v2.0/{tenant}/{environment}/api/v2.0"
        self.company = f"{self.root}/companies({emulator.company_id})"
        custom = emulator.postcodes_api
        self.custom = f"/v2.0/{tenant}/{environment}/api/{custom}"
        self.custom_company = f"{self.custom}/companies({emulator.company_id})"

    def url(self, path: str) -> str:
        """``path`` below the company, unless it is already absolute."""
        return path if path.startswith("/") else f"{self.company}/{path}"

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET ``path`` (relative to the company)."""
        return await self.client.get(self.url(path), **kwargs)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        """POST JSON ``body`` to ``path``."""
        return await self.client.post(self.url(path), json=body, **kwargs)

    async def patch(
        self,
        path: str,
        body: Any,
        etag: str | None = "*",
        **kwargs: Any,
    ) -> httpx.Response:
        """PATCH ``path`` with ``If-Match: etag`` (None sends no If-Match)."""
        headers = {} if etag is None else {"If-Match": etag}
        return await self.client.patch(
            self.url(path), json=body, headers=headers, **kwargs
        )

    async def delete(self, path: str, etag: str | None = "*") -> httpx.Response:
        """DELETE ``path`` with ``If-Match: etag``."""
        headers = {} if etag is None else {"If-Match": etag}
        return await self.client.delete(self.url(path), headers=headers)

    async def created(self, path: str, body: Any) -> dict[str, Any]:
        """POST ``body`` and return the created entity; fails unless 201."""
        response = await self.post(path, body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def customer(self, **fields: Any) -> dict[str, Any]:
        """A new customer (displayName defaults to 'Contoso Ltd.')."""
        return await self.created(
            "customers", {"displayName": "Contoso Ltd.", **fields}
        )

    async def invoice(
        self, customer: dict[str, Any], *lines: dict[str, Any]
    ) -> dict[str, Any]:
        """A new draft invoice for ``customer`` with ``lines`` (deep insert)."""
        body: dict[str, Any] = {"customerNumber": customer["number"]}
        if lines:
            body["salesInvoiceLines"] = list(lines)
        return await self.created("salesInvoices", body)


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    """(status, code, message without the correlation suffix) of a BC error."""
    error = response.json()["error"]
    message = error["message"].split("  CorrelationId:  ")[0]
    return response.status_code, error["code"], message


def instant(text: str) -> datetime:
    """A BC ``lastModifiedDateTime`` as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def make_emulator(**kwargs: Any) -> BusinessCentralEmulator:
    """An emulator with the test token and a stepping clock."""
    kwargs.setdefault("clock", Clock())
    return BusinessCentralEmulator(token=TOKEN, **kwargs)


async def open_bc(emulator: BusinessCentralEmulator) -> AsyncIterator[Bc]:
    """A :class:`Bc` over an in-process transport to ``emulator``."""
    transport = httpx.ASGITransport(app=emulator.asgi)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://bc.test",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as client:
        yield Bc(emulator, client)


@pytest.fixture
def emulator() -> BusinessCentralEmulator:
    """A fresh emulator with default settings."""
    return make_emulator()


@pytest.fixture
async def bc(emulator: BusinessCentralEmulator) -> AsyncIterator[Bc]:
    """A client for the ``emulator`` fixture."""
    async for client in open_bc(emulator):
        yield client
