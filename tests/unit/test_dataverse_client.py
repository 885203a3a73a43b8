"""The Dataverse Web API client against a fake transport (dataverse.client)."""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import parse_qs

import httpx
import pytest

from pointegration import _json, errors, odata
from pointegration.dataverse.batch import Operation
from pointegration.dataverse.client import DataverseClient, service_url
from pointegration.dataverse.models import Country, Invoice
from tests.unit._dataverse_http import (
    ACCOUNT_ID,
    BASE,
    ORG,
    OTHER_ID,
    Recorder,
    error_response,
    json_response,
    make_client,
    make_service,
)

SKIPTOKEN = (
    "%3Ccookie%20pagenumber=%22{n}%22%20pagingcookie=%22%253ccookie%2520page"
    "%253d%2522{m}%2522%253e%22%20istracking=%22False%22%20/%3E"
)


def next_link(page: int) -> str:
    """A nextLink shaped like Dataverse's, with a doubly encoded paging cookie."""
    token = SKIPTOKEN.format(n=page, m=page - 1)
    return f"{BASE}/accounts?$select=name,revenue&$skiptoken={token}"


def no_content(**headers: str) -> httpx.Response:
    """A 204 answer."""
    return httpx.Response(204, headers={"OData-Version": "4.0", **headers})


def entity_id_header(entity_id: str, entity_set: str = "accounts") -> str:
    """An OData-EntityId value for ``entity_set(entity_id)``."""
    return f"{BASE}/{entity_set}({entity_id})"


async def test_query_follows_next_links_across_three_pages() -> None:
    """Pages are fetched via nextLink unchanged, each with the same maxpagesize."""
    pages = {
        None: {
            "value": [{"name": "A", "revenue": 1.10}],
            "@odata.nextLink": next_link(2),
        },
        2: {"value": [{"name": "B", "revenue": 2.20}], "@odata.nextLink": next_link(3)},
        3: {"value": [{"name": "C", "revenue": 1234.5650}]},
    }

    def answer(request: httpx.Request) -> httpx.Response:
        match = re.search(r"pagenumber=%22(\d)%22", str(request.url))
        page = int(match.group(1)) if match else None
        return json_response(200, pages[page])

    recorder = Recorder(answer)
    client = make_client(recorder)

    rows = [
        row
        async for row in client.query(
            "accounts", select=["name", "revenue"], page_size=2
        )
    ]

    assert [row["name"] for row in rows] == ["A", "B", "C"]
    assert Decimal("1234.5650") == rows[2]["revenue"]
    assert isinstance(rows[0]["revenue"], Decimal)
    urls = [str(r.url) for r in recorder.requests]
    assert [f"{BASE}/accounts?$select=name,revenue", next_link(2), next_link(3)] == urls
    assert [r.headers["Prefer"] for r in recorder.requests] == [
        "odata.maxpagesize=2"
    ] * 3


async def test_query_sends_the_standard_headers_on_every_page() -> None:
    """Reads carry the OData versions, JSON Accept, If-None-Match: null and a token."""
    recorder = Recorder(lambda request: json_response(200, {"value": []}))
    client = make_client(recorder)

    assert await client.query_all("accounts") == []

    headers = recorder.requests[0].headers
    assert headers["OData-MaxVersion"] == "4.0"
    assert headers["OData-Version"] == "4.0"
    assert headers["Accept"] == "application/json"
    assert headers["If-None-Match"] == "null"
    assert headers["Authorization"] == "Bearer token-1"
    assert headers["Prefer"] == "odata.maxpagesize=5000"


async def test_a_next_link_to_another_host_is_sent_to_the_configured_one() -> None:
    """The token never leaves the configured host; the link's path and query stay."""
    foreign = next_link(2).replace(ORG, "https://contoso.api.crm.dynamics.com")
    answers = iter(
        [
            json_response(200, {"value": [{"n": 1}], "@odata.nextLink": foreign}),
            json_response(200, {"value": [{"n": 2}]}),
        ]
    )
    recorder = Recorder(lambda request: next(answers))

    rows = await make_client(recorder).query_all("accounts")

    assert [row["n"] for row in rows] == [1, 2]
    assert next_link(2) == str(recorder.requests[1].url)


async def test_filter_built_with_quote_is_encoded_so_the_server_reads_it_back() -> None:
    """A $filter holding O'Brien & Sons arrives percent-encoded and decodes exactly."""
    recorder = Recorder(lambda request: json_response(200, {"value": []}))
    text = "name eq " + odata.quote("O'Brien & Sons")

    await make_client(recorder).query_all("accounts", filter=text, orderby="name asc")

    query = recorder.requests[0].url.query
    assert query == b"$filter=name%20eq%20'O''Brien%20%26%20Sons'&$orderby=name%20asc"
    assert {"$filter": [text], "$orderby": ["name asc"]} == parse_qs(query.decode())


