"""Rows the integration reads from Dataverse, as frozen pydantic models.

Each model names its entity set (``ENTITY_SET``), primary key (``PRIMARY_ID``)
and, through :meth:`DataverseRow.select`, the exact ``$select`` list of the
columns it maps, so a worker reads what it uses and nothing more. Unknown
properties (annotations, columns added later) are ignored.

Conventions, as the Web API spells them:

- lookups arrive as ``_<lookup>_value``; the model attribute drops the
  underscores (``transactioncurrencyid``) and keeps the wire name as its alias;
- money and decimals are ``Decimal`` (parse responses with
  :func:`pointegration._json.loads`, never ``response.json()``);
- date-times are aware and in UTC; date-only columns are ``date``;
- choices are ``int``: an org may add values to any standard choice, and a row
  must stay readable; compare with the IntEnums of
  :mod:`~pointegration.dataverse.schema`. Only the choices we own are IntEnums.

The columns the integration owns (``pobc_*``) are defined in
:mod:`~pointegration.dataverse.schema`. Each model that carries them is checked
against that module when it is defined: a schema column without a field, a
``pobc_`` field the schema lacks, or a field of the wrong type stops the import.

Limitation: a date-only column whose behaviour is *User Local* arrives as a
timestamp; its date is read from the timestamp's text as given (UTC), which can
be a day off the date the user typed.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from pointegration import odata
from pointegration.dataverse import schema
from pointegration.dataverse.schema import SyncStatus
from pointegration.errors import PayloadValidationError

__all__ = [
    "Account",
    "Contact",
    "Country",
    "DataverseRow",
    "Invoice",
    "InvoiceDetail",
    "InvoiceLineTransaction",
    "PostalCode",
    "TransactionCurrency",
    "WhoAmI",
]

LOOKUP_LOGICAL_NAME = "@Microsoft.Dynamics.CRM.lookuplogicalname"


def _guid(value: str) -> str:
    try:
        return odata.guid(value)
    except PayloadValidationError:
        raise ValueError("not a GUID") from None


def _date_part(value: object) -> object:
    if isinstance(value, str) and "T" in value:
        return value.split("T", 1)[0]
    return value


Guid = Annotated[str, AfterValidator(_guid)]
UtcDateTime = Annotated[AwareDatetime, AfterValidator(lambda v: v.astimezone(UTC))]
DateOnly = Annotated[date, BeforeValidator(_date_part)]


def lookup(name: str) -> Any:
    """A lookup field read from ``_<name>_value`` (a GUID, or None)."""
    return Field(default=None, alias=f"_{name}_value")


def lookup_target(name: str) -> Any:
    """The table a polymorphic lookup points at (needs lookuplogicalname)."""
    return Field(default=None, alias=f"_{name}_value{LOOKUP_LOGICAL_NAME}")


class DataverseRow(BaseModel):
    """Base of every row model: frozen, lenient about extra properties."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    ENTITY_SET: ClassVar[str]
    PRIMARY_ID: ClassVar[str]

    etag: str | None = Field(default=None, alias="@odata.etag")

    @classmethod
    def select(cls) -> tuple[str, ...]:
        """The columns for ``$select`` as the Web API spells them, the key first."""
        names = [field.alias or name for name, field in cls.model_fields.items()]
        columns = [n for n in names if "@" not in n and n != cls.PRIMARY_ID]

        return (cls.PRIMARY_ID, *columns)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Self:
        """Parse one row; :class:`PayloadValidationError` when it does not fit.

        The error names the entity set, the record and the failing columns, never
        their values.
        """
        if not isinstance(row, Mapping):
            raise PayloadValidationError(
                f"{cls.ENTITY_SET} row is not a JSON object but {type(row).__name__}",
                system="dataverse",
            )
        try:
            return cls.model_validate(row)
        except ValidationError as exc:
            columns = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
            record_id = row.get(cls.PRIMARY_ID)
            raise PayloadValidationError(
                f"{cls.ENTITY_SET} row does not fit {cls.__name__}: "
                + ", ".join(columns),
                system="dataverse",
                record_id=record_id if isinstance(record_id, str) else None,
            ) from exc


