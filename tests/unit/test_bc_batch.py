"""BC JSON $batch: 100 operations per request, results in order, errors by part."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from pointegration import _json
from pointegration.businesscentral.batch import MAX_BATCH_OPERATIONS, BatchOperation
from pointegration.errors import (
    AlreadyExistsError,
    ConcurrencyError,
    IntegrationError,
    NotFoundError,
    PayloadValidationError,
    RejectedError,
    RequestTimeoutError,
    RetryableError,
    ThrottledError,
)
from tests.unit._bc_http import (
    COMPANY,
    RECORD,
    Recorder,
    json_response,
    make_client,
    path_of,
)

CO = f"companies({COMPANY})"
CORRELATION = "5d0c6f2a-1b3e-4c5d-8e9f-0a1b2c3d4e5f"


def _echo(status: int = 201) -> Callable[[httpx.Request], httpx.Response]:
    """A $batch handler answering every part with ``status``, in reverse order."""

    def answer(request: httpx.Request) -> httpx.Response:
        parts = _json.loads(request.content)["requests"]
        responses = [
            {
                "id": part["id"],
                "status": status,
                "headers": {},
                "body": {"n": part["id"]},
            }
            for part in reversed(parts)
        ]
        return json_response(200, {"responses": responses})

    return answer


def _countries(count: int) -> list[BatchOperation]:
    return [
        BatchOperation.create("countriesRegions", {"code": f"C{i}"})
        for i in range(count)
    ]


async def test_250_operations_go_out_as_100_100_50_and_come_back_in_order() -> None:
    """250 operations are three $batch requests; results keep the input order."""
    recorder = Recorder(_echo())
    results = await make_client(recorder).batch(_countries(250))
    sizes = [len(body["requests"]) for body in recorder.bodies()]
    assert sizes == [100, 100, 50]
    assert [r.id for r in results] == [str(i) for i in range(1, 251)]
    assert [r.body for r in results] == [{"n": str(i)} for i in range(1, 251)]
    assert all(r.ok and r.status == 201 for r in results)


async def test_batch_request_shape() -> None:
    """The $batch goes to v2.0/$batch as JSON with relative inner URLs."""
    recorder = Recorder(_echo(200))
    operations = [
        BatchOperation.create("customers", {"displayName": "Contoso"}),
        BatchOperation.update("customers", RECORD, {"city": "Bonn"}, etag='W/"5"'),
        BatchOperation.delete("contacts", RECORD, etag="*"),
        BatchOperation.get("salesInvoices", RECORD, select="id,status"),
        BatchOperation.invoke("salesInvoices", RECORD, "Microsoft.NAV.post"),
    ]
    await make_client(recorder).batch(operations)
    request = recorder.requests[0]
    assert (request.method, path_of(request)) == ("POST", "/v2.0/$batch")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert "Isolation" not in request.headers
    assert recorder.bodies()[0]["requests"] == [
        {
            "method": "POST",
            "id": "1",
            "url": f"{CO}/customers",
            "headers": {"Content-Type": "application/json"},
            "body": {"displayName": "Contoso"},
        },
        {
            "method": "PATCH",
            "id": "2",
            "url": f"{CO}/customers({RECORD})",
            "headers": {"Content-Type": "application/json", "If-Match": 'W/"5"'},
            "body": {"city": "Bonn"},
        },
        {
            "method": "DELETE",
            "id": "3",
            "url": f"{CO}/contacts({RECORD})",
            "headers": {"If-Match": "*"},
        },
        {
            "method": "GET",
            "id": "4",
            "url": f"{CO}/salesInvoices({RECORD})?$select=id,status",
            "headers": {},
        },
        {
            "method": "POST",
            "id": "5",
            "url": f"{CO}/salesInvoices({RECORD})/Microsoft.NAV.post",
            "headers": {},
        },
    ]


async def test_atomic_batch_sends_isolation_snapshot() -> None:
    """atomic=True asks BC for one transaction with Isolation: snapshot."""
    recorder = Recorder(_echo())
    await make_client(recorder).batch(_countries(3), atomic=True)
    assert recorder.requests[0].headers["Isolation"] == "snapshot"


async def test_atomic_batch_over_100_is_refused_before_sending() -> None:
    """BC cannot make two $batch requests one transaction, so 101 is refused."""
    recorder = Recorder(_echo())
    with pytest.raises(PayloadValidationError, match="atomic"):
        await make_client(recorder).batch(
            _countries(MAX_BATCH_OPERATIONS + 1), atomic=True
        )
    assert recorder.requests == []


async def test_atomic_failure_marks_the_others_rolled_back() -> None:
    """In a failed atomic batch, the 2xx parts are reported as rolled back."""

    def answer(request: httpx.Request) -> httpx.Response:
        failed = {"error": {"code": "BadRequest", "message": "bad"}}
        return json_response(
            200,
            {
                "responses": [
                    {"id": "1", "status": 201, "body": {"id": RECORD}},
                    {"id": "2", "status": 400, "body": failed},
                ]
            },
        )

    results = await make_client(Recorder(answer)).batch(_countries(2), atomic=True)
    first, second = results
    assert isinstance(second.error, RejectedError)
    assert first.status == 201
    assert isinstance(first.error, RetryableError)
    assert first.error.code == "batch_rolled_back"


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(
            lambda: BatchOperation("PATCH", "customers", RECORD, {"city": "B"}),
            id="patch-without-etag",
        ),
        pytest.param(
            lambda: BatchOperation("DELETE", "customers", RECORD), id="delete-no-etag"
        ),
        pytest.param(
            lambda: BatchOperation.update("customers", RECORD, {"city": "B"}, etag=""),
            id="patch-empty-etag",
        ),
        pytest.param(
            lambda: BatchOperation.delete("customers", RECORD, etag=""),
            id="delete-empty-etag",
        ),
    ],
)
def test_patch_or_delete_without_etag_is_refused(operation: Any) -> None:
    """A batch PATCH or DELETE without an etag cannot even be built."""
    with pytest.raises(PayloadValidationError, match="etag"):
        operation()


def test_batch_refuses_read_only_property() -> None:
    """A batch create with a read-only property is refused like a single one."""
    with pytest.raises(PayloadValidationError, match="'number'"):
        BatchOperation.create("salesInvoices", {"customerNumber": "1", "number": "X"})


async def test_decimal_is_exact_inside_the_batch_body() -> None:
    """An inner body's Decimal is written exactly in the $batch bytes."""
    recorder = Recorder(_echo())
    line = {"documentId": RECORD, "quantity": 1, "unitPrice": Decimal("1234.565")}
    await make_client(recorder).batch(
        [BatchOperation.create("salesInvoiceLines", line)]
    )
    assert b'"unitPrice":1234.565' in recorder.requests[0].content


