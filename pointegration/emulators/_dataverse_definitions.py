"""Metadata definitions as the metadata Web API writes them.

``EntityMetadata``, ``AttributeMetadata`` (typed with ``@odata.type``, e.g.
``#Microsoft.Dynamics.CRM.StringAttributeMetadata``), ``EntityKeyMetadata``,
``OneToManyRelationshipMetadata`` and their ``Label`` values, from the
emulator's catalog.
"""

from __future__ import annotations

from typing import Any

from pointegration.emulators._dataverse_model import (
    Attribute,
    Key,
    Relationship,
    Table,
)

__all__ = [
    "CRM",
    "attribute_json",
    "entity_json",
    "key_json",
    "label",
    "option_set",
    "read_label",
    "relationship_json",
]

CRM = "Microsoft.Dynamics.CRM."
_TYPES = {
    "string": ("StringAttributeMetadata", "String"),
    "memo": ("MemoAttributeMetadata", "Memo"),
    "integer": ("IntegerAttributeMetadata", "Integer"),
    "bigint": ("BigIntAttributeMetadata", "BigInt"),
    "decimal": ("DecimalAttributeMetadata", "Decimal"),
    "money": ("MoneyAttributeMetadata", "Money"),
    "datetime": ("DateTimeAttributeMetadata", "DateTime"),
    "dateonly": ("DateTimeAttributeMetadata", "DateTime"),
    "choice": ("PicklistAttributeMetadata", "Picklist"),
    "state": ("StateAttributeMetadata", "State"),
    "status": ("StatusAttributeMetadata", "Status"),
    "boolean": ("BooleanAttributeMetadata", "Boolean"),
    "lookup": ("LookupAttributeMetadata", "Lookup"),
    "uniqueidentifier": ("UniqueIdentifierAttributeMetadata", "Uniqueidentifier"),
}


def label(text: str) -> dict[str, Any]:
    """A ``Label`` in English (1033), as the service writes one."""
    localized = {"Label": text, "LanguageCode": 1033, "IsManaged": False}

    return {"LocalizedLabels": [localized], "UserLocalizedLabel": localized}


def read_label(value: Any, default: str) -> str:
    try:
        return str(value["LocalizedLabels"][0]["Label"])
    except (KeyError, IndexError, TypeError):
        return default


def entity_json(table: Table) -> dict[str, Any]:
    """An ``EntityMetadata`` of ``table``."""
    return {
        "MetadataId": table.metadata_id,
        "LogicalName": table.name,
        "SchemaName": table.schema_name,
        "EntitySetName": table.entity_set,
        "LogicalCollectionName": table.entity_set,
        "PrimaryIdAttribute": table.primary_id,
        "PrimaryNameAttribute": table.primary_name,
        "ObjectTypeCode": table.object_type_code,
        "OwnershipType": table.ownership,
        "IsCustomEntity": table.custom,
        "IsManaged": not table.custom,
        "IsActivity": False,
        "IsOptimisticConcurrencyEnabled": True,
        "DisplayName": label(table.label),
    }


def attribute_json(table: Table, attribute: Attribute) -> dict[str, Any]:
    """An ``AttributeMetadata`` of one column."""
    type_name, attribute_type = _TYPES[attribute.kind]
    if attribute.kind == "lookup" and len(attribute.targets) > 1:
        attribute_type = "Customer"
    if attribute.name == "ownerid":
        attribute_type = "Owner"
    rendered: dict[str, Any] = {
        "@odata.type": f"#{CRM}{type_name}",
        "MetadataId": attribute.metadata_id,
        "LogicalName": attribute.name,
        "SchemaName": attribute.schema_name,
        "EntityLogicalName": table.name,
        "AttributeType": attribute_type,
        "AttributeTypeName": {"Value": f"{attribute_type}Type"},
        "IsCustomAttribute": attribute.custom,
        "IsPrimaryId": attribute.name == table.primary_id,
        "IsPrimaryName": attribute.name == table.primary_name,
        "IsValidForCreate": attribute.writable,
        "IsValidForUpdate": attribute.writable and attribute.name != table.primary_id,
        "IsValidForRead": attribute.readable,
        "RequiredLevel": {"Value": attribute.required, "CanBeChanged": True},
        "DisplayName": label(attribute.label or attribute.name),
    }
    if attribute.max_length is not None:
        rendered["MaxLength"] = attribute.max_length
    if attribute.precision is not None:
        rendered["Precision"] = attribute.precision
    if attribute.kind in ("datetime", "dateonly"):
        only = attribute.kind == "dateonly"
        rendered["Format"] = "DateOnly" if only else "DateAndTime"
        rendered["DateTimeBehavior"] = {"Value": "DateOnly" if only else "UserLocal"}
    if attribute.kind == "lookup":
        rendered["Targets"] = list(attribute.targets)

    return rendered


def key_json(key: Key) -> dict[str, Any]:
    return {
        "MetadataId": key.metadata_id,
        "LogicalName": key.logical_name,
        "SchemaName": key.schema_name,
        "EntityLogicalName": key.table,
        "KeyAttributes": list(key.attributes),
        "EntityKeyIndexStatus": "Active",
        "DisplayName": label(key.label or key.schema_name),
    }


def option_set(attribute: Attribute) -> dict[str, Any]:
    options = [
        {"Value": value, "Label": label(text)}
        for value, text in attribute.options.items()
    ]

    return {"@odata.type": f"#{CRM}OptionSetMetadata", "Options": options}


def relationship_json(relationship: Relationship) -> dict[str, Any]:
    return {
        "@odata.type": f"#{CRM}OneToManyRelationshipMetadata",
        "MetadataId": relationship.metadata_id,
        "SchemaName": relationship.schema_name,
        "ReferencedEntity": relationship.referenced,
        "ReferencingEntity": relationship.referencing,
        "ReferencingAttribute": relationship.attribute,
        "ReferencedEntityNavigationPropertyName": relationship.referenced_navigation,
        "ReferencingEntityNavigationPropertyName": relationship.referencing_navigation,
        "CascadeConfiguration": {"Delete": relationship.cascade_delete},
    }
