"""The whole catalog of the emulated org: standard, registration and our tables.

:func:`build_catalog` gives a fresh :class:`Catalog`. With ``provisioned`` the
tables and columns of ``pointegration.dataverse.schema`` are there from the
start; without it they appear only when created through ``EntityDefinitions``,
as in a new org.
"""

from __future__ import annotations

from pointegration.dataverse import schema
from pointegration.emulators._dataverse_columns import (
    add_system_columns,
    boolean,
    choice,
    date_only,
    date_time,
    decimal,
    integer,
    lookup,
    memo,
    money,
    relate,
    table,
    text,
)
from pointegration.emulators._dataverse_model import (
    Attribute,
    Catalog,
    Key,
    Relationship,
    State,
    Table,
    pluralize,
)
from pointegration.emulators._dataverse_standard import (
    add_people_tables,
    add_sales_tables,
)

__all__ = ["build_catalog", "custom_table", "schema_column"]

_STEP_STAGES = {
    10: "Pre-validation",
    20: "Pre-operation",
    30: "Main Operation",
    40: "Post-operation",
    50: "Post-operation (Deprecated)",
}
_CONTRACTS = {
    1: "OneWay",
    2: "Queue",
    3: "Rest",
    4: "TwoWay",
    5: "Topic",
    6: "Queue (Persistent)",
    7: "Event Hub",
    8: "Webhook",
    9: "Event Grid",
    10: "Managed Data Lake",
}
_AUTH_TYPES = {
    1: "ACS",
    2: "SAS Key",
    3: "SAS Token",
    4: "Webhook Key",
    5: "Http Header",
    6: "Http Query String",
    7: "Connection String",
    8: "Access Key",
}


def _registration_tables(catalog: Catalog) -> None:
    endpoint = table(
        catalog,
        "serviceendpoint",
        "name",
        [
            text("name", 256),
            memo("description", 256),
            text("url", 2000),
            choice("contract", _CONTRACTS),
            choice("authtype", _AUTH_TYPES),
            Attribute("authvalue", "string", "authvalue", max_length=2048),
            Attribute("isauthvalueset", "boolean", "isauthvalueset", writable=False),
            choice("messageformat", {1: "Binary XML", 2: "Json", 3: "Text XML"}),
            choice("userclaim", {1: "None", 2: "UserId", 3: "UserInfo"}),
            choice("connectionmode", {1: "Normal", 2: "Federated"}),
            choice("messagecharset", {0: "Default", 1: "UTF8"}),
            text("namespaceaddress", 255),
            text("path", 160),
            text("solutionnamespace", 160),
        ],
        ownership="OrganizationOwned",
        object_type_code=4618,
    )
    endpoint.attributes["authvalue"].readable = False
    table(
        catalog,
        "sdkmessage",
        "name",
        [text("name", 256), text("categoryname", 25), boolean("isprivate")],
        ownership="OrganizationOwned",
        object_type_code=4606,
    )
    table(
        catalog,
        "sdkmessagefilter",
        "name",
        [
            text("name", 256),
            text("primaryobjecttypecode", 128),
            text("secondaryobjecttypecode", 128),
            lookup("sdkmessageid"),
            boolean("iscustomprocessingstepallowed"),
            boolean("isvisible"),
        ],
        ownership="OrganizationOwned",
        object_type_code=4607,
    )
    table(
        catalog,
        "sdkmessageprocessingstep",
        "name",
        [
            text("name", 256),
            text("description", 256),
            choice("mode", {0: "Synchronous", 1: "Asynchronous"}),
            choice("stage", _STEP_STAGES),
            integer("rank"),
            memo("filteringattributes", 100_000),
            boolean("asyncautodelete"),
            choice("supporteddeployment", {0: "Server Only", 1: "Outlook", 2: "Both"}),
            choice("invocationsource", {-1: "Internal", 0: "Parent", 1: "Child"}),
            memo("configuration", 1_073_741_823),
            lookup("eventhandler"),
            lookup("sdkmessageid"),
            lookup("sdkmessagefilterid"),
            lookup("impersonatinguserid"),
        ],
        states={
            0: State("Enabled", {1: "Enabled"}, 1),
            1: State("Disabled", {2: "Disabled"}, 2),
        },
        ownership="OrganizationOwned",
        object_type_code=4608,
    )
    table(
        catalog,
        "sdkmessageprocessingstepimage",
        "name",
        [
            text("name", 256),
            text("entityalias", 256),
            choice("imagetype", {0: "PreImage", 1: "PostImage", 2: "Both"}),
            text("messagepropertyname", 256),
            memo("attributes", 100_000),
            memo("description", 256),
            lookup("sdkmessageprocessingstepid"),
        ],
        ownership="OrganizationOwned",
        object_type_code=4615,
    )