class Country(DataverseRow):
    """``pobc_country``: a country/region keyed by its ISO 3166 alpha-2 code."""

    ENTITY_SET = schema.COUNTRY.entity_set
    PRIMARY_ID = schema.COUNTRY.primary_id

    pobc_countryid: Guid
    pobc_name: str | None = None
    pobc_isocode: str | None = None
    statecode: int | None = None
    modifiedon: UtcDateTime | None = None


class PostalCode(DataverseRow):
    """``pobc_postalcode``: a post code with its city, county and country."""

    ENTITY_SET = schema.POSTAL_CODE.entity_set
    PRIMARY_ID = schema.POSTAL_CODE.primary_id

    pobc_postalcodeid: Guid
    pobc_name: str | None = None
    pobc_city: str | None = None
    pobc_county: str | None = None
    pobc_countryid: Guid | None = lookup("pobc_countryid")
    statecode: int | None = None
    modifiedon: UtcDateTime | None = None


class _Address(DataverseRow):
    address1_line1: str | None = None
    address1_line2: str | None = None
    address1_line3: str | None = None
    address1_city: str | None = None
    address1_county: str | None = None
    address1_stateorprovince: str | None = None
    address1_postalcode: str | None = None
    address1_country: str | None = None
    telephone1: str | None = None
    emailaddress1: str | None = None


class Account(_Address):
    """``account``: the PO customer, coupled to a BC customer."""

    ENTITY_SET = schema.ACCOUNT_COLUMNS.entity_set
    PRIMARY_ID = schema.ACCOUNT_COLUMNS.primary_id

    accountid: Guid
    name: str | None = None
    accountnumber: str | None = None
    websiteurl: str | None = None
    primarycontactid: Guid | None = lookup("primarycontactid")
    transactioncurrencyid: Guid | None = lookup("transactioncurrencyid")
    statecode: int | None = None
    modifiedon: UtcDateTime | None = None
    pobc_bccustomerid: str | None = None
    pobc_bccustomernumber: str | None = None
    pobc_bcsyncstatus: SyncStatus | None = None
    pobc_bcsyncedon: UtcDateTime | None = None


class Contact(_Address):
    """``contact``: a person, usually under an account (``parentcustomerid``).

    ``parentcustomerid_type`` (``account`` or ``contact``) is filled only when
    the query asked for the ``lookuplogicalname`` annotation.
    """

    ENTITY_SET = schema.CONTACT_COLUMNS.entity_set
    PRIMARY_ID = schema.CONTACT_COLUMNS.primary_id

    contactid: Guid
    firstname: str | None = None
    lastname: str | None = None
    fullname: str | None = None
    jobtitle: str | None = None
    mobilephone: str | None = None
    parentcustomerid: Guid | None = lookup("parentcustomerid")
    parentcustomerid_type: str | None = lookup_target("parentcustomerid")
    statecode: int | None = None
    modifiedon: UtcDateTime | None = None
    pobc_bccontactid: str | None = None
    pobc_bccontactnumber: str | None = None
    pobc_bcsyncstatus: SyncStatus | None = None
    pobc_bcsyncedon: UtcDateTime | None = None


class TransactionCurrency(DataverseRow):
    """``transactioncurrency``: a currency by its ISO code."""

    ENTITY_SET = "transactioncurrencies"
    PRIMARY_ID = "transactioncurrencyid"

    transactioncurrencyid: Guid
    isocurrencycode: str
    currencyname: str | None = None
    currencysymbol: str | None = None
    currencyprecision: int | None = None
    exchangerate: Decimal | None = None