async def test_top_goes_without_a_page_size() -> None:
    """$top is sent without maxpagesize, which Dataverse would let override it."""
    recorder = Recorder(lambda request: json_response(200, {"value": [{"n": 1}]}))

    await make_client(recorder).query_all("accounts", top=3)

    assert recorder.requests[0].url.query == b"$top=3"
    assert "Prefer" not in recorder.requests[0].headers


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"top": 3, "page_size": 10}, "exclude", id="top-and-page-size"),
        pytest.param({"page_size": 5001}, "page_size", id="page-too-large"),
        pytest.param({"top": 0}, "top", id="top-zero"),
    ],
)
async def test_query_refuses_conflicting_paging_options(
    options: dict[str, int], message: str
) -> None:
    """top with page_size, pages over 5000 and top 0 are refused before sending."""
    recorder = Recorder(lambda request: json_response(200, {"value": []}))

    with pytest.raises(ValueError, match=message):
        await make_client(recorder).query_all("accounts", **options)

    assert recorder.requests == []


async def test_annotations_are_asked_for_with_the_page_size() -> None:
    """annotations=True adds include-annotations="*" to the same Prefer header."""
    recorder = Recorder(lambda request: json_response(200, {"value": []}))

    await make_client(recorder).query_all("accounts", annotations=True, page_size=50)

    expected = 'odata.maxpagesize=50,odata.include-annotations="*"'
    assert expected == recorder.requests[0].headers["Prefer"]


async def test_query_models_selects_exactly_the_model_columns() -> None:
    """A typed query selects the model's columns and yields parsed models."""
    row = {"pobc_countryid": ACCOUNT_ID, "pobc_name": "Germany", "pobc_isocode": "DE"}
    recorder = Recorder(lambda request: json_response(200, {"value": [row]}))

    countries = [c async for c in make_client(recorder).query_models(Country)]

    assert [c.pobc_isocode for c in countries] == ["DE"]
    query = parse_qs(recorder.requests[0].url.query.decode())
    assert [",".join(Country.select())] == query["$select"]


async def test_get_reads_one_row_by_id() -> None:
    """get addresses entity_set(guid) with $select and returns the row."""
    row = {"accountid": ACCOUNT_ID, "name": "Contoso", "revenue": 10.5}
    recorder = Recorder(lambda request: json_response(200, row))

    result = await make_client(recorder).get(
        "accounts", ACCOUNT_ID.upper(), select=["name"]
    )

    assert Decimal("10.5") == result["revenue"]
    assert f"{BASE}/accounts({ACCOUNT_ID})?$select=name" == str(
        recorder.requests[0].url
    )


async def test_get_of_a_missing_row_raises_not_found() -> None:
    """A 404 from Dataverse becomes NotFoundError carrying the record id."""
    message = f"account With Id = {ACCOUNT_ID} Does Not Exist"
    recorder = Recorder(lambda request: error_response(404, "0x80040217", message))

    with pytest.raises(errors.NotFoundError) as raised:
        await make_client(recorder).get("accounts", ACCOUNT_ID)

    assert raised.value.record_id == ACCOUNT_ID


async def test_get_by_key_uses_the_alternate_key_url() -> None:
    """Alternate keys become (name='value') in the path, percent-encoded."""
    row = {"pobc_countryid": ACCOUNT_ID, "pobc_isocode": "DE"}
    recorder = Recorder(lambda request: json_response(200, row))
    client = make_client(recorder)

    await client.get_by_key("pobc_countries", {"pobc_isocode": "DE"})
    await client.get_by_key("accounts", {"name": "O'Brien Sons", "x": 1})

    paths = [r.url.raw_path for r in recorder.requests]
    assert paths[0] == b"/api/data/v9.2/pobc_countries(pobc_isocode='DE')"
    assert paths[1] == b"/api/data/v9.2/accounts(name='O''Brien%20Sons',x=1)"


