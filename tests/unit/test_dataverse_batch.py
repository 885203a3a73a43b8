"""The $batch multipart format both ways, and operations as values (dataverse.batch)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pointegration import _json, errors
from pointegration.dataverse.batch import (
    MAX_OPERATIONS,
    Operation,
    UpsertMode,
    batch_content_type,
    decode_batch,
    encode_batch,
    entity_id_from,
)
from tests.unit._dataverse_http import ACCOUNT_ID, NOW, ORG, OTHER_ID

API = "/api/data/v9.2"
CRLF = "\r\n"
RESPONSE_TYPE = "multipart/mixed; boundary=batchresponse_f44bd09d"


def crlf(*lines: str) -> bytes:
    """Lines joined with CRLF, as the multipart format requires."""
    return CRLF.join(lines).encode("utf-8")


def answer(
    status_line: str, *headers: str, body: str = "", content_id: str = ""
) -> list[str]:
    """The lines of one application/http response part."""
    head = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        head.append(f"Content-ID: {content_id}")
    return [*head, "", status_line, *headers, "", body]


def multipart(boundary: str, *parts: list[str]) -> list[str]:
    """Parts framed by ``--boundary`` lines and the closing delimiter."""
    lines: list[str] = []
    for part in parts:
        lines += [f"--{boundary}", *part]
    return [*lines, f"--{boundary}--", ""]


def created(entity_id: str, entity_set: str = "accounts") -> list[str]:
    """A 204 answer to a create, with the new row's OData-EntityId."""
    url = f"{ORG}{API}/{entity_set}({entity_id})"
    return answer(
        "HTTP/1.1 204 No Content",
        "OData-Version: 4.0",
        f"Location: {url}",
        f"OData-EntityId: {url}",
        body="",
    )


def failed(status_line: str, code: str, message: str, *headers: str) -> list[str]:
    """An error answer with a Dataverse error body."""
    body = _json.dumps({"error": {"code": code, "message": message}})
    return answer(
        status_line,
        "Content-Type: application/json; odata.metadata=minimal",
        "OData-Version: 4.0",
        *headers,
        body=body,
    )


def test_encode_batch_writes_the_documented_request_format() -> None:
    """Parts carry application/http, binary, a relative request line and CRLFs."""
    operations = [
        Operation.create(
            "accounts", {"name": "Contoso", "revenue": Decimal("1234.565")}
        ),
        Operation.update("accounts", ACCOUNT_ID, {"name": "X"}, etag='W/"470867"'),
        Operation.get("accounts", ACCOUNT_ID, select=["name"]),
    ]

    body = encode_batch(operations, base_path=API, batch_id="b1")

    expected = crlf(
        "--batch_b1",
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        "",
        f"POST {API}/accounts HTTP/1.1",
        "Content-Type: application/json; type=entry",
        "",
        '{"name":"Contoso","revenue":1234.565}',
        "--batch_b1",
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        "",
        f"PATCH {API}/accounts({ACCOUNT_ID}) HTTP/1.1",
        'If-Match: W/"470867"',
        "Content-Type: application/json; type=entry",
        "",
        '{"name":"X"}',
        "--batch_b1",
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        "",
        f"GET {API}/accounts({ACCOUNT_ID})?$select=name HTTP/1.1",
        "",
        "",
        "--batch_b1--",
        "",
    )
    assert expected == body
    assert batch_content_type("b1") == 'multipart/mixed; boundary="batch_b1"'


def test_encode_batch_with_a_change_set_numbers_each_part() -> None:
    """A change set nests a changeset_ boundary and gives each part a Content-ID."""
    operations = [
        Operation.create("contacts", {"firstname": "Alice"}),
        Operation.update("accounts", ACCOUNT_ID, {"primarycontactid@odata.bind": "$1"}),
    ]

    body = encode_batch(operations, base_path=API, batch_id="b1", changeset_id="c1")

    expected = crlf(
        "--batch_b1",
        'Content-Type: multipart/mixed; boundary="changeset_c1"',
        "",
        "--changeset_c1",
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        "Content-ID: 1",
        "",
        f"POST {API}/contacts HTTP/1.1",
        "Content-Type: application/json; type=entry",
        "",
        '{"firstname":"Alice"}',
        "--changeset_c1",
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        "Content-ID: 2",
        "",
        f"PATCH {API}/accounts({ACCOUNT_ID}) HTTP/1.1",
        "If-Match: *",
        "Content-Type: application/json; type=entry",
        "",
        '{"primarycontactid@odata.bind":"$1"}',
        "--changeset_c1--",
        "",
        "--batch_b1--",
        "",
    )
    assert expected == body


def test_content_id_reference_urls_are_sent_as_given() -> None:
    """A $1 URL refers to an earlier part of the change set and is not prefixed."""
    operations = [
        Operation.create("contacts", {"firstname": "Alice"}, content_id="a"),
        Operation("PATCH", "$a", {"lastname": "B"}, content_id="b"),
    ]

    body = encode_batch(operations, base_path=API, batch_id="b1", changeset_id="c1")

    assert b"\r\nPATCH $a HTTP/1.1\r\n" in body
    assert b"\r\nContent-ID: a\r\n" in body


