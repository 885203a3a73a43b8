"""Dataverse emulator: EntityDefinitions, provisioning an empty org, admin API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from pointegration.dataverse import schema
from pointegration.emulators.dataverse import DataverseEmulator
from tests.emulators.test_dataverse_support import API, api_client, create, new_emulator

SOLUTION = {"MSCRM.SolutionUniqueName": schema.SOLUTION_UNIQUE_NAME}


def label(text: str) -> dict[str, Any]:
    """A metadata Label body."""
    return {
        "@odata.type": "Microsoft.Dynamics.CRM.Label",
        "LocalizedLabels": [
            {
                "@odata.type": "Microsoft.Dynamics.CRM.LocalizedLabel",
                "Label": text,
                "LanguageCode": 1033,
            }
        ],
    }


def string_column(
    schema_name: str, max_length: int, primary: bool = False
) -> dict[str, Any]:
    """A StringAttributeMetadata body."""
    return {
        "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
        "AttributeType": "String",
        "AttributeTypeName": {"Value": "StringType"},
        "SchemaName": schema_name,
        "MaxLength": max_length,
        "FormatName": {"Value": "Text"},
        "IsPrimaryName": primary,
        "DisplayName": label(schema_name),
        "RequiredLevel": {"Value": "None", "CanBeChanged": True},
    }


@pytest.fixture
def emulator() -> DataverseEmulator:
    return new_emulator(provisioned=False)


@pytest.fixture
async def client(emulator: DataverseEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(emulator) as api:
        yield api


async def create_country_table(client: httpx.AsyncClient) -> httpx.Response:
    """POST the pobc_country table with its primary name column."""
    return await client.post(
        f"{API}/EntityDefinitions",
        json={
            "@odata.type": "Microsoft.Dynamics.CRM.EntityMetadata",
            "SchemaName": "pobc_Country",
            "DisplayName": label("Country/Region"),
            "DisplayCollectionName": label("Countries/Regions"),
            "OwnershipType": "UserOwned",
            "IsActivity": False,
            "HasActivities": False,
            "HasNotes": False,
            "Attributes": [string_column("pobc_Name", 50, primary=True)],
        },
        headers=SOLUTION,
    )


async def test_an_unprovisioned_org_lacks_the_schema(client: httpx.AsyncClient) -> None:
    """Without provisioning the pobc tables and columns do not exist."""
    table = await client.get(f"{API}/pobc_countries")
    column = await client.post(f"{API}/accounts", json={"pobc_bccustomerid": "x"})
    definition = await client.get(
        f"{API}/EntityDefinitions(LogicalName='pobc_country')"
    )

    assert table.status_code == 404
    assert table.json()["error"]["message"] == (
        "Resource not found for the segment 'pobc_countries'."
    )
    assert column.status_code == 400
    assert (
        "Invalid property 'pobc_bccustomerid' was found"
        in column.json()["error"]["message"]
    )
    assert definition.status_code == 404


async def test_creating_a_table_makes_its_entity_set(client: httpx.AsyncClient) -> None:
    """POST EntityDefinitions answers 204 with the MetadataId and serves the set."""
    response = await create_country_table(client)

    assert response.status_code == 204
    location = response.headers["OData-EntityId"]
    assert location.startswith("http://dv.test/api/data/v9.2/EntityDefinitions(")
    metadata = await client.get(
        f"{API}/EntityDefinitions(LogicalName='pobc_country')"
        "?$select=LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute"
    )
    body = metadata.json()
    assert location.endswith(f"({body['MetadataId']})")
    assert {k: v for k, v in body.items() if not k.startswith("@")} == {
        "MetadataId": body["MetadataId"],
        "LogicalName": "pobc_country",
        "EntitySetName": "pobc_countries",
        "PrimaryIdAttribute": "pobc_countryid",
        "PrimaryNameAttribute": "pobc_name",
    }
    assert (await client.get(f"{API}/pobc_countries")).status_code == 200


async def test_a_created_table_gets_message_filters(client: httpx.AsyncClient) -> None:
    """New tables can have webhook steps: their sdkmessagefilters exist."""
    await create_country_table(client)

    response = await client.get(
        f"{API}/sdkmessagefilters?$select=sdkmessagefilterid"
        "&$filter=primaryobjecttypecode eq 'pobc_country'"
        " and sdkmessageid/name eq 'Update'"
    )

    assert len(response.json()["value"]) == 1


async def test_columns_and_keys_added_through_metadata_take_effect(
    client: httpx.AsyncClient,
) -> None:
    """A new column is writable with its max length; a new key addresses rows."""
    await create_country_table(client)
    base = f"{API}/EntityDefinitions(LogicalName='pobc_country')"
    column = await client.post(
        f"{base}/Attributes", json=string_column("pobc_IsoCode", 2), headers=SOLUTION
    )
    key = await client.post(
        f"{base}/Keys",
        json={
            "@odata.type": "Microsoft.Dynamics.CRM.EntityKeyMetadata",
            "SchemaName": "pobc_key_isocode",
            "DisplayName": label("ISO code"),
            "KeyAttributes": ["pobc_isocode"],
        },
        headers=SOLUTION,
    )
    published = await client.post(f"{API}/PublishAllXml")

    assert (column.status_code, key.status_code, published.status_code) == (
        204,
        204,
        204,
    )
    assert "/Attributes(" in column.headers["OData-EntityId"]
    upsert = await client.patch(
        f"{API}/pobc_countries(pobc_isocode='DE')", json={"pobc_name": "Germany"}
    )
    too_long = await client.post(f"{API}/pobc_countries", json={"pobc_isocode": "DEU"})
    assert upsert.status_code == 204
    assert too_long.status_code == 400
    keys = (await client.get(f"{base}/Keys")).json()["value"]
    assert keys[0]["KeyAttributes"] == ["pobc_isocode"]
    assert keys[0]["EntityKeyIndexStatus"] == "Active"


async def test_relationship_definitions_create_a_bindable_lookup(
    client: httpx.AsyncClient,
) -> None:
    """POST RelationshipDefinitions adds a lookup bound through its navigation name."""
    await create_country_table(client)
    await client.post(
        f"{API}/EntityDefinitions",
        json={
            "SchemaName": "pobc_PostalCode",
            "OwnershipType": "UserOwned",
            "Attributes": [string_column("pobc_Name", 20, primary=True)],
        },
    )
    response = await client.post(
        f"{API}/RelationshipDefinitions",
        json={
            "@odata.type": "Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata",
            "SchemaName": "pobc_country_pobc_postalcode",
            "ReferencedEntity": "pobc_country",
            "ReferencedAttribute": "pobc_countryid",
            "ReferencingEntity": "pobc_postalcode",
            "CascadeConfiguration": {"Delete": "Restrict"},
            "Lookup": {
                "@odata.type": "Microsoft.Dynamics.CRM.LookupAttributeMetadata",
                "AttributeType": "Lookup",
                "AttributeTypeName": {"Value": "LookupType"},
                "SchemaName": "pobc_CountryId",
                "DisplayName": label("Country"),
            },
        },
    )
    country = await create(client, "pobc_countries", {"pobc_name": "Germany"})
    code = await create(
        client,
        "pobc_postalcodes",
        {
            "pobc_name": "10115",
            "pobc_CountryId@odata.bind": f"/pobc_countries({country})",
        },
    )

    assert response.status_code == 204
    assert "RelationshipDefinitions(" in response.headers["OData-EntityId"]
    row = (await client.get(f"{API}/pobc_postalcodes({code})")).json()
    assert row["_pobc_countryid_value"] == country
    definition = await client.get(
        f"{API}/RelationshipDefinitions(SchemaName='pobc_country_pobc_postalcode')"
    )
    assert definition.json()["ReferencingAttribute"] == "pobc_countryid"
    assert (await client.delete(f"{API}/pobc_countries({country})")).status_code == 405


async def test_columns_can_be_added_to_standard_tables(
    client: httpx.AsyncClient,
) -> None:
    """POST Attributes on account makes the coupling column writable."""
    await client.post(
        f"{API}/EntityDefinitions(LogicalName='account')/Attributes",
        json=string_column("pobc_BcCustomerId", 36),
    )

    response = await client.post(
        f"{API}/accounts", json={"name": "A", "pobc_bccustomerid": "x"}
    )

    assert response.status_code == 204


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param(
            "EntityDefinitions",
            {"SchemaName": "pobc_X"},
            id="table-without-primary-name",
        ),
        pytest.param(
            "EntityDefinitions(LogicalName='account')/Attributes",
            string_column("name", 10),
            id="existing-column",
        ),
        pytest.param(
            "EntityDefinitions(LogicalName='account')/Keys",
            {"SchemaName": "k", "KeyAttributes": ["nosuch"]},
            id="key-on-unknown-column",
        ),
    ],
)
async def test_invalid_definitions_are_refused(
    client: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    """Definitions the service would refuse answer 400."""
    response = await client.post(f"{API}/{path}", json=body)

    assert response.status_code == 400


async def test_the_provisioned_org_serves_the_schema_definitions() -> None:
    """With provisioned=True the schema's tables, columns and keys are defined."""
    async with api_client(new_emulator()) as client:
        base = f"{API}/EntityDefinitions(LogicalName='pobc_country')"
        keys = (await client.get(f"{base}/Keys")).json()["value"]
        iso = (
            await client.get(f"{base}/Attributes(LogicalName='pobc_isocode')")
        ).json()
        status = await client.get(
            f"{API}/EntityDefinitions(LogicalName='pobc_integrationerror')"
            "/Attributes(LogicalName='pobc_status')"
            "/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$expand=OptionSet"
        )

    assert [k["LogicalName"] for k in keys] == ["pobc_key_isocode"]
    assert iso["@odata.type"] == "#Microsoft.Dynamics.CRM.StringAttributeMetadata"
    assert iso["MaxLength"] == 2
    values = [o["Value"] for o in status.json()["OptionSet"]["Options"]]
    assert values == [int(s) for s in schema.ErrorStatus]


async def test_admin_reset_and_rows(emulator: DataverseEmulator) -> None:
    """The admin API needs no token: rows lists a table, reset empties the org."""
    async with api_client(emulator, token=None) as admin:
        await admin.post("/_admin/dataverse/seed", json={"account": [{"name": "A"}]})
        listed = await admin.get("/_admin/dataverse/rows/accounts")
        reset = await admin.post("/_admin/dataverse/reset")
        after = await admin.get("/_admin/dataverse/rows/account")
        unknown = await admin.get("/_admin/dataverse/rows/nosuch")

    assert [row["name"] for row in listed.json()["value"]] == ["A"]
    assert reset.status_code == 204
    assert after.json()["value"] == []
    assert unknown.status_code == 404
