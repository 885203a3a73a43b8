"""``$metadata``: the emulated org's entity model as an OData CSDL document.

One ``EntityType`` per table in the ``Microsoft.Dynamics.CRM`` namespace with its
key, its properties (lookups as ``_x_value`` ``Edm.Guid`` properties), and its
single- and collection-valued navigation properties with their partners, and
one ``EntitySet`` per table in the ``System`` container. Clients read navigation
property names from it, as the reference advises for a real org.

Limitation: actions, functions, complex types and enum types are not listed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from pointegration.emulators._dataverse_model import Catalog, Table

__all__ = ["csdl"]

_EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
_EDM = "http://docs.oasis-open.org/odata/ns/edm"
_NAMESPACE = "Microsoft.Dynamics.CRM"


def _entity_type(schema: ElementTree.Element, catalog: Catalog, table: Table) -> None:
    entity = ElementTree.SubElement(schema, "EntityType", Name=table.name)
    key = ElementTree.SubElement(entity, "Key")
    ElementTree.SubElement(key, "PropertyRef", Name=table.primary_id)
    for attribute in table.attributes.values():
        if attribute.readable:
            ElementTree.SubElement(
                entity, "Property", Name=attribute.wire_name, Type=attribute.edm_type
            )
    for relationship in catalog.relationships.values():
        if relationship.referencing == table.name:
            navigation = ElementTree.SubElement(
                entity,
                "NavigationProperty",
                Name=relationship.referencing_navigation,
                Type=f"mscrm.{relationship.referenced}",
                Nullable="false",
                Partner=relationship.referenced_navigation,
            )
            referenced = catalog.tables[relationship.referenced]
            ElementTree.SubElement(
                navigation,
                "ReferentialConstraint",
                Property=f"_{relationship.attribute}_value",
                ReferencedProperty=referenced.primary_id,
            )
        if relationship.referenced == table.name:
            ElementTree.SubElement(
                entity,
                "NavigationProperty",
                Name=relationship.referenced_navigation,
                Type=f"Collection(mscrm.{relationship.referencing})",
                Partner=relationship.referencing_navigation,
            )


def csdl(catalog: Catalog) -> bytes:
    """The ``$metadata`` document (UTF-8 XML)."""
    root = ElementTree.Element("edmx:Edmx", {"Version": "4.0", "xmlns:edmx": _EDMX})
    services = ElementTree.SubElement(root, "edmx:DataServices")
    schema = ElementTree.SubElement(
        services, "Schema", {"Namespace": _NAMESPACE, "Alias": "mscrm", "xmlns": _EDM}
    )
    for table in catalog.tables.values():
        _entity_type(schema, catalog, table)
    container = ElementTree.SubElement(schema, "EntityContainer", Name="System")
    for table in catalog.tables.values():
        ElementTree.SubElement(
            container,
            "EntitySet",
            Name=table.entity_set,
            EntityType=f"{_NAMESPACE}.{table.name}",
        )
    body = ElementTree.tostring(root, encoding="unicode")

    return ('<?xml version="1.0" encoding="utf-8"?>' + body).encode("utf-8")
