"""BC specifics for the client tests; the fakes themselves live in tests.fakes."""

from __future__ import annotations

import httpx

from pointegration.businesscentral.client import BusinessCentralClient
from pointegration.http import ServiceClient
from tests import fakes
from tests.fakes import NOW, FakeTokens, Handler, Recorder, json_response

__all__ = ["NOW", "FakeTokens", "Handler", "Recorder", "json_response"]

BASE = "https://api.bc.test/v2.0/tenant-1/production/api"
COMPANY = "6f7d0a1c-2b3e-4f50-8a6b-7c8d9e0f1a2b"
RECORD = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"


def make_service(handler: Handler) -> ServiceClient:
    """A BC service client on ``handler`` with waits switched off."""
    return fakes.make_service(handler, system="bc", base_url=BASE, max_concurrency=5)


def make_client(handler: Handler) -> BusinessCentralClient:
    """A BC client for :data:`COMPANY` on ``handler``."""
    return BusinessCentralClient(make_service(handler), company_id=COMPANY)


def path_of(request: httpx.Request) -> str:
    """The request's path below :data:`BASE`, without the query."""
    prefix = httpx.URL(BASE).path
    return request.url.path.removeprefix(prefix)
