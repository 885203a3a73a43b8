"""BC emulator: addressing, auth, error bodies, ETags, customers and masters."""

from __future__ import annotations

import re

import httpx
import pytest

from pointegration.emulators.businesscentral import BusinessCentralEmulator
from tests.emulators.test_bc_fixtures import (
    TOKEN,
    Bc,
    bc,
    emulator,
    error_of,
    instant,
    make_emulator,
    open_bc,
)

__all__ = ["bc", "emulator"]

_CORRELATION = re.compile(r"  CorrelationId:  [0-9a-f-]{36}\.$")

# Microsoft's customer create example (learn: api/dynamics_customer_create),
# with the example's tax area / shipment / payment method ids left empty
# because those records do not exist in the emulated company.
DOCS_CUSTOMER = {
    "number": "10000",
    "displayName": "Coho Winery",
    "type": "Company",
    "addressLine1": "192 Market Square",
    "addressLine2": "",
    "city": "Atlanta",
    "state": "GA",
    "country": "US",
    "postalCode": "31772",
    "phoneNumber": "",
    "email": "jim.glynn@cronuscorp.net",
    "website": "",
    "taxLiable": True,
    "taxAreaId": "00000000-0000-0000-0000-000000000000",
    "taxRegistrationNumber": "",
    "currencyId": "00000000-0000-0000-0000-000000000000",
    "currencyCode": "USD",
    "paymentTermsId": "00000000-0000-0000-0000-000000000000",
    "shipmentMethodId": "00000000-0000-0000-0000-000000000000",
    "paymentMethodId": "00000000-0000-0000-0000-000000000000",
    "blocked": " ",
}


async def test_a_request_without_a_bearer_token_gets_bc_401(
    emulator: BusinessCentralEmulator,
) -> None:
    """No Authorization header: 401 Authentication_InvalidCredentials + challenge."""
    transport = httpx.ASGITransport(app=emulator.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://bc.test") as c:
        response = await c.get(
            f"/v2.0/{emulator.tenant_id}/production/api/v2.0/companies"
        )

    status, code, message = error_of(response)
    assert (status, code) == (401, "Authentication_InvalidCredentials")
    assert message == "The server has rejected the client credentials."
    assert _CORRELATION.search(response.json()["error"]["message"])
    assert response.headers["www-authenticate"].startswith("Bearer ")


async def test_a_wrong_token_is_refused_too(emulator: BusinessCentralEmulator) -> None:
    """A bearer token other than the configured one is a 401."""
    transport = httpx.ASGITransport(app=emulator.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://bc.test") as c:
        response = await c.get(
            f"/v2.0/{emulator.tenant_id}/production/api/v2.0/companies",
            headers={"Authorization": f"Bearer {TOKEN}x"},
        )

    assert response.status_code == 401


async def test_companies_lists_the_one_company(bc: Bc) -> None:
    """GET companies returns the emulated company with its id."""
    response = await bc.get(f"{bc.root}/companies")

    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"].endswith("/api/v2.0/$metadata#companies")
    assert [c["id"] for c in body["value"]] == [bc.emulator.company_id]
    assert body["value"][0]["name"] == "CRONUS USA, Inc."


async def test_the_environment_may_be_given_without_the_tenant(bc: Bc) -> None:
    """``/v2.0/{environment}/api/v2.0`` addresses the same environment."""
    response = await bc.get("/v2.0/production/api/v2.0/companies")

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        pytest.param(
            "/v2.0/{tenant}/sandbox/api/v2.0/companies",
            404,
            "Internal_TenantUnavailable",
            id="unknown-environment",
        ),
        pytest.param(
            "/v2.0/11111111-2222-3333-4444-555555555555/production/api/v2.0/companies",
            404,
            "Internal_TenantUnavailable",
            id="unknown-tenant",
        ),
        pytest.param(
            "{root}/companies(11111111-2222-3333-4444-555555555555)/customers",
            404,
            "Internal_CompanyNotFound",
            id="unknown-company",
        ),
        pytest.param(
            "{company}/vendors",
            404,
            "BadRequest_ResourceNotFound",
            id="unknown-entity-set",
        ),
        pytest.param(
            "{company}/customers(not-a-guid)",
            400,
            "BadRequest_NotFound",
            id="malformed-key",
        ),
        pytest.param(
            "{company}/postCodes",
            404,
            "BadRequest_ResourceNotFound",
            id="postcodes-not-on-the-standard-api",
        ),
        pytest.param(
            "{company}/customers?$frobnicate=1",
            400,
            "BadRequest",
            id="unknown-query-option",
        ),
    ],
)
async def test_wrong_addresses_get_bc_errors(
    bc: Bc,
    path: str,
    status: int,
    code: str,
) -> None:
    """Unknown tenant, environment, company or segment answer BC's error codes."""
    url = path.format(tenant=bc.emulator.tenant_id, root=bc.root, company=bc.company)
    response = await bc.get(url)

    assert error_of(response)[:2] == (status, code)