class Invoice(DataverseRow):
    """``invoice``: the PO pro forma invoice, with the BC coupling and status.

    ``customerid_type`` is filled only when the query asked for the
    ``lookuplogicalname`` annotation.
    """

    ENTITY_SET = schema.INVOICE_COLUMNS.entity_set
    PRIMARY_ID = schema.INVOICE_COLUMNS.primary_id

    invoiceid: Guid
    name: str | None = None
    invoicenumber: str | None = None
    customerid: Guid | None = lookup("customerid")
    customerid_type: str | None = lookup_target("customerid")
    transactioncurrencyid: Guid | None = lookup("transactioncurrencyid")
    salesorderid: Guid | None = lookup("salesorderid")
    totalamount: Decimal | None = None
    totaltax: Decimal | None = None
    totallineitemamount: Decimal | None = None
    totalamountlessfreight: Decimal | None = None
    discountamount: Decimal | None = None
    freightamount: Decimal | None = None
    msdyn_amountdue: Decimal | None = None
    duedate: DateOnly | None = None
    msdyn_invoicedate: DateOnly | None = None
    paymenttermscode: int | None = None
    billto_name: str | None = None
    billto_line1: str | None = None
    billto_line2: str | None = None
    billto_line3: str | None = None
    billto_city: str | None = None
    billto_stateorprovince: str | None = None
    billto_postalcode: str | None = None
    billto_country: str | None = None
    statecode: int | None = None
    statuscode: int | None = None
    msdyn_projectinvoicestatus: int | None = None
    msdyn_ordertype: int | None = None
    msdyn_hascorrections: bool | None = None
    modifiedon: UtcDateTime | None = None
    pobc_bcinvoiceid: str | None = None
    pobc_bcinvoicenumber: str | None = None
    pobc_bcsyncstatus: SyncStatus | None = None
    pobc_bcsyncedon: UtcDateTime | None = None
    pobc_bcstatus: str | None = None
    pobc_bcremainingamount: Decimal | None = None
    pobc_bcduedate: DateOnly | None = None
    pobc_bcdaysoverdue: int | None = None
    pobc_bcsyncrequestedon: UtcDateTime | None = None
    pobc_bcsyncclaim: str | None = None


class InvoiceDetail(DataverseRow):
    """``invoicedetail``: a PO invoice line, one per project contract line."""

    ENTITY_SET = "invoicedetails"
    PRIMARY_ID = "invoicedetailid"

    invoicedetailid: Guid
    invoiceid: Guid | None = lookup("invoiceid")
    lineitemnumber: int | None = None
    productdescription: str | None = None
    productid: Guid | None = lookup("productid")
    uomid: Guid | None = lookup("uomid")
    quantity: Decimal | None = None
    priceperunit: Decimal | None = None
    baseamount: Decimal | None = None
    manualdiscountamount: Decimal | None = None
    tax: Decimal | None = None
    extendedamount: Decimal | None = None
    transactioncurrencyid: Guid | None = lookup("transactioncurrencyid")
    salesorderdetailid: Guid | None = lookup("salesorderdetailid")
    msdyn_billingmethod: int | None = None
    msdyn_project: Guid | None = lookup("msdyn_project")
    msdyn_linetype: int | None = None
    msdyn_chargeableamount: Decimal | None = None


