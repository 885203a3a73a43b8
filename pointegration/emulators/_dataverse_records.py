"""Creating, updating and deleting rows with the real service's rules.

:class:`Records` turns Web API bodies into stored rows: it checks every property
against the table (unknown names, wrong types, lengths), binds lookups through
single-valued navigation properties (``parentcustomerid_account@odata.bind``),
keeps the platform's columns (``createdon``, ``modifiedby``, ``versionnumber``,
``ownerid``), settles ``statecode``/``statuscode`` pairs, enforces alternate
keys and cascades deletes along relationships. Each committed change is kept as
a :class:`Change` so that the emulator can fire webhooks afterwards.

Limitation: deep insert works on create only; only a few SystemRequired
columns are enforced (``serviceendpoint.name``, a step's message and handler).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pointegration.emulators import _dataverse_values as values
from pointegration.emulators._dataverse_errors import (
    BAD_PAYLOAD,
    DataverseError,
    bad_key,
    duplicate_key,
    not_found,
    payload_error,
    segment_not_found,
    unknown_payload_property,
    wrong_type,
)
from pointegration.emulators._dataverse_model import Catalog, Key, Navigation, Table
from pointegration.emulators._dataverse_store import Row, Store
from pointegration.emulators._dataverse_urls import (
    parse_key,
    reference_path,
    split_path,
)
from pointegration.emulators._dataverse_values import Ref

__all__ = ["INVALID_ARGUMENT", "Change", "Records", "public"]

INVALID_ARGUMENT = "0x80040203"
_REQUIRED = {
    "serviceendpoint": ("name",),
    "sdkmessageprocessingstep": ("sdkmessageid", "eventhandler"),
}
_KEY_FORBIDDEN = re.compile(r"[/<>*%&:\\?+]")
_NOT_SETTABLE = frozenset(
    {
        "createdon",
        "modifiedon",
        "createdby",
        "modifiedby",
        "createdonbehalfby",
        "modifiedonbehalfby",
    }
)
# Columns the platform composes from others, and what they are composed from.
_COMPOSED = {
    "fullname": ("firstname", "lastname"),
    "yomifullname": ("firstname", "lastname"),
}


def public(row: Row) -> Row:
    """``row`` without the store's hidden keys."""
    return {name: value for name, value in row.items() if not name.startswith("__")}


@dataclass
class Change:
    """One committed Create, Update or Delete, for the webhooks.

    ``target`` names the columns the request set plus the ones the platform
    set with them; ``before``/``after`` are full rows (``None`` where absent).
    """

    message: str
    table: str
    record_id: str
    target: list[str]
    before: Row | None
    after: Row | None
    user_id: str


@dataclass
class _Pending:
    """Work a body asks for after its row exists (collection deep insert)."""

    children: list[tuple[Navigation, list[Any]]] = field(default_factory=list)


