"""Dataverse emulator: the seeded org, impersonation, $metadata, helpers."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import httpx
import pytest

from pointegration.emulators.dataverse import DataverseEmulator
from tests.emulators.test_dataverse_support import (
    API,
    client,
    create,
    emulator,
    new_emulator,
)

__all__ = ["client", "emulator"]


async def test_the_org_is_seeded_like_a_real_one(client: httpx.AsyncClient) -> None:
    """Users, currencies and the Create/Update/Delete messages exist from the start."""
    users = (
        await client.get(f"{API}/systemusers?$select=fullname,applicationid")
    ).json()
    currencies = (
        await client.get(f"{API}/transactioncurrencies?$select=isocurrencycode")
    ).json()
    messages = (await client.get(f"{API}/sdkmessages?$select=name")).json()
    filters = (
        await client.get(
            f"{API}/sdkmessagefilters?$select=sdkmessagefilterid"
            "&$filter=primaryobjecttypecode eq 'account'"
        )
    ).json()

    applications = [u for u in users["value"] if u["applicationid"]]
    assert len(users["value"]) == 2
    assert len(applications) == 1
    assert [c["isocurrencycode"] for c in currencies["value"]] == ["USD", "EUR", "GBP"]
    assert [m["name"] for m in messages["value"]] == ["Create", "Update", "Delete"]
    assert len(filters["value"]) == 3


async def test_impersonation_writes_as_the_named_user(
    client: httpx.AsyncClient, emulator: DataverseEmulator
) -> None:
    """MSCRMCallerID makes the request act as that user, WhoAmI included."""
    headers = {"MSCRMCallerID": emulator.human_user_id}

    who = (await client.get(f"{API}/WhoAmI", headers=headers)).json()
    response = await client.post(f"{API}/accounts", json={"name": "A"}, headers=headers)
    account = response.headers["OData-EntityId"].rsplit("(", 1)[1][:-1]
    row = (await client.get(f"{API}/accounts({account})")).json()

    assert who["UserId"] == emulator.human_user_id
    assert row["_createdby_value"] == emulator.human_user_id


async def test_primary_key_may_be_named(client: httpx.AsyncClient) -> None:
    """accounts(accountid=<guid>) addresses the row as accounts(<guid>) does."""
    account = await create(client, "accounts", {"name": "Named"})

    response = await client.get(f"{API}/accounts(accountid={account})")

    assert response.json()["name"] == "Named"


async def test_key_values_with_reserved_characters_are_refused(
    client: httpx.AsyncClient,
) -> None:
    """Alternate key values must not hold characters such as ':' or '/'."""
    response = await client.get(f"{API}/pobc_syncstates(pobc_name='bc:payments')")

    assert response.status_code == 400


async def test_metadata_lists_entity_sets_and_navigation_properties(
    client: httpx.AsyncClient,
) -> None:
    """$metadata is CSDL naming each entity set and navigation property."""
    response = await client.get(f"{API}/$metadata")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/xml"
    # The document comes from the emulator under test, not from outside.
    root = ElementTree.fromstring(response.content)  # noqa: S314
    edm = "{http://docs.oasis-open.org/odata/ns/edm}"
    sets = {e.get("Name") for e in root.iter(f"{edm}EntitySet")}
    assert {
        "accounts",
        "invoices",
        "pobc_countries",
        "sdkmessageprocessingsteps",
    } <= sets
    contact = next(
        e for e in root.iter(f"{edm}EntityType") if e.get("Name") == "contact"
    )
    navigations = {n.get("Name") for n in contact.iter(f"{edm}NavigationProperty")}
    assert {"parentcustomerid_account", "parentcustomerid_contact"} <= navigations


async def test_service_document_lists_entity_sets(client: httpx.AsyncClient) -> None:
    """GET on the service root lists the entity sets."""
    response = await client.get(f"{API}/")

    names = {item["name"] for item in response.json()["value"]}
    assert {"accounts", "contacts", "msdyn_invoicelinetransactions"} <= names


async def test_in_process_helpers_seed_list_and_reset() -> None:
    """seed() inserts as the human user, rows() lists, reset() starts over."""
    emulator = new_emulator()

    ids = await emulator.seed({"accounts": [{"name": "A"}, {"name": "B"}]})
    listed = emulator.rows("account")
    emulator.reset()

    assert [row["accountid"] for row in listed] == ids["account"]
    assert listed[0]["_createdby_value"] == emulator.human_user_id
    assert emulator.rows("accounts") == []


def test_the_same_seed_gives_the_same_ids() -> None:
    """Two emulators with one seed hand out the same ids; another seed differs."""
    first, second, other = (
        new_emulator(seed=7),
        new_emulator(seed=7),
        new_emulator(seed=8),
    )

    assert first.user_id == second.user_id
    assert first.user_id != other.user_id


async def test_unknown_seed_table_is_an_error() -> None:
    """Seeding an unknown table raises KeyError and keeps nothing."""
    emulator = new_emulator()

    with pytest.raises(KeyError):
        await emulator.seed({"accounts": [{"name": "A"}], "nosuch": [{}]})

    assert emulator.rows("accounts") == []


async def test_paths_outside_the_api_are_404(client: httpx.AsyncClient) -> None:
    """Only /api/data/v9.x/ is served."""
    response = await client.get("/api/data/v8.0/accounts")

    assert response.status_code == 404
    assert "error" in response.json()
