"""The Dataverse client against the Dataverse emulator, end to end in-process."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pointegration import odata
from pointegration.dataverse.batch import Operation
from pointegration.dataverse.client import DataverseClient
from pointegration.dataverse.models import Account, Country
from pointegration.emulators.server import Emulators
from pointegration.errors import (
    AlreadyExistsError,
    ConcurrencyError,
    NotFoundError,
    RejectedError,
)


async def test_paging_reads_every_row_across_pages(
    dataverse: DataverseClient, emulators: Emulators
) -> None:
    """Ten accounts read four per page come back complete, in three requests."""
    for n in range(10):
        await dataverse.create("accounts", {"name": f"Account {n:02}"})
    recorder = emulators.dataverse_service.recorder
    recorder.reset()

    rows = [
        row
        async for row in dataverse.query(
            "accounts", select=["name"], orderby="name", page_size=4
        )
    ]

    assert [r["name"] for r in rows] == [f"Account {n:02}" for n in range(10)]
    assert recorder.total == 3


async def test_created_id_is_readable_and_models_parse(
    dataverse: DataverseClient,
) -> None:
    """The id from OData-EntityId reads back as a typed Account."""
    account_id = await dataverse.create(
        "accounts", {"name": "O'Brien & Sons", "accountnumber": "OB-1"}
    )

    account = await dataverse.get_model(Account, account_id)

    assert account.accountid == account_id
    assert account.name == "O'Brien & Sons"
    assert account.etag


async def test_quoted_name_filter_finds_the_row(dataverse: DataverseClient) -> None:
    """A name with a quote and an ampersand is found through a quoted $filter."""
    await dataverse.create("accounts", {"name": "O'Brien & Sons"})
    await dataverse.create("accounts", {"name": "Other"})

    name = odata.quote("O'Brien & Sons")
    rows = await dataverse.query_all("accounts", filter=f"name eq {name}")

    assert [r["name"] for r in rows] == ["O'Brien & Sons"]


async def test_stale_etag_is_a_concurrency_error(dataverse: DataverseClient) -> None:
    """An update with an outdated ETag fails as ConcurrencyError and changes nothing."""
    account_id = await dataverse.create("accounts", {"name": "Before"})
    first = await dataverse.get("accounts", account_id)
    await dataverse.update("accounts", account_id, {"name": "Changed"})

    with pytest.raises(ConcurrencyError):
        await dataverse.update(
            "accounts", account_id, {"name": "Lost"}, etag=first["@odata.etag"]
        )

    assert (await dataverse.get("accounts", account_id))["name"] == "Changed"


async def test_update_never_creates(dataverse: DataverseClient) -> None:
    """An update of a missing row is NotFoundError, not an accidental create."""
    missing = "5f0d4a1e-0000-4000-8000-000000000042"

    with pytest.raises(NotFoundError):
        await dataverse.update("accounts", missing, {"name": "Ghost"})


async def test_create_only_upsert_by_alternate_key(dataverse: DataverseClient) -> None:
    """A country upserted create-only twice by ISO code exists once."""
    key = {"pobc_isocode": "DE"}
    await dataverse.upsert(
        "pobc_countries", key, {"pobc_name": "Germany"}, mode="create_only"
    )

    with pytest.raises(AlreadyExistsError):
        await dataverse.upsert(
            "pobc_countries", key, {"pobc_name": "Deutschland"}, mode="create_only"
        )

    country = await dataverse.get_model(Country, key)
    assert country.pobc_name == "Germany"


async def test_unknown_column_is_rejected(dataverse: DataverseClient) -> None:
    """A column the table lacks is refused by the service as bad data."""
    with pytest.raises(RejectedError, match="Invalid property 'nosuchcolumn'"):
        await dataverse.create("accounts", {"name": "x", "nosuchcolumn": 1})


async def test_atomic_batch_rolls_back_on_failure(
    dataverse: DataverseClient, emulators: Emulators
) -> None:
    """A change set with one bad part commits nothing and reports every part."""
    operations = [
        Operation.create("accounts", {"name": "In batch"}),
        Operation.create("accounts", {"name": "Bad", "nosuchcolumn": 1}),
    ]

    results = await dataverse.batch(operations, atomic=True)

    assert all(r.error is not None for r in results)
    assert [
        r for r in emulators.dataverse.rows("account") if r["name"] == "In batch"
    ] == []


async def test_batch_with_continue_on_error_reports_each_part(
    dataverse: DataverseClient,
) -> None:
    """Without a change set each part succeeds or fails on its own."""
    operations = [
        Operation.create("accounts", {"name": "First"}),
        Operation.create("accounts", {"name": "Bad", "nosuchcolumn": 1}),
        Operation.create("accounts", {"name": "Third"}),
    ]

    results = await dataverse.batch(operations)

    assert [r.error is None for r in results] == [True, False, True]
    assert isinstance(results[1].error, RejectedError)
    assert results[0].entity_id
    assert results[2].entity_id


async def test_batch_without_continue_on_error_stops_at_the_failure(
    dataverse: DataverseClient, emulators: Emulators
) -> None:
    """A stopped batch reports the committed part, the failure and the part not run."""
    operations = [
        Operation.create("accounts", {"name": "Before"}),
        Operation.create("accounts", {"name": "Bad", "nosuchcolumn": 1}),
        Operation.create("accounts", {"name": "After"}),
    ]

    results = await dataverse.batch(operations, continue_on_error=False)

    assert results[0].ok
    assert results[0].entity_id
    assert isinstance(results[1].error, RejectedError)
    assert results[2].error is not None
    assert results[2].error.code == "batch_not_run"
    names = {r["name"] for r in emulators.dataverse.rows("account")}
    assert "Before" in names
    assert "After" not in names


async def test_who_am_i_names_the_application_user(
    dataverse: DataverseClient, emulators: Emulators
) -> None:
    """WhoAmI returns the user behind the token."""
    me = await dataverse.who_am_i()

    assert me.user_id == emulators.dataverse.user_id


async def test_money_is_exact_both_ways(dataverse: DataverseClient) -> None:
    """A money value written as Decimal reads back as the same Decimal."""
    invoice_id = await dataverse.create(
        "invoices", {"name": "Exact", "totalamount": Decimal("1234.56")}
    )

    row = await dataverse.get("invoices", invoice_id, select=["totalamount"])

    assert row["totalamount"] == Decimal("1234.56")
