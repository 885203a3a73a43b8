"""Building the two service clients from the settings, in one place.

Triggers, commands and the demo all need "a Dataverse client and a BC client for
these settings"; this module is that recipe, so each caller wires nothing itself.
Tests and the demo pass ``transport`` to send through an in-process emulator, and
``sleep`` to switch the retry waits off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from pointegration.businesscentral.client import BusinessCentralClient
    from pointegration.dataverse.client import DataverseClient
    from pointegration.http import RetryPolicy, TokenProvider
    from pointegration.settings import Settings

__all__ = ["bc_client", "dataverse_client"]


def dataverse_client(
    settings: Settings,
    tokens: TokenProvider,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> DataverseClient:
    """A Dataverse client for ``DATAVERSE_URL``, capped at its concurrency setting."""
    from pointegration.dataverse.client import DataverseClient
    from pointegration.http import ServiceClient

    service = ServiceClient(
        system="dataverse",
        base_url=settings.dataverse_api_url,
        tokens=tokens,
        max_concurrency=settings.dataverse_max_concurrency,
        timeout=settings.http_timeout_seconds,
        transport=transport,
        retry=retry,
        sleep=sleep or asyncio.sleep,
    )
    return DataverseClient(service)


def bc_client(
    settings: Settings,
    tokens: TokenProvider,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> BusinessCentralClient:
    """A BC client for the configured company, capped at its concurrency setting."""
    from pointegration.businesscentral.client import BusinessCentralClient
    from pointegration.http import ServiceClient

    service = ServiceClient(
        system="bc",
        base_url=f"{settings.bc_environment_url}/api",
        tokens=tokens,
        max_concurrency=settings.bc_max_concurrency,
        timeout=settings.http_timeout_seconds,
        transport=transport,
        retry=retry,
        sleep=sleep or asyncio.sleep,
    )
    return BusinessCentralClient(
        service,
        company_id=settings.bc_company_id,
        postcodes_api=settings.bc_postcodes_api,
    )