async def test_get_model_parses_the_row_as_the_model() -> None:
    """get_model selects the model's columns and returns the parsed model."""
    row = {"invoiceid": OTHER_ID, "totalamount": 1190.0000, "name": "INV-1"}
    recorder = Recorder(lambda request: json_response(200, row))

    invoice = await make_client(recorder).get_model(Invoice, OTHER_ID)

    assert Decimal("1190.0000") == invoice.totalamount
    assert [",".join(Invoice.select())] == parse_qs(
        recorder.requests[0].url.query.decode()
    )["$select"]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.get("accounts", "not-a-guid"), id="get-bad-id"),
        pytest.param(
            lambda c: c.get("accounts/x", ACCOUNT_ID), id="get-bad-entity-set"
        ),
        pytest.param(
            lambda c: c.get_by_key("accounts", {"name": "O'Brien & Sons"}),
            id="key-with-ampersand",
        ),
        pytest.param(
            lambda c: c.update("accounts", "1", {"name": "x"}), id="update-bad-id"
        ),
        pytest.param(
            lambda c: c.delete("accounts", "{" + ACCOUNT_ID + "}"), id="delete-braces"
        ),
        pytest.param(
            lambda c: c.upsert("accounts", "x", {}, mode="any"), id="upsert-bad-id"
        ),
        pytest.param(lambda c: c.create("ac counts", {}), id="create-bad-entity-set"),
    ],
)
async def test_bad_ids_and_names_are_refused_before_sending(call: object) -> None:
    """Invalid GUIDs, entity sets and key values raise PayloadValidationError."""
    recorder = Recorder(lambda request: json_response(200, {}))

    with pytest.raises(errors.PayloadValidationError):
        await call(make_client(recorder))  # type: ignore[operator]

    assert recorder.requests == []


async def test_create_returns_the_id_from_odata_entity_id() -> None:
    """A 204 create yields the GUID at the end of OData-EntityId, lower case."""
    recorder = Recorder(
        lambda request: no_content(
            **{"OData-EntityId": entity_id_header(OTHER_ID.upper())}
        )
    )

    new_id = await make_client(recorder).create(
        "accounts", {"name": "Contoso", "revenue": Decimal("0.10")}
    )

    assert new_id == OTHER_ID
    request = recorder.requests[0]
    assert ("POST", f"{BASE}/accounts") == (request.method, str(request.url))
    assert request.headers["Content-Type"] == "application/json"
    assert request.content == b'{"name":"Contoso","revenue":0.10}'
    assert "If-None-Match" not in request.headers


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param(
            {"OData-EntityId": f"{BASE}/accounts(accountnumber='A')"}, id="key-form"
        ),
    ],
)
async def test_create_without_a_usable_entity_id_raises(
    headers: dict[str, str],
) -> None:
    """A create answer without a GUID in OData-EntityId is an unexpected response."""
    recorder = Recorder(lambda request: no_content(**headers))

    with pytest.raises(errors.IntegrationError, match="OData-EntityId") as raised:
        await make_client(recorder).create("accounts", {"name": "Contoso"})

    assert raised.value.code == "unexpected_response"


async def test_create_with_return_representation_returns_the_row() -> None:
    """return_representation sends Prefer: return=representation and returns the row."""
    row = {"accountid": OTHER_ID, "name": "Contoso", "revenue": 5000000.0000}
    recorder = Recorder(lambda request: json_response(201, row))

    created = await make_client(recorder).create(
        "accounts", {"name": "Contoso"}, return_representation=True
    )

    assert Decimal("5000000.0000") == created["revenue"]
    assert recorder.requests[0].headers["Prefer"] == "return=representation"


@pytest.mark.parametrize(
    ("etag", "expected"),
    [
        pytest.param(None, "*", id="default-star"),
        pytest.param('W/"470867"', 'W/"470867"', id="given-etag"),
    ],
)
async def test_update_sends_if_match(etag: str | None, expected: str) -> None:
    """An update carries If-Match * (never creating) or the row's ETag."""
    recorder = Recorder(lambda request: no_content())
    client = make_client(recorder)

    if etag is None:
        await client.update("accounts", ACCOUNT_ID, {"name": "B"})
    else:
        await client.update("accounts", ACCOUNT_ID, {"name": "B"}, etag=etag)

    request = recorder.requests[0]
    assert ("PATCH", expected) == (request.method, request.headers["If-Match"])
    assert f"{BASE}/accounts({ACCOUNT_ID})" == str(request.url)
    assert "If-None-Match" not in request.headers


async def test_update_with_a_stale_etag_raises_concurrency_error() -> None:
    """412 on an ETag mismatch is a ConcurrencyError: re-read and try again."""
    message = (
        "The version of the existing record doesn't match the RowVersion "
        "property provided."
    )
    recorder = Recorder(lambda request: error_response(412, "0x80060882", message))

    with pytest.raises(errors.ConcurrencyError):
        await make_client(recorder).update("invoices", OTHER_ID, {"x": 1}, etag='W/"1"')