# (schema name, referenced, referencing, lookup column, navigation, cascade)
_RELATIONSHIPS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("account_primary_contact", "contact", "account", "primarycontactid",
     "primarycontactid", "RemoveLink"),
    ("account_parent_account", "account", "account", "parentaccountid",
     "parentaccountid", "RemoveLink"),
    ("contact_customer_accounts", "account", "contact", "parentcustomerid",
     "parentcustomerid_account", "Cascade"),
    ("contact_customer_contacts", "contact", "contact", "parentcustomerid",
     "parentcustomerid_contact", "Cascade"),
    ("invoice_customer_accounts", "account", "invoice", "customerid",
     "customerid_account", "Restrict"),
    ("invoice_customer_contacts", "contact", "invoice", "customerid",
     "customerid_contact", "Restrict"),
    ("order_customer_accounts", "account", "salesorder", "customerid",
     "customerid_account", "Restrict"),
    ("order_customer_contacts", "contact", "salesorder", "customerid",
     "customerid_contact", "Restrict"),
    ("order_invoices", "salesorder", "invoice", "salesorderid", "salesorderid",
     "RemoveLink"),
    ("order_details", "salesorder", "salesorderdetail", "salesorderid",
     "salesorderid", "Cascade"),
    ("invoice_details", "invoice", "invoicedetail", "invoiceid", "invoiceid",
     "Cascade"),
    ("salesorderdetail_invoicedetail", "salesorderdetail", "invoicedetail",
     "salesorderdetailid", "salesorderdetailid", "RemoveLink"),
    ("msdyn_invoice_msdyn_invoicelinetransaction_Invoice", "invoice",
     "msdyn_invoicelinetransaction", "msdyn_invoice", "msdyn_Invoice", "Cascade"),
    ("msdyn_invoicedetail_msdyn_invoicelinetransactio", "invoicedetail",
     "msdyn_invoicelinetransaction", "msdyn_invoicelineid", "msdyn_InvoiceLineId",
     "Cascade"),
    ("msdyn_salesorderdetail_msdyn_invoicelinetransac", "salesorderdetail",
     "msdyn_invoicelinetransaction", "msdyn_salescontractlineid",
     "msdyn_SalesContractLineId", "RemoveLink"),
    ("msdyn_salesorder_msdyn_invoicelinetransaction_SalesContract", "salesorder",
     "msdyn_invoicelinetransaction", "msdyn_salescontract", "msdyn_SalesContract",
     "RemoveLink"),
    ("msdyn_account_msdyn_invoicelinetransaction_AccountCustomer", "account",
     "msdyn_invoicelinetransaction", "msdyn_accountcustomer",
     "msdyn_AccountCustomer", "RemoveLink"),
    ("msdyn_contact_msdyn_invoicelinetransaction_ContactCustomer", "contact",
     "msdyn_invoicelinetransaction", "msdyn_contactcustomer",
     "msdyn_ContactCustomer", "RemoveLink"),
    ("sdkmessageid_sdkmessagefilter", "sdkmessage", "sdkmessagefilter",
     "sdkmessageid", "sdkmessageid", "Cascade"),
    ("serviceendpoint_sdkmessageprocessingstep", "serviceendpoint",
     "sdkmessageprocessingstep", "eventhandler", "eventhandler_serviceendpoint",
     "Cascade"),
    ("sdkmessageid_sdkmessageprocessingstep", "sdkmessage",
     "sdkmessageprocessingstep", "sdkmessageid", "sdkmessageid", "Cascade"),
    ("sdkmessagefilterid_sdkmessageprocessingstep", "sdkmessagefilter",
     "sdkmessageprocessingstep", "sdkmessagefilterid", "sdkmessagefilterid",
     "Cascade"),
    ("impersonatinguserid_sdkmessageprocessingstep", "systemuser",
     "sdkmessageprocessingstep", "impersonatinguserid", "impersonatinguserid",
     "RemoveLink"),
    ("sdkmessageprocessingstepid_sdkmessageprocessingstepimage",
     "sdkmessageprocessingstep", "sdkmessageprocessingstepimage",
     "sdkmessageprocessingstepid", "sdkmessageprocessingstepid", "Cascade"),
)  # fmt: skip

