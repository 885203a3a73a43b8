"""The standard tables of a Project Operations org, as far as the integration sees.

Columns, lengths and choice values follow ``reference/dataverse.md`` §1 and §4.
The tables of ``pointegration.dataverse.schema`` are added by :func:`add_schema`
(the custom tables and the columns the integration adds to account, contact and
invoice), read from ``schema.TABLES`` so that a change there reaches the emulator.

Navigation property names (exact case, as the real service wants them):

- single-target standard lookups use the column's logical name
  (``transactioncurrencyid``, ``primarycontactid``, ``invoiceid``,
  ``sdkmessageid``); customer lookups use ``<column>_account`` and
  ``<column>_contact``; ``sdkmessageprocessingstep.eventhandler`` binds through
  ``eventhandler_serviceendpoint``;
- Project Operations lookups use their SchemaName casing (``msdyn_Invoice``,
  ``msdyn_InvoiceLineId``, ``msdyn_SalesContractLineId``);
- lookups of the integration's own tables use the column's SchemaName from
  ``schema.py`` (``pobc_Countryid``), which is what a lookup created through
  ``RelationshipDefinitions`` without ``ReferencingEntityNavigationPropertyName``
  gets.

Collection-valued navigation properties: ``invoice_details`` (invoice →
invoicedetail), ``msdyn_invoicedetail_msdyn_invoicelinetransactio`` (invoicedetail
→ msdyn_invoicelinetransaction, the real, truncated name),
``msdyn_invoice_msdyn_invoicelinetransaction_Invoice``, ``order_details``
(salesorder → salesorderdetail), ``contact_customer_accounts``,
``invoice_customer_accounts``, ``serviceendpoint_sdkmessageprocessingstep`` and
``sdkmessageprocessingstepid_sdkmessageprocessingstepimage``.

Limitation: only the columns listed in the reference exist; other standard
columns of these tables are refused as unknown.
"""

from __future__ import annotations

from pointegration.dataverse import schema
from pointegration.emulators._dataverse_columns import (
    ACTIVE_INACTIVE,
    boolean,
    choice,
    date_only,
    date_time,
    decimal,
    guid,
    integer,
    lookup,
    memo,
    money,
    table,
    text,
)
from pointegration.emulators._dataverse_model import Attribute, Catalog, State

__all__ = ["add_people_tables", "add_sales_tables"]

_ADDRESS_TYPES = {1: "Bill To", 2: "Ship To", 3: "Primary", 4: "Other"}
_PAYMENT_TERMS = {1: "Net 30", 2: "2% 10, Net 30", 3: "Net 45", 4: "Net 60"}
_ORDER_TYPES = {
    192350000: "Item based",
    192350001: "Work based",
    690970002: "Service-Maintenance Based",
}
_BILLING_METHODS = {
    int(schema.BillingMethod.TIME_AND_MATERIAL): "Time and Material",
    int(schema.BillingMethod.FIXED_PRICE): "Fixed Price",
}
_LINE_TYPES = {690970000: "Project Service Line", 690970001: "Field Service Line"}


def _address(prefix: str) -> list[Attribute]:
    return [
        text(f"{prefix}_line1", 250),
        text(f"{prefix}_line2", 250),
        text(f"{prefix}_line3", 250),
        text(f"{prefix}_city", 80),
        text(f"{prefix}_stateorprovince", 50),
        text(f"{prefix}_postalcode", 20),
        text(f"{prefix}_country", 80),
        text(f"{prefix}_county", 50),
        text(f"{prefix}_name", 200),
    ]


