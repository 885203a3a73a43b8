"""Dataverse row models: parsing real-shaped rows, $select lists, schema checks."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pydantic
import pytest

from pointegration import _json
from pointegration.dataverse import schema
from pointegration.dataverse.models import (
    Account,
    Contact,
    Country,
    DataverseRow,
    Invoice,
    InvoiceDetail,
    InvoiceLineTransaction,
    PostalCode,
    TransactionCurrency,
    WhoAmI,
    _check_against_schema,
)
from pointegration.dataverse.schema import (
    BillingMethod,
    BillingType,
    InvoiceState,
    ProjectInvoiceStatus,
    SyncStatus,
    TransactionClassification,
)
from pointegration.errors import PayloadValidationError

INVOICE_ID = "7c4ea8b1-0f2e-f011-8c4e-000d3a5b1234"
ACCOUNT_ID = "00000000-0000-0000-0000-000000000001"
CURRENCY_ID = "048dddaa-6f7f-e611-80d3-00155db5e0b6"
FORMATTED = "@OData.Community.Display.V1.FormattedValue"

# An invoice row as the Web API writes it with include-annotations="*".
INVOICE_JSON = (
    "{"
    '"@odata.context":"https://contoso.crm.dynamics.com/api/data/v9.2/'
    '$metadata#invoices/$entity",'
    '"@odata.etag":"W/\\"4681187\\"",'
    f'"invoiceid":"{INVOICE_ID}","name":"Project Alpha - December",'
    '"invoicenumber":"INV-01001-Z9X8",'
    f'"_customerid_value":"{ACCOUNT_ID}",'
    '"_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname":"account",'
    '"_customerid_value' + FORMATTED + '":"Contoso Ltd",'
    f'"_transactioncurrencyid_value":"{CURRENCY_ID.upper()}",'
    '"totalamount":1234.5650,"totalamount' + FORMATTED + '":"€1,234.57",'
    '"totaltax":197.1150,"totallineitemamount":1037.4500,'
    '"totalamountlessfreight":1037.45,'
    '"discountamount":0,"freightamount":null,'
    '"duedate":"2027-01-02","msdyn_invoicedate":"2026-12-03T00:00:00Z",'
    '"statecode":0,"statecode' + FORMATTED + '":"Active","statuscode":1,'
    '"msdyn_projectinvoicestatus":192350002,'
    '"modifiedon":"2026-12-03T09:15:27Z",'
    '"pobc_bcsyncstatus":528100022,"pobc_bcsyncedon":"2026-12-03T10:00:00Z",'
    '"pobc_bcremainingamount":99.99,"pobc_bcduedate":"2027-01-02",'
    '"pobc_bcdaysoverdue":0,"pobc_bcinvoiceid":"5a0b3f0e-8f3b-ef11-8409-6045bde9c4a1",'
    '"someotherfield_added_later":"ignored"'
    "}"
)


def test_invoice_row_parses_with_exact_money_and_ignores_annotations() -> None:
    """Money stays exact, lookups read from _x_value, annotations are dropped."""
    invoice = Invoice.from_row(_json.loads(INVOICE_JSON))

    assert Decimal("1234.5650") == invoice.totalamount
    assert Decimal("197.1150") == invoice.totaltax
    assert Decimal("99.99") == invoice.pobc_bcremainingamount
    assert Decimal(0) == invoice.discountamount
    assert invoice.freightamount is None
    assert invoice.customerid == ACCOUNT_ID
    assert invoice.customerid_type == "account"
    assert invoice.transactioncurrencyid == CURRENCY_ID
    assert invoice.etag == 'W/"4681187"'
    assert invoice.statecode == InvoiceState.ACTIVE
    assert invoice.msdyn_projectinvoicestatus == ProjectInvoiceStatus.CONFIRMED
    assert SyncStatus.SYNCED is invoice.pobc_bcsyncstatus
    assert date(2027, 1, 2) == invoice.duedate
    assert date(2026, 12, 3) == invoice.msdyn_invoicedate
    assert datetime(2026, 12, 3, 9, 15, 27, tzinfo=UTC) == invoice.modifiedon
    assert invoice.modifiedon is not None
    assert UTC is invoice.modifiedon.tzinfo


def test_datetimes_with_an_offset_are_converted_to_utc() -> None:
    """A timestamp with an offset is kept as the same instant, in UTC."""
    country = Country.from_row(
        {"pobc_countryid": ACCOUNT_ID, "modifiedon": "2026-12-03T11:00:00+01:00"}
    )

    assert datetime(2026, 12, 3, 10, 0, tzinfo=UTC) == country.modifiedon


@pytest.mark.parametrize(
    ("row", "column"),
    [
        pytest.param({"invoiceid": "nope"}, "invoiceid", id="bad-guid"),
        pytest.param({}, "invoiceid", id="missing-key"),
        pytest.param(
            {"invoiceid": INVOICE_ID, "modifiedon": "2026-12-03T09:15:27"},
            "modifiedon",
            id="naive-datetime",
        ),
        pytest.param(
            {"invoiceid": INVOICE_ID, "totalamount": "lots"},
            "totalamount",
            id="bad-money",
        ),
    ],
)
def test_rows_that_do_not_fit_raise_payload_validation_error(
    row: dict[str, Any], column: str
) -> None:
    """A row that does not fit names the table and column, never the value."""
    with pytest.raises(PayloadValidationError, match=column) as raised:
        Invoice.from_row(row)

    assert "lots" not in raised.value.message
    assert raised.value.system == "dataverse"


def test_models_are_frozen() -> None:
    """A parsed row cannot be changed by accident."""
    country = Country.from_row({"pobc_countryid": ACCOUNT_ID, "pobc_isocode": "DE"})

    with pytest.raises(pydantic.ValidationError):
        country.pobc_isocode = "FR"  # type: ignore[misc]


ALL_MODELS: list[type[DataverseRow]] = [
    Account,
    Contact,
    Country,
    PostalCode,
    Invoice,
    InvoiceDetail,
    InvoiceLineTransaction,
    TransactionCurrency,
]


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_select_lists_the_primary_key_first_and_no_annotations(
    model: type[DataverseRow],
) -> None:
    """$select starts with the key, uses _x_value for lookups, has no annotations."""
    columns = model.select()

    assert columns[0] == model.PRIMARY_ID
    assert len(set(columns)) == len(columns)
    assert all("@" not in c and "." not in c for c in columns)
    assert "etag" not in columns


@pytest.mark.parametrize(
    ("model", "table"),
    [
        pytest.param(Country, schema.COUNTRY, id="country"),
        pytest.param(PostalCode, schema.POSTAL_CODE, id="postal-code"),
        pytest.param(Account, schema.ACCOUNT_COLUMNS, id="account"),
        pytest.param(Contact, schema.CONTACT_COLUMNS, id="contact"),
        pytest.param(Invoice, schema.INVOICE_COLUMNS, id="invoice"),
    ],
)
def test_models_select_every_column_the_schema_defines(
    model: type[DataverseRow], table: schema.Table
) -> None:
    """Every column of our schema is read, under the schema's own name."""
    wire = {f"_{c.name}_value" if c.kind == "lookup" else c.name for c in table.columns}

    assert wire <= set(model.select())
    assert (table.entity_set, table.primary_id) == (model.ENTITY_SET, model.PRIMARY_ID)


