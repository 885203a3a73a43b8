"""The Dataverse emulator's metadata: tables, columns, relationships and keys.

Everything the emulator knows about a table lives in a :class:`Table`; the
:class:`Catalog` holds them all with the one-to-many relationships between them
and answers the questions the Web API asks of metadata: which table an entity
set names, what a navigation property points at, which key a URL uses.

Column kinds are the emulator's own words for Dataverse attribute types:
``string``, ``memo``, ``integer``, ``bigint``, ``decimal``, ``money``,
``datetime``, ``dateonly``, ``choice``, ``state``, ``status``, ``boolean``,
``lookup`` and ``uniqueidentifier``. Metadata ids are derived from names
(``uuid5``), so they are the same in every run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = [
    "EDM_TYPES",
    "Attribute",
    "Catalog",
    "Key",
    "Relationship",
    "State",
    "Table",
    "metadata_id",
    "pluralize",
]

EDM_TYPES = {
    "string": "Edm.String",
    "memo": "Edm.String",
    "integer": "Edm.Int32",
    "bigint": "Edm.Int64",
    "decimal": "Edm.Decimal",
    "money": "Edm.Decimal",
    "datetime": "Edm.DateTimeOffset",
    "dateonly": "Edm.Date",
    "choice": "Edm.Int32",
    "state": "Edm.Int32",
    "status": "Edm.Int32",
    "boolean": "Edm.Boolean",
    "lookup": "Edm.Guid",
    "uniqueidentifier": "Edm.Guid",
}
"""The OData type of each column kind, as ``$metadata`` and error texts name it."""

_NAMESPACE = uuid.UUID("8f0e1c52-3c55-4c4e-9f55-6d8f2f6f2a10")


def metadata_id(*parts: str) -> str:
    """A stable MetadataId for the named metadata item."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def pluralize(name: str) -> str:
    """The entity set name Dataverse derives from a logical name (English plural)."""
    if name.endswith("y") and len(name) > 1 and name[-2] not in "aeiou":
        return name[:-1] + "ies"
    if name.endswith(("s", "x", "z", "ch", "sh")):
        return name + "es"

    return name + "s"


@dataclass
class Attribute:
    """One column.

    ``navigation`` maps each lookup target to the single-valued navigation
    property that binds it (``customerid_account``); ``options`` are the choice
    labels; ``readable`` is false for write-only columns such as ``authvalue``;
    ``writable`` is false for columns the platform keeps (``createdon``).
    """

    name: str
    kind: str
    label: str = ""
    schema_name: str = ""
    max_length: int | None = None
    precision: int | None = None
    options: dict[int, str] = field(default_factory=dict)
    targets: tuple[str, ...] = ()
    navigation: dict[str, str] = field(default_factory=dict)
    readable: bool = True
    writable: bool = True
    custom: bool = False
    required: str = "None"
    min_value: int | None = None
    max_value: int | None = None
    table: str = ""

    @property
    def metadata_id(self) -> str:
        """This column's MetadataId."""
        return metadata_id("attribute", self.table, self.name)

    @property
    def edm_type(self) -> str:
        """The column's OData primitive type."""
        return EDM_TYPES[self.kind]

    @property
    def is_lookup(self) -> bool:
        """Whether the column reads back as ``_<name>_value``."""
        return self.kind == "lookup"

    @property
    def wire_name(self) -> str:
        """The property name in Web API bodies (``_x_value`` for lookups)."""
        return f"_{self.name}_value" if self.is_lookup else self.name


@dataclass(frozen=True)
class State:
    """One ``statecode`` value, its ``statuscode`` values and the default one."""

    label: str
    statuses: dict[int, str]
    default_status: int


@dataclass
class Key:
    """An alternate key."""

    schema_name: str
    attributes: tuple[str, ...]
    table: str
    label: str = ""

    @property
    def logical_name(self) -> str:
        """The key's logical name (its schema name lower-cased)."""
        return self.schema_name.lower()

    @property
    def metadata_id(self) -> str:
        """This key's MetadataId."""
        return metadata_id("key", self.table, self.logical_name)


@dataclass
class Relationship:
    """A one-to-many relationship: ``referencing.attribute`` points at ``referenced``.

    ``cascade_delete`` is ``Cascade`` (children are deleted), ``RemoveLink``
    (the lookup is cleared) or ``Restrict`` (the delete is refused).
    """

    schema_name: str
    referenced: str
    referencing: str
    attribute: str
    referenced_navigation: str
    referencing_navigation: str
    cascade_delete: str = "RemoveLink"

    @property
    def metadata_id(self) -> str:
        """This relationship's MetadataId."""
        return metadata_id("relationship", self.schema_name)


