"""Small builders for the emulator's table definitions.

Each returns a fresh :class:`Attribute` (or registers a table or relationship in
a :class:`Catalog`); the standard and registration table modules are written in
them so that a table reads like its reference entry.
"""

from __future__ import annotations

from pointegration.emulators._dataverse_model import (
    Attribute,
    Catalog,
    Relationship,
    State,
    Table,
)

__all__ = [
    "ACTIVE_INACTIVE",
    "add_system_columns",
    "boolean",
    "choice",
    "date_only",
    "date_time",
    "decimal",
    "guid",
    "integer",
    "lookup",
    "memo",
    "money",
    "relate",
    "table",
    "text",
]

ACTIVE_INACTIVE = {
    0: State("Active", {1: "Active"}, 1),
    1: State("Inactive", {2: "Inactive"}, 2),
}
"""The states of most tables: 0 Active (status 1), 1 Inactive (status 2)."""


def text(name: str, max_length: int, label: str = "") -> Attribute:
    return Attribute(name, "string", label or name, max_length=max_length)


def memo(name: str, max_length: int = 2000) -> Attribute:
    return Attribute(name, "memo", name, max_length=max_length)


def money(name: str) -> Attribute:
    return Attribute(name, "money", name, precision=2)


def decimal(name: str, precision: int = 2) -> Attribute:
    return Attribute(name, "decimal", name, precision=precision)


def integer(name: str) -> Attribute:
    return Attribute(name, "integer", name)


def boolean(name: str) -> Attribute:
    return Attribute(name, "boolean", name, options={1: "Yes", 0: "No"})


def date_only(name: str) -> Attribute:
    return Attribute(name, "dateonly", name)


def date_time(name: str) -> Attribute:
    return Attribute(name, "datetime", name)


def choice(name: str, options: dict[int, str]) -> Attribute:
    return Attribute(
        name, "choice", name, options={int(k): v for k, v in options.items()}
    )


def lookup(name: str, schema_name: str = "") -> Attribute:
    return Attribute(name, "lookup", name, schema_name=schema_name or name)


def guid(name: str) -> Attribute:
    return Attribute(name, "uniqueidentifier", name)


def add_system_columns(table: Table, catalog: Catalog) -> None:
    """Give ``table`` its primary id and the columns every table has.

    ``createdon``, ``modifiedon``, ``createdby``, ``modifiedby``, their
    ``...onbehalfby`` delegates (empty unless a user acts for another) and
    ``versionnumber`` are kept by the platform; a user-owned table also gets
    ``ownerid``; a table with states gets ``statecode`` and ``statuscode``.
    """
    table.add(Attribute(table.primary_id, "uniqueidentifier", "Id", writable=True))
    table.add(Attribute("createdon", "datetime", "Created On", writable=False))
    table.add(Attribute("modifiedon", "datetime", "Modified On", writable=False))
    table.add(Attribute("versionnumber", "bigint", "Version Number", writable=False))
    for column in (
        "createdby",
        "modifiedby",
        "createdonbehalfby",
        "modifiedonbehalfby",
    ):
        table.add(Attribute(column, "lookup", column, writable=False))
    if table.ownership == "UserOwned":
        table.add(lookup("ownerid"))
    if table.states:
        states = {code: state.label for code, state in table.states.items()}
        statuses = {
            status: label
            for state in table.states.values()
            for status, label in state.statuses.items()
        }
        table.add(Attribute("statecode", "state", "Status", options=states))
        table.add(Attribute("statuscode", "status", "Status Reason", options=statuses))
    if "systemuser" not in catalog.tables:
        return
    for column in (
        "createdby",
        "modifiedby",
        "createdonbehalfby",
        "modifiedonbehalfby",
        "ownerid",
    ):
        if column in table.attributes:
            relate(
                catalog,
                f"lk_{table.name}_{column}",
                "systemuser",
                table.name,
                column,
                column,
            )


def relate(
    catalog: Catalog,
    schema_name: str,
    referenced: str,
    referencing: str,
    attribute: str,
    navigation: str,
    *,
    cascade: str = "RemoveLink",
) -> None:
    catalog.add_relationship(
        Relationship(
            schema_name=schema_name,
            referenced=referenced,
            referencing=referencing,
            attribute=attribute,
            referenced_navigation=schema_name,
            referencing_navigation=navigation,
            cascade_delete=cascade,
        )
    )


def table(
    catalog: Catalog,
    name: str,
    primary_name: str,
    columns: list[Attribute],
    *,
    entity_set: str | None = None,
    states: dict[int, State] | None = None,
    ownership: str = "UserOwned",
    object_type_code: int = 0,
) -> Table:
    table = Table(
        name=name,
        entity_set=entity_set or f"{name}s",
        primary_id=f"{name}id",
        primary_name=primary_name,
        schema_name=name.title() if not name.startswith("msdyn_") else name,
        label=name,
        states=dict(states or {}),
        ownership=ownership,
        object_type_code=object_type_code,
    )
    for column in columns:
        table.add(column)
    catalog.add_table(table)

    return table