async def test_an_unknown_segment_names_the_segment(bc: Bc) -> None:
    """The 404 message quotes the segment BC could not resolve."""
    response = await bc.get("vendors")

    assert error_of(response)[2] == "Resource not found for the segment 'vendors'."


async def test_microsofts_customer_example_is_created(bc: Bc) -> None:
    """The docs' create body gives 201 with the number kept and blank enum encoded."""
    response = await bc.post("customers", DOCS_CUSTOMER)

    assert response.status_code == 201, response.text
    customer = response.json()
    assert customer["number"] == "10000"
    assert customer["blocked"] == "_x0020_"
    assert customer["currencyCode"] == "USD"
    assert customer["@odata.etag"].startswith('W/"JzI0O')
    assert response.headers["etag"] == customer["@odata.etag"]
    assert response.headers["location"].endswith(f"/customers({customer['id']})")


async def test_a_blank_number_takes_the_next_number_of_the_series(bc: Bc) -> None:
    """Customers without a number get C00010, C00020, ... from the series."""
    first = await bc.customer()
    second = await bc.customer(displayName="Fabrikam")

    assert (first["number"], second["number"]) == ("C00010", "C00020")


async def test_code_fields_are_upper_cased_on_write(bc: Bc) -> None:
    """A Code[20] number and a Code[10] country are stored upper-case."""
    customer = await bc.customer(number="c-lower", country="us")

    assert (customer["number"], customer["country"]) == ("C-LOWER", "US")


async def test_a_duplicate_number_is_the_platforms_already_exists_error(bc: Bc) -> None:
    """A second customer with an existing number: Internal_EntityWithSameKeyExists."""
    await bc.customer(number="C1")
    response = await bc.post("customers", {"displayName": "Again", "number": "C1"})

    assert error_of(response) == (
        400,
        "Internal_EntityWithSameKeyExists",
        "The record in table Customer already exists. "
        "Identification fields and values: No.='C1'",
    )


async def test_get_by_id_and_unknown_id(bc: Bc) -> None:
    """A known id reads the entity; an unknown id is 404 Internal_RecordNotFound."""
    customer = await bc.customer()
    found = await bc.get(f"customers({customer['id']})")
    missing = await bc.get("customers(11111111-2222-3333-4444-555555555555)")

    assert found.json()["displayName"] == "Contoso Ltd."
    assert found.json()["@odata.context"].endswith("/customers/$entity")
    assert error_of(missing)[:2] == (404, "Internal_RecordNotFound")


async def test_patch_needs_if_match(bc: Bc) -> None:
    """PATCH without If-Match is BadRequest_InvalidToken."""
    customer = await bc.customer()
    response = await bc.patch(f"customers({customer['id']})", {"city": "Oslo"}, None)

    assert error_of(response) == (
        400,
        "BadRequest_InvalidToken",
        "Could not validate the client concurrency token required by the service. "
        "Please provide a valid token in the client request.",
    )


async def test_patch_with_the_current_etag_returns_the_whole_entity(bc: Bc) -> None:
    """PATCH with the read ETag: 200, full entity, a new ETag, a later timestamp."""
    customer = await bc.customer()
    path = f"customers({customer['id']})"
    response = await bc.patch(path, {"city": "Oslo"}, customer["@odata.etag"])

    assert response.status_code == 200
    changed = response.json()
    assert changed["city"] == "Oslo"
    assert changed["displayName"] == "Contoso Ltd."
    assert changed["@odata.etag"] != customer["@odata.etag"]
    assert instant(changed["lastModifiedDateTime"]) > instant(
        customer["lastModifiedDateTime"]
    )


async def test_a_stale_etag_is_request_entity_changed(bc: Bc) -> None:
    """PATCH or DELETE with an outdated ETag: 409 Request_EntityChanged."""
    customer = await bc.customer()
    path = f"customers({customer['id']})"
    await bc.patch(path, {"city": "Oslo"})
    stale_patch = await bc.patch(path, {"city": "Rome"}, customer["@odata.etag"])
    stale_delete = await bc.delete(path, customer["@odata.etag"])

    expected = (
        409,
        "Request_EntityChanged",
        "Another user has already changed the record.",
    )
    assert error_of(stale_patch) == expected
    assert error_of(stale_delete) == expected