@pytest.mark.parametrize(
    ("mode", "response", "error"),
    [
        pytest.param(
            "create_only",
            error_response(
                412, "0x80060892", "A record with matching key values already exists."
            ),
            errors.AlreadyExistsError,
            id="create-only-exists",
        ),
        pytest.param(
            "create_only",
            error_response(412, "", "Precondition Failed"),
            errors.AlreadyExistsError,
            id="create-only-exists-odd-message",
        ),
        pytest.param(
            "update_only",
            error_response(
                404, "0x80040217", "pobc_country With Id = x Does Not Exist"
            ),
            errors.NotFoundError,
            id="update-only-missing",
        ),
    ],
)
async def test_conditional_upserts_map_refusals_to_errors(
    mode: str, response: httpx.Response, error: type[errors.IntegrationError]
) -> None:
    """Create-only on an existing key and update-only on a missing row raise."""
    recorder = Recorder(lambda request: response)

    with pytest.raises(error) as raised:
        await make_client(recorder).upsert(
            "pobc_countries",
            {"pobc_isocode": "DE"},
            {"pobc_name": "Germany"},
            mode=mode,  # type: ignore[arg-type]
        )

    assert raised.value.status == response.status_code


@pytest.mark.parametrize(
    ("mode", "header", "value"),
    [
        pytest.param("create_only", "If-None-Match", "*", id="create-only"),
        pytest.param("update_only", "If-Match", "*", id="update-only"),
    ],
)
async def test_upsert_returns_the_record_id(mode: str, header: str, value: str) -> None:
    """A successful upsert returns the id from OData-EntityId."""
    recorder = Recorder(
        lambda request: no_content(
            **{"OData-EntityId": entity_id_header(OTHER_ID, "pobc_countries")}
        )
    )

    upserted = await make_client(recorder).upsert(
        "pobc_countries",
        {"pobc_isocode": "DE"},
        {"pobc_name": "Germany"},
        mode=mode,  # type: ignore[arg-type]
    )

    assert upserted == OTHER_ID
    request = recorder.requests[0]
    assert value == request.headers[header]
    assert request.url.raw_path == b"/api/data/v9.2/pobc_countries(pobc_isocode='DE')"


async def test_upsert_any_sends_no_condition() -> None:
    """mode='any' sends neither If-Match nor If-None-Match."""
    recorder = Recorder(lambda request: no_content())

    upserted = await make_client(recorder).upsert(
        "accounts", ACCOUNT_ID, {"name": "A"}, mode="any"
    )

    assert upserted == ACCOUNT_ID
    assert {"if-match", "if-none-match"}.isdisjoint(recorder.requests[0].headers.keys())


async def test_delete_sends_if_match() -> None:
    """A delete addresses the row and carries If-Match."""
    recorder = Recorder(lambda request: no_content())

    await make_client(recorder).delete("accounts", ACCOUNT_ID, etag='W/"9"')

    request = recorder.requests[0]
    assert (request.method, request.headers["If-Match"]) == ("DELETE", 'W/"9"')


async def test_who_am_i_returns_the_three_ids() -> None:
    """WhoAmI yields the user, business unit and organization ids."""
    body = {
        "@odata.context": f"{BASE}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
        "BusinessUnitId": ACCOUNT_ID,
        "UserId": OTHER_ID.upper(),
        "OrganizationId": "883278f5-07af-45eb-a0bc-3fea67caa544",
    }
    recorder = Recorder(lambda request: json_response(200, body))

    me = await make_client(recorder).who_am_i()

    assert (me.user_id, me.business_unit_id) == (OTHER_ID, ACCOUNT_ID)
    assert me.organization_id == "883278f5-07af-45eb-a0bc-3fea67caa544"
    assert f"{BASE}/WhoAmI" == str(recorder.requests[0].url)


def batch_answer(request: httpx.Request) -> httpx.Response:
    """Answer each create part of a $batch with a 204 and a fresh id."""
    count = request.content.count(b"Content-Transfer-Encoding: binary")
    parts = []
    for n in range(count):
        entity = f"00000000-0000-0000-0000-{n:012d}"
        parts.append(
            "--batchresponse_r\r\nContent-Type: application/http\r\n"
            "Content-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 204 No Content\r\n"
            f"OData-EntityId: {BASE}/accounts({entity})\r\n\r\n\r\n"
        )
    body = "".join(parts) + "--batchresponse_r--\r\n"
    return httpx.Response(
        200,
        content=body.encode(),
        headers={"Content-Type": "multipart/mixed; boundary=batchresponse_r"},
    )


