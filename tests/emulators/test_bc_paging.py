"""BC emulator: server-driven paging continues from the last row read, by key."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.emulators.test_bc_fixtures import Bc, error_of, make_emulator, open_bc

_BAD_TOKEN = (400, "BadRequest", "The $skiptoken value is not valid.")


@pytest.fixture
async def bc() -> AsyncIterator[Bc]:
    """An emulator that pages after two rows."""
    async for client in open_bc(make_emulator(max_page_size=2)):
        yield client


async def _page(bc: Bc, url: str) -> tuple[list[str], str | None]:
    response = await bc.client.get(url)
    assert response.status_code == 200, response.text
    body = response.json()

    return [row["number"] for row in body["value"]], body.get("@odata.nextLink")


async def _all(bc: Bc, url: str | None) -> list[str]:
    seen: list[str] = []
    while url is not None:
        numbers, url = await _page(bc, url)
        seen.extend(numbers)

    return seen


def _options(link: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(link).query)


async def _customers(bc: Bc, *numbers: str, **fields: Any) -> dict[str, str]:
    ids: dict[str, str] = {}
    for number in numbers:
        ids[number] = (await bc.customer(number=number, **fields))["id"]

    return ids


async def test_a_row_inserted_before_the_boundary_shifts_nothing(bc: Bc) -> None:
    """A row inserted before the page boundary neither repeats nor skips a row."""
    await _customers(bc, "C10", "C20", "C30", "C40", "C50")
    first, link = await _page(bc, bc.url("customers"))
    await bc.customer(number="C05")
    rest = await _all(bc, link)

    assert first == ["C10", "C20"]
    assert rest == ["C30", "C40", "C50"]


async def test_a_row_deleted_before_the_boundary_skips_nothing(bc: Bc) -> None:
    """A row deleted before the page boundary does not make a later row vanish."""
    ids = await _customers(bc, "C10", "C20", "C30", "C40", "C50")
    first, link = await _page(bc, bc.url("customers"))
    await bc.delete(f"customers({ids['C10']})")
    rest = await _all(bc, link)

    assert first == ["C10", "C20"]
    assert rest == ["C30", "C40", "C50"]


async def test_the_last_row_read_may_be_deleted(bc: Bc) -> None:
    """Deleting the very row a page ended on still continues right after it."""
    ids = await _customers(bc, "C10", "C20", "C30", "C40")
    first, link = await _page(bc, bc.url("customers"))
    await bc.delete(f"customers({ids['C20']})")

    assert first + await _all(bc, link) == ["C10", "C20", "C30", "C40"]


async def test_a_row_inserted_after_the_boundary_is_read(bc: Bc) -> None:
    """A row inserted beyond the position read so far comes in a later page."""
    await _customers(bc, "C10", "C20", "C30")
    first, link = await _page(bc, bc.url("customers"))
    await bc.customer(number="C25")

    assert first + await _all(bc, link) == ["C10", "C20", "C25", "C30"]


@pytest.mark.parametrize(
    ("orderby", "expected"),
    [
        pytest.param("city", ["A1", "A3", "A5", "A2", "A4"], id="ascending"),
        pytest.param("city desc", ["A2", "A4", "A1", "A3", "A5"], id="descending"),
    ],
)
async def test_orderby_on_a_non_unique_field_pages_without_loss(
    bc: Bc, orderby: str, expected: list[str]
) -> None:
    """Ties on $orderby are broken by the key, so no tied row is lost or repeated."""
    await _customers(bc, "A1", "A3", "A5", city="Oslo")
    await _customers(bc, "A2", "A4", city="Rome")
    url = bc.url(f"customers?$orderby={orderby}&$select=number,city")

    assert await _all(bc, url) == expected


async def test_a_decimal_order_survives_the_token(bc: Bc) -> None:
    """Paging by a decimal property (all rows tied at 0) reads every row once."""
    await _customers(bc, "D1", "D2", "D3", "D4", "D5")
    url = bc.url("customers?$orderby=balanceDue desc,displayName")

    assert await _all(bc, url) == ["D1", "D2", "D3", "D4", "D5"]


async def test_ties_stay_whole_when_a_tied_row_is_inserted_before(bc: Bc) -> None:
    """A tied row sorting before the boundary does not push a later row twice."""
    await _customers(bc, "B2", "B4", "B6", city="Oslo")
    first, link = await _page(bc, bc.url("customers?$orderby=city"))
    await bc.customer(number="B1", city="Oslo")

    assert first + await _all(bc, link) == ["B2", "B4", "B6"]


async def test_top_is_honoured_across_pages(bc: Bc) -> None:
    """$top=3 at page size 2 gives two rows, then one, then no nextLink."""
    await _customers(bc, "C10", "C20", "C30", "C40", "C50")
    first, link = await _page(bc, bc.url("customers?$top=3"))
    assert link is not None
    second, last = await _page(bc, link)

    assert (first, second, last) == (["C10", "C20"], ["C30"], None)
    assert _options(link)["$top"] == ["1"]


async def test_skip_applies_once(bc: Bc) -> None:
    """$skip is spent on the first page; the nextLink carries the position only."""
    await _customers(bc, "C10", "C20", "C30", "C40", "C50")
    first, link = await _page(bc, bc.url("customers?$skip=1"))
    assert link is not None

    assert first + await _all(bc, link) == ["C20", "C30", "C40", "C50"]
    assert "$skip" not in _options(link)


async def test_the_next_link_keeps_the_other_options(bc: Bc) -> None:
    """$filter, $select, $orderby, $expand and $count reach the nextLink unchanged."""
    await _customers(bc, "C10", "C20", "C30", city="Oslo")
    await bc.customer(number="C40", city="Rome")
    params = {
        "$filter": "city eq 'Oslo'",
        "$select": "number,city",
        "$orderby": "number desc",
        "$expand": "currency",
        "$count": "true",
    }
    response = await bc.get("customers", params=params)
    link = response.json()["@odata.nextLink"]
    options = _options(link)
    follow = (await bc.client.get(link)).json()

    assert {name: options[name] for name in params} == {
        name: [value] for name, value in params.items()
    }
    assert [row["number"] for row in follow["value"]] == ["C10"]
    assert list(follow["value"][0]) == ["@odata.etag", "number", "city", "currency"]
    assert follow["@odata.count"] == 3
    assert "@odata.nextLink" not in follow


def _tampered(token: str) -> str:
    return token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")


async def test_a_tampered_skiptoken_is_400(bc: Bc) -> None:
    """A skiptoken altered by the client is refused in BC's error shape."""
    await _customers(bc, "C10", "C20", "C30")
    _, link = await _page(bc, bc.url("customers"))
    assert link is not None
    token = _options(link)["$skiptoken"][0]
    response = await bc.get("customers", params={"$skiptoken": _tampered(token)})

    assert error_of(response) == _BAD_TOKEN


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("5de545bc-f6f9-ef11-9344-6045bdc8c234", id="a-bare-guid"),
        pytest.param("2", id="an-offset"),
        pytest.param("%%%", id="not-base64"),
        pytest.param(
            base64.urlsafe_b64encode(b'{"offset": 2}').decode().rstrip("="),
            id="json-of-another-shape",
        ),
        pytest.param(
            base64.urlsafe_b64encode(b'{"order":["number"],"after":[1,2]}')
            .decode()
            .rstrip("="),
            id="values-not-matching-the-order",
        ),
    ],
)
async def test_a_foreign_skiptoken_is_400(bc: Bc, token: str) -> None:
    """A skiptoken the emulator did not issue is refused with 400 BadRequest."""
    await _customers(bc, "C10")
    response = await bc.get("customers", params={"$skiptoken": token})

    assert error_of(response) == _BAD_TOKEN


async def test_a_skiptoken_from_another_order_is_400(bc: Bc) -> None:
    """A token issued for one $orderby does not position a query in another."""
    await _customers(bc, "C10", "C20", "C30")
    _, link = await _page(bc, bc.url("customers?$orderby=displayName"))
    assert link is not None
    token = _options(link)["$skiptoken"][0]
    response = await bc.get("customers", params={"$skiptoken": token})

    assert error_of(response) == _BAD_TOKEN


async def test_invoice_lines_page_in_sequence_order(bc: Bc) -> None:
    """An invoice's lines page by their sequence, as BC's Line No. orders them."""
    customer = await bc.customer()
    line = {"lineType": "Account", "lineObjectNumber": "40100", "unitPrice": 1}
    invoice = await bc.invoice(customer, *[dict(line, quantity=q) for q in (1, 2, 3)])
    url: str | None = bc.url(f"salesInvoices({invoice['id']})/salesInvoiceLines")
    sequences: list[int] = []
    while url is not None:
        body = (await bc.client.get(url)).json()
        sequences.extend(row["sequence"] for row in body["value"])
        url = body.get("@odata.nextLink")

    assert sequences == [10000, 20000, 30000]