@pytest.mark.parametrize(
    ("operations", "changeset", "message"),
    [
        pytest.param(
            [Operation.get("accounts", ACCOUNT_ID)], "c1", "GET", id="get-in-change-set"
        ),
        pytest.param(
            [
                Operation.create("accounts", {}, content_id="1"),
                Operation.create("accounts", {}, content_id="1"),
            ],
            "c1",
            "unique",
            id="duplicate-content-id",
        ),
        pytest.param([], None, "at least one", id="empty"),
        pytest.param(
            [Operation.create("accounts", {})] * (MAX_OPERATIONS + 1),
            None,
            "at most 1000",
            id="over-1000",
        ),
    ],
)
def test_encode_batch_refuses_what_dataverse_would_reject(
    operations: list[Operation], changeset: str | None, message: str
) -> None:
    """GET in a change set, reused Content-IDs, empty and oversized batches fail."""
    with pytest.raises(ValueError, match=message):
        encode_batch(operations, base_path=API, batch_id="b1", changeset_id=changeset)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        pytest.param("create_only", {"If-None-Match": "*"}, id="create-only"),
        pytest.param("update_only", {"If-Match": "*"}, id="update-only"),
        pytest.param("any", {}, id="any"),
    ],
)
def test_upsert_mode_sets_the_conditional_header(
    mode: UpsertMode, expected: dict[str, str]
) -> None:
    """Create-only sends If-None-Match: *, update-only If-Match: *, any neither."""
    operation = Operation.upsert(
        "pobc_countries", {"pobc_isocode": "DE"}, {"pobc_name": "Germany"}, mode=mode
    )

    assert expected == dict(operation.headers)
    assert operation.method == "PATCH"
    assert operation.url == "pobc_countries(pobc_isocode='DE')"


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: Operation.update("accounts", "1", {}), id="update-bad-id"),
        pytest.param(lambda: Operation.delete("accounts", "x"), id="delete-bad-id"),
        pytest.param(
            lambda: Operation.get("acc ounts", ACCOUNT_ID), id="bad-entity-set"
        ),
        pytest.param(
            lambda: Operation.update("accounts", ACCOUNT_ID, {}, etag=""),
            id="empty-etag",
        ),
        pytest.param(
            lambda: Operation("GET", "accounts", headers={"X": "a\r\nB: c"}),
            id="header-injection",
        ),
        pytest.param(lambda: Operation("GET", "accounts HTTP/1.1"), id="url-space"),
    ],
)
def test_operations_refuse_bad_input_before_anything_is_sent(build: object) -> None:
    """Bad ids, names, ETags, header values and URLs raise PayloadValidationError."""
    with pytest.raises(errors.PayloadValidationError):
        build()  # type: ignore[operator]


def test_decode_batch_reads_each_part_and_classifies_failures() -> None:
    """Successes keep ids and exact bodies; failed parts become the usual errors."""
    operations = [
        Operation.create("tasks", {"subject": "x" * 300}),
        Operation.create("accounts", {"name": "Contoso"}),
        Operation.upsert(
            "pobc_countries",
            {"pobc_isocode": "DE"},
            {"pobc_name": "Germany"},
            mode="create_only",
        ),
        Operation.update("accounts", OTHER_ID, {"name": "Y"}),
        Operation.get("accounts", ACCOUNT_ID, select=["name", "revenue"]),
    ]
    content = crlf(
        *multipart(
            "batchresponse_f44bd09d",
            failed(
                "HTTP/1.1 400 Bad Request",
                "0x80044331",
                "A validation error occurred.  The length of the 'subject' "
                "attribute of the 'task' entity exceeded the maximum allowed "
                "length of '200'.",
                "REQ_ID: de4c5227-4a28-4ebd-8ced-3392ece1697b",
            ),
            created(OTHER_ID),
            failed(
                "HTTP/1.1 412 Precondition Failed",
                "0x80060892",
                "A record with matching key values already exists.",
            ),
            failed(
                "HTTP/1.1 429 Too Many Requests",
                "0x80072322",
                "Number of requests exceeded the limit of 6000 over time window "
                "of 300 seconds.",
                "Retry-After: 30",
            ),
            answer(
                "HTTP/1.1 200 OK",
                "Content-Type: application/json; odata.metadata=minimal",
                body='{"@odata.etag":"W/\\"77180907\\"","name":"Contoso",'
                f'"revenue":1234.5650,"accountid":"{ACCOUNT_ID}"}}',
            ),
        )
    )

    results = decode_batch(
        RESPONSE_TYPE, content, operations, base_path=API, atomic=False, now=NOW
    )

    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    assert [r.status for r in results] == [400, 204, 412, 429, 200]
    too_long = results[0].error
    assert isinstance(too_long, errors.RejectedError)
    assert too_long.code == "0x80044331"
    assert "'subject' attribute" in too_long.message
    assert ("dataverse", "POST", f"{API}/tasks") == (
        too_long.system,
        too_long.method,
        too_long.path,
    )
    assert results[1].ok
    assert results[1].entity_id == OTHER_ID
    assert results[1].body is None
    assert isinstance(results[2].error, errors.AlreadyExistsError)
    throttled = results[3].error
    assert isinstance(throttled, errors.ThrottledError)
    assert throttled.retry_after == 30.0
    assert throttled.record_id == OTHER_ID
    assert results[4].body is not None
    assert Decimal("1234.5650") == results[4].body["revenue"]
    assert results[4].body["@odata.etag"] == 'W/"77180907"'