_CURRENCY_TABLES = (
    "account",
    "contact",
    "invoice",
    "invoicedetail",
    "salesorder",
    "salesorderdetail",
    "msdyn_invoicelinetransaction",
)


def build_catalog(*, provisioned: bool = True) -> Catalog:
    """A fresh catalog; ``provisioned`` adds the integration's own schema."""
    catalog = Catalog()
    add_people_tables(catalog)
    add_sales_tables(catalog)
    _registration_tables(catalog)
    for entry in list(catalog.tables.values()):
        add_system_columns(entry, catalog)
    for name, referenced, referencing, column, navigation, cascade in _RELATIONSHIPS:
        relate(
            catalog, name, referenced, referencing, column, navigation, cascade=cascade
        )
    for name in _CURRENCY_TABLES:
        relate(
            catalog,
            f"transactioncurrency_{name}",
            "transactioncurrency",
            name,
            "transactioncurrencyid",
            "transactioncurrencyid",
            cascade="Restrict",
        )
    if provisioned:
        _add_schema(catalog)

    return catalog


def schema_column(column: schema.Column) -> Attribute:
    """The emulator's column for a column of ``schema.py`` (lookups unbound)."""
    kinds = {"integer": integer, "money": money, "dateonly": date_only}
    if column.kind in ("string", "memo"):
        made = Attribute(column.name, column.kind, column.label)
        made.max_length = column.max_length or 100
    elif column.kind == "decimal":
        made = decimal(column.name, column.precision or 2)
    elif column.kind == "datetime":
        made = date_time(column.name)
    elif column.kind == "boolean":
        made = boolean(column.name)
    elif column.kind == "choice":
        options = {int(item): item.name.title() for item in column.choices or ()}
        made = choice(column.name, options)
    elif column.kind == "lookup":
        made = lookup(column.name, column.schema_name)
    else:
        made = kinds[column.kind](column.name)
    if column.kind == "money" and column.precision is not None:
        made.precision = column.precision
    made.label = column.label
    made.schema_name = column.schema_name
    made.custom = True

    return made


def custom_table(
    catalog: Catalog,
    name: str,
    schema_name: str,
    primary_name: Attribute,
    *,
    label: str = "",
    ownership: str = "UserOwned",
) -> Table:
    """Create a custom table the way ``POST EntityDefinitions`` does."""
    entry = Table(
        name=name,
        entity_set=pluralize(name),
        primary_id=f"{name}id",
        primary_name=primary_name.name,
        schema_name=schema_name,
        label=label or schema_name,
        states={
            0: State("Active", {1: "Active"}, 1),
            1: State("Inactive", {2: "Inactive"}, 2),
        },
        ownership=ownership,
        custom=True,
        object_type_code=10_000 + len(catalog.tables),
    )
    entry.add(primary_name)
    catalog.add_table(entry)
    add_system_columns(entry, catalog)

    return entry


def _add_schema(catalog: Catalog) -> None:
    for definition in schema.TABLES:
        if definition.custom:
            primary = schema_column(definition.column(definition.primary_name))
            custom_table(
                catalog,
                definition.name,
                definition.name,
                primary,
                label=definition.label,
            )
    for definition in schema.TABLES:
        entry = catalog.tables[definition.name]
        for column in definition.columns:
            if column.name == entry.primary_name and definition.custom:
                continue
            entry.add(schema_column(column))
            if column.kind == "lookup" and column.target:
                catalog.add_relationship(
                    Relationship(
                        schema_name=f"{column.target}_{definition.name}_{column.name}",
                        referenced=column.target,
                        referencing=definition.name,
                        attribute=column.name,
                        referenced_navigation=(
                            f"{column.target}_{definition.name}_{column.name}"
                        ),
                        referencing_navigation=column.schema_name,
                    )
                )
        for key_name, columns in definition.alternate_keys.items():
            entry.keys[key_name] = Key(key_name, columns, definition.name)