@dataclass
class Table:
    """One table: its names, columns, states and alternate keys."""

    name: str
    entity_set: str
    primary_id: str
    primary_name: str
    schema_name: str
    label: str
    attributes: dict[str, Attribute] = field(default_factory=dict)
    keys: dict[str, Key] = field(default_factory=dict)
    states: dict[int, State] = field(default_factory=dict)
    ownership: str = "UserOwned"
    custom: bool = False
    object_type_code: int = 0

    @property
    def metadata_id(self) -> str:
        """This table's MetadataId."""
        return metadata_id("table", self.name)

    @property
    def type_name(self) -> str:
        """The entity type's qualified name, as error messages write it."""
        return f"Microsoft.Dynamics.CRM.{self.name}"

    def add(self, attribute: Attribute) -> Attribute:
        """Add ``attribute`` (replacing one of the same name) and return it."""
        attribute.table = self.name
        if not attribute.schema_name:
            attribute.schema_name = attribute.name
        self.attributes[attribute.name] = attribute

        return attribute

    def attribute(self, name: str) -> Attribute | None:
        """The column called ``name``, or ``None``."""
        return self.attributes.get(name)

    def by_wire_name(self, wire_name: str) -> Attribute | None:
        """The column a Web API property name stands for (``_x_value`` → ``x``)."""
        if wire_name.startswith("_") and wire_name.endswith("_value"):
            found = self.attributes.get(wire_name[1:-6])
            return found if found is not None and found.is_lookup else None
        found = self.attributes.get(wire_name)

        return found if found is not None and not found.is_lookup else None


@dataclass(frozen=True)
class Navigation:
    """A resolved navigation property of a table."""

    name: str
    relationship: Relationship
    collection: bool

    @property
    def target(self) -> str:
        """The table on the other end."""
        if self.collection:
            return self.relationship.referencing

        return self.relationship.referenced


class Catalog:
    """Every table of the org and the relationships between them."""

    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        self.relationships: dict[str, Relationship] = {}

    def add_table(self, table: Table) -> Table:
        """Register ``table`` under its logical name and return it."""
        self.tables[table.name] = table

        return table

    def table(self, name: str) -> Table | None:
        """The table with logical name ``name``, or ``None``."""
        return self.tables.get(name)

    def by_entity_set(self, entity_set: str) -> Table | None:
        """The table whose entity set is ``entity_set``, or ``None``."""
        for table in self.tables.values():
            if table.entity_set == entity_set:
                return table

        return None

    def add_relationship(self, relationship: Relationship) -> Relationship:
        """Register ``relationship`` and tie the lookup column to it."""
        self.relationships[relationship.schema_name] = relationship
        referencing = self.tables[relationship.referencing]
        lookup = referencing.attributes[relationship.attribute]
        if relationship.referenced not in lookup.targets:
            lookup.targets = (*lookup.targets, relationship.referenced)
        lookup.navigation[relationship.referenced] = relationship.referencing_navigation

        return relationship

    def navigation(self, table: str, name: str) -> Navigation | None:
        """The navigation property ``name`` of ``table`` (exact case), or ``None``."""
        for relationship in self.relationships.values():
            if (
                relationship.referencing == table
                and relationship.referencing_navigation == name
            ):
                return Navigation(name, relationship, collection=False)
            if (
                relationship.referenced == table
                and relationship.referenced_navigation == name
            ):
                return Navigation(name, relationship, collection=True)

        return None

    def relationship_for(self, table: str, attribute: str, target: str) -> Relationship:
        """The relationship behind lookup ``table.attribute`` to ``target``."""
        for relationship in self.relationships.values():
            if (
                relationship.referencing == table
                and relationship.attribute == attribute
                and relationship.referenced == target
            ):
                return relationship
        raise KeyError(f"no relationship for {table}.{attribute} -> {target}")

    def children(self, table: str) -> Iterator[Relationship]:
        """The relationships in which ``table`` is the referenced (parent) side."""
        for relationship in self.relationships.values():
            if relationship.referenced == table:
                yield relationship

    def remove_table(self, name: str) -> None:
        """Forget table ``name`` and every relationship that touches it."""
        self.tables.pop(name, None)
        for key, relationship in list(self.relationships.items()):
            if name in (relationship.referenced, relationship.referencing):
                del self.relationships[key]
