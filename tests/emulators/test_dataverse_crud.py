"""Dataverse emulator: authentication, headers, create/retrieve/update/delete."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from pointegration import _json
from pointegration.dataverse import schema
from pointegration.emulators.dataverse import DataverseEmulator
from tests.emulators.test_dataverse_support import (
    API,
    api_client,
    client,
    create,
    emulator,
    entity_id,
)

__all__ = ["client", "emulator"]

MISSING = "00000000-0000-0000-0000-000000000001"


@pytest.mark.parametrize(
    "token",
    [pytest.param(None, id="no-header"), pytest.param("wrong", id="wrong-token")],
)
async def test_requests_without_the_token_get_401_with_a_challenge(
    emulator: DataverseEmulator, token: str | None
) -> None:
    """A request without the configured bearer token is refused with 401."""
    async with api_client(emulator, token=token) as anonymous:
        response = await anonymous.get(f"{API}/accounts")

    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(
        "Bearer authorization_uri=https://login.microsoftonline.com/"
    )
    assert "resource_id=http://dv.test/" in challenge
    assert response.json()["error"]["message"]


async def test_every_response_carries_odata_and_request_id_headers(
    client: httpx.AsyncClient,
) -> None:
    """Responses carry OData-Version, the JSON content type and a request id."""
    response = await client.get(f"{API}/accounts")

    assert response.headers["OData-Version"] == "4.0"
    assert (
        response.headers["Content-Type"] == "application/json; odata.metadata=minimal"
    )
    assert response.headers["REQ_ID"] == response.headers["x-ms-service-request-id"]


async def test_who_am_i_names_the_application_user(
    client: httpx.AsyncClient, emulator: DataverseEmulator
) -> None:
    """WhoAmI answers the token's application user, business unit and org."""
    for path in ("WhoAmI", "WhoAmI()"):
        response = await client.get(f"{API}/{path}")
        body = response.json()
        assert body["UserId"] == emulator.user_id
        assert body["@odata.context"].endswith(
            "$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse"
        )
        assert body["BusinessUnitId"]
        assert body["OrganizationId"]


async def test_create_answers_204_with_the_entity_id(client: httpx.AsyncClient) -> None:
    """POST answers 204 and an OData-EntityId URL that retrieves the row."""
    response = await client.post(f"{API}/accounts", json={"name": "Contoso"})

    assert response.status_code == 204
    assert response.content == b""
    url = response.headers["OData-EntityId"]
    assert url.startswith("http://dv.test/api/data/v9.2/accounts(")
    row = (await client.get(url)).json()
    assert row["name"] == "Contoso"
    assert row["accountid"] == entity_id(response)


async def test_create_with_representation_answers_201_with_selected_columns(
    client: httpx.AsyncClient,
) -> None:
    """return=representation gives 201 and the row, honouring $select."""
    response = await client.post(
        f"{API}/accounts?$select=name",
        json={"name": "Fabrikam", "accountnumber": "F1"},
        headers={"Prefer": "return=representation"},
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"@odata.context", "@odata.etag", "name", "accountid"}
    assert body["@odata.context"].endswith("$metadata#accounts(name,accountid)/$entity")


async def test_a_client_may_choose_the_primary_id(client: httpx.AsyncClient) -> None:
    """A primary id in the body becomes the row's id."""
    chosen = "00000000-0000-0000-0000-0000000000aa"
    await create(client, "accounts", {"accountid": chosen, "name": "Chosen"})

    response = await client.get(f"{API}/accounts({chosen})")

    assert response.json()["name"] == "Chosen"


async def test_system_columns_are_kept_by_the_platform(
    client: httpx.AsyncClient, emulator: DataverseEmulator
) -> None:
    """createdon, createdby, ownerid, versionnumber and state are set on create."""
    account = await create(
        client, "accounts", {"name": "A", "createdon": "2000-01-01T00:00:00Z"}
    )

    row = (await client.get(f"{API}/accounts({account})")).json()

    assert row["createdon"] == "2025-01-15T09:30:00Z"
    assert row["_createdby_value"] == emulator.user_id
    assert row["_ownerid_value"] == emulator.user_id
    assert (row["statecode"], row["statuscode"]) == (0, 1)
    assert row["@odata.etag"] == f'W/"{row["versionnumber"]}"'