def add_people_tables(catalog: Catalog) -> None:
    table(
        catalog,
        "systemuser",
        "fullname",
        [
            Attribute(
                "fullname", "string", "Full Name", max_length=200, writable=False
            ),
            text("firstname", 64),
            text("lastname", 64),
            text("domainname", 1024),
            text("internalemailaddress", 100),
            guid("applicationid"),
            guid("azureactivedirectoryobjectid"),
            boolean("isdisabled"),
        ],
        ownership="BusinessOwned",
        object_type_code=8,
    )
    table(
        catalog,
        "transactioncurrency",
        "currencyname",
        [
            text("currencyname", 100),
            text("isocurrencycode", 5),
            text("currencysymbol", 10),
            integer("currencyprecision"),
            decimal("exchangerate", 10),
        ],
        entity_set="transactioncurrencies",
        states=ACTIVE_INACTIVE,
        ownership="OrganizationOwned",
        object_type_code=9105,
    )
    table(
        catalog,
        "account",
        "name",
        [
            text("name", 160),
            text("accountnumber", 20),
            text("emailaddress1", 100),
            text("telephone1", 50),
            text("websiteurl", 200),
            *_address("address1"),
            choice("address1_addresstypecode", _ADDRESS_TYPES),
            choice("paymenttermscode", _PAYMENT_TERMS),
            money("creditlimit"),
            memo("description"),
            lookup("primarycontactid"),
            lookup("parentaccountid"),
            lookup("transactioncurrencyid"),
        ],
        states=ACTIVE_INACTIVE,
        object_type_code=1,
    )
    table(
        catalog,
        "contact",
        "fullname",
        [
            Attribute(
                "fullname", "string", "Full Name", max_length=160, writable=False
            ),
            Attribute(
                "yomifullname",
                "string",
                "Yomi Full Name",
                max_length=450,
                writable=False,
            ),
            text("firstname", 50),
            text("middlename", 50),
            text("lastname", 50),
            text("emailaddress1", 100),
            text("jobtitle", 100),
            text("mobilephone", 50),
            text("telephone1", 50),
            *_address("address1"),
            choice("address1_addresstypecode", _ADDRESS_TYPES),
            memo("description"),
            lookup("parentcustomerid"),
            lookup("transactioncurrencyid"),
        ],
        states=ACTIVE_INACTIVE,
        object_type_code=2,
    )


def _invoice_states() -> dict[int, State]:
    labels = {
        status.value: status.name.replace("_", " ").title()
        for status in schema.InvoiceStatus
    }
    labels[3] = "Canceled"
    labels[7] = "Canceled"
    states: dict[int, State] = {}
    for state, statuses in schema.INVOICE_STATUS_BY_STATE.items():
        ordered = sorted(statuses)
        states[int(state)] = State(
            state.name.title(), {code: labels[code] for code in ordered}, ordered[0]
        )

    return states


