"""BusinessCentralClient: URL shapes, paging, If-Match, exact bodies, deep insert."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from pointegration.businesscentral.batch import BatchOperation
from pointegration.businesscentral.client import BusinessCentralClient
from pointegration.businesscentral.models import CustomerPayload, SalesInvoicePayload
from pointegration.errors import (
    ConcurrencyError,
    ConfigurationError,
    PayloadValidationError,
    ServiceUnavailableError,
    SettingsError,
)
from pointegration.odata import quote
from tests.unit._bc_http import (
    BASE,
    COMPANY,
    RECORD,
    Recorder,
    json_response,
    make_client,
    make_service,
    path_of,
)

Call = Callable[[BusinessCentralClient], Awaitable[Any]]
CO = f"companies({COMPANY})"


def _ok(request: httpx.Request) -> httpx.Response:
    """201 for a POST, 204 for an action or DELETE, else a record or a page."""
    if request.url.path.endswith("Microsoft.NAV.post") or request.method == "DELETE":
        return httpx.Response(204)
    if request.method == "POST":
        return json_response(201, {"id": RECORD, "@odata.etag": 'W/"1"'})
    return json_response(200, {"id": RECORD, "value": []})


async def _first(client: BusinessCentralClient, entity_set: str) -> list[Any]:
    return [row async for row in client.list(entity_set)]


@pytest.mark.parametrize(
    ("call", "method", "path"),
    [
        pytest.param(
            lambda c: _first(c, "customers"),
            "GET",
            f"/v2.0/{CO}/customers",
            id="list-customers",
        ),
        pytest.param(
            lambda c: c.get("salesInvoices", RECORD),
            "GET",
            f"/v2.0/{CO}/salesInvoices({RECORD})",
            id="get-invoice",
        ),
        pytest.param(
            lambda c: c.create("countriesRegions", {"code": "DE"}),
            "POST",
            f"/v2.0/{CO}/countriesRegions",
            id="create-country",
        ),
        pytest.param(
            lambda c: c.update("contacts", RECORD, {"jobTitle": "CFO"}, etag="*"),
            "PATCH",
            f"/v2.0/{CO}/contacts({RECORD})",
            id="update-contact",
        ),
        pytest.param(
            lambda c: c.delete("customers", RECORD, etag='W/"1"'),
            "DELETE",
            f"/v2.0/{CO}/customers({RECORD})",
            id="delete-customer",
        ),
        pytest.param(
            lambda c: c.action("salesInvoices", RECORD, "Microsoft.NAV.post"),
            "POST",
            f"/v2.0/{CO}/salesInvoices({RECORD})/Microsoft.NAV.post",
            id="post-invoice",
        ),
        pytest.param(
            lambda c: c.contacts_information(RECORD),
            "GET",
            f"/v2.0/{CO}/customers({RECORD})/contactsInformation",
            id="contacts-information",
        ),
        pytest.param(
            lambda c: c.companies(), "GET", "/v2.0/companies", id="companies-root"
        ),
        pytest.param(
            lambda c: _first(c, "postCodes"),
            "GET",
            f"/pobc/integration/v1.0/{CO}/postCodes",
            id="list-post-codes-custom-api",
        ),
        pytest.param(
            lambda c: c.create_post_code({"code": "53111", "city": "Bonn"}),
            "POST",
            f"/pobc/integration/v1.0/{CO}/postCodes",
            id="create-post-code-custom-api",
        ),
        pytest.param(
            lambda c: c.update_post_code(RECORD, {"county": "NRW"}, etag="*"),
            "PATCH",
            f"/pobc/integration/v1.0/{CO}/postCodes({RECORD})",
            id="update-post-code-custom-api",
        ),
    ],
)
async def test_url_shapes(call: Call, method: str, path: str) -> None:
    """Each call goes to BC's company-scoped (or root, or custom-API) URL."""
    recorder = Recorder(_ok)
    await call(make_client(recorder))
    assert [(r.method, path_of(r)) for r in recorder.requests] == [(method, path)]


