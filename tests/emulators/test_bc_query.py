"""BC emulator: $filter, $select, $orderby, $top/$skip, $expand and paging."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.emulators.test_bc_fixtures import (
    Bc,
    bc,
    emulator,
    error_of,
    make_emulator,
    open_bc,
)

__all__ = ["bc", "emulator"]

_NOT_FOUND = "Could not find a property named '{}' on type 'Microsoft.NAV.customer'."


async def _three(bc: Bc) -> list[dict[str, Any]]:
    return [
        await bc.customer(number="A1", displayName="Alpha", city="Oslo"),
        await bc.customer(number="B2", displayName="Bravo", city="Rome", blocked="All"),
        await bc.customer(number="C3", displayName="Charlie", city="Oslo"),
    ]


async def _numbers(bc: Bc, **params: str) -> list[str]:
    response = await bc.get("customers", params=params)
    assert response.status_code == 200, response.text
    return [row["number"] for row in response.json()["value"]]


@pytest.mark.parametrize(
    ("expression", "numbers"),
    [
        pytest.param("city eq 'Oslo'", ["A1", "C3"], id="eq"),
        pytest.param("city eq 'OSLO'", ["A1", "C3"], id="eq-ignores-case"),
        pytest.param("city ne 'Oslo'", ["B2"], id="ne"),
        pytest.param("number gt 'A1' and city eq 'Oslo'", ["C3"], id="and"),
        pytest.param(
            "number eq 'A1' or number eq 'C3'", ["A1", "C3"], id="or-one-field"
        ),
        pytest.param("startswith(displayName,'Br')", ["B2"], id="startswith"),
        pytest.param("endswith(displayName,'lie')", ["C3"], id="endswith"),
        pytest.param("contains(displayName,'rav')", ["B2"], id="contains"),
        pytest.param("blocked eq 'All'", ["B2"], id="enum"),
        pytest.param("blocked eq '_x0020_'", ["A1", "C3"], id="enum-blank-encoded"),
        pytest.param("blocked eq ' '", ["A1", "C3"], id="enum-blank-caption"),
        pytest.param("not (city eq 'Oslo')", ["B2"], id="not"),
        pytest.param("balanceDue eq 0", ["A1", "B2", "C3"], id="decimal"),
    ],
)
async def test_filters_bc_supports(bc: Bc, expression: str, numbers: list[str]) -> None:
    """$filter expressions BC accepts select the matching rows."""
    await _three(bc)

    assert await _numbers(bc, **{"$filter": expression}) == numbers


async def test_filters_on_ids_and_bare_datetimes(bc: Bc) -> None:
    """A bare GUID and a bare DateTimeOffset literal compare with the stored values."""
    first, second, _ = await _three(bc)
    by_id = await _numbers(bc, **{"$filter": f"id eq {second['id']}"})
    since = await _numbers(
        bc, **{"$filter": f"lastModifiedDateTime gt {first['lastModifiedDateTime']}"}
    )

    assert by_id == ["B2"]
    assert since == ["B2", "C3"]


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        pytest.param(
            {"$filter": "city eq 'Oslo' or number eq 'B2'"},
            "BadRequest",
            "The 'OR' operator is not supported on distinct fields on an OData filter.",
            id="or-across-fields",
        ),
        pytest.param(
            {"$filter": "number in ('A1','B2')"},
            "BadRequest",
            "The 'in' operator is supported only with $schemaversion=2.1.",
            id="in-without-schema-2.1",
        ),
        pytest.param(
            {"$select": "number,nosuch"},
            "BadRequest_NotFound",
            _NOT_FOUND.format("nosuch"),
            id="select-unknown",
        ),
        pytest.param(
            {"$orderby": "nosuch desc"},
            "BadRequest_NotFound",
            _NOT_FOUND.format("nosuch"),
            id="orderby-unknown",
        ),
        pytest.param(
            {"$expand": "vendor"},
            "BadRequest_NotFound",
            _NOT_FOUND.format("vendor"),
            id="expand-unknown",
        ),
        pytest.param(
            {"$top": "many"},
            "BadRequest",
            "Invalid value 'many' for $top query option found.",
            id="top-not-a-number",
        ),
    ],
)
async def test_queries_bc_refuses(
    bc: Bc,
    params: dict[str, str],
    code: str,
    message: str,
) -> None:
    """What BC refuses in a query answers 400 with its code and message."""
    response = await bc.get("customers", params=params)

    assert error_of(response) == (400, code, message)


async def test_a_filter_syntax_error_is_a_400(bc: Bc) -> None:
    """An unreadable $filter is 400 BadRequest naming the position."""
    response = await bc.get("customers", params={"$filter": "number eq"})

    status, code, message = error_of(response)
    assert (status, code) == (400, "BadRequest")
    assert "position" in message


async def test_in_works_with_schema_version_2_1(bc: Bc) -> None:
    """``in`` is accepted with $schemaversion=2.1."""
    await _three(bc)
    numbers = await _numbers(
        bc, **{"$filter": "number in ('A1','C3')", "$schemaversion": "2.1"}
    )

    assert numbers == ["A1", "C3"]


async def test_a_lambda_makes_bc_ignore_the_filter(bc: Bc) -> None:
    """Lambda operators are ignored: the filter selects everything."""
    await _three(bc)
    numbers = await _numbers(bc, **{"$filter": "contactsInformation/any(c: c eq 1)"})

    assert numbers == ["A1", "B2", "C3"]


async def test_select_orderby_top_skip_and_count(bc: Bc) -> None:
    """$select trims the row, $orderby sorts, $skip/$top cut, $count counts all."""
    await _three(bc)
    response = await bc.get(
        "customers",
        params={
            "$select": "number,city",
            "$orderby": "city desc,number desc",
            "$skip": "1",
            "$top": "1",
            "$count": "true",
        },
    )
    body = response.json()

    assert body["@odata.count"] == 3
    assert [list(row) for row in body["value"]] == [["@odata.etag", "number", "city"]]
    assert [row["number"] for row in body["value"]] == ["C3"]


@pytest.fixture
async def small_pages() -> AsyncIterator[Bc]:
    """An emulator that pages after two rows."""
    async for client in open_bc(make_emulator(max_page_size=2)):
        yield client


async def test_server_paging_follows_next_links(small_pages: Bc) -> None:
    """Five rows at page size 2: three pages linked by @odata.nextLink."""
    bc = small_pages
    for index in range(5):
        await bc.customer(number=f"N{index}")
    seen: list[str] = []
    url: str | None = bc.url("customers?$select=number")
    pages = 0
    while url is not None:
        body = (await bc.client.get(url)).json()
        seen.extend(row["number"] for row in body["value"])
        url = body.get("@odata.nextLink")
        pages += 1
        if url is not None:
            assert url.startswith("http://bc.test/v2.0/")
            assert "$skiptoken=" in url

    assert pages == 3
    assert seen == [f"N{index}" for index in range(5)]


async def test_prefer_maxpagesize_shrinks_pages(bc: Bc) -> None:
    """Prefer: odata.maxpagesize=1 gives one row and says it applied."""
    await _three(bc)
    response = await bc.get("customers", headers={"Prefer": "odata.maxpagesize=1"})

    assert len(response.json()["value"]) == 1
    assert response.headers["preference-applied"] == "odata.maxpagesize=1"
    assert "@odata.nextLink" in response.json()


async def test_top_within_a_page_has_no_next_link(small_pages: Bc) -> None:
    """$top=2 at page size 2 ends without a nextLink."""
    for index in range(4):
        await small_pages.customer(number=f"N{index}")
    body = (await small_pages.get("customers", params={"$top": "2"})).json()

    assert len(body["value"]) == 2
    assert "@odata.nextLink" not in body


async def test_expand_with_nested_options(bc: Bc) -> None:
    """$expand=salesInvoiceLines($filter;$orderby;$select),customer($select)."""
    customer = await bc.customer()
    line = {"lineType": "Account", "lineObjectNumber": "40100", "unitPrice": 10}
    invoice = await bc.invoice(customer, dict(line, quantity=1), dict(line, quantity=2))
    response = await bc.get(
        f"salesInvoices({invoice['id']})",
        params={
            "$select": "number",
            "$expand": "salesInvoiceLines($filter=quantity gt 0;$orderby=sequence desc;"
            "$select=sequence,quantity),customer($select=number)",
        },
    )
    body = response.json()

    assert [ln["sequence"] for ln in body["salesInvoiceLines"]] == [20000, 10000]
    assert list(body["salesInvoiceLines"][0]) == ["@odata.etag", "sequence", "quantity"]
    assert body["customer"]["number"] == customer["number"]


async def test_expanding_an_empty_reference_gives_null(bc: Bc) -> None:
    """A customer without payment terms expands paymentTerm to null."""
    customer = await bc.customer()
    body = (
        await bc.get(f"customers({customer['id']})", params={"$expand": "paymentTerm"})
    ).json()

    assert body["paymentTerm"] is None


async def test_a_contract_navigation_the_emulator_lacks_is_501(bc: Bc) -> None:
    """$expand=picture is a real navigation the emulator does not serve: 501."""
    response = await bc.get("customers", params={"$expand": "picture"})

    assert error_of(response)[:2] == (501, "BadRequest_MethodNotImplemented")


async def test_a_navigation_path_reads_the_related_entity(bc: Bc) -> None:
    """salesInvoices({id})/customer reads the invoice's customer."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer)
    response = await bc.get(f"salesInvoices({invoice['id']})/customer")

    assert response.json()["id"] == customer["id"]


async def test_the_company_can_come_from_the_query_string(bc: Bc) -> None:
    """``customers?company=<id>`` addresses the company without the path segment."""
    await bc.customer()
    response = await bc.get(
        f"{bc.root}/customers", params={"company": bc.emulator.company_id}
    )
    missing = await bc.get(f"{bc.root}/customers")

    assert len(response.json()["value"]) == 1
    assert error_of(missing)[:2] == (404, "Internal_CompanyNotFound")


async def test_count_segment_counts_the_filtered_rows(bc: Bc) -> None:
    """GET customers/$count?$filter=... answers the count as plain text."""
    await _three(bc)
    response = await bc.get("customers/$count", params={"$filter": "city eq 'Oslo'"})

    assert response.status_code == 200
    assert response.text == "2"
    assert response.headers["content-type"].startswith("text/plain")