async def test_batch_posts_multipart_with_continue_on_error() -> None:
    """A batch is POSTed to $batch as multipart/mixed, asking to continue on error."""
    recorder = Recorder(batch_answer)
    operations = [Operation.create("accounts", {"name": f"A{n}"}) for n in range(3)]

    results = await make_client(recorder).batch(operations)

    request = recorder.requests[0]
    assert ("POST", f"{BASE}/$batch") == (request.method, str(request.url))
    assert request.headers["Content-Type"] == 'multipart/mixed; boundary="batch_id1"'
    assert request.headers["Prefer"] == "odata.continue-on-error"
    assert request.headers["OData-Version"] == "4.0"
    assert request.content.startswith(b"--batch_id1\r\n")
    assert request.content.endswith(b"--batch_id1--\r\n")
    assert [r.index for r in results] == [0, 1, 2]
    assert all(r.ok and r.entity_id for r in results)


async def test_batch_splits_more_than_1000_operations() -> None:
    """2500 operations go out as batches of 1000, 1000 and 500, indexed throughout."""
    recorder = Recorder(batch_answer)
    operations = [Operation.create("accounts", {"name": str(n)}) for n in range(2500)]

    results = await make_client(recorder).batch(operations, continue_on_error=False)

    sizes = [
        r.content.count(b"\r\nPOST /api/data/v9.2/accounts HTTP/1.1\r\n")
        for r in recorder.requests
    ]
    assert sizes == [1000, 1000, 500]
    assert list(range(2500)) == [r.index for r in results]
    assert all("Prefer" not in r.headers for r in recorder.requests)


async def test_atomic_batch_over_1000_is_refused_without_sending() -> None:
    """An atomic batch cannot be split, so more than 1000 operations are refused."""
    recorder = Recorder(batch_answer)
    operations = [Operation.create("accounts", {"name": str(n)}) for n in range(1001)]

    with pytest.raises(errors.PayloadValidationError, match="at most 1000"):
        await make_client(recorder).batch(operations, atomic=True)

    assert recorder.requests == []


async def test_atomic_batch_wraps_operations_in_one_change_set() -> None:
    """atomic=True sends one changeset_ boundary with a Content-ID per part."""
    recorder = Recorder(batch_answer)
    operations = [
        Operation.create("accounts", {"name": "A"}),
        Operation.create("accounts", {"name": "B"}),
    ]

    results = await make_client(recorder).batch(operations, atomic=True)

    body = recorder.requests[0].content
    assert b'Content-Type: multipart/mixed; boundary="changeset_id2"\r\n' in body
    assert re.findall(rb"Content-ID: \d", body) == [b"Content-ID: 1", b"Content-ID: 2"]
    assert len(results) == 2


async def test_a_failed_whole_batch_raises_the_classified_error() -> None:
    """When Dataverse refuses the whole batch, the status decides the exception."""
    recorder = Recorder(
        lambda request: error_response(
            403, "0x80040220", "Principal user is missing prvCreateAccount privilege"
        )
    )

    with pytest.raises(errors.AccessDeniedError):
        await make_client(recorder).batch([Operation.create("accounts", {"name": "A"})])


def test_a_base_url_without_the_api_path_is_a_configuration_error() -> None:
    """The client refuses a ServiceClient not pointed at /api/data/v9.2."""
    with pytest.raises(errors.ConfigurationError, match=re.escape("/api/data/v9.2")):
        DataverseClient(make_service(lambda request: httpx.Response(200), base_url=ORG))

    assert service_url(ORG + "/") == BASE


async def test_send_runs_a_bound_action() -> None:
    """send() passes any operation through with the standard headers."""
    recorder = Recorder(lambda request: json_response(200, {"ok": True}))
    action = Operation(
        "POST", f"invoices({OTHER_ID})/Microsoft.Dynamics.CRM.msdyn_ConfirmInvoice", {}
    )

    response = await make_client(recorder).send(action)

    assert _json.loads(response.content) == {"ok": True}
    assert recorder.requests[0].headers["OData-MaxVersion"] == "4.0"


async def test_get_model_can_ask_for_the_lookup_target_annotation() -> None:
    """annotations= on get_model fills the polymorphic lookup's target table."""
    annotation = "Microsoft.Dynamics.CRM.lookuplogicalname"
    row = {
        "invoiceid": OTHER_ID,
        "_customerid_value": ACCOUNT_ID,
        f"_customerid_value@{annotation}": "account",
    }
    recorder = Recorder(lambda request: json_response(200, row))

    invoice = await make_client(recorder).get_model(
        Invoice, OTHER_ID, annotations=annotation
    )

    assert invoice.customerid_type == "account"
    prefer = recorder.requests[0].headers["Prefer"]
    assert prefer == f'odata.include-annotations="{annotation}"'
