"""BC emulator: JSON $batch, with and without Isolation: snapshot."""

from __future__ import annotations

from typing import Any

import httpx

from tests.emulators.test_bc_fixtures import Bc, bc, emulator

__all__ = ["bc", "emulator"]


def _op(
    bc: Bc,
    ident: str,
    method: str,
    path: str,
    body: Any = None,
    **headers: str,
) -> dict[str, Any]:
    company = f"companies({bc.emulator.company_id})"
    op: dict[str, Any] = {
        "method": method,
        "id": ident,
        "url": f"{company}/{path}",
        "headers": {"Content-Type": "application/json", **headers},
    }
    if body is not None:
        op["body"] = body
    return op


async def _batch(
    bc: Bc,
    requests: list[dict[str, Any]],
    root: str | None = None,
    **headers: str,
) -> httpx.Response:
    return await bc.client.post(
        f"{root or bc.root}/$batch",
        json={"requests": requests},
        headers={"Accept": "application/json", **headers},
    )


async def _customers(bc: Bc) -> list[str]:
    rows = (await bc.get("customers")).json()["value"]
    return [row["displayName"] for row in rows]


async def test_a_batch_runs_its_requests_in_order(bc: Bc) -> None:
    """POST, GET and PATCH in one batch: 200 with one response per request."""
    response = await _batch(
        bc,
        [
            _op(bc, "1", "POST", "customers", {"displayName": "One"}),
            _op(bc, "2", "GET", "customers?$select=displayName"),
        ],
    )
    responses = response.json()["responses"]

    assert response.status_code == 200
    assert [(r["id"], r["status"]) for r in responses] == [("1", 201), ("2", 200)]
    assert responses[0]["body"]["displayName"] == "One"
    assert responses[1]["body"]["value"][0]["displayName"] == "One"
    assert responses[0]["headers"]["content-type"].startswith("application/json")


async def test_microsofts_snapshot_example_reverts_everything(bc: Bc) -> None:
    """Isolation: snapshot, two PATCHes then a bad enum: 200/200/400, nothing kept."""
    item = (await bc.get("items")).json()["value"][0]
    path = f"items({item['id']})"
    response = await _batch(
        bc,
        [
            _op(
                bc,
                "1",
                "PATCH",
                path,
                {"displayName": "Touring Bicycle v2"},
                **{"If-Match": "*"},
            ),
            _op(bc, "2", "PATCH", path, {"displayName2": "v2"}, **{"If-Match": "*"}),
            _op(bc, "3", "PATCH", path, {"type": "Invalid Type"}, **{"If-Match": "*"}),
        ],
        Isolation="snapshot",
    )
    responses = response.json()["responses"]
    after = (await bc.get(path)).json()

    assert [r["status"] for r in responses] == [200, 200, 400]
    assert responses[2]["body"]["error"]["code"] == "Unknown"
    assert responses[2]["body"]["error"]["message"].startswith(
        "'Invalid Type' is not an option. The existing options are: "
        "Inventory,Service,Non-Inventory"
    )
    assert after["displayName"] == item["displayName"]
    assert after["@odata.etag"] == item["@odata.etag"]


async def test_without_snapshot_earlier_changes_stay_and_the_batch_stops(
    bc: Bc,
) -> None:
    """No isolation: the first success persists; requests after a failure do not run."""
    response = await _batch(
        bc,
        [
            _op(bc, "1", "POST", "customers", {"displayName": "Kept"}),
            _op(bc, "2", "POST", "customers", {"displayName": ""}),
            _op(bc, "3", "POST", "customers", {"displayName": "Never"}),
        ],
    )

    assert [r["status"] for r in response.json()["responses"]] == [201, 400]
    assert await _customers(bc) == ["Kept"]


async def test_continue_on_error_runs_every_request(bc: Bc) -> None:
    """Prefer: odata.continue-on-error runs the requests after a failure too."""
    response = await _batch(
        bc,
        [
            _op(bc, "1", "POST", "customers", {"displayName": ""}),
            _op(bc, "2", "POST", "customers", {"displayName": "Later"}),
        ],
        Prefer="odata.continue-on-error",
    )

    assert [r["status"] for r in response.json()["responses"]] == [400, 201]
    assert await _customers(bc) == ["Later"]


async def test_lines_added_to_an_existing_invoice_by_batch(bc: Bc) -> None:
    """The docs' way to add several lines to an existing invoice: a batch of POSTs."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer)
    lines = f"salesInvoices({invoice['id']})/salesInvoiceLines"
    body = {"lineType": "Item", "lineObjectNumber": "CONSULT", "quantity": 1}
    response = await _batch(
        bc,
        [
            _op(bc, "1", "POST", lines, body),
            {**_op(bc, "2", "POST", lines, body), "dependsOn": ["1"]},
        ],
    )
    header = (await bc.get(f"salesInvoices({invoice['id']})")).json()

    assert [r["status"] for r in response.json()["responses"]] == [201, 201]
    assert header["totalAmountExcludingTax"] == 300


async def test_more_than_100_operations_are_refused(bc: Bc) -> None:
    """101 operations: the whole batch is a 400."""
    requests = [_op(bc, str(i), "GET", "items") for i in range(101)]
    response = await _batch(bc, requests)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest"


async def test_a_batch_needs_the_token(bc: Bc) -> None:
    """$batch without a bearer token is a 401 like any request."""
    response = await bc.client.post(
        f"{bc.root}/$batch",
        json={"requests": []},
        headers={"Authorization": ""},
    )

    assert response.status_code == 401


async def test_the_custom_api_has_its_own_batch(bc: Bc) -> None:
    """postCodes can be created through the custom API's $batch."""
    response = await _batch(
        bc,
        [_op(bc, "1", "POST", "postCodes", {"code": "8000", "city": "Aarhus C"})],
        root=bc.custom,
    )
    listed = (await bc.get(f"{bc.custom_company}/postCodes")).json()["value"]

    assert [r["status"] for r in response.json()["responses"]] == [201]
    assert [(p["code"], p["city"]) for p in listed] == [("8000", "Aarhus C")]