def test_decode_batch_accepts_bare_line_feeds() -> None:
    """Responses written with LF only (as in the documentation) parse the same."""
    operations = [Operation.create("accounts", {"name": "A"})]
    content = "\n".join(multipart("batchresponse_f44bd09d", created(OTHER_ID)))

    results = decode_batch(
        RESPONSE_TYPE, content.encode(), operations, base_path=API, atomic=False
    )

    assert [(r.status, r.entity_id) for r in results] == [(204, OTHER_ID)]


def test_decode_batch_matches_change_set_answers_by_content_id() -> None:
    """Change-set answers are paired with operations by Content-ID, not position."""
    operations = [
        Operation.create("contacts", {"firstname": "Alice"}),
        Operation.create("accounts", {"name": "A"}),
    ]
    first, second = ACCOUNT_ID, OTHER_ID
    changeset = multipart(
        "changesetresponse_64cc",
        [*created(second, "accounts")[:2], "Content-ID: 2", *created(second)[2:]],
        [*created(first, "contacts")[:2], "Content-ID: 1", *created(first)[2:]],
    )
    content = crlf(
        *multipart(
            "batchresponse_f27e",
            [
                "Content-Type: multipart/mixed; boundary=changesetresponse_64cc",
                "",
                *changeset,
            ],
        )
    )

    results = decode_batch(
        "multipart/mixed; boundary=batchresponse_f27e",
        content,
        operations,
        base_path=API,
        atomic=True,
    )

    assert [first, second] == [r.entity_id for r in results]
    assert all(r.ok for r in results)


def test_a_failed_change_set_reports_every_member_as_failed() -> None:
    """When one change-set part fails, it keeps its error; the rest are rolled back."""
    operations = [
        Operation.create("contacts", {"firstname": "Alice"}),
        Operation.create("accounts", {"name": "x" * 200}),
        Operation.update("accounts", ACCOUNT_ID, {"name": "B"}),
    ]
    failure = failed(
        "HTTP/1.1 400 Bad Request", "0x80044331", "A validation error occurred."
    )
    content = crlf(
        *multipart(
            "batchresponse_1",
            [*failure[:2], "Content-ID: 2", *failure[2:]],
        )
    )

    results = decode_batch(
        "multipart/mixed; boundary=batchresponse_1",
        content,
        operations,
        base_path=API,
        atomic=True,
    )

    assert [r.ok for r in results] == [False, False, False]
    assert all(isinstance(r.error, errors.RejectedError) for r in results)
    own = results[1].error
    assert own is not None
    assert own.message == "A validation error occurred."
    rolled_back = results[2].error
    assert rolled_back is not None
    assert rolled_back.message.startswith(
        "rolled back: the change set failed at operation 1"
    )
    assert rolled_back.record_id == ACCOUNT_ID
    assert [r.entity_id for r in results] == [None, None, None]


@pytest.mark.parametrize(
    ("content_type", "content", "message"),
    [
        pytest.param("application/json", b"{}", "application/json", id="not-multipart"),
        pytest.param(
            RESPONSE_TYPE,
            crlf("--batchresponse_f44bd09d", *created(OTHER_ID)),
            "cut short",
            id="no-closing-boundary",
        ),
        pytest.param(
            RESPONSE_TYPE,
            crlf(
                *multipart(
                    "batchresponse_f44bd09d", created(OTHER_ID), created(OTHER_ID)
                )
            ),
            "2 parts for 1 operations",
            id="too-many-parts",
        ),
        pytest.param(
            RESPONSE_TYPE,
            crlf(*multipart("batchresponse_f44bd09d", answer("garbage", body=""))),
            "no status line",
            id="no-status-line",
        ),
    ],
)
def test_decode_batch_refuses_responses_it_cannot_read(
    content_type: str, content: bytes, message: str
) -> None:
    """A response that is not a complete multipart answer raises IntegrationError."""
    operations = [Operation.create("accounts", {"name": "A"})]

    with pytest.raises(errors.IntegrationError, match=message) as raised:
        decode_batch(content_type, content, operations, base_path=API, atomic=False)

    assert raised.value.code == "unexpected_response"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(f"{ORG}{API}/accounts({OTHER_ID.upper()})", OTHER_ID, id="guid"),
        pytest.param(f"{ORG}{API}/accounts(accountnumber='A1')", None, id="key-form"),
        pytest.param(None, None, id="missing"),
        pytest.param("accounts(not-a-guid)", None, id="garbage"),
    ],
)
def test_entity_id_from_reads_the_trailing_guid(
    header: str | None, expected: str | None
) -> None:
    """Only a GUID at the end of OData-EntityId counts as the record id."""
    assert expected == entity_id_from(header)