def test_a_model_drifting_from_the_schema_is_caught() -> None:
    """A schema column missing from a model, or of the wrong type, stops the check."""
    table = schema.Table(
        name="pobc_thing",
        entity_set="pobc_things",
        primary_id="pobc_thingid",
        primary_name="pobc_name",
        label="Thing",
        columns=(
            schema.Column("pobc_name", "string", "Name"),
            schema.Column("pobc_amount", "money", "Amount"),
        ),
    )

    class Missing(DataverseRow):
        ENTITY_SET = "pobc_things"
        PRIMARY_ID = "pobc_thingid"
        pobc_thingid: str
        pobc_name: str | None = None

    class WrongType(Missing):
        pobc_amount: float | None = None

    class Extra(Missing):
        pobc_amount: Decimal | None = None
        pobc_unknown: str | None = None

    with pytest.raises(TypeError, match="lacks schema column pobc_amount"):
        _check_against_schema(Missing, table)
    with pytest.raises(TypeError, match="pobc_amount does not match"):
        _check_against_schema(WrongType, table)
    with pytest.raises(TypeError, match="pobc_unknown"):
        _check_against_schema(Extra, table)


@pytest.mark.parametrize(
    ("model", "row", "checks"),
    [
        pytest.param(
            Account,
            {
                "accountid": ACCOUNT_ID,
                "name": "O'Brien & Sons",
                "accountnumber": "C-1001",
                "address1_country": "DE",
                "_primarycontactid_value": None,
                "pobc_bccustomernumber": "C-1001",
                "pobc_bcsyncstatus": 528100021,
                "revenue": 6000000.0000,
            },
            {"name": "O'Brien & Sons", "pobc_bcsyncstatus": SyncStatus.PENDING},
            id="account",
        ),
        pytest.param(
            Contact,
            {
                "contactid": ACCOUNT_ID,
                "firstname": "Yvonne",
                "_parentcustomerid_value": CURRENCY_ID,
                "_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": (
                    "account"
                ),
            },
            {"parentcustomerid": CURRENCY_ID, "parentcustomerid_type": "account"},
            id="contact",
        ),
        pytest.param(
            PostalCode,
            {
                "pobc_postalcodeid": ACCOUNT_ID,
                "pobc_name": "80331",
                "pobc_city": "München",
                "_pobc_countryid_value": CURRENCY_ID,
            },
            {"pobc_city": "München", "pobc_countryid": CURRENCY_ID},
            id="postal-code",
        ),
        pytest.param(
            TransactionCurrency,
            {
                "transactioncurrencyid": CURRENCY_ID,
                "isocurrencycode": "EUR",
                "exchangerate": Decimal("1.0000000000"),
                "currencyprecision": 2,
            },
            {"isocurrencycode": "EUR", "exchangerate": Decimal("1.0000000000")},
            id="currency",
        ),
        pytest.param(
            InvoiceDetail,
            {
                "invoicedetailid": ACCOUNT_ID,
                "_invoiceid_value": INVOICE_ID,
                "quantity": Decimal("7.5000000000"),
                "priceperunit": Decimal("120.0000"),
                "extendedamount": Decimal("1071.0000"),
                "msdyn_billingmethod": 192350001,
            },
            {
                "invoiceid": INVOICE_ID,
                "extendedamount": Decimal("1071.0000"),
                "msdyn_billingmethod": BillingMethod.FIXED_PRICE,
            },
            id="invoice-line",
        ),
        pytest.param(
            InvoiceLineTransaction,
            {
                "msdyn_invoicelinetransactionid": ACCOUNT_ID,
                "msdyn_transactionclassification": 192350000,
                "msdyn_billingtype": 192350001,
                "msdyn_amount": Decimal("960.0000"),
                "msdyn_quantity": Decimal("8.0000000000"),
                "msdyn_startdatetime": "2026-11-02T08:00:00Z",
                "msdyn_documentdate": "2026-11-02",
                "_msdyn_invoicelineid_value": INVOICE_ID,
            },
            {
                "msdyn_transactionclassification": TransactionClassification.TIME,
                "msdyn_billingtype": BillingType.CHARGEABLE,
                "msdyn_amount": Decimal("960.0000"),
                "msdyn_documentdate": date(2026, 11, 2),
                "msdyn_invoicelineid": INVOICE_ID,
            },
            id="invoice-line-detail",
        ),
    ],
)
def test_models_parse_realistic_rows(
    model: type[DataverseRow], row: dict[str, Any], checks: dict[str, Any]
) -> None:
    """Each table's model reads a Web API row into the expected values."""
    parsed = model.from_row(row)

    assert checks == {name: getattr(parsed, name) for name in checks}


def test_who_am_i_reads_the_function_response() -> None:
    """WhoAmI reads UserId, BusinessUnitId and OrganizationId."""
    me = WhoAmI.model_validate(
        {
            "UserId": ACCOUNT_ID,
            "BusinessUnitId": CURRENCY_ID,
            "OrganizationId": INVOICE_ID,
        }
    )

    assert (
        me.user_id,
        me.business_unit_id,
        me.organization_id,
    ) == (ACCOUNT_ID, CURRENCY_ID, INVOICE_ID)


def test_choice_value_unknown_to_us_is_kept() -> None:
    """A choice value an org added (not in our enums) is read as its number."""
    invoice = Invoice.from_row(
        {"invoiceid": INVOICE_ID, "msdyn_projectinvoicestatus": 5}
    )

    assert invoice.msdyn_projectinvoicestatus == 5
