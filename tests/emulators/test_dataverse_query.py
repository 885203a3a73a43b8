"""Dataverse emulator: $select, $filter, $orderby, $top, $count, $expand, paging."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pointegration.dataverse import schema
from pointegration.emulators.dataverse import DataverseEmulator
from tests.emulators.test_dataverse_support import (
    ANNOTATIONS,
    API,
    api_client,
    client,
    create,
    emulator,
    new_emulator,
)

__all__ = ["client", "emulator"]


async def names(client: httpx.AsyncClient, query: str) -> list[str]:
    """The account names a query answers, in order."""
    response = await client.get(f"{API}/accounts?$select=name&{query}")
    assert response.status_code == 200, response.text

    return [row["name"] for row in response.json()["value"]]


@pytest.fixture
async def accounts(client: httpx.AsyncClient) -> list[str]:
    ids = []
    for name, number in (("Contoso", "C1"), ("fabrikam", None), ("Adatum", "A1")):
        ids.append(
            await create(client, "accounts", {"name": name, "accountnumber": number})
        )
    return ids


async def test_select_answers_only_the_selected_columns(
    client: httpx.AsyncClient, accounts: list[str]
) -> None:
    """$select gives the ETag, the selected columns and the primary id only."""
    response = await client.get(f"{API}/accounts?$select=name,accountnumber&$top=1")

    body = response.json()
    assert body["@odata.context"] == (
        "http://dv.test/api/data/v9.2/$metadata#accounts(name,accountnumber,accountid)"
    )
    assert set(body["value"][0]) == {
        "@odata.etag",
        "name",
        "accountnumber",
        "accountid",
    }


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        pytest.param(
            "$select=name,nosuch",
            "0x0",
            "Could not find a property named 'nosuch' on type "
            "'Microsoft.Dynamics.CRM.account'.",
            id="unknown-select",
        ),
        pytest.param(
            "$filter=name eq", "0x80060888", "Syntax error", id="malformed-filter"
        ),
        pytest.param(
            "$filter=nosuch eq 1",
            "0x0",
            "Could not find a property named 'nosuch'",
            id="unknown-filter-property",
        ),
        pytest.param(
            "$filter=tolower(name) eq 'a'",
            "0x80060888",
            "tolower",
            id="unsupported-function",
        ),
        pytest.param("$orderby=nosuch", "0x0", "'nosuch'", id="unknown-orderby"),
        pytest.param("$skip=1", "0x80060888", "$skip", id="skip-not-supported"),
        pytest.param("$top=-1", "0x80060888", "$top", id="negative-top"),
        pytest.param(
            "$expand=nosuch",
            "0x0",
            "Could not find a property named 'nosuch'",
            id="unknown-expand",
        ),
    ],
)
async def test_bad_query_options_are_400(
    client: httpx.AsyncClient, query: str, code: str, message: str
) -> None:
    """Query options the service cannot read answer 400 with its code and text."""
    response = await client.get(f"{API}/accounts?{query}")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert message in error["message"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("$filter=name eq 'CONTOSO'", ["Contoso"], id="eq-ignores-case"),
        pytest.param(
            "$filter=contains(name,'AB')", ["fabrikam"], id="contains-ignores-case"
        ),
        pytest.param("$filter=startswith(name,'a')", ["Adatum"], id="startswith"),
        pytest.param("$filter=accountnumber eq null", ["fabrikam"], id="eq-null"),
        pytest.param(
            "$filter=accountnumber ne 'C1'", ["Adatum"], id="ne-leaves-out-nulls"
        ),
        pytest.param(
            "$filter=not (accountnumber eq 'C1')",
            ["Adatum"],
            id="not-eq-leaves-out-nulls",
        ),
        pytest.param(
            "$filter=not (accountnumber ne 'C1' or name eq 'Adatum')",
            ["Contoso"],
            id="not-or",
        ),
        pytest.param(
            "$filter=accountnumber ne null", ["Contoso", "Adatum"], id="ne-null"
        ),
        pytest.param(
            "$filter=accountnumber ne null and name gt 'b'", ["Contoso"], id="and-gt"
        ),
        pytest.param(
            "$orderby=name",
            ["Adatum", "Contoso", "fabrikam"],
            id="orderby-ignores-case",
        ),
        pytest.param(
            "$orderby=accountnumber desc",
            ["Contoso", "Adatum", "fabrikam"],
            id="nulls-last-desc",
        ),
        pytest.param("$orderby=name desc&$top=2", ["fabrikam", "Contoso"], id="top"),
        pytest.param(
            "", ["Contoso", "fabrikam", "Adatum"], id="creation-order-by-default"
        ),
    ],
)
async def test_filter_and_orderby_behave_like_sql_server(
    client: httpx.AsyncClient, accounts: list[str], query: str, expected: list[str]
) -> None:
    """Filters compare as SQL Server does: case-insensitive, null never unequal."""
    assert await names(client, query) == expected


async def test_filter_on_lookup_values_and_navigation_paths(
    client: httpx.AsyncClient, accounts: list[str]
) -> None:
    """_x_value compares with a GUID; a navigation path reads the related row."""
    contoso = accounts[0]
    await create(
        client,
        "contacts",
        {
            "lastname": "Lee",
            "parentcustomerid_account@odata.bind": f"/accounts({contoso})",
        },
    )
    await create(client, "contacts", {"lastname": "Solo"})

    by_value = await client.get(
        f"{API}/contacts?$select=lastname&$filter=_parentcustomerid_value eq {contoso}"
    )
    by_path = await client.get(
        f"{API}/contacts?$select=lastname"
        "&$filter=parentcustomerid_account/name eq 'contoso'"
    )

    assert [r["lastname"] for r in by_value.json()["value"]] == ["Lee"]
    assert [r["lastname"] for r in by_path.json()["value"]] == ["Lee"]


async def test_count_gives_the_number_of_matching_rows(
    client: httpx.AsyncClient, accounts: list[str]
) -> None:
    """$count=true adds @odata.count for all matches, not just the page."""
    response = await client.get(
        f"{API}/accounts?$select=name&$count=true",
        headers={"Prefer": "odata.maxpagesize=1"},
    )

    body = response.json()
    assert body["@odata.count"] == 3
    assert len(body["value"]) == 1


async def read_all(
    client: httpx.AsyncClient, url: str, size: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """Follow nextLinks; the rows and the links followed."""
    headers = {"Prefer": f"odata.maxpagesize={size}"}
    rows: list[dict[str, Any]] = []
    links: list[str] = []
    while url:
        response = await client.get(url, headers=headers)
        assert response.headers["Preference-Applied"] == f"odata.maxpagesize={size}"
        body = response.json()
        rows.extend(body["value"])
        url = body.get("@odata.nextLink", "")
        if url:
            links.append(url)
    return rows, links


async def test_paging_returns_every_row_once_and_keeps_query_options(
    client: httpx.AsyncClient, emulator: DataverseEmulator
) -> None:
    """nextLink pages through all rows with the same $select and $filter."""
    await emulator.seed(
        {"accounts": [{"name": f"A{n:02d}", "accountnumber": str(n)} for n in range(7)]}
    )

    rows, links = await read_all(
        client, f"{API}/accounts?$select=name&$filter=startswith(name,'A')", 3
    )

    assert [row["name"] for row in rows] == [f"A{n:02d}" for n in range(7)]
    assert len(links) == 2
    assert all("$select=name" in link and "$filter=" in link for link in links)
    assert "$skiptoken=%3Ccookie%20pagenumber=%222%22%20pagingcookie=" in links[0]
    assert links[0].startswith("http://dv.test/api/data/v9.2/accounts?")


async def test_paging_is_keyset_so_changed_rows_do_not_shift_pages(
    client: httpx.AsyncClient, emulator: DataverseEmulator
) -> None:
    """Rows that leave the filter while paging do not make later rows be skipped."""
    await emulator.seed(
        {"accounts": [{"name": f"A{n}", "accountnumber": "todo"} for n in range(6)]}
    )
    url = f"{API}/accounts?$select=name&$filter=accountnumber eq 'todo'&$orderby=name"
    headers = {"Prefer": "odata.maxpagesize=2"}
    seen: list[str] = []

    while url:
        body = (await client.get(url, headers=headers)).json()
        for row in body["value"]:
            seen.append(row["name"])
            await client.patch(
                f"{API}/accounts({row['accountid']})", json={"accountnumber": "done"}
            )
        url = body.get("@odata.nextLink", "")

    assert seen == [f"A{n}" for n in range(6)]


async def test_default_page_size_is_the_maximum(client: httpx.AsyncClient) -> None:
    """Without a preference pages hold max_page_size rows; larger asks are capped."""
    emulator = new_emulator(max_page_size=2)
    await emulator.seed({"accounts": [{"name": str(n)} for n in range(3)]})
    async with api_client(emulator) as small:
        plain = (await small.get(f"{API}/accounts?$select=name")).json()
        asked = await small.get(
            f"{API}/accounts?$select=name", headers={"Prefer": "odata.maxpagesize=10"}
        )

    assert len(plain["value"]) == 2
    assert "@odata.nextLink" in plain
    assert asked.headers["Preference-Applied"] == "odata.maxpagesize=2"


async def test_a_malformed_skiptoken_is_400(client: httpx.AsyncClient) -> None:
    """A $skiptoken that is not a paging cookie is refused."""
    response = await client.get(f"{API}/accounts?$skiptoken=garbage")

    assert response.status_code == 400


@pytest.fixture
async def invoice(client: httpx.AsyncClient, emulator: DataverseEmulator) -> str:
    account = await create(client, "accounts", {"name": "Contoso"})
    eur = next(
        r
        for r in emulator.rows("transactioncurrencies")
        if r["isocurrencycode"] == "EUR"
    )
    invoice = await create(
        client,
        "invoices",
        {
            "name": "INV-1",
            "totalamount": 1250,
            "msdyn_projectinvoicestatus": schema.ProjectInvoiceStatus.CONFIRMED,
            "customerid_account@odata.bind": f"/accounts({account})",
            "transactioncurrencyid@odata.bind": (
                f"/transactioncurrencies({eur['transactioncurrencyid']})"
            ),
        },
    )
    for number, method in (
        (2, schema.BillingMethod.FIXED_PRICE),
        (1, schema.BillingMethod.TIME_AND_MATERIAL),
    ):
        line = await create(
            client,
            "invoicedetails",
            {
                "lineitemnumber": number,
                "msdyn_billingmethod": method,
                "invoiceid@odata.bind": f"/invoices({invoice})",
            },
        )
        await create(
            client,
            "msdyn_invoicelinetransactions",
            {
                "msdyn_description": f"detail {number}",
                "msdyn_InvoiceLineId@odata.bind": f"/invoicedetails({line})",
                "msdyn_Invoice@odata.bind": f"/invoices({invoice})",
            },
        )
    return invoice


async def test_expand_single_and_collection_navigation(
    client: httpx.AsyncClient, invoice: str
) -> None:
    """$expand reads the customer and the lines, with nested options."""
    response = await client.get(
        f"{API}/invoices({invoice})?$select=name&$expand=customerid_account($select=name),"
        "invoice_details($select=lineitemnumber;$orderby=lineitemnumber;"
        "$expand=msdyn_invoicedetail_msdyn_invoicelinetransactio($select=msdyn_description))"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["customerid_account"]["name"] == "Contoso"
    assert set(body["customerid_account"]) == {"@odata.etag", "name", "accountid"}
    lines = body["invoice_details"]
    assert [line["lineitemnumber"] for line in lines] == [1, 2]
    details = lines[0]["msdyn_invoicedetail_msdyn_invoicelinetransactio"]
    assert [d["msdyn_description"] for d in details] == ["detail 1"]


async def test_expand_of_the_other_customer_type_is_null(
    client: httpx.AsyncClient, invoice: str
) -> None:
    """customerid_contact is null when the customer is an account."""
    response = await client.get(
        f"{API}/invoices({invoice})?$select=name&$expand=customerid_contact"
    )

    assert response.json()["customerid_contact"] is None


async def test_collection_navigation_filters_children(
    client: httpx.AsyncClient, invoice: str
) -> None:
    """GET invoices(id)/invoice_details answers the lines with query options."""
    response = await client.get(
        f"{API}/invoices({invoice})/invoice_details?$select=lineitemnumber"
        f"&$filter=msdyn_billingmethod eq {schema.BillingMethod.FIXED_PRICE}"
    )

    assert [row["lineitemnumber"] for row in response.json()["value"]] == [2]


async def test_annotations_give_formatted_values_and_lookup_facts(
    client: httpx.AsyncClient, invoice: str
) -> None:
    """include-annotations adds FormattedValue, lookuplogicalname and navigation."""
    response = await client.get(
        f"{API}/invoices({invoice})?$select=totalamount,msdyn_projectinvoicestatus,"
        "_customerid_value,createdon",
        headers=ANNOTATIONS,
    )

    body = response.json()
    formatted = "@OData.Community.Display.V1.FormattedValue"
    assert body[f"totalamount{formatted}"] == "€1,250.00"
    assert body[f"msdyn_projectinvoicestatus{formatted}"] == "Confirmed"
    assert body[f"createdon{formatted}"] == "1/15/2025 9:30 AM"
    assert body[f"_customerid_value{formatted}"] == "Contoso"
    assert (
        body["_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    )
    assert (
        body["_customerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"]
        == "customerid_account"
    )
    assert '"totalamount":1250.00' in response.text


async def test_no_annotations_without_the_preference(
    client: httpx.AsyncClient, invoice: str
) -> None:
    """Without Prefer include-annotations rows carry no annotations but the ETag."""
    body = (await client.get(f"{API}/invoices({invoice})")).json()

    assert [key for key in body if "@" in key] == ["@odata.context", "@odata.etag"]


async def test_single_property_read(client: httpx.AsyncClient, invoice: str) -> None:
    """GET entity(id)/column answers {"value": ...}."""
    response = await client.get(f"{API}/invoices({invoice})/name")

    assert response.json()["value"] == "INV-1"