async def test_delete_needs_if_match_and_then_removes(bc: Bc) -> None:
    """DELETE without If-Match is refused; with ``*`` it is 204 and the row goes."""
    customer = await bc.customer()
    path = f"customers({customer['id']})"
    refused = await bc.delete(path, None)
    deleted = await bc.delete(path)
    after = await bc.get(path)

    assert error_of(refused)[:2] == (400, "BadRequest_InvalidToken")
    assert deleted.status_code == 204
    assert after.status_code == 404


async def test_a_customers_company_contact_is_created_and_linked(bc: Bc) -> None:
    """POST customers creates a Company contact with business relation Customer."""
    customer = await bc.customer(city="Atlanta")
    info = (await bc.get(f"customers({customer['id']})/contactsInformation")).json()
    contact_row = info["value"][0]
    contact = (await bc.get(f"contacts({contact_row['contactId']})")).json()

    assert contact_row["contactType"] == "Company"
    assert contact_row["relatedType"] == "Customer"
    assert contact_row["relatedId"] == customer["id"]
    assert contact["number"] == contact_row["contactNumber"] == "CT000010"
    assert contact["contactBusinessRelation"] == "Customer"
    assert (contact["displayName"], contact["city"]) == ("Contoso Ltd.", "Atlanta")


async def test_a_person_under_the_company_contact_is_related_to_the_customer(
    bc: Bc,
) -> None:
    """A Person under the company contact shows in contactsInformation."""
    customer = await bc.customer(addressLine1="1 Main St")
    path = f"customers({customer['id']})/contactsInformation"
    company = (await bc.get(path)).json()["value"][0]
    person = await bc.created(
        "contacts",
        {
            "type": "Person",
            "displayName": "Jim Glynn",
            "companyNumber": company["contactNumber"],
        },
    )
    rows = (await bc.get(path)).json()["value"]

    assert person["contactBusinessRelation"] == "Customer"
    assert person["companyName"] == "Contoso Ltd."
    assert person["addressLine1"] == "1 Main St"
    assert [r["contactType"] for r in rows] == ["Company", "Person"]


async def test_a_person_under_an_unknown_company_is_a_table_relation_error(
    bc: Bc,
) -> None:
    """companyNumber must name a Company contact."""
    response = await bc.post(
        "contacts",
        {"type": "Person", "displayName": "Jim", "companyNumber": "CT999999"},
    )

    assert error_of(response) == (
        400,
        "Internal_InvalidTableRelation",
        "The field Company No. of table Contact contains a value (CT999999) that "
        "cannot be found in the related table (Contact).",
    )


async def test_contacts_information_at_the_top_needs_its_filter(bc: Bc) -> None:
    """Top-level contactsInformation without relatedId/relatedType is refused."""
    customer = await bc.customer()
    bare = await bc.get("contactsInformation")
    filtered = await bc.get(
        "contactsInformation",
        params={
            "$filter": f"relatedId eq {customer['id']} and relatedType eq 'Customer'"
        },
    )

    assert error_of(bare) == (
        400,
        "Application_DialogException",
        "id type not specified.",
    )
    assert [r["relatedId"] for r in filtered.json()["value"]] == [customer["id"]]


async def test_customer_currency_code_shows_lcy_and_accepts_lcy(bc: Bc) -> None:
    """A blank currency reads as the LCY code; writing the LCY code stores blank."""
    lcy = await bc.customer(currencyCode="USD")
    eur = await bc.customer(displayName="Euro Ltd.", currencyCode="EUR")
    currencies = (
        await bc.get("currencies", params={"$filter": "code eq 'EUR'"})
    ).json()

    assert lcy["currencyCode"] == "USD"
    assert lcy["currencyId"] == "00000000-0000-0000-0000-000000000000"
    assert eur["currencyCode"] == "EUR"
    assert eur["currencyId"] == currencies["value"][0]["id"]


async def test_a_post_code_fills_city_county_and_country(bc: Bc) -> None:
    """A known post code overwrites city, state and country (ValidatePostCode)."""
    await bc.created(
        f"{bc.custom_company}/postCodes",
        {
            "code": "8000",
            "city": "Aarhus C",
            "countryRegionCode": "DK",
            "county": "Midt",
        },
    )
    customer = await bc.customer(postalCode="8000", city="Wrong")

    assert (customer["city"], customer["state"], customer["country"]) == (
        "Aarhus C",
        "Midt",
        "DK",
    )


