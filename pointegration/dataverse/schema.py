"""The Dataverse schema the integration owns (contract): tables, columns, choices, keys.

This module is the single definition. ``provision`` creates what it describes, the
Dataverse emulator serves it, and the code reads names and choice values from it,
so a rename happens here once. It also names the standard Project Operations values
the integration relies on (``reference/dataverse.md`` §4).

Choice values follow Dataverse's rule for a publisher: the publisher's option-value
prefix times 10,000 plus a sequence number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

PREFIX = "pobc_"
OPTION_VALUE_PREFIX = 52810
SOLUTION_UNIQUE_NAME = "POBCIntegration"

ColumnType = Literal[
    "string",
    "memo",
    "integer",
    "decimal",
    "money",
    "datetime",
    "dateonly",
    "choice",
    "lookup",
    "boolean",
]


def _option(n: int) -> int:
    return OPTION_VALUE_PREFIX * 10_000 + n


class ErrorStatus(IntEnum):
    """``pobc_integrationerror.pobc_status``."""

    OPEN = _option(0)
    RETRYING = _option(1)
    RESOLVED = _option(2)
    IGNORED = _option(3)


class Direction(IntEnum):
    """``pobc_integrationerror.pobc_direction``."""

    PO_TO_BC = _option(10)
    BC_TO_PO = _option(11)


class SyncStatus(IntEnum):
    """``pobc_bcsyncstatus`` on account, contact and invoice."""

    NOT_SYNCED = _option(20)
    PENDING = _option(21)
    SYNCED = _option(22)
    FAILED = _option(23)


@dataclass(frozen=True)
class Column:
    """One column: its logical name, type and the facts provisioning needs."""

    name: str
    kind: ColumnType
    label: str
    max_length: int | None = None
    choices: type[IntEnum] | None = None
    target: str | None = None
    precision: int | None = None

    @property
    def schema_name(self) -> str:
        """SchemaName for provisioning: the prefix kept, the rest title-cased."""
        return PREFIX + self.name.removeprefix(PREFIX).title().replace("_", "")


@dataclass(frozen=True)
class Table:
    """A table the integration creates (``custom``) or extends with columns."""

    name: str
    entity_set: str
    primary_id: str
    primary_name: str
    label: str
    columns: tuple[Column, ...]
    custom: bool = True
    alternate_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def column(self, name: str) -> Column:
        """The column called ``name``; ``KeyError`` when the table has none."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name!r}")


def _string(name: str, label: str, max_length: int = 100) -> Column:
    return Column(name, "string", label, max_length=max_length)


COUNTRY = Table(
    name="pobc_country",
    entity_set="pobc_countries",
    primary_id="pobc_countryid",
    primary_name="pobc_name",
    label="Country/Region",
    columns=(
        _string("pobc_name", "Name", 50),
        _string("pobc_isocode", "ISO Code", 2),
    ),
    alternate_keys={"pobc_key_isocode": ("pobc_isocode",)},
)

POSTAL_CODE = Table(
    name="pobc_postalcode",
    entity_set="pobc_postalcodes",
    primary_id="pobc_postalcodeid",
    primary_name="pobc_name",
    label="Postal Code",
    columns=(
        _string("pobc_name", "Code", 20),
        _string("pobc_city", "City", 30),
        _string("pobc_county", "County", 30),
        Column("pobc_countryid", "lookup", "Country/Region", target="pobc_country"),
    ),
)

INTEGRATION_ERROR = Table(
    name="pobc_integrationerror",
    entity_set="pobc_integrationerrors",
    primary_id="pobc_integrationerrorid",
    primary_name="pobc_name",
    label="Integration Error",
    columns=(
        _string("pobc_name", "Title", 200),
        _string("pobc_operation", "Operation", 100),
        _string("pobc_entityname", "Table", 100),
        _string("pobc_recordid", "Record Id", 100),
        _string("pobc_recordname", "Record Name", 200),
        Column("pobc_direction", "choice", "Direction", choices=Direction),
        _string("pobc_code", "Error Code", 100),
        Column("pobc_message", "memo", "Message", max_length=4000),
        Column("pobc_details", "memo", "Details", max_length=100_000),
        _string("pobc_correlationid", "Correlation Id", 100),
        Column("pobc_attempts", "integer", "Attempts"),
        Column("pobc_status", "choice", "Status", choices=ErrorStatus),
        Column("pobc_firstoccurredon", "datetime", "First Occurred On"),
        Column("pobc_lastoccurredon", "datetime", "Last Occurred On"),
        Column("pobc_request", "memo", "Request", max_length=100_000),
    ),
)

