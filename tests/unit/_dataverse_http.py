"""Dataverse specifics for the client tests; the fakes live in tests.fakes."""

from __future__ import annotations

import itertools
from functools import partial
from typing import Any

import httpx

from pointegration.dataverse.client import DataverseClient
from pointegration.http import ServiceClient
from tests import fakes
from tests.fakes import NOW, FakeTokens, Handler, Recorder

__all__ = ["NOW", "FakeTokens", "Handler", "Recorder"]

ORG = "https://contoso.crm.dynamics.com"
BASE = f"{ORG}/api/data/v9.2"
ACCOUNT_ID = "00000000-0000-0000-0000-000000000001"
OTHER_ID = "d31ba648-c592-ed11-aad1-000d3a993550"

json_response = partial(
    fakes.json_response, content_type="application/json; odata.metadata=minimal"
)


def error_response(status: int, code: str, message: str) -> httpx.Response:
    """A Dataverse error body."""
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    return json_response(status, body)


def make_service(handler: Handler, base_url: str = BASE) -> ServiceClient:
    """A Dataverse service client on ``handler`` with waits switched off."""
    return fakes.make_service(
        handler, system="dataverse", base_url=base_url, max_concurrency=52
    )


def make_client(handler: Handler) -> DataverseClient:
    """A Dataverse client on ``handler`` whose boundary ids count up from 1."""
    counter = itertools.count(1)
    return DataverseClient(make_service(handler), new_id=lambda: f"id{next(counter)}")