async def test_lookups_bind_through_navigation_properties(
    client: httpx.AsyncClient,
) -> None:
    """@odata.bind with a relative or absolute URL sets the lookup."""
    account = await create(client, "accounts", {"name": "Parent"})
    relative = await create(
        client,
        "contacts",
        {
            "lastname": "One",
            "parentcustomerid_account@odata.bind": f"/accounts({account})",
        },
    )
    absolute = await create(
        client,
        "contacts",
        {
            "lastname": "Two",
            "parentcustomerid_account@odata.bind": (
                f"https://org.crm.dynamics.com/api/data/v9.2/accounts({account})"
            ),
        },
    )

    for contact in (relative, absolute):
        row = (await client.get(f"{API}/contacts({contact})")).json()
        assert row["_parentcustomerid_value"] == account


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        pytest.param(
            {"name": "x", "nosuchcolumn": 1},
            400,
            "An error occurred while validating input parameters: "
            "Microsoft.Crm.CrmException: Invalid property 'nosuchcolumn' was found "
            "in entity 'Microsoft.Dynamics.CRM.account'. ---> "
            "Microsoft.Crm.CrmException: Invalid property 'nosuchcolumn' was found "
            "in entity 'Microsoft.Dynamics.CRM.account'.",
            id="unknown-property",
        ),
        pytest.param(
            {"name": 5},
            400,
            "Cannot convert a primitive value to the expected type 'Edm.String'.",
            id="number-for-string",
        ),
        pytest.param(
            {"creditlimit": "lots"},
            400,
            "Cannot convert the literal 'lots' to the expected type 'Edm.Decimal'.",
            id="text-for-money",
        ),
        pytest.param(
            {"name": "x" * 161},
            400,
            "A validation error occurred.  The length of the 'name' attribute of the "
            "'account' entity exceeded the maximum allowed length of '160'.",
            id="string-too-long",
        ),
        pytest.param(
            {"address1_addresstypecode": 9},
            400,
            "The value 9 of 'address1_addresstypecode' on record of type 'account' "
            "is outside the valid range.",
            id="choice-out-of-range",
        ),
        pytest.param(
            {"_primarycontactid_value": "00000000-0000-0000-0000-000000000001"},
            400,
            "CRM do not support direct update of Entity Reference properties, Use "
            "Navigation properties instead.",
            id="lookup-value-written",
        ),
        pytest.param(
            {"primarycontactid@odata.bind": f"/contacts({MISSING})"},
            404,
            "contact With Id = 00000000-0000-0000-0000-000000000001 Does Not Exist",
            id="bind-to-missing-row",
        ),
        pytest.param(
            {"PrimaryContactId@odata.bind": f"/contacts({MISSING})"},
            400,
            "An undeclared property 'PrimaryContactId' which only has property",
            id="bind-with-wrong-case",
        ),
        pytest.param(
            {"primarycontactid@odata.bind": f"/accounts({MISSING})"},
            404,
            "account With Id",
            id="bind-to-wrong-table",
        ),
    ],
)
async def test_bad_bodies_are_refused_like_the_service(
    client: httpx.AsyncClient, body: dict[str, object], status: int, message: str
) -> None:
    """A body the service would refuse gets its status and error message."""
    response = await client.post(f"{API}/accounts", json=body)

    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"].startswith("0x")
    assert message in error["message"]


async def test_binding_a_row_of_the_wrong_table_is_refused(
    client: httpx.AsyncClient,
) -> None:
    """Binding parentcustomerid_account to a contact is a 400."""
    contact = await create(client, "contacts", {"lastname": "C"})

    response = await client.post(
        f"{API}/contacts",
        json={
            "lastname": "D",
            "parentcustomerid_account@odata.bind": f"/contacts({contact})",
        },
    )

    assert response.status_code == 400


async def test_money_and_dates_keep_their_exact_form(client: httpx.AsyncClient) -> None:
    """Money reads back as an exact number, dates as ISO text."""
    body = {
        "name": "INV",
        "totalamount": Decimal("1234.565"),
        "duedate": "2025-02-14",
        "pobc_bcsyncedon": "2025-01-15T10:11:12.345+01:00",
    }
    created = await client.post(
        f"{API}/invoices",
        content=_json.dumps(body),
        headers={"Content-Type": "application/json"},
    )
    invoice = entity_id(created)

    response = await client.get(
        f"{API}/invoices({invoice})?$select=totalamount,duedate,pobc_bcsyncedon"
    )

    assert '"totalamount":1234.5700' in response.text
    body = response.json()
    assert body["duedate"] == "2025-02-14"
    assert body["pobc_bcsyncedon"] == "2025-01-15T09:11:12Z"