def add_sales_tables(catalog: Catalog) -> None:
    table(
        catalog,
        "salesorder",
        "name",
        [
            text("name", 300),
            text("ordernumber", 100),
            lookup("customerid"),
            lookup("transactioncurrencyid"),
            choice("msdyn_ordertype", _ORDER_TYPES),
            choice(
                "msdyn_psastate",
                dict(enumerate(("Draft", "On hold", "Active", "Closed"), 192350000)),
            ),
            choice(
                "msdyn_psastatusreason",
                dict(
                    enumerate(
                        (
                            "Draft",
                            "In review",
                            "On hold",
                            "Confirmed",
                            "Completed",
                            "Lost",
                            "Abandoned",
                        ),
                        192350000,
                    )
                ),
            ),
            money("totalamount"),
            memo("description"),
        ],
        states={
            0: State("Active", {1: "New", 2: "Pending"}, 1),
            1: State("Submitted", {3: "In Progress"}, 3),
            2: State("Canceled", {4: "No Money"}, 4),
            3: State("Fulfilled", {100001: "Complete", 100002: "Partial"}, 100001),
            4: State("Invoiced", {100003: "Invoiced"}, 100003),
        },
        object_type_code=1088,
    )
    table(
        catalog,
        "salesorderdetail",
        "salesorderdetailname",
        [
            text("salesorderdetailname", 500),
            lookup("salesorderid"),
            text("productdescription", 500),
            decimal("quantity", 5),
            money("priceperunit"),
            money("extendedamount"),
            money("msdyn_budgetamount"),
            choice("msdyn_billingmethod", _BILLING_METHODS),
            choice(
                "msdyn_billingstatus",
                {
                    192350000: "Unbilled Sales Created",
                    192350001: "Customer Invoice Created",
                    192350002: "Customer Invoice Posted",
                    192350003: "Canceled",
                    192350004: "Ready to Invoice",
                    690970000: "Work order closed/posted",
                },
            ),
            boolean("msdyn_includetime"),
            boolean("msdyn_includeexpense"),
            boolean("msdyn_includematerial"),
            boolean("msdyn_includefee"),
            date_only("msdyn_billingstartdate"),
            choice("msdyn_linetype", _LINE_TYPES),
            lookup("transactioncurrencyid"),
        ],
        ownership="ParentOwned",
        object_type_code=1089,
    )
    invoice_status = {
        s.value: s.name.replace("_", " ").title() for s in schema.ProjectInvoiceStatus
    }
    table(
        catalog,
        "invoice",
        "name",
        [
            text("name", 300),
            text("invoicenumber", 100),
            lookup("customerid"),
            *(
                money(n)
                for n in (
                    "totalamount",
                    "totaltax",
                    "totallineitemamount",
                    "totalamountlessfreight",
                    "discountamount",
                    "freightamount",
                    "msdyn_amountdue",
                )
            ),
            date_only("datedelivered"),
            date_only("duedate"),
            date_only("msdyn_invoicedate"),
            date_time("lastbackofficesubmit"),
            lookup("transactioncurrencyid"),
            lookup("salesorderid"),
            *_address("billto")[:7],
            text("billto_name", 200),
            choice("paymenttermscode", _PAYMENT_TERMS),
            memo("description"),
            choice("msdyn_projectinvoicestatus", invoice_status),
            choice("msdyn_ordertype", _ORDER_TYPES),
            boolean("msdyn_hascorrections"),
            text("msdyn_billtocontactname", 100),
        ],
        states=_invoice_states(),
        object_type_code=1090,
    )
    table(
        catalog,
        "invoicedetail",
        "invoicedetailname",
        [
            text("invoicedetailname", 500),
            lookup("invoiceid"),
            text("productdescription", 500),
            decimal("quantity", 5),
            *(
                money(n)
                for n in (
                    "priceperunit",
                    "baseamount",
                    "extendedamount",
                    "tax",
                    "manualdiscountamount",
                    "msdyn_contractlineamount",
                    "msdyn_invoicedtilldate",
                    "msdyn_chargeableamount",
                    "msdyn_nonchargeableamount",
                    "msdyn_complimentaryamount",
                )
            ),
            integer("lineitemnumber"),
            lookup("transactioncurrencyid"),
            lookup("salesorderdetailid"),
            boolean("ispriceoverridden"),
            boolean("isproductoverridden"),
            choice("msdyn_billingmethod", _BILLING_METHODS),
            choice("msdyn_linetype", _LINE_TYPES),
            text("msdyn_contractline", 100),
        ],
        ownership="ParentOwned",
        object_type_code=1091,
    )
    table(
        catalog,
        "msdyn_invoicelinetransaction",
        "msdyn_description",
        [
            text("msdyn_description", 100),
            text("msdyn_externaldescription", 2000),
            choice(
                "msdyn_transactionclassification",
                {int(v): v.name.title() for v in schema.TransactionClassification},
            ),
            choice(
                "msdyn_billingtype",
                {int(v): v.name.replace("_", " ").title() for v in schema.BillingType},
            ),
            choice(
                "msdyn_transactiontypecode",
                {
                    192350000: "Cost",
                    192350004: "Project Contract",
                    192350005: "Unbilled Sales",
                    192350006: "Billed Sales",
                    192350007: "Resourcing Unit Cost",
                    192350008: "Inter-Organizational Sales",
                },
            ),
            choice(
                "msdyn_amountmethod",
                {
                    192350000: "Multiply Quantity By Price",
                    192350001: "Fixed Price",
                    192350002: "Multiply Basis Quantity By Price",
                    192350003: "Multiply Basis Amount By Percent",
                    690970000: "Tax Calculation",
                },
            ),
            *(
                money(n)
                for n in (
                    "msdyn_amount",
                    "msdyn_price",
                    "msdyn_invoiceamount",
                    "msdyn_previousamount",
                )
            ),
            decimal("msdyn_quantity", 2),
            date_time("msdyn_startdatetime"),
            date_time("msdyn_enddatetime"),
            date_only("msdyn_documentdate"),
            date_only("msdyn_accountingdate"),
            boolean("msdyn_correction"),
            choice("msdyn_customertype", {192350001: "Account", 192350002: "Contact"}),
            lookup("msdyn_invoice", "msdyn_Invoice"),
            lookup("msdyn_invoicelineid", "msdyn_InvoiceLineId"),
            lookup("msdyn_salescontractlineid", "msdyn_SalesContractLineId"),
            lookup("msdyn_salescontract", "msdyn_SalesContract"),
            lookup("msdyn_accountcustomer", "msdyn_AccountCustomer"),
            lookup("msdyn_contactcustomer", "msdyn_ContactCustomer"),
            lookup("transactioncurrencyid"),
        ],
        states=ACTIVE_INACTIVE,
        object_type_code=10112,
    )
