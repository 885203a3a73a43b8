"""Edge cases of the BC client and its $batch found in review."""

from __future__ import annotations

import httpx
import pytest

from pointegration import errors
from pointegration.businesscentral.batch import BatchOperation
from tests.unit._bc_http import RECORD, json_response, make_client


async def test_a_batch_part_with_an_unreadable_status_may_have_been_applied() -> None:
    """A part whose status is not a number is a lost answer, not a refusal."""
    client = make_client(
        lambda request: json_response(
            200, {"responses": [{"id": "1", "status": "201", "body": {}}]}
        )
    )

    results = await client.batch(
        [BatchOperation.create("customers", {"displayName": "A"})]
    )

    assert isinstance(results[0].error, errors.RequestTimeoutError)


async def test_a_page_without_a_value_array_is_an_unreadable_answer() -> None:
    """A collection answer whose value is not a list of records is refused."""
    client = make_client(lambda request: json_response(200, {"value": [1, 2]}))

    with pytest.raises(errors.ServiceUnavailableError, match="value array"):
        [row async for row in client.list("customers")]


async def test_a_next_link_that_is_not_text_ends_in_an_error_not_a_loop() -> None:
    """A nextLink that is not a string is refused instead of being followed."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, {"value": [{"id": RECORD}], "@odata.nextLink": 5})

    with pytest.raises(errors.ServiceUnavailableError, match="nextLink"):
        [row async for row in make_client(handler).list("customers")]

    assert len(seen) == 1


async def test_find_one_returns_the_single_match_or_none() -> None:
    """find_one asks for two rows and gives the only one, or None when none match."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        rows = [{"id": RECORD}] if "C1" in str(request.url) else []
        return json_response(200, {"value": rows})

    client = make_client(handler)

    assert await client.find_one("customers", "number eq 'C1'") == {"id": RECORD}
    assert await client.find_one("customers", "number eq 'C2'") is None
    assert seen[0].url.params["$top"] == "2"


async def test_find_one_refuses_an_ambiguous_key() -> None:
    """Two records matching a key meant to be unique are a DataError, not a guess."""
    client = make_client(
        lambda request: json_response(200, {"value": [{"id": RECORD}, {"id": RECORD}]})
    )

    with pytest.raises(errors.DataError, match="more than one"):
        await client.find_one("salesInvoices", "externalDocumentNumber eq 'INV-1'")