async def test_patch_updates_and_moves_the_etag(client: httpx.AsyncClient) -> None:
    """PATCH answers 204 and each write gives a newer ETag."""
    account = await create(client, "accounts", {"name": "Old"})
    before = (await client.get(f"{API}/accounts({account})")).json()["@odata.etag"]

    response = await client.patch(f"{API}/accounts({account})", json={"name": "New"})

    assert response.status_code == 204
    after = (await client.get(f"{API}/accounts({account})")).json()
    assert after["name"] == "New"
    assert after["@odata.etag"] != before


async def test_patch_with_representation_answers_200(client: httpx.AsyncClient) -> None:
    """PATCH with return=representation answers 200 with the row."""
    account = await create(client, "accounts", {"name": "Old"})

    response = await client.patch(
        f"{API}/accounts({account})?$select=name",
        json={"name": "New"},
        headers={"Prefer": "return=representation"},
    )

    assert response.status_code == 200
    assert response.json()["name"] == "New"


async def test_patch_on_a_missing_id_creates_it(client: httpx.AsyncClient) -> None:
    """PATCH without If-Match upserts: a missing id is created."""
    missing = "00000000-0000-0000-0000-0000000000bb"

    response = await client.patch(
        f"{API}/accounts({missing})", json={"name": "Upserted"}
    )

    assert response.status_code == 204
    assert (await client.get(f"{API}/accounts({missing})")).json()["name"] == "Upserted"


@pytest.mark.parametrize(
    ("exists", "headers", "status", "message"),
    [
        pytest.param(
            False, {"If-Match": "*"}, 404, "Does Not Exist", id="update-only-missing"
        ),
        pytest.param(True, {"If-Match": "*"}, 204, None, id="update-only-existing"),
        pytest.param(
            True,
            {"If-None-Match": "*"},
            412,
            "A record with matching key values already exists.",
            id="create-only-existing",
        ),
        pytest.param(
            False, {"If-None-Match": "*"}, 204, None, id="create-only-missing"
        ),
        pytest.param(
            True,
            {"If-Match": 'W/"1"'},
            412,
            "The version of the existing record doesn't match the RowVersion property",
            id="stale-etag",
        ),
    ],
)
async def test_conditional_patch(
    client: httpx.AsyncClient,
    exists: bool,
    headers: dict[str, str],
    status: int,
    message: str | None,
) -> None:
    """If-Match and If-None-Match make PATCH update-only, create-only or guarded."""
    account = "00000000-0000-0000-0000-0000000000cc"
    if exists:
        await create(client, "accounts", {"accountid": account, "name": "There"})

    response = await client.patch(
        f"{API}/accounts({account})", json={"name": "X"}, headers=headers
    )

    assert response.status_code == status
    if message:
        assert message in response.json()["error"]["message"]


async def test_current_etag_allows_the_update(client: httpx.AsyncClient) -> None:
    """PATCH with the row's current ETag succeeds."""
    account = await create(client, "accounts", {"name": "Old"})
    etag = (await client.get(f"{API}/accounts({account})")).json()["@odata.etag"]

    response = await client.patch(
        f"{API}/accounts({account})", json={"name": "New"}, headers={"If-Match": etag}
    )

    assert response.status_code == 204


async def test_get_with_matching_etag_answers_304(client: httpx.AsyncClient) -> None:
    """If-None-Match with the current ETag answers 304, but never with $expand."""
    account = await create(client, "accounts", {"name": "Same"})
    etag = (await client.get(f"{API}/accounts({account})")).json()["@odata.etag"]

    plain = await client.get(
        f"{API}/accounts({account})", headers={"If-None-Match": etag}
    )
    expanded = await client.get(
        f"{API}/accounts({account})?$expand=primarycontactid",
        headers={"If-None-Match": etag},
    )

    assert plain.status_code == 304
    assert expanded.status_code == 200


async def test_delete_removes_the_row_and_a_second_delete_is_404(
    client: httpx.AsyncClient,
) -> None:
    """DELETE answers 204, then the row is gone (404 with the service's message)."""
    account = await create(client, "accounts", {"name": "Gone"})

    first = await client.delete(f"{API}/accounts({account})")
    second = await client.delete(f"{API}/accounts({account})")
    read = await client.get(f"{API}/accounts({account})")

    assert first.status_code == 204
    assert second.status_code == 404
    assert read.json() == {
        "error": {
            "code": "0x80040217",
            "message": f"account With Id = {account} Does Not Exist",
        }
    }


