"""Dataverse emulator: details checked one by one against Microsoft's documentation.

Each test names the behaviour of the real Web API it pins down; the sources are
the Power Apps developer docs (compose-http-requests-handle-errors, create-,
update-delete-entities, page-results, execute-batch-operations) and the
support article "Troubleshoot Dataverse Web API client errors".
"""

from __future__ import annotations

import re
from decimal import Decimal

import httpx
import pytest

from pointegration import _json
from pointegration.emulators.dataverse import DataverseEmulator
from tests.emulators.test_dataverse_batch import (
    BATCH,
    change_set,
    multipart,
    post_batch,
    request_part,
    statuses,
)
from tests.emulators.test_dataverse_support import (
    ANNOTATIONS,
    API,
    client,
    create,
    emulator,
)

__all__ = ["client", "emulator"]


def error_of(response: httpx.Response) -> dict[str, str]:
    """The ``error`` object of an error body."""
    body: dict[str, dict[str, str]] = response.json()

    return body["error"]


# --- Error codes and messages ------------------------------------------------------


async def test_an_unknown_entity_set_is_404_with_the_segment_code(
    client: httpx.AsyncClient,
) -> None:
    """A misspelt entity set answers 404, code 0x8006088a, naming the segment."""
    response = await client.get(f"{API}/Account")

    assert response.status_code == 404
    assert error_of(response) == {
        "code": "0x8006088a",
        "message": "Resource not found for the segment 'Account'.",
    }


@pytest.mark.parametrize(
    "query",
    ["$select=Name", "$filter=Name eq 'x'", "$orderby=Name"],
    ids=["select", "filter", "orderby"],
)
async def test_an_unknown_query_property_is_400_with_code_0x0(
    client: httpx.AsyncClient, query: str
) -> None:
    """A property the type lacks in a query option answers 400 with code 0x0."""
    response = await client.get(f"{API}/accounts?{query}")

    assert response.status_code == 400
    assert error_of(response) == {
        "code": "0x0",
        "message": "Could not find a property named 'Name' on type "
        "'Microsoft.Dynamics.CRM.account'.",
    }


async def test_binding_an_undeclared_navigation_property_names_the_entity_set(
    client: httpx.AsyncClient,
) -> None:
    """Binding a lookup column's name, not its navigation property, is 0x80048d19."""
    account = await create(client, "accounts", {"name": "A"})

    response = await client.post(
        f"{API}/contacts",
        json={"lastname": "L", "parentcustomerid@odata.bind": f"accounts({account})"},
    )

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "0x80048d19"
    assert error["message"].startswith(
        "Error identified in Payload provided by the user for Entity :'contacts'"
    )
    assert (
        "An undeclared property 'parentcustomerid' which only has" in (error["message"])
    )


async def test_posting_to_a_function_finds_no_http_resource(
    client: httpx.AsyncClient,
) -> None:
    """POST to WhoAmI (a function) answers 404 'No HTTP resource', code empty."""
    response = await client.post(f"{API}/WhoAmI")

    assert response.status_code == 404
    assert error_of(response) == {
        "code": "",
        "message": "No HTTP resource was found that matches the request URI "
        "'http://dv.test/api/data/v9.2/WhoAmI'.",
    }


async def test_a_too_long_string_is_worded_like_the_service(
    client: httpx.AsyncClient,
) -> None:
    """The length error reads 'occurred.  The length' with two spaces, as sent."""
    response = await client.post(f"{API}/accounts", json={"name": "x" * 161})

    assert response.status_code == 400
    assert error_of(response) == {
        "code": "0x80044331",
        "message": "A validation error occurred.  The length of the 'name' attribute "
        "of the 'account' entity exceeded the maximum allowed length of '160'.",
    }


# --- Headers and representations ---------------------------------------------------


async def test_create_with_representation_has_no_entity_id_header(
    client: httpx.AsyncClient,
) -> None:
    """A 201 create returns the row and Preference-Applied, but no OData-EntityId."""
    response = await client.post(
        f"{API}/accounts",
        json={"name": "A"},
        headers={"Prefer": "return=representation"},
    )

    assert response.status_code == 201
    assert "OData-EntityId" not in response.headers
    assert response.headers["Preference-Applied"] == "return=representation"
    assert response.json()["name"] == "A"