def _error_part(status: int, code: str, **headers: str) -> dict[str, Any]:
    message = f"BC says no.  CorrelationId:  {CORRELATION}."
    return {
        "id": "1",
        "status": status,
        "headers": headers,
        "body": {"error": {"code": code, "message": message}},
    }


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        pytest.param(_error_part(400, "BadRequest"), RejectedError, id="bad-request"),
        pytest.param(
            _error_part(400, "Application_DialogException"),
            RejectedError,
            id="al-dialog-error",
        ),
        pytest.param(
            _error_part(400, "Internal_EntityWithSameKeyExists"),
            AlreadyExistsError,
            id="duplicate-key",
        ),
        pytest.param(
            _error_part(409, "Request_EntityChanged"),
            ConcurrencyError,
            id="stale-etag",
        ),
        pytest.param(
            _error_part(404, "Internal_RecordNotFound"), NotFoundError, id="not-found"
        ),
        pytest.param(
            _error_part(429, "TooManyRequests", **{"Retry-After": "7"}),
            ThrottledError,
            id="throttled-with-retry-after",
        ),
    ],
)
async def test_part_error_becomes_the_matching_exception(
    part: dict[str, Any], expected: type[IntegrationError]
) -> None:
    """A failed part carries the exception its status and BC code call for."""
    recorder = Recorder(lambda r: json_response(200, {"responses": [part]}))
    operation = BatchOperation.update("customers", RECORD, {"city": "B"}, etag="*")
    [result] = await make_client(recorder).batch([operation])
    assert type(result.error) is expected
    assert result.error.code == part["body"]["error"]["code"]
    assert result.error.message == "BC says no."
    assert result.error.correlation_id == CORRELATION
    assert result.error.status == part["status"]
    assert result.error.record_id == RECORD
    assert not result.ok
    if isinstance(result.error, ThrottledError):
        assert result.error.retry_after == 7