class Records:
    """Row writes against one catalog and store."""

    def __init__(
        self,
        catalog: Catalog,
        store: Store,
        *,
        clock: Callable[[], datetime],
        new_id: Callable[[], str],
    ) -> None:
        self.catalog = catalog
        self.store = store
        self._clock = clock
        self._new_id = new_id
        self.changes: list[Change] = []

    # --- Finding tables and rows -------------------------------------------

    def table_for_set(self, entity_set: str) -> Table:
        """The table behind an entity set name; 404 when there is none."""
        table = self.catalog.by_entity_set(entity_set)
        if table is None:
            raise segment_not_found(entity_set)

        return table

    def locate(
        self,
        table: Table,
        key_text: str,
        aliases: Mapping[str, str] | None = None,
    ) -> tuple[Row | None, dict[str, Any]]:
        """The row a key segment names (or ``None``) and the key's column values.

        The values are what an upsert that creates the row must set: the
        primary id, or the alternate key's columns.
        """
        key = parse_key(key_text, aliases)
        if not isinstance(key, str) and list(key) == [table.primary_id]:
            key = values.parse_guid(key[table.primary_id]) or ""
            if not key:
                raise bad_key(table.type_name)
        if isinstance(key, str):
            return self.store.get(table.name, key), {table.primary_id: key}
        for literal in key.values():
            if isinstance(literal, str) and _KEY_FORBIDDEN.search(literal):
                raise DataverseError(
                    400,
                    INVALID_ARGUMENT,
                    f"The alternate key value '{literal}' holds a character that "
                    "key values cannot contain: / < > * % & : \\ ? +",
                )
        alternate, columns = self.key_values(table, key)
        found = self.store.find_by_key(
            table.name, alternate, tuple(columns[name] for name in alternate.attributes)
        )

        return found, columns

    def key_values(
        self, table: Table, named: Mapping[str, Any]
    ) -> tuple[Key, dict[str, Any]]:
        """The alternate key ``named`` spells and its stored values; 400 if none."""
        columns: dict[str, Any] = {}
        for name, literal in named.items():
            attribute = table.by_wire_name(name)
            if attribute is None or literal is None:
                raise bad_key(table.type_name)
            if attribute.is_lookup:
                guid = values.parse_guid(literal)
                if guid is None or not attribute.targets:
                    raise bad_key(table.type_name)
                columns[attribute.name] = Ref(attribute.targets[0], guid)
            else:
                columns[attribute.name] = values.parse(attribute, literal)
        for key in table.keys.values():
            if set(key.attributes) == set(columns):
                return key, columns
        raise bad_key(table.type_name)

    def reference(self, reference: Any) -> Ref:
        """The row an ``@odata.bind`` value points at; 400 malformed, 404 missing."""
        if not isinstance(reference, str):
            raise wrong_type(reference, "Edm.String")
        segments = split_path(reference_path(reference))
        if len(segments) != 1 or segments[0].key_text is None:
            raise DataverseError(
                400,
                BAD_PAYLOAD,
                f"The URI '{reference}' is not a valid entity reference.",
            )
        table = self.table_for_set(segments[0].name)
        row, key = self.locate(table, segments[0].key_text)
        if row is None:
            shown = key.get(table.primary_id) or ",".join(map(str, key.values()))
            raise not_found(table.name, str(shown))

        return Ref(table.name, row[table.primary_id])

    # --- Writes --------------------------------------------------------------

    def create(
        self,
        table: Table,
        body: Any,
        user_id: str,
        *,
        preset: Mapping[str, Any] | None = None,
    ) -> Row:
        """Insert a row from a POST (or upsert) body; ``preset`` columns win."""
        row: Row = {}
        pending = _Pending()
        target = self._apply(table, body, row, pending, creating=True, user_id=user_id)
        for name, value in (preset or {}).items():
            row[name] = value
            if name not in target:
                target.append(name)
        record_id = row.get(table.primary_id) or self._new_id()
        if self.store.get(table.name, record_id) is not None:
            raise DataverseError(412, "0x80040237", "Cannot insert duplicate key.")
        row[table.primary_id] = record_id
        self._stamp(table, row, user_id, creating=True)
        self._settle_state(table, row, None, target)
        self._derive(table, row)
        self._check(table, row, record_id)
        self.store.put(table.name, record_id, row)
        system = [
            "createdon",
            "createdby",
            "createdonbehalfby",
            "modifiedon",
            "modifiedby",
            "modifiedonbehalfby",
            "ownerid",
        ]
        names = [*target, *(n for n in system if n in row and n not in target)]
        self.changes.append(
            Change("Create", table.name, record_id, names, None, dict(row), user_id)
        )
        for navigation, bodies in pending.children:
            child_table = self.catalog.tables[navigation.target]
            link = {navigation.relationship.attribute: Ref(table.name, record_id)}
            for child in bodies:
                self.create(child_table, child, user_id, preset=link)

        return row

    def update(self, table: Table, current: Row, body: Any, user_id: str) -> Row:
        """Apply a PATCH body to ``current``; the new row."""
        row = dict(current)
        pending = _Pending()
        target = self._apply(table, body, row, pending, creating=False, user_id=user_id)
        if pending.children:
            raise DataverseError(
                400,
                BAD_PAYLOAD,
                "Deep insert is only supported when creating a record.",
            )
        record_id = current[table.primary_id]
        self._stamp(table, row, user_id, creating=False)
        self._settle_state(table, row, current, target)
        self._derive(table, row)
        self._check(table, row, record_id)
        self.store.put(table.name, record_id, row)
        # As the platform sends it: the change, the id, what was composed from
        # the change, then the modification stamp.
        names = [*target, table.primary_id]
        names += [
            column
            for column, parts in _COMPOSED.items()
            if column in row and column not in names and set(parts) & set(target)
        ]
        if "statecode" in target and "statuscode" not in target:
            names.append("statuscode")
        names += ["modifiedon", "modifiedby", "modifiedonbehalfby"]
        self.changes.append(
            Change("Update", table.name, record_id, names, current, dict(row), user_id)
        )

        return row

    def delete(self, table: Table, row: Row, user_id: str) -> None:
        """Delete ``row`` and cascade along the table's relationships."""
        record_id = row[table.primary_id]
        for relationship in self.catalog.children(table.name):
            child_table = self.catalog.tables[relationship.referencing]
            reference = Ref(table.name, record_id)
            children = self.store.referencing(
                child_table.name, relationship.attribute, reference
            )
            if not children:
                continue
            if relationship.cascade_delete == "Restrict":
                raise DataverseError(
                    405,
                    "0x8004f01f",
                    "The object you tried to delete is associated with another "
                    "object and cannot be deleted.",
                )
            for child in children:
                if relationship.cascade_delete == "Cascade":
                    self.delete(child_table, child, user_id)
                else:
                    unlinked = dict(child)
                    unlinked[relationship.attribute] = None
                    child_id = child[child_table.primary_id]
                    self.store.put(child_table.name, child_id, unlinked)
        self.store.remove(table.name, record_id)
        self.changes.append(
            Change("Delete", table.name, record_id, [], dict(row), None, user_id)
        )

    # --- Bodies --------------------------------------------------------------

    def _apply(
        self,
        table: Table,
        body: Any,
        row: Row,
        pending: _Pending,
        *,
        creating: bool,
        user_id: str,
    ) -> list[str]:
        """Write the body's properties into ``row``; the column names it set."""
        if not isinstance(body, dict):
            raise DataverseError(
                400, BAD_PAYLOAD, "The request body must be a JSON object."
            )
        target: list[str] = []
        for name, value in body.items():
            if name.startswith("@"):
                continue
            if "@" in name:
                prop, _, annotation = name.partition("@")
                if annotation == "odata.bind":
                    target.append(self._bind(table, row, prop, value, creating))
                continue
            attribute = table.by_wire_name(name)
            if attribute is None or attribute.is_lookup:
                self._navigation_value(table, row, name, value, pending, user_id)
                navigation = self.catalog.navigation(table.name, name)
                if navigation is not None and not navigation.collection:
                    target.append(navigation.relationship.attribute)
                continue
            if attribute.name in _NOT_SETTABLE or attribute.name == "versionnumber":
                continue
            if not attribute.writable:
                continue
            if attribute.name == table.primary_id and not creating:
                continue
            row[attribute.name] = values.parse(attribute, value)
            target.append(attribute.name)

        return target

    def _navigation_value(
        self,
        table: Table,
        row: Row,
        name: str,
        value: Any,
        pending: _Pending,
        user_id: str,
    ) -> None:
        """A body property that is not a column: a lookup value or a deep insert."""
        lookup = table.attribute(name[1:-6]) if name.startswith("_") else None
        if lookup is not None and lookup.is_lookup and name.endswith("_value"):
            raise DataverseError(
                400,
                BAD_PAYLOAD,
                "CRM do not support direct update of Entity Reference properties, "
                "Use Navigation properties instead.",
            )
        navigation = self.catalog.navigation(table.name, name)
        if navigation is None:
            raise unknown_payload_property(name, table.type_name)
        if navigation.collection and isinstance(value, list):
            pending.children.append((navigation, value))
            return
        if not navigation.collection and isinstance(value, dict):
            target = self.catalog.tables[navigation.target]
            created = self.create(target, value, user_id)
            row[navigation.relationship.attribute] = Ref(
                target.name, created[target.primary_id]
            )
            return
        raise DataverseError(
            400,
            BAD_PAYLOAD,
            "A 'PrimitiveValue' node with non-null value was found when trying to "
            "read the value of a navigation property; however, a 'StartArray' "
            "node, a 'StartObject' node, or a 'PrimitiveValue' node with null "
            "value was expected.",
        )

    def _bind(
        self, table: Table, row: Row, prop: str, value: Any, creating: bool
    ) -> str:
        navigation = self.catalog.navigation(table.name, prop)
        if navigation is None:
            raise payload_error(
                table.entity_set,
                "Microsoft.OData.ODataException: An undeclared property "
                f"'{prop}' which only has property annotations in the payload but "
                "no property value was found in the payload. In OData, only "
                "declared navigation properties and declared named streams can be "
                "represented as properties without values.",
            )
        if navigation.collection:
            raise DataverseError(
                400,
                BAD_PAYLOAD,
                f"Binding through the collection-valued navigation property '{prop}' "
                "is not supported; bind the single-valued one on the related record.",
            )
        column = navigation.relationship.attribute
        if value is None:
            row[column] = None
            return column
        reference = self.reference(value)
        if reference.table != navigation.target:
            raise DataverseError(
                400,
                BAD_PAYLOAD,
                f"The navigation property '{prop}' expects a reference to "
                f"'Microsoft.Dynamics.CRM.{navigation.target}', not to "
                f"'Microsoft.Dynamics.CRM.{reference.table}'.",
            )
        row[column] = reference

        return column

    # --- Platform rules -------------------------------------------------------

    def _stamp(self, table: Table, row: Row, user_id: str, *, creating: bool) -> None:
        now = self._clock().replace(microsecond=0)
        user = Ref("systemuser", user_id)
        if creating:
            row["createdon"] = now
            row["createdby"] = user
            if "ownerid" in table.attributes and row.get("ownerid") is None:
                row["ownerid"] = user
            row["createdonbehalfby"] = None
        row["modifiedon"] = now
        row["modifiedby"] = user
        row["modifiedonbehalfby"] = None
        row["versionnumber"] = self.store.next_version()

    def _settle_state(
        self, table: Table, row: Row, before: Row | None, target: list[str]
    ) -> None:
        """Give the row a valid ``statecode``/``statuscode`` pair, or refuse it."""
        if not table.states:
            return
        state = row.get("statecode")
        status = row.get("statuscode")
        if state is None:
            state = 0
        if "statecode" in target and "statuscode" not in target:
            status = table.states[state].default_status
        elif (
            "statuscode" in target and "statecode" not in target and status is not None
        ):
            state = next(
                (
                    code
                    for code, entry in table.states.items()
                    if status in entry.statuses
                ),
                state,
            )
        if status is None:
            status = table.states[state].default_status
        if status not in table.states[state].statuses:
            label = table.states[state].label.replace(" ", "")
            raise DataverseError(
                400,
                "0x8004431a",
                f"{status} is not a valid status code for state code "
                f"{table.schema_name}State.{label} on {table.name} with Id "
                f"{row.get(table.primary_id)}.",
            )
        row["statecode"] = state
        row["statuscode"] = status

    def _derive(self, table: Table, row: Row) -> None:
        """The columns the platform computes from others."""
        if table.name in ("contact", "systemuser"):
            parts = [row.get("firstname"), row.get("lastname")]
            row["fullname"] = " ".join(p for p in parts if p) or None
            if "yomifullname" in table.attributes:
                row["yomifullname"] = row["fullname"]
        if table.name == "serviceendpoint":
            row["isauthvalueset"] = bool(row.get("authvalue"))
            for column, default in (
                ("messageformat", 2),
                ("userclaim", 1),
                ("connectionmode", 1),
                ("messagecharset", 0),
            ):
                row.setdefault(column, default)
        if table.name == "sdkmessageprocessingstep":
            for column, default in (
                ("rank", 1),
                ("mode", 0),
                ("stage", 40),
                ("supporteddeployment", 0),
                ("asyncautodelete", False),
            ):
                if row.get(column) is None:
                    row[column] = default

    def _check(self, table: Table, row: Row, record_id: str) -> None:
        """SystemRequired columns and alternate-key uniqueness."""
        for column in _REQUIRED.get(table.name, ()):
            if row.get(column) is None:
                raise DataverseError(
                    400, INVALID_ARGUMENT, f"Required field '{column}' is missing."
                )
        for key in table.keys.values():
            owner = self.store.key_owner(table.name, key, row)
            if owner is not None and owner != record_id:
                shown = ",".join(
                    str(values.wire(table.attributes[n], row[n]))
                    for n in key.attributes
                )
                raise duplicate_key(shown, key.logical_name)