async def test_update_with_representation_ignores_expand(
    client: httpx.AsyncClient,
) -> None:
    """A PATCH with return=representation answers 200 and ignores $expand."""
    contact = await create(client, "contacts", {"lastname": "L"})
    account = await create(
        client,
        "accounts",
        {"name": "A", "primarycontactid@odata.bind": f"/contacts({contact})"},
    )

    response = await client.patch(
        f"{API}/accounts({account})?$select=name&$expand=primarycontactid($select=lastname)",
        json={"name": "B"},
        headers={"Prefer": "return=representation"},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "B"
    assert "primarycontactid" not in body


async def test_not_modified_carries_the_json_content_type(
    client: httpx.AsyncClient,
) -> None:
    """A 304 answer has Content-Type application/json; odata.metadata=minimal."""
    account = await create(client, "accounts", {"name": "A"})
    etag = (await client.get(f"{API}/accounts({account})")).json()["@odata.etag"]

    response = await client.get(
        f"{API}/accounts({account})", headers={"If-None-Match": etag}
    )

    assert response.status_code == 304
    assert (
        response.headers["Content-Type"] == "application/json; odata.metadata=minimal"
    )


# --- Values ----------------------------------------------------------------------


async def test_money_reads_back_with_four_decimal_places(
    client: httpx.AsyncClient,
) -> None:
    """Money is rounded to its precision but written with scale 4, as SQL money."""
    created = await client.post(
        f"{API}/invoices",
        content=_json.dumps({"name": "I", "totalamount": Decimal("1234.565")}),
        headers={"Content-Type": "application/json"},
    )
    invoice = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")

    response = await client.get(
        f"{API}/invoices({invoice})?$select=totalamount", headers=ANNOTATIONS
    )

    assert '"totalamount":1234.5700' in response.text
    formatted = "totalamount@OData.Community.Display.V1.FormattedValue"
    assert response.json()[formatted] == "$1,234.57"


# --- Paging ----------------------------------------------------------------------


async def test_top_is_ignored_when_a_page_size_is_asked_for(
    client: httpx.AsyncClient, emulator: DataverseEmulator
) -> None:
    """With Prefer odata.maxpagesize, $top is ignored and the rows page."""
    await emulator.seed({"accounts": [{"name": f"A{n}"} for n in range(5)]})

    response = await client.get(
        f"{API}/accounts?$select=name&$top=1",
        headers={"Prefer": "odata.maxpagesize=2"},
    )

    body = response.json()
    assert [row["name"] for row in body["value"]] == ["A0", "A1"]
    assert "@odata.nextLink" in body


# --- $batch ----------------------------------------------------------------------


async def test_an_undeclared_content_id_is_worded_like_the_service(
    client: httpx.AsyncClient,
) -> None:
    """Referencing $1 before it is declared answers 400 naming the batch context."""
    response = await post_batch(
        client,
        [
            change_set(
                [request_part("POST", f"{API}/invoicedetails", {"x@odata.bind": "$1"})]
            )
        ],
    )

    assert response.status_code == 400
    assert "Content-ID Reference: '$1' does not exist in the batch context." in (
        response.text
    )


async def test_a_failed_batch_part_carries_a_request_id(
    client: httpx.AsyncClient,
) -> None:
    """An error part has REQ_ID, Content-Type and OData-Version headers."""
    response = await post_batch(
        client, [request_part("POST", f"{API}/accounts", {"name": "x" * 161})]
    )

    assert statuses(response) == [400]
    part = response.text.split("HTTP/1.1 400 Bad Request\r\n", 1)[1]
    head = part.split("\r\n\r\n", 1)[0].split("\r\n")
    assert any(re.fullmatch(r"REQ_ID: [0-9a-f-]{36}", line) for line in head)
    assert "Content-Type: application/json; odata.metadata=minimal" in head
    assert "OData-Version: 4.0" in head


@pytest.mark.parametrize(
    ("ending", "status"),
    [("\r\n", 200), ("\n\n", 200), ("", 400), ("\n", 400)],
    ids=["crlf", "two-lf", "none", "one-lf"],
)
async def test_a_batch_must_end_with_a_line_break(
    client: httpx.AsyncClient, ending: str, status: int
) -> None:
    """A batch whose last line lacks CRLF (or two LFs) fails: stream not readable."""
    parts = [request_part("POST", f"{API}/accounts", {"name": "A"})]
    body = multipart(BATCH, parts).removesuffix("\r\n") + ending

    response = await client.post(
        f"{API}/$batch",
        content=body,
        headers={"Content-Type": f'multipart/mixed; boundary="{BATCH}"'},
    )

    assert response.status_code == status
    if status == 400:
        assert "0x80048d19" in response.text
        assert "Stream was not readable." in response.text