async def test_delete_cascades_to_invoice_lines(client: httpx.AsyncClient) -> None:
    """Deleting an invoice deletes its invoice lines (invoice_details cascade)."""
    invoice = await create(client, "invoices", {"name": "I"})
    line = await create(
        client, "invoicedetails", {"invoiceid@odata.bind": f"/invoices({invoice})"}
    )

    await client.delete(f"{API}/invoices({invoice})")

    assert (await client.get(f"{API}/invoicedetails({line})")).status_code == 404


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        pytest.param(
            "nosuchset",
            404,
            "Resource not found for the segment 'nosuchset'.",
            id="unknown-set",
        ),
        pytest.param(
            "accounts(not-a-guid)", 400, "not a valid key", id="malformed-key"
        ),
        pytest.param(
            "accounts(accountnumber='A1')",
            400,
            "The key in the request URI is not valid for resource",
            id="non-key-column",
        ),
    ],
)
async def test_bad_urls_are_refused(
    client: httpx.AsyncClient, path: str, status: int, message: str
) -> None:
    """Unknown entity sets and invalid keys get the service's errors."""
    response = await client.get(f"{API}/{path}")

    assert response.status_code == status
    assert message in response.json()["error"]["message"]


async def test_alternate_keys_address_rows_and_upsert(
    client: httpx.AsyncClient,
) -> None:
    """A schema key addresses rows (case-insensitively) and PATCH upserts by it."""
    created = await client.patch(
        f"{API}/pobc_countries(pobc_isocode='DE')", json={"pobc_name": "Germany"}
    )
    updated = await client.patch(
        f"{API}/pobc_countries(pobc_isocode='DE')", json={"pobc_name": "Deutschland"}
    )
    row = (await client.get(f"{API}/pobc_countries(pobc_isocode='de')")).json()

    assert (created.status_code, updated.status_code) == (204, 204)
    assert entity_id(created) == entity_id(updated) == row["pobc_countryid"]
    assert row["pobc_name"] == "Deutschland"
    assert row["pobc_isocode"] == "DE"


async def test_string_keys_double_embedded_quotes(client: httpx.AsyncClient) -> None:
    """A key value with '' stands for one quote."""
    await client.patch(
        f"{API}/pobc_syncstates(pobc_name='O''Brien')", json={"pobc_value": "1"}
    )

    row = (await client.get(f"{API}/pobc_syncstates(pobc_name='O''Brien')")).json()

    assert row["pobc_name"] == "O'Brien"


async def test_duplicate_alternate_key_is_412(client: httpx.AsyncClient) -> None:
    """Two rows with the same alternate key value are refused."""
    await create(
        client, "pobc_countries", {"pobc_name": "Germany", "pobc_isocode": "DE"}
    )

    response = await client.post(
        f"{API}/pobc_countries", json={"pobc_name": "Again", "pobc_isocode": "de"}
    )

    assert response.status_code == 412
    assert "pobc_key_isocode" in response.json()["error"]["message"]


async def test_missing_alternate_key_row_is_404(client: httpx.AsyncClient) -> None:
    """GET by an alternate key with no match answers 404."""
    response = await client.get(f"{API}/pobc_countries(pobc_isocode='ZZ')")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "0x80040217"


@pytest.mark.parametrize(
    ("body", "state", "status"),
    [
        pytest.param({"statecode": 2}, 2, 100001, id="paid-default-status"),
        pytest.param(
            {"statecode": 2, "statuscode": 100002}, 2, 100002, id="paid-partial"
        ),
        pytest.param({"statuscode": 100002}, 2, 100002, id="status-implies-state"),
        pytest.param({"statecode": 0}, 0, 1, id="active-default"),
    ],
)
async def test_invoice_state_and_status_settle_to_a_valid_pair(
    client: httpx.AsyncClient, body: dict[str, int], state: int, status: int
) -> None:
    """statecode without statuscode takes the state's default status."""
    invoice = await create(client, "invoices", {"name": "I"})

    response = await client.patch(f"{API}/invoices({invoice})", json=body)

    assert response.status_code == 204
    row = (
        await client.get(f"{API}/invoices({invoice})?$select=statecode,statuscode")
    ).json()
    assert (row["statecode"], row["statuscode"]) == (state, status)


async def test_paid_invoice_with_an_active_status_is_refused(
    client: httpx.AsyncClient,
) -> None:
    """statecode 2 (Paid) with statuscode 1 (New) is a 400."""
    invoice = await create(client, "invoices", {"name": "I"})

    response = await client.patch(
        f"{API}/invoices({invoice})",
        json={"statecode": schema.InvoiceState.PAID, "statuscode": 1},
    )

    assert response.status_code == 400
    assert (
        "is not a valid status code for state code"
        in response.json()["error"]["message"]
    )