async def test_post_codes_are_keyed_by_code_and_city(bc: Bc) -> None:
    """The same code in two cities is fine; the same code and city is a duplicate."""
    path = f"{bc.custom_company}/postCodes"
    await bc.created(path, {"code": "2100", "city": "Copenhagen"})
    await bc.created(path, {"code": "2100", "city": "Kobenhavn O"})
    again = await bc.post(path, {"code": "2100", "city": "COPENHAGEN"})
    listed = (await bc.get(path)).json()["value"]

    assert error_of(again) == (
        400,
        "Internal_EntityWithSameKeyExists",
        "The record in table Post Code already exists. Identification fields and "
        "values: Code='2100',City='COPENHAGEN'",
    )
    assert [p["city"] for p in listed] == ["Copenhagen", "Kobenhavn O"]


async def test_countries_can_be_created_renamed_and_are_unique(bc: Bc) -> None:
    """Microsoft's country example is created; a second 'AE' is a duplicate."""
    created = await bc.created(
        "countriesRegions",
        {"code": "AE", "displayName": "United Arab Emirates"},
    )
    again = await bc.post("countriesRegions", {"code": "ae"})
    renamed = await bc.patch(f"countriesRegions({created['id']})", {"code": "AR"})

    assert created["addressFormat"] == "City_x002B_Post_x0020_Code"
    assert error_of(again)[1] == "Internal_EntityWithSameKeyExists"
    assert renamed.json()["code"] == "AR"


async def test_accounts_and_companies_are_read_only(bc: Bc) -> None:
    """Writes to accounts or companies are refused with 405."""
    account = (await bc.get("accounts")).json()["value"][0]
    post = await bc.post("accounts", {"number": "9999"})
    patch = await bc.patch(f"accounts({account['id']})", {"displayName": "x"})
    company = await bc.patch(f"{bc.root}/companies({bc.emulator.company_id})", {})

    for response in (post, patch, company):
        assert error_of(response)[:2] == (405, "BadRequest_MethodNotAllowed")


async def test_the_same_seed_gives_the_same_ids() -> None:
    """Two emulators with one seed produce identical ids for identical requests."""
    ids = []
    for _ in range(2):
        emulator = make_emulator(seed=7)
        async for client in open_bc(emulator):
            customer = await client.customer()
            ids.append((emulator.company_id, customer["id"]))

    assert ids[0] == ids[1]


async def test_reset_returns_to_the_seeded_state(bc: Bc) -> None:
    """reset() removes created rows and restores the seeded ids."""
    before = (await bc.get("items")).json()["value"]
    await bc.customer()
    bc.emulator.reset()
    customers = (await bc.get("customers")).json()["value"]
    after = (await bc.get("items")).json()["value"]

    assert customers == []
    assert [i["id"] for i in after] == [i["id"] for i in before]


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        pytest.param(
            {"number": "X"},
            "Application_DialogException",
            'A "displayName" must be provided.',
            id="display-name-missing",
        ),
        pytest.param(
            {"displayName": "  "},
            "Application_DialogException",
            'The blank "displayName" is not allowed.',
            id="display-name-blank",
        ),
        pytest.param(
            {"displayName": "A", "country": "XX"},
            "Internal_InvalidTableRelation",
            "The field Country/Region Code of table Customer contains a value (XX) "
            "that cannot be found in the related table (Country/Region).",
            id="unknown-country",
        ),
        pytest.param(
            {"displayName": "A", "currencyCode": "XYZ"},
            "Application_DialogException",
            'The "currencyCode" does not match to a Currency.',
            id="unknown-currency-code",
        ),
        pytest.param(
            {"displayName": "A", "currencyId": "11111111-2222-3333-4444-555555555555"},
            "Application_DialogException",
            'The "currencyId" does not match to a Currency.',
            id="unknown-currency-id",
        ),
        pytest.param(
            {
                "displayName": "A",
                "paymentTermsId": "11111111-2222-3333-4444-555555555555",
            },
            "Application_DialogException",
            'The "paymentTermsId" does not match to a Payment Terms.',
            id="unknown-payment-terms",
        ),
        pytest.param(
            {"displayName": "A", "blocked": "Sometimes"},
            "Unknown",
            "'Sometimes' is not an option. The existing options are: "
            " ,Ship,Invoice,All",
            id="unknown-enum-member",
        ),
        pytest.param(
            {"displayName": "A", "creditLimit": "12.5"},
            "BadRequest",
            "Cannot convert a primitive value to the expected type 'Edm.Decimal'. "
            "See the inner exception for more details.",
            id="decimal-as-string",
        ),
        pytest.param(
            {"displayName": "A", "taxLiable": "yes"},
            "BadRequest",
            "Cannot convert a primitive value to the expected type 'Edm.Boolean'. "
            "See the inner exception for more details.",
            id="boolean-as-string",
        ),
        pytest.param(
            {"displayName": "A", "paymentTermsId": "not-a-guid"},
            "BadRequest",
            "Cannot convert a primitive value to the expected type 'Edm.Guid'. "
            "See the inner exception for more details.",
            id="malformed-guid",
        ),
        pytest.param(
            {"displayName": "A", "displayName2": "B"},
            "BadRequest",
            "The property 'displayName2' does not exist on type "
            "'Microsoft.NAV.customer'. Make sure to only use property names that "
            "are defined by the type.",
            id="unknown-property",
        ),
        pytest.param(
            {"displayName": "A", "balanceDue": 10},
            "BadRequest_InvalidOperation",
            "Control 'Balance Due' is read-only.",
            id="flowfield",
        ),
        pytest.param(
            {"displayName": "A", "phoneNumber": "call me"},
            "Application_FieldValidationException",
            "Phone No. must not contain letters in Customer No.=''.",
            id="letters-in-phone",
        ),
        pytest.param(
            {"displayName": "A", "email": "not an email"},
            "Application_DialogException",
            'The email address "not an email" is not valid.',
            id="bad-email",
        ),
    ],
)
async def test_documented_customer_failures(
    bc: Bc,
    body: dict[str, object],
    code: str,
    message: str,
) -> None:
    """Each refused customer body answers 400 with BC's code and message."""
    response = await bc.post("customers", body)
    listed = (await bc.get("customers")).json()["value"]

    assert error_of(response) == (400, code, message)
    assert listed == []