async def test_custom_post_code_route_is_configurable() -> None:
    """BC_POSTCODES_API decides the post-code route."""
    recorder = Recorder(_ok)
    client = BusinessCentralClient(
        make_service(recorder), company_id=COMPANY, postcodes_api="contoso/geo/v2.0"
    )
    await client.find_post_codes("53111")
    assert path_of(recorder.requests[0]) == f"/contoso/geo/v2.0/{CO}/postCodes"


@pytest.mark.parametrize(
    ("company_id", "postcodes_api", "setting"),
    [
        pytest.param("cronus", "pobc/integration/v1.0", "BC_COMPANY_ID", id="company"),
        pytest.param(COMPANY, "pobc/v1.0", "BC_POSTCODES_API", id="route-short"),
        pytest.param(COMPANY, "pobc/int/../v1.0", "BC_POSTCODES_API", id="route-dots"),
    ],
)
def test_bad_settings_are_refused_by_name(
    company_id: str, postcodes_api: str, setting: str
) -> None:
    """A company id that is no GUID, or a malformed custom route, names its setting."""
    with pytest.raises(SettingsError, match=setting):
        BusinessCentralClient(
            make_service(_ok), company_id=company_id, postcodes_api=postcodes_api
        )


@pytest.mark.parametrize(
    "bad_id",
    [
        pytest.param("not-a-guid", id="word"),
        pytest.param("{" + RECORD + "}", id="braces"),
        pytest.param(RECORD.replace("-", ""), id="no-dashes"),
        pytest.param(RECORD[:-1] + ")/x", id="path-injection"),
        pytest.param("", id="empty"),
    ],
)
async def test_record_id_must_be_a_guid(bad_id: str) -> None:
    """An id that is not a GUID is refused before a request is made."""
    recorder = Recorder(_ok)
    with pytest.raises(PayloadValidationError, match="GUID"):
        await make_client(recorder).get("customers", bad_id)
    assert recorder.requests == []


async def test_paging_follows_next_link_with_page_size() -> None:
    """Rows of every page come back in order; each page asks for the same size."""
    pages: dict[str, tuple[dict[str, Any], str | None]] = {
        "1": ({"value": [{"n": 1}, {"n": 2}]}, "2"),
        "2": ({"value": [{"n": 3}]}, "3"),
        "3": ({"value": [{"n": 4}]}, None),
    }

    def answer(request: httpx.Request) -> httpx.Response:
        page, following = pages[request.url.params.get("$skiptoken", "1")]
        if following:
            link = f"{BASE}/v2.0/{CO}/customers?$skiptoken={following}"
            page = {**page, "@odata.nextLink": link}
        return json_response(200, page)

    recorder = Recorder(answer)
    client = make_client(recorder)
    rows = [row async for row in client.list("customers", page_size=2)]
    assert [row["n"] for row in rows] == [1, 2, 3, 4]
    assert [r.headers["Prefer"] for r in recorder.requests] == [
        "odata.maxpagesize=2"
    ] * 3


async def test_top_stops_paging() -> None:
    """With top=2 no further page is read once two rows have come back."""
    link = f"{BASE}/v2.0/{CO}/customers?$skiptoken=2"
    recorder = Recorder(
        lambda r: json_response(
            200, {"value": [{"n": 1}, {"n": 2}, {"n": 3}], "@odata.nextLink": link}
        )
    )
    rows = [row async for row in make_client(recorder).list("customers", top=2)]
    assert [row["n"] for row in rows] == [1, 2]
    assert len(recorder.requests) == 1
    assert recorder.requests[0].url.params["$top"] == "2"


