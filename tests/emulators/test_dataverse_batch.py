"""Dataverse emulator: ``$batch`` with change sets, Content-ID references, errors."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from pointegration.emulators.dataverse import DataverseEmulator
from tests.emulators.test_dataverse_support import (
    API,
    client,
    create,
    emulator,
)

__all__ = ["client", "emulator"]

BATCH = "batch_AAA123"
CHANGESET = "changeset_BBB456"


def request_part(
    method: str, url: str, body: object = None, content_id: str | None = None
) -> str:
    """One application/http part, CRLF line endings as the docs show."""
    mime = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        mime.append(f"Content-ID: {content_id}")
    lines = [*mime, "", f"{method} {url} HTTP/1.1"]
    if body is not None:
        lines += ["Content-Type: application/json; type=entry", "", json.dumps(body)]
    else:
        lines += [""]

    return "\r\n".join(lines)


def multipart(boundary: str, parts: list[str]) -> str:
    """Parts joined under ``boundary`` and closed."""
    return (
        "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
    )


def change_set(parts: list[str]) -> str:
    """A change-set part holding ``parts``."""
    head = f"Content-Type: multipart/mixed; boundary={CHANGESET}\r\n\r\n"

    return head + multipart(CHANGESET, parts)


async def post_batch(
    client: httpx.AsyncClient, parts: list[str], prefer: str | None = None
) -> httpx.Response:
    """POST a batch of ``parts``."""
    headers = {"Content-Type": f'multipart/mixed; boundary="{BATCH}"'}
    if prefer:
        headers["Prefer"] = prefer

    return await client.post(
        f"{API}/$batch", content=multipart(BATCH, parts), headers=headers
    )


def statuses(response: httpx.Response) -> list[int]:
    """The status of every answered request, in order."""
    return [int(code) for code in re.findall(r"HTTP/1\.1 (\d{3}) ", response.text)]


async def test_batch_answers_multipart_with_one_part_per_request(
    client: httpx.AsyncClient,
) -> None:
    """Each request gets an application/http part with its status line and body."""
    response = await post_batch(
        client,
        [
            request_part("POST", f"{API}/accounts", {"name": "A"}),
            request_part(
                "GET",
                "https://org.crm.dynamics.com/api/data/v9.2/accounts?$select=name",
            ),
        ],
    )

    assert response.status_code == 200
    assert re.fullmatch(
        r"multipart/mixed; boundary=batchresponse_[0-9a-f-]{36}",
        response.headers["Content-Type"],
    )
    assert statuses(response) == [204, 200]
    assert "HTTP/1.1 204 No Content" in response.text
    assert "OData-EntityId: http://dv.test/api/data/v9.2/accounts(" in response.text
    assert '"name":"A"' in response.text


async def test_change_set_references_earlier_content_ids(
    client: httpx.AsyncClient, emulator: DataverseEmulator
) -> None:
    """$1 in a URL and in an @odata.bind value stand for the row part 1 created."""
    response = await post_batch(
        client,
        [
            change_set(
                [
                    request_part("POST", f"{API}/invoices", {"name": "I"}, "1"),
                    request_part(
                        "POST",
                        f"{API}/invoicedetails",
                        {"invoiceid@odata.bind": "$1", "productdescription": "Line"},
                        "2",
                    ),
                    request_part("PATCH", "$1", {"name": "Renamed"}, "3"),
                ]
            )
        ],
    )

    assert statuses(response) == [204, 204, 204]
    assert "Content-ID: 2" in response.text
    invoice = emulator.rows("invoices")[0]
    assert invoice["name"] == "Renamed"
    assert (
        emulator.rows("invoicedetails")[0]["_invoiceid_value"] == invoice["invoiceid"]
    )


async def test_a_failing_change_set_changes_nothing(
    client: httpx.AsyncClient, emulator: DataverseEmulator
) -> None:
    """When one request of a change set fails, none of its writes are kept."""
    response = await post_batch(
        client,
        [
            change_set(
                [
                    request_part("POST", f"{API}/accounts", {"name": "Kept?"}, "1"),
                    request_part("POST", f"{API}/accounts", {"nosuch": 1}, "2"),
                ]
            )
        ],
    )

    assert response.status_code == 400
    assert statuses(response) == [400]
    assert emulator.rows("accounts") == []


async def test_first_failure_ends_the_batch_without_continue_on_error(
    client: httpx.AsyncClient, emulator: DataverseEmulator
) -> None:
    """Without continue-on-error the batch stops at the first failure."""
    response = await post_batch(
        client,
        [
            request_part("POST", f"{API}/accounts", {"name": "First"}),
            request_part("POST", f"{API}/accounts", {"name": 1}),
            request_part("POST", f"{API}/accounts", {"name": "Never"}),
        ],
    )

    assert response.status_code == 400
    assert statuses(response) == [204, 400]
    assert [row["name"] for row in emulator.rows("accounts")] == ["First"]


async def test_continue_on_error_answers_every_request(
    client: httpx.AsyncClient, emulator: DataverseEmulator
) -> None:
    """With continue-on-error the batch is 200 and each failure is its own part."""
    response = await post_batch(
        client,
        [
            request_part("POST", f"{API}/accounts", {"name": "First"}),
            request_part("POST", f"{API}/accounts", {"name": 1}),
            request_part("POST", f"{API}/accounts", {"name": "Third"}),
        ],
        prefer="odata.continue-on-error",
    )

    assert response.status_code == 200
    assert statuses(response) == [204, 400, 204]
    assert '"code":"0x80048d19"' in response.text
    assert len(emulator.rows("accounts")) == 2


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        pytest.param(
            [change_set([request_part("GET", f"{API}/accounts")])],
            "An invalid HTTP method 'GET' was detected for a request in a change set.",
            id="get-in-change-set",
        ),
        pytest.param(
            [change_set([request_part("PATCH", "$7", {"name": "x"}, "1")])],
            "Content-ID Reference: '$7' does not exist in the batch context.",
            id="undeclared-content-id",
        ),
        pytest.param(
            [request_part("GET", f"{API}/accounts")] * 1001,
            "cannot exceed 1000",
            id="more-than-1000-requests",
        ),
    ],
)
async def test_malformed_batches_are_refused_whole(
    client: httpx.AsyncClient, parts: list[str], message: str
) -> None:
    """A batch the service cannot accept answers 400 and runs nothing."""
    response = await post_batch(client, parts)

    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


async def test_a_thousand_requests_are_accepted(client: httpx.AsyncClient) -> None:
    """Exactly 1000 requests fit in one batch."""
    await create(client, "accounts", {"name": "Only"})

    response = await post_batch(client, [request_part("GET", f"{API}/WhoAmI")] * 1000)

    assert response.status_code == 200
    assert len(statuses(response)) == 1000


async def test_batch_needs_a_multipart_content_type(client: httpx.AsyncClient) -> None:
    """A $batch body that is not multipart/mixed is a 400."""
    response = await client.post(f"{API}/$batch", json={"requests": []})

    assert response.status_code == 400
