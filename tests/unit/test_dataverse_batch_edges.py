"""Edge cases of Dataverse $batch answers found in review."""

from __future__ import annotations

from decimal import Decimal

import httpx

from pointegration import errors
from pointegration.dataverse.batch import Operation, decode_batch
from tests.unit._dataverse_http import ACCOUNT_ID, OTHER_ID, Recorder, make_client
from tests.unit.test_dataverse_batch import (
    API,
    RESPONSE_TYPE,
    answer,
    created,
    crlf,
    failed,
    multipart,
)


def test_a_part_answered_without_headers_keeps_its_body() -> None:
    """A part whose HTTP answer has no header lines still yields its JSON body."""
    operations = [Operation.get("accounts", ACCOUNT_ID, select=["revenue"])]
    content = crlf(
        *multipart(
            "batchresponse_f44bd09d",
            answer("HTTP/1.1 200 OK", body='{"revenue":10.50}'),
        )
    )

    results = decode_batch(
        RESPONSE_TYPE, content, operations, base_path=API, atomic=False
    )

    assert results[0].body == {"revenue": Decimal("10.50")}


def test_a_204_part_with_no_trailing_blank_line_is_read() -> None:
    """A 204 part ending right after its last header is a success without a body."""
    operations = [Operation.update("accounts", ACCOUNT_ID, {"name": "A"})]
    content = (
        b"--batchresponse_f44bd09d\r\n"
        b"Content-Type: application/http\r\n"
        b"Content-Transfer-Encoding: binary\r\n\r\n"
        b"HTTP/1.1 204 No Content\r\n"
        b"OData-Version: 4.0\r\n"
        b"--batchresponse_f44bd09d--\r\n"
    )

    results = decode_batch(
        RESPONSE_TYPE, content, operations, base_path=API, atomic=False
    )

    assert [(r.status, r.body, r.ok) for r in results] == [(204, None, True)]


def _stopped_batch(status: int, part: list[str]) -> httpx.Response:
    """A batch Dataverse ended at a failing part (no continue-on-error)."""
    content = crlf(*multipart("batchresponse_f44bd09d", created(OTHER_ID), part))
    return httpx.Response(
        status, content=content, headers={"Content-Type": RESPONSE_TYPE}
    )


async def test_a_stopped_batch_answered_503_is_not_sent_again() -> None:
    """A batch stopped by a 503 part is not repeated: its first create committed."""
    recorder = Recorder(
        lambda request: _stopped_batch(
            503, failed("HTTP/1.1 503 Service Unavailable", "0x0", "Busy.")
        )
    )
    operations = [
        Operation.create("accounts", {"name": "First"}),
        Operation.create("accounts", {"name": "Second"}),
        Operation.create("accounts", {"name": "Third"}),
    ]

    results = await make_client(recorder).batch(operations, continue_on_error=False)

    assert len(recorder.requests) == 1
    assert results[0].ok
    assert results[0].entity_id == OTHER_ID
    assert isinstance(results[1].error, errors.ServiceUnavailableError)
    third = results[2].error
    assert isinstance(third, errors.RetryableError)
    assert third.code == "batch_not_run"


async def test_a_stopped_batch_reports_what_committed_before_the_failure() -> None:
    """A batch stopped by a 404 part answers each operation, not one batch error."""
    recorder = Recorder(
        lambda request: _stopped_batch(
            404,
            failed(
                "HTTP/1.1 404 Not Found",
                "0x80040217",
                f"account With Id = {ACCOUNT_ID} Does Not Exist",
            ),
        )
    )
    operations = [
        Operation.create("accounts", {"name": "First"}),
        Operation.update("accounts", ACCOUNT_ID, {"name": "Gone"}),
    ]

    results = await make_client(recorder).batch(operations, continue_on_error=False)

    assert results[0].entity_id == OTHER_ID
    assert isinstance(results[1].error, errors.NotFoundError)


async def test_a_stopped_batch_keeps_later_chunks_from_being_sent() -> None:
    """Without continue-on-error a failure in the first 1000 stops the next chunk."""
    recorder = Recorder(
        lambda request: _stopped_batch(
            400, failed("HTTP/1.1 400 Bad Request", "0x80044331", "Too long.")
        )
    )
    operations = [Operation.create("accounts", {"name": f"A{n}"}) for n in range(1001)]

    results = await make_client(recorder).batch(operations, continue_on_error=False)

    assert len(recorder.requests) == 1
    assert len(results) == 1001
    assert isinstance(results[1].error, errors.RejectedError)
    last = results[1000]
    assert last.index == 1000
    assert last.error is not None
    assert last.error.code == "batch_not_run"
