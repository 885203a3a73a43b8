"""The metadata Web API of the emulator, far enough to provision a schema.

Served (``reference/dataverse.md`` §5):

- ``GET EntityDefinitions`` (``$select``, ``$filter``), ``GET
  EntityDefinitions(LogicalName='x')`` or ``EntityDefinitions(<MetadataId>)``;
- ``GET .../Attributes``, ``GET .../Attributes(LogicalName='y')`` (also with a
  cast segment such as ``/Microsoft.Dynamics.CRM.PicklistAttributeMetadata``
  and ``$expand=OptionSet``), ``GET .../Keys`` and ``.../Keys(LogicalName='k')``;
- ``POST EntityDefinitions`` (a custom table with its primary name column),
  ``POST .../Attributes`` (string, memo, integer, decimal, money, date/time,
  date-only, choice and boolean columns), ``POST .../Keys``, ``POST
  RelationshipDefinitions`` (a lookup column), ``GET
  RelationshipDefinitions(SchemaName='x')``;
- ``PublishXml`` and ``PublishAllXml`` (204), ``PUT`` of a definition (204).

Each create answers 204 with ``OData-EntityId`` naming the new definition.

Limitation: an alternate key is ``Active`` at once (the service builds its
index asynchronously and can fail on duplicate data); ``PUT`` is accepted but
changes nothing; metadata writes are not undone by a failed change set; global
choices, many-to-many relationships and ``CreateCustomerRelationships`` are not
served.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pointegration.emulators import _odata
from pointegration.emulators._asgi import Response, json_response
from pointegration.emulators._dataverse_catalog import custom_table
from pointegration.emulators._dataverse_definitions import (
    CRM,
    attribute_json,
    entity_json,
    key_json,
    option_set,
    read_label,
    relationship_json,
)
from pointegration.emulators._dataverse_entities import ApiRequest
from pointegration.emulators._dataverse_errors import (
    BAD_PAYLOAD,
    NOT_FOUND,
    QUERY,
    DataverseError,
    segment_not_found,
)
from pointegration.emulators._dataverse_model import (
    Attribute,
    Catalog,
    Key,
    Relationship,
    Table,
)
from pointegration.emulators._dataverse_urls import Segment, parse_key

__all__ = ["MetadataApi"]

_KINDS_BY_TYPE = {
    "StringAttributeMetadata": "string",
    "MemoAttributeMetadata": "memo",
    "IntegerAttributeMetadata": "integer",
    "BigIntAttributeMetadata": "bigint",
    "DecimalAttributeMetadata": "decimal",
    "MoneyAttributeMetadata": "money",
    "DateTimeAttributeMetadata": "datetime",
    "PicklistAttributeMetadata": "choice",
    "BooleanAttributeMetadata": "boolean",
}
_KEY_KINDS = frozenset(
    {"string", "integer", "decimal", "datetime", "dateonly", "lookup", "choice"}
)


def _type_name(body: dict[str, Any]) -> str:
    return str(body.get("@odata.type", "")).lstrip("#").removeprefix(CRM)


def _invalid(message: str) -> DataverseError:
    return DataverseError(400, "0x80040203", message)


class MetadataApi:
    """``EntityDefinitions`` and friends over one catalog.

    ``on_table`` is called with each table created, so that the emulator can
    register its message filters.
    """

    def __init__(self, catalog: Catalog, on_table: Callable[[Table], None]) -> None:
        self.catalog = catalog
        self.on_table = on_table

    def handle(self, request: ApiRequest, segments: list[Segment]) -> Response:
        """Answer a request whose first segment is a metadata resource."""
        head = segments[0].name
        if head in ("PublishXml", "PublishAllXml"):
            if request.method != "POST":
                raise DataverseError(405, QUERY, f"{head} is an action: use POST.")
            return Response(204, b"", {})
        if request.method == "PUT":
            return Response(204, b"", {})
        if head == "RelationshipDefinitions":
            return self._relationships(request, segments)

        return self._entities(request, segments)

    # --- Tables ---------------------------------------------------------------

    def _table(self, segment: Segment) -> Table:
        key = parse_key(segment.key_text or "")
        if isinstance(key, str):
            found = next(
                (t for t in self.catalog.tables.values() if t.metadata_id == key), None
            )
            shown = key
        else:
            name = str(key.get("LogicalName", ""))
            found = self.catalog.table(name)
            shown = name
        if found is None:
            raise DataverseError(
                404,
                NOT_FOUND,
                f"Could not find entity with name or id '{shown}'.",
            )

        return found

    def _entities(self, request: ApiRequest, segments: list[Segment]) -> Response:
        root = request.service_root
        if segments[0].key_text is None:
            if len(segments) > 1:
                raise segment_not_found(segments[1].name)
            if request.method == "POST":
                table = self._create_table(request.json())
                url = f"{root}EntityDefinitions({table.metadata_id})"
                return Response(204, b"", {"odata-entityid": url})
            items = [entity_json(t) for t in self.catalog.tables.values()]
            return self._answer(request, "EntityDefinitions", items)
        table = self._table(segments[0])
        if len(segments) == 1:
            return self._answer(request, "EntityDefinitions", entity_json(table))
        part = segments[1]
        if part.name == "Attributes":
            return self._attributes(request, table, segments[1:])
        if part.name == "Keys":
            return self._keys(request, table, part)
        raise segment_not_found(part.name)

    def _create_table(self, body: Any) -> Table:
        if not isinstance(body, dict) or not body.get("SchemaName"):
            raise _invalid("An EntityMetadata needs a SchemaName.")
        schema_name = str(body["SchemaName"])
        name = schema_name.lower()
        if self.catalog.table(name) is not None:
            raise _invalid(f"An entity with the name {name} already exists.")
        primaries = [
            a
            for a in body.get("Attributes") or []
            if isinstance(a, dict) and a.get("IsPrimaryName")
        ]
        if len(primaries) != 1 or _type_name(primaries[0]) != "StringAttributeMetadata":
            raise _invalid(
                "An entity needs exactly one primary name attribute of type "
                "StringAttributeMetadata."
            )
        primary = self._attribute_from(primaries[0])
        table = custom_table(
            self.catalog,
            name,
            schema_name,
            primary,
            label=read_label(body.get("DisplayName"), schema_name),
            ownership=str(body.get("OwnershipType") or "UserOwned"),
        )
        self.on_table(table)

        return table

    # --- Columns --------------------------------------------------------------

    def _attributes(
        self, request: ApiRequest, table: Table, segments: list[Segment]
    ) -> Response:
        root = request.service_root
        base = f"{root}EntityDefinitions({table.metadata_id})"
        first = segments[0]
        if first.key_text is None:
            if request.method == "POST":
                attribute = self._add_attribute(table, request.json())
                url = f"{base}/Attributes({attribute.metadata_id})"
                return Response(204, b"", {"odata-entityid": url})
            items = [attribute_json(table, a) for a in table.attributes.values()]
            return self._answer(
                request, f"EntityDefinitions('{table.name}')/Attributes", items
            )
        key = parse_key(first.key_text)
        if isinstance(key, str):
            found = next(
                (a for a in table.attributes.values() if a.metadata_id == key), None
            )
        else:
            found = table.attribute(str(key.get("LogicalName", "")))
        if found is None:
            raise DataverseError(
                404,
                NOT_FOUND,
                f"Could not find attribute '{first.key_text}' on entity "
                f"'{table.name}'.",
            )
        rendered = attribute_json(table, found)
        if len(segments) > 1:
            cast = segments[1].name.removeprefix(CRM)
            if cast != rendered["@odata.type"].lstrip("#").removeprefix(CRM):
                raise segment_not_found(segments[1].name)
            if "OptionSet" in request.query.get("$expand", ""):
                rendered["OptionSet"] = option_set(found)

        return self._answer(
            request, f"EntityDefinitions('{table.name}')/Attributes", rendered
        )

    def _attribute_from(self, body: dict[str, Any]) -> Attribute:
        type_name = _type_name(body)
        kind = _KINDS_BY_TYPE.get(type_name)
        schema_name = str(body.get("SchemaName") or "")
        if kind is None or not schema_name:
            raise _invalid(
                f"Cannot create an attribute of type '{type_name or '?'}' this way; "
                "lookups are created with RelationshipDefinitions."
            )
        if kind == "datetime" and str(body.get("Format")) == "DateOnly":
            kind = "dateonly"
        attribute = Attribute(
            schema_name.lower(),
            kind,
            read_label(body.get("DisplayName"), schema_name),
            schema_name=schema_name,
            custom=True,
        )
        if kind in ("string", "memo"):
            attribute.max_length = int(
                body.get("MaxLength") or (100 if kind == "string" else 2000)
            )
        if kind == "decimal":
            attribute.precision = int(body.get("Precision", 2))
        if kind == "money":
            attribute.precision = (
                2
                if body.get("PrecisionSource", 2) != 0
                else int(body.get("Precision", 2))
            )
        if kind == "choice":
            options = (body.get("OptionSet") or {}).get("Options") or []
            attribute.options = {
                int(o["Value"]): read_label(o.get("Label"), str(o["Value"]))
                for o in options
            }
        if kind == "boolean":
            option_set = body.get("OptionSet") or {}
            attribute.options = {
                1: read_label((option_set.get("TrueOption") or {}).get("Label"), "Yes"),
                0: read_label((option_set.get("FalseOption") or {}).get("Label"), "No"),
            }

        return attribute

    def _add_attribute(self, table: Table, body: Any) -> Attribute:
        if not isinstance(body, dict):
            raise DataverseError(
                400, BAD_PAYLOAD, "An AttributeMetadata must be an object."
            )
        attribute = self._attribute_from(body)
        if table.attribute(attribute.name) is not None:
            raise _invalid(
                f"An attribute with the name {attribute.name} already exists on "
                f"entity {table.name}."
            )

        return table.add(attribute)

    # --- Keys -----------------------------------------------------------------

    def _keys(self, request: ApiRequest, table: Table, segment: Segment) -> Response:
        base = f"{request.service_root}EntityDefinitions({table.metadata_id})"
        if request.method == "POST":
            key = self._add_key(table, request.json())
            return Response(
                204, b"", {"odata-entityid": f"{base}/Keys({key.metadata_id})"}
            )
        items = [key_json(key) for key in table.keys.values()]
        if segment.key_text is None:
            return self._answer(
                request, f"EntityDefinitions('{table.name}')/Keys", items
            )
        wanted = parse_key(segment.key_text)
        name = wanted if isinstance(wanted, str) else str(wanted.get("LogicalName"))
        for item in items:
            if name in (item["LogicalName"], item["MetadataId"]):
                return self._answer(
                    request, f"EntityDefinitions('{table.name}')/Keys", item
                )
        raise DataverseError(
            404, NOT_FOUND, f"Could not find key '{name}' on '{table.name}'."
        )

    def _add_key(self, table: Table, body: Any) -> Key:
        if not isinstance(body, dict) or not body.get("SchemaName"):
            raise _invalid("An EntityKeyMetadata needs a SchemaName.")
        columns = tuple(str(c) for c in body.get("KeyAttributes") or [])
        for column in columns:
            attribute = table.attribute(column)
            if attribute is None or attribute.kind not in _KEY_KINDS:
                raise _invalid(
                    f"The attribute '{column}' of entity '{table.name}' cannot be "
                    "part of an alternate key."
                )
        if not columns:
            raise _invalid("An alternate key needs KeyAttributes.")
        key = Key(
            str(body["SchemaName"]),
            columns,
            table.name,
            read_label(body.get("DisplayName"), str(body["SchemaName"])),
        )
        if key.logical_name in table.keys:
            raise _invalid(f"A key named {key.logical_name} already exists.")
        table.keys[key.logical_name] = key

        return key

    # --- Relationships --------------------------------------------------------

    def _relationships(self, request: ApiRequest, segments: list[Segment]) -> Response:
        if request.method == "POST" and segments[0].key_text is None:
            relationship = self._add_relationship(request.json())
            root = request.service_root
            url = f"{root}RelationshipDefinitions({relationship.metadata_id})"
            return Response(204, b"", {"odata-entityid": url})
        if segments[0].key_text is None:
            items = [relationship_json(r) for r in self.catalog.relationships.values()]
            return self._answer(request, "RelationshipDefinitions", items)
        key = parse_key(segments[0].key_text)
        for relationship in self.catalog.relationships.values():
            if key in (
                relationship.metadata_id,
                {"SchemaName": relationship.schema_name},
            ):
                return self._answer(
                    request, "RelationshipDefinitions", relationship_json(relationship)
                )
        raise DataverseError(
            404, NOT_FOUND, f"Could not find relationship '{segments[0].key_text}'."
        )

    def _add_relationship(self, body: Any) -> Relationship:
        if (
            not isinstance(body, dict)
            or _type_name(body) != "OneToManyRelationshipMetadata"
        ):
            raise _invalid("Only OneToManyRelationshipMetadata can be created.")
        schema_name = str(body.get("SchemaName") or "")
        referenced = self.catalog.table(str(body.get("ReferencedEntity", "")))
        referencing = self.catalog.table(str(body.get("ReferencingEntity", "")))
        found = body.get("Lookup")
        lookup: dict[str, Any] = found if isinstance(found, dict) else {}
        lookup_schema = str(lookup.get("SchemaName") or "")
        if (
            not schema_name
            or referenced is None
            or referencing is None
            or not lookup_schema
        ):
            raise _invalid(
                "A relationship needs SchemaName, existing ReferencedEntity and "
                "ReferencingEntity, and a Lookup with a SchemaName."
            )
        if schema_name in self.catalog.relationships:
            raise _invalid(f"A relationship named {schema_name} already exists.")
        column = lookup_schema.lower()
        if referencing.attribute(column) is not None:
            raise _invalid(
                f"An attribute named {column} already exists on {referencing.name}."
            )
        referencing.add(
            Attribute(
                column,
                "lookup",
                read_label(lookup.get("DisplayName"), lookup_schema),
                schema_name=lookup_schema,
                custom=True,
            )
        )
        cascade = (body.get("CascadeConfiguration") or {}).get("Delete", "RemoveLink")

        return self.catalog.add_relationship(
            Relationship(
                schema_name=schema_name,
                referenced=referenced.name,
                referencing=referencing.name,
                attribute=column,
                referenced_navigation=str(
                    body.get("ReferencedEntityNavigationPropertyName") or schema_name
                ),
                referencing_navigation=str(
                    body.get("ReferencingEntityNavigationPropertyName") or lookup_schema
                ),
                cascade_delete=str(cascade),
            )
        )

    # --- Output ---------------------------------------------------------------

    def _answer(self, request: ApiRequest, resource: str, payload: Any) -> Response:
        """One definition or a list, with ``$select`` and ``$filter`` applied."""
        select = request.query.get("$select")
        names = _odata.parse_select(select) if select else None
        context = f"{request.service_root}$metadata#{resource}"
        if names:
            context += f"({','.join(names)})"

        def shaped(item: dict[str, Any]) -> dict[str, Any]:
            if not names:
                return item
            keep = {*names, "MetadataId", "@odata.type"}
            return {k: v for k, v in item.items() if k in keep}

        if isinstance(payload, dict):
            return json_response(
                200, {"@odata.context": context + "/$entity", **shaped(payload)}
            )
        text = request.query.get("$filter")
        if text:
            try:
                expr = _odata.parse_filter(text)
                payload = [i for i in payload if _odata.evaluate(expr, i)]
            except _odata.ODataSyntaxError as exc:
                raise DataverseError(400, QUERY, exc.message) from None

        return json_response(
            200, {"@odata.context": context, "value": [shaped(i) for i in payload]}
        )
