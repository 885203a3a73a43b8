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