@pytest.mark.parametrize(
    "page_size",
    [pytest.param(0, id="zero"), pytest.param(20_001, id="above-bc-maximum")],
)
async def test_page_size_beyond_bc_limits_is_refused(page_size: int) -> None:
    """BC pages hold 1 to 20,000 rows; anything else is refused before sending."""
    recorder = Recorder(_ok)
    with pytest.raises(ValueError, match="page_size"):
        await _first_page(make_client(recorder), page_size)
    assert recorder.requests == []


async def _first_page(client: BusinessCentralClient, page_size: int) -> None:
    async for _ in client.list("customers", page_size=page_size):
        break


async def test_next_link_to_another_host_is_refused() -> None:
    """A nextLink off BC's host is refused, so the token is not sent elsewhere."""
    recorder = Recorder(
        lambda r: json_response(
            200, {"value": [], "@odata.nextLink": "https://evil.test/steal"}
        )
    )
    with pytest.raises(ConfigurationError, match="another host"):
        await _first(make_client(recorder), "customers")
    assert len(recorder.requests) == 1


async def test_filter_is_percent_encoded_and_decodes_exactly() -> None:
    """A filter with a doubled quote and '&' is %-encoded and reads back exactly."""
    name = "O'Brien & Sons"
    condition = f"displayName eq {quote(name)}"
    recorder = Recorder(_ok)
    client = make_client(recorder)
    await _first_list(client, condition)
    url = recorder.requests[0].url
    raw = url.query.decode("ascii")
    assert condition == "displayName eq 'O''Brien & Sons'"
    assert "%26" in raw
    assert "%20" in raw
    assert "+" not in raw
    assert url.params["$filter"] == condition
    assert url.params["$select"] == "id,number"


async def _first_list(client: BusinessCentralClient, condition: str) -> None:
    rows = client.list("customers", filter=condition, select="id,number")
    assert [row async for row in rows] == []


async def test_datetime_offset_plus_sign_survives() -> None:
    """A '+' in a datetime offset is sent as %2B, so BC does not read a space."""
    recorder = Recorder(_ok)
    condition = "lastModifiedDateTime gt 2026-01-01T10:00:00+01:00"
    await _first_list(make_client(recorder), condition)
    query = recorder.requests[0].url.query.decode("ascii")
    assert "%2B01" in query
    assert "+" not in query
    assert recorder.requests[0].url.params["$filter"] == condition


@pytest.mark.parametrize(
    "etag",
    [
        pytest.param('W/"JzQ0O2c4Jw=="', id="retrieved-etag"),
        pytest.param("*", id="star"),
    ],
)
async def test_update_always_sends_if_match(etag: str) -> None:
    """PATCH carries If-Match with exactly the etag given, '*' included."""
    recorder = Recorder(lambda r: json_response(200, {"id": RECORD}))
    await make_client(recorder).update(
        "customers", RECORD, {"displayName": "Contoso"}, etag=etag
    )
    request = recorder.requests[0]
    assert request.method == "PATCH"
    assert request.headers["If-Match"] == etag
    assert recorder.bodies() == [{"displayName": "Contoso"}]


async def test_delete_sends_if_match() -> None:
    """DELETE carries If-Match too."""
    recorder = Recorder(_ok)
    await make_client(recorder).delete("countriesRegions", RECORD, etag='W/"7"')
    assert recorder.requests[0].headers["If-Match"] == 'W/"7"'


@pytest.mark.parametrize(
    "etag", [pytest.param("", id="empty"), pytest.param("  ", id="blank")]
)
async def test_update_without_etag_is_refused(etag: str) -> None:
    """An empty etag is refused before sending, never sent as a blank If-Match."""
    recorder = Recorder(_ok)
    with pytest.raises(PayloadValidationError, match="If-Match"):
        await make_client(recorder).update(
            "customers", RECORD, {"displayName": "C"}, etag=etag
        )
    assert recorder.requests == []


async def test_stale_etag_is_a_concurrency_error() -> None:
    """BC's Request_EntityChanged on PATCH surfaces as ConcurrencyError."""
    body = {"error": {"code": "Request_EntityChanged", "message": "Another user..."}}
    recorder = Recorder(lambda r: json_response(409, body))
    with pytest.raises(ConcurrencyError):
        await make_client(recorder).update(
            "customers", RECORD, {"displayName": "C"}, etag='W/"old"'
        )