@pytest.mark.parametrize(
    ("field", "value", "edm"),
    [
        pytest.param("invoiceDate", "31-01-2024", "Edm.Date", id="date-format"),
        pytest.param("invoiceDate", "2024-02-30", "Edm.Date", id="date-impossible"),
        pytest.param("customerId", 12, "Edm.Guid", id="guid-as-number"),
        pytest.param("externalDocumentNumber", 12, "Edm.String", id="string-as-number"),
    ],
)
async def test_values_are_typed_by_the_odata_layer(
    bc: Bc,
    field: str,
    value: object,
    edm: str,
) -> None:
    """A JSON value that is not of the property's EDM type is a 400 BadRequest."""
    customer = await bc.customer()
    response = await bc.post(
        "salesInvoices", {"customerNumber": customer["number"], field: value}
    )

    assert error_of(response) == (
        400,
        "BadRequest",
        f"Cannot convert a primitive value to the expected type '{edm}'. "
        "See the inner exception for more details.",
    )


async def test_the_admin_seed_route_creates_rows_with_given_ids(bc: Bc) -> None:
    """POST /_admin/bc/seed creates customers as POSTs would, keeping given ids."""
    wanted = "11111111-2222-3333-4444-555555555555"
    response = await bc.client.post(
        "/_admin/bc/seed",
        json={"customers": [{"id": wanted, "displayName": "Seeded", "number": "S1"}]},
    )
    read = await bc.get(f"customers({wanted})")

    assert response.status_code == 200
    assert response.json()["customers"][0]["id"] == wanted
    assert read.json()["number"] == "S1"


async def test_the_admin_reset_route_empties_the_company(bc: Bc) -> None:
    """POST /_admin/bc/reset answers 204 and removes what was created."""
    await bc.customer()
    response = await bc.client.post("/_admin/bc/reset")

    assert response.status_code == 204
    assert (await bc.get("customers")).json()["value"] == []


async def test_renaming_a_customer_carries_the_number_into_invoices(bc: Bc) -> None:
    """A changed customer number shows on the customer's invoices (BC renames)."""
    customer = await bc.customer(number="OLD")
    invoice = await bc.created("salesInvoices", {"customerNumber": "OLD"})
    await bc.patch(f"customers({customer['id']})", {"number": "NEW"})
    read = (await bc.get(f"salesInvoices({invoice['id']})")).json()

    assert (read["customerNumber"], read["billToCustomerNumber"]) == ("NEW", "NEW")


async def test_renaming_a_customer_renames_its_people_s_company(bc: Bc) -> None:
    """A customer's new name reaches its company contact and that company's persons."""
    customer = await bc.customer()
    path = f"customers({customer['id']})/contactsInformation"
    company = (await bc.get(path)).json()["value"][0]
    person = await bc.created(
        "contacts",
        {
            "type": "Person",
            "displayName": "Jim",
            "companyNumber": company["contactNumber"],
        },
    )
    await bc.patch(f"customers({customer['id']})", {"displayName": "Renamed Ltd."})
    read = (await bc.get(f"contacts({person['id']})")).json()

    assert read["companyName"] == "Renamed Ltd."