async def test_missing_part_is_a_lost_answer() -> None:
    """An operation BC's answer leaves out is reported as possibly applied."""
    recorder = Recorder(
        lambda r: json_response(200, {"responses": [{"id": "2", "status": 201}]})
    )
    first, second = await make_client(recorder).batch(_countries(2))
    assert isinstance(first.error, RequestTimeoutError)
    assert second.ok


async def test_failed_request_fails_its_operations_and_stops() -> None:
    """A refused second request fails its 100 operations; the third is not sent."""
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 2:
            return json_response(400, {"error": {"code": "BadRequest", "message": "x"}})
        return _echo()(request)

    recorder = Recorder(answer)
    results = await make_client(recorder).batch(_countries(250))
    assert len(recorder.requests) == 2
    assert all(r.ok for r in results[:100])
    assert all(isinstance(r.error, RejectedError) for r in results[100:])
    assert all(r.error.message.startswith("not sent") for r in results[200:])  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("operations", "attempts"),
    [
        pytest.param(
            [BatchOperation.get("customers", RECORD)], 2, id="reads-only-retried"
        ),
        pytest.param(_countries(1), 1, id="writes-not-retried"),
    ],
)
async def test_only_a_batch_of_reads_is_retried_after_502(
    operations: list[BatchOperation], attempts: int
) -> None:
    """A 502 is retried for a batch of GETs, never for one that writes."""
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(502) if calls == 1 else _echo(200)(request)

    results = await make_client(Recorder(answer)).batch(operations)
    assert calls == attempts
    assert results[0].ok is (attempts == 2)


async def test_duplicate_operation_ids_are_refused() -> None:
    """Two operations with one id would make results ambiguous, so none is sent."""
    recorder = Recorder(_echo())
    operations = [
        BatchOperation.create("countriesRegions", {"code": "DE"}, id="de"),
        BatchOperation.create("countriesRegions", {"code": "AT"}, id="de"),
    ]
    with pytest.raises(PayloadValidationError, match="de"):
        await make_client(recorder).batch(operations)
    assert recorder.requests == []


async def test_named_operations_keep_their_ids() -> None:
    """An operation's own id names its request and its result."""
    recorder = Recorder(_echo())
    operations = [
        BatchOperation.create("countriesRegions", {"code": "DE"}, id="country-de")
    ]
    [result] = await make_client(recorder).batch(operations)
    assert recorder.bodies()[0]["requests"][0]["id"] == "country-de"
    assert result.id == "country-de"


async def test_part_bodies_keep_exact_decimals() -> None:
    """A part's body is read with exact decimals."""
    answer = {"responses": [{"id": "1", "status": 200, "body": {"amount": 0.1}}]}
    recorder = Recorder(lambda r: httpx.Response(200, content=_json.dumps(answer)))
    [result] = await make_client(recorder).batch(
        [BatchOperation.get("salesInvoices", RECORD)]
    )
    assert result.body == {"amount": Decimal("0.1")}
    assert result.headers == {}


async def test_non_atomic_batch_asks_bc_to_continue_on_error() -> None:
    """A non-atomic batch sends Prefer: odata.continue-on-error, an atomic one not."""
    recorder = Recorder(_echo())
    client = make_client(recorder)
    await client.batch(_countries(2))
    await client.batch(_countries(2), atomic=True)

    first, second = recorder.requests
    assert first.headers["Prefer"] == "odata.continue-on-error"
    assert "Prefer" not in second.headers
    assert second.headers["Isolation"] == "snapshot"


async def test_operations_after_a_stopping_failure_are_marked_not_run() -> None:
    """When BC stops at a failure, the unanswered later operations never ran."""

    def stops_at_second(request: httpx.Request) -> httpx.Response:
        failure = {"error": {"code": "BadRequest", "message": "bad code"}}
        responses = [
            {"id": "1", "status": 201, "headers": {}, "body": {}},
            {"id": "2", "status": 400, "headers": {}, "body": failure},
        ]
        return json_response(200, {"responses": responses})

    results = await make_client(Recorder(stops_at_second)).batch(_countries(4))

    assert [r.status for r in results] == [201, 400, 0, 0]
    assert isinstance(results[1].error, RejectedError)
    for result in results[2:]:
        assert isinstance(result.error, RetryableError)
        assert result.error.code == "batch_not_run"