SYNC_STATE = Table(
    name="pobc_syncstate",
    entity_set="pobc_syncstates",
    primary_id="pobc_syncstateid",
    primary_name="pobc_name",
    label="Sync State",
    columns=(
        _string("pobc_name", "Name", 100),
        Column("pobc_value", "memo", "Value", max_length=100_000),
    ),
    alternate_keys={"pobc_key_name": ("pobc_name",)},
)


def _coupling_columns(kind: str, number_length: int = 20) -> tuple[Column, ...]:
    return (
        _string(f"pobc_bc{kind}id", f"BC {kind.title()} Id", 36),
        _string(f"pobc_bc{kind}number", f"BC {kind.title()} No.", number_length),
        Column("pobc_bcsyncstatus", "choice", "BC Sync Status", choices=SyncStatus),
        Column("pobc_bcsyncedon", "datetime", "BC Synced On"),
    )


ACCOUNT_COLUMNS = Table(
    name="account",
    entity_set="accounts",
    primary_id="accountid",
    primary_name="name",
    label="Account",
    columns=_coupling_columns("customer"),
    custom=False,
)

CONTACT_COLUMNS = Table(
    name="contact",
    entity_set="contacts",
    primary_id="contactid",
    primary_name="fullname",
    label="Contact",
    columns=_coupling_columns("contact"),
    custom=False,
)

INVOICE_COLUMNS = Table(
    name="invoice",
    entity_set="invoices",
    primary_id="invoiceid",
    primary_name="name",
    label="Invoice",
    columns=(
        *_coupling_columns("invoice"),
        _string("pobc_bcstatus", "BC Status", 20),
        Column("pobc_bcremainingamount", "money", "BC Remaining Amount", precision=2),
        Column("pobc_bcduedate", "dateonly", "BC Due Date"),
        Column("pobc_bcdaysoverdue", "integer", "BC Days Overdue"),
        Column("pobc_bcsyncrequestedon", "datetime", "BC Sync Requested On"),
        _string("pobc_bcsyncclaim", "BC Sync Claim", 200),
    ),
    custom=False,
)

TABLES: tuple[Table, ...] = (
    COUNTRY,
    POSTAL_CODE,
    INTEGRATION_ERROR,
    SYNC_STATE,
    ACCOUNT_COLUMNS,
    CONTACT_COLUMNS,
    INVOICE_COLUMNS,
)


def table(name: str) -> Table:
    """The schema entry for the table ``name``; ``KeyError`` when we own none."""
    for entry in TABLES:
        if entry.name == name:
            return entry
    raise KeyError(f"no table {name!r} in the integration schema")


# Standard Project Operations values (reference/dataverse.md §4).


class InvoiceState(IntEnum):
    """``invoice.statecode``."""

    ACTIVE = 0
    CLOSED = 1
    PAID = 2
    CANCELED = 3


class InvoiceStatus(IntEnum):
    """``invoice.statuscode``; 100001 and 100002 belong to state 2 (Paid)."""

    NEW = 1
    PARTIALLY_SHIPPED = 2
    BILLED = 4
    BOOKED = 5
    INSTALLED = 6
    COMPLETE = 100001
    PARTIAL = 100002
    CANCELED = 100003


INVOICE_STATUS_BY_STATE: dict[InvoiceState, frozenset[int]] = {
    InvoiceState.ACTIVE: frozenset({1, 2, 4, 5, 6}),
    InvoiceState.CLOSED: frozenset({3, 7}),
    InvoiceState.PAID: frozenset({100001, 100002}),
    InvoiceState.CANCELED: frozenset({100003}),
}


class ProjectInvoiceStatus(IntEnum):
    """``invoice.msdyn_projectinvoicestatus``."""

    DRAFT = 192350000
    IN_REVIEW = 192350001
    CONFIRMED = 192350002
    INVOICE_PAID = 192350003


class BillingMethod(IntEnum):
    """``invoicedetail.msdyn_billingmethod`` / ``salesorderdetail``."""

    TIME_AND_MATERIAL = 192350000
    FIXED_PRICE = 192350001


class TransactionClassification(IntEnum):
    """``msdyn_invoicelinetransaction.msdyn_transactionclassification``."""

    TIME = 192350000
    EXPENSE = 192350001
    MATERIAL = 192350002
    MILESTONE = 192350003
    FEE = 192350004
    COMMISSION = 690970000
    ADDITIONAL = 690970001
    TAX = 690970002


class BillingType(IntEnum):
    """``msdyn_invoicelinetransaction.msdyn_billingtype``."""

    NON_CHARGEABLE = 192350000
    CHARGEABLE = 192350001
    COMPLIMENTARY = 192350002
    NOT_AVAILABLE = 192350003