@pytest.mark.parametrize(
    ("entity_set", "payload", "name"),
    [
        pytest.param("customers", {"displayName": "C", "nickname": "x"}, "nickname",
                     id="unknown-customer-property"),
        pytest.param("salesInvoices", {"customerNumber": "1", "number": "S-1"},
                     "number", id="read-only-invoice-number"),
        pytest.param("customers", {"displayName": "C", "balanceDue": Decimal(5)},
                     "balanceDue", id="read-only-customer-balance"),
        pytest.param("postCodes", {"code": "1", "city": "B", "searchCity": "B"},
                     "searchCity", id="unknown-post-code-property"),
    ],
)  # fmt: skip
async def test_refused_property_sends_nothing(
    entity_set: str, payload: dict[str, Any], name: str
) -> None:
    """An unknown or read-only property is refused and no request is made."""
    recorder = Recorder(_ok)
    with pytest.raises(PayloadValidationError, match=f"'{name}'"):
        await make_client(recorder).create(entity_set, payload)
    assert recorder.requests == []


async def test_entity_set_without_payload_model_is_refused() -> None:
    """Writing to an entity set the integration has no model for sends nothing."""
    recorder = Recorder(_ok)
    with pytest.raises(PayloadValidationError, match="no payload model"):
        await make_client(recorder).create("items", {"number": "1"})
    assert recorder.requests == []


async def test_decimal_is_exact_in_request_bytes() -> None:
    """Decimal('1234.565') appears in the body bytes exactly as written."""
    recorder = Recorder(_ok)
    customer = CustomerPayload.parse(
        {"displayName": "Contoso", "creditLimit": Decimal("1234.565")}
    )
    await make_client(recorder).create("customers", customer)
    assert recorder.requests[0].content == (
        b'{"displayName":"Contoso","creditLimit":1234.565}'
    )
    assert recorder.requests[0].headers["Content-Type"] == "application/json"


async def test_response_money_is_read_as_decimal() -> None:
    """A money value in BC's answer is a Decimal, not a float."""
    recorder = Recorder(
        lambda r: json_response(200, {"id": RECORD, "balanceDue": Decimal("0.1")})
    )
    record = await make_client(recorder).get("customers", RECORD)
    assert record["balanceDue"] == Decimal("0.1")


async def test_deep_insert_posts_header_and_lines_and_expands_lines() -> None:
    """The deep insert posts Microsoft's body shape and asks for the lines back."""
    created = {
        "id": RECORD,
        "number": "S-INV-1001",
        "salesInvoiceLines": [{"id": RECORD, "lineType": "Item", "quantity": 3}],
    }
    recorder = Recorder(lambda r: json_response(201, created))
    invoice = SalesInvoicePayload.parse(
        {
            "customerNumber": "20000",
            "salesInvoiceLines": [
                {"lineType": "Item", "lineObjectNumber": "1928-S", "quantity": 3}
            ],
        }
    )
    answer = await make_client(recorder).create_sales_invoice(invoice)
    request = recorder.requests[0]
    assert (request.method, path_of(request)) == ("POST", f"/v2.0/{CO}/salesInvoices")
    assert request.url.params["$expand"] == "salesInvoiceLines"
    assert request.content == (
        b'{"customerNumber":"20000","salesInvoiceLines":'
        b'[{"lineType":"Item","lineObjectNumber":"1928-S","quantity":3}]}'
    )
    assert answer == created