class InvoiceLineTransaction(DataverseRow):
    """``msdyn_invoicelinetransaction``: an invoice line detail (time, expense...)."""

    ENTITY_SET = "msdyn_invoicelinetransactions"
    PRIMARY_ID = "msdyn_invoicelinetransactionid"

    msdyn_invoicelinetransactionid: Guid
    msdyn_description: str | None = None
    msdyn_externaldescription: str | None = None
    msdyn_transactionclassification: int | None = None
    msdyn_billingtype: int | None = None
    msdyn_transactiontypecode: int | None = None
    msdyn_amountmethod: int | None = None
    msdyn_quantity: Decimal | None = None
    msdyn_price: Decimal | None = None
    msdyn_amount: Decimal | None = None
    msdyn_invoiceamount: Decimal | None = None
    msdyn_startdatetime: UtcDateTime | None = None
    msdyn_enddatetime: UtcDateTime | None = None
    msdyn_documentdate: DateOnly | None = None
    msdyn_correction: bool | None = None
    msdyn_invoice: Guid | None = lookup("msdyn_invoice")
    msdyn_invoicelineid: Guid | None = lookup("msdyn_invoicelineid")
    msdyn_salescontractlineid: Guid | None = lookup("msdyn_salescontractlineid")
    msdyn_project: Guid | None = lookup("msdyn_project")
    msdyn_task: Guid | None = lookup("msdyn_task")
    msdyn_transactioncategory: Guid | None = lookup("msdyn_transactioncategory")
    msdyn_resourcecategory: Guid | None = lookup("msdyn_resourcecategory")
    msdyn_bookableresource: Guid | None = lookup("msdyn_bookableresource")
    msdyn_product: Guid | None = lookup("msdyn_product")
    msdyn_unit: Guid | None = lookup("msdyn_unit")
    transactioncurrencyid: Guid | None = lookup("transactioncurrencyid")


class WhoAmI(BaseModel):
    """The answer of the ``WhoAmI`` function: who the integration runs as."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    user_id: Guid = Field(alias="UserId")
    business_unit_id: Guid = Field(alias="BusinessUnitId")
    organization_id: Guid = Field(alias="OrganizationId")


_KIND_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "memo": (str,),
    "integer": (int,),
    "decimal": (Decimal,),
    "money": (Decimal,),
    "datetime": (datetime,),
    "dateonly": (date,),
    "lookup": (str,),
    "boolean": (bool,),
}


def _base_types(annotation: Any) -> set[type]:
    """The concrete classes in ``X | None`` and ``Annotated[X, ...]``."""
    if annotation is AwareDatetime:
        return {datetime}
    if typing.get_origin(annotation) is Annotated:
        return _base_types(typing.get_args(annotation)[0])
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is (
        typing.Union
    ):
        found: set[type] = set()
        for arg in typing.get_args(annotation):
            found |= _base_types(arg)
        return found
    return {annotation} if isinstance(annotation, type) else set()


def _check_against_schema(model: type[DataverseRow], table: schema.Table) -> None:
    """Fail loudly when ``model`` and the schema disagree about our columns."""
    if (table.entity_set, table.primary_id) != (model.ENTITY_SET, model.PRIMARY_ID):
        raise TypeError(f"{model.__name__} does not address table {table.name}")
    fields = {f.alias or n: f for n, f in model.model_fields.items()}
    expected: set[str] = set()
    for column in table.columns:
        wire = f"_{column.name}_value" if column.kind == "lookup" else column.name
        expected.add(wire)
        if wire not in fields:
            raise TypeError(f"{model.__name__} lacks schema column {wire}")
        wanted = (column.choices,) if column.choices else _KIND_TYPES[column.kind]
        got = _base_types(fields[wire].annotation) - {type(None)}
        if not got or not all(issubclass(t, wanted) for t in got):
            raise TypeError(f"{model.__name__}.{wire} does not match its schema type")
    ours = {w for w in fields if w.lstrip("_").startswith(schema.PREFIX)}
    unknown = ours - expected - {model.PRIMARY_ID}
    if unknown:
        raise TypeError(f"{model.__name__} has columns the schema lacks: {unknown}")


for _model, _table in (
    (Country, schema.COUNTRY),
    (PostalCode, schema.POSTAL_CODE),
    (Account, schema.ACCOUNT_COLUMNS),
    (Contact, schema.CONTACT_COLUMNS),
    (Invoice, schema.INVOICE_COLUMNS),
):
    _check_against_schema(_model, _table)