@pytest.mark.parametrize(
    ("invoice", "match"),
    [
        pytest.param({"customerNumber": "1"}, "at least one", id="no-lines"),
        pytest.param(
            {"salesInvoiceLines": [{"lineType": "Comment"}]},
            "customerNumber or customerId",
            id="no-customer",
        ),
    ],
)
async def test_deep_insert_refuses_what_bc_would(
    invoice: dict[str, Any], match: str
) -> None:
    """An invoice without lines or without a customer is refused before sending."""
    recorder = Recorder(_ok)
    with pytest.raises(PayloadValidationError, match=match):
        await make_client(recorder).create_sales_invoice(invoice)
    assert recorder.requests == []


async def test_update_refuses_lines_since_bc_has_no_deep_patch() -> None:
    """PATCHing an invoice with lines is refused: BC supports deep insert only."""
    recorder = Recorder(_ok)
    with pytest.raises(PayloadValidationError, match="PATCH"):
        await make_client(recorder).update(
            "salesInvoices",
            RECORD,
            {"salesInvoiceLines": [{"quantity": 1}]},
            etag="*",
        )
    assert recorder.requests == []


async def test_post_action_accepts_204_with_empty_body() -> None:
    """Microsoft.NAV.post answers 204 No Content; the call returns without a body."""
    recorder = Recorder(lambda r: httpx.Response(204))
    client = make_client(recorder)
    await client.action("salesInvoices", RECORD, "Microsoft.NAV.post")
    assert [(r.method, r.content) for r in recorder.requests] == [("POST", b"")]


async def test_post_action_is_not_repeated_after_a_lost_answer() -> None:
    """A 504 on Microsoft.NAV.post is raised, not retried: the posting may have run."""
    recorder = Recorder(lambda r: httpx.Response(504))
    with pytest.raises(ServiceUnavailableError):
        await make_client(recorder).action(
            "salesInvoices", RECORD, "Microsoft.NAV.post"
        )
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "action",
    [
        pytest.param("post", id="unqualified"),
        pytest.param("Microsoft.NAV.post/../x", id="path-injection"),
    ],
)
async def test_action_name_is_checked(action: str) -> None:
    """Only a Microsoft.NAV.<name> bound action is sent."""
    recorder = Recorder(_ok)
    with pytest.raises(PayloadValidationError, match="bound action"):
        await make_client(recorder).action("salesInvoices", RECORD, action)
    assert recorder.requests == []


async def test_post_code_batch_goes_to_the_custom_api() -> None:
    """A batch of post codes is posted to the custom API's $batch."""
    recorder = Recorder(
        lambda r: json_response(200, {"responses": [{"id": "1", "status": 201}]})
    )
    operation = BatchOperation.create("postCodes", {"code": "53111", "city": "Bonn"})
    results = await make_client(recorder).batch([operation])
    assert path_of(recorder.requests[0]) == "/pobc/integration/v1.0/$batch"
    assert recorder.bodies()[0]["requests"][0]["url"] == f"{CO}/postCodes"
    assert [r.ok for r in results] == [True]


async def test_batch_mixing_apis_is_refused() -> None:
    """Standard entities and post codes cannot share one $batch."""
    recorder = Recorder(_ok)
    operations = [
        BatchOperation.create("postCodes", {"code": "1", "city": "B"}),
        BatchOperation.create("countriesRegions", {"code": "DE"}),
    ]
    with pytest.raises(PayloadValidationError, match="one API"):
        await make_client(recorder).batch(operations)
    assert recorder.requests == []


async def test_empty_batch_sends_nothing() -> None:
    """No operations, no request."""
    recorder = Recorder(_ok)
    assert await make_client(recorder).batch([]) == []
    assert recorder.requests == []


async def test_find_post_codes_filters_on_code_and_city() -> None:
    """The post-code lookup filters on BC's key pair, quoting both values."""
    recorder = Recorder(lambda r: json_response(200, {"value": [{"code": "1"}]}))
    rows = await make_client(recorder).find_post_codes("D-1", city="St. John's")
    assert rows == [{"code": "1"}]
    assert recorder.requests[0].url.params["$filter"] == (
        "code eq 'D-1' and city eq 'St. John''s'"
    )
