"""Reading rows the way the Web API does: query options, expansion, output.

:class:`Reader` checks and applies ``$select``, ``$filter``, ``$orderby``,
``$top``, ``$count`` and ``$expand`` (single-valued and collection-valued
navigation properties, with nested options), and writes rows as the service
does: ``@odata.etag`` first, lookups as ``_x_value``, the primary id always,
and, when asked with ``Prefer: odata.include-annotations``, the
``FormattedValue``, ``lookuplogicalname`` and ``associatednavigationproperty``
annotations.

String comparisons in ``$filter`` and ``$orderby`` ignore case, as SQL
Server's default collation behind Dataverse does, and comparisons follow SQL's
null logic: ``x ne 5`` and ``not (x eq 5)`` leave out rows where ``x`` is null
(see :func:`sql_nulls`). Without ``$orderby`` rows come
in primary-id order, which is the order they were created in (the emulator hands
out ascending ids, as the service's sequential GUIDs are).

Limitation: ``$apply``, ``$search``, FetchXML and saved queries are not served;
of the canonical functions only ``contains``, ``startswith`` and ``endswith``
are accepted, as on the real service.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pointegration.emulators import _dataverse_values as values
from pointegration.emulators import _odata
from pointegration.emulators._dataverse_errors import (
    QUERY,
    DataverseError,
    unknown_query_property,
)
from pointegration.emulators._dataverse_model import Attribute, Catalog, Table
from pointegration.emulators._dataverse_store import Row, Store
from pointegration.emulators._dataverse_values import Ref

__all__ = ["Annotations", "Query", "Reader", "annotation_filter", "parse_prefer"]

FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_LOGICAL_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
NAVIGATION_PROPERTY = "Microsoft.Dynamics.CRM.associatednavigationproperty"
_FUNCTIONS = frozenset({"contains", "startswith", "endswith"})

Annotations = Callable[[str], bool]
"""Whether an annotation (``OData.Community.Display.V1.FormattedValue``) is wanted."""


def parse_prefer(header: str | None) -> dict[str, str]:
    """The preferences of a ``Prefer`` header, names lower-case, quotes removed.

    ``odata.include-annotations="*", odata.maxpagesize=10`` gives
    ``{"odata.include-annotations": "*", "odata.maxpagesize": "10"}``.
    """
    preferences: dict[str, str] = {}
    current = ""
    quoted = False
    for char in (header or "") + ",":
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            name, _, value = current.strip().partition("=")
            if name:
                preferences[name.strip().lower()] = value.strip().strip('"')
            current = ""
        else:
            current += char

    return preferences


def annotation_filter(wanted: str | None) -> Annotations:
    """A test for the annotations an ``odata.include-annotations`` value names."""
    patterns = [p.strip() for p in (wanted or "").split(",") if p.strip()]

    def test(annotation: str) -> bool:
        return any(fnmatch.fnmatchcase(annotation, p) for p in patterns)

    return test


@dataclass
class Query:
    """The checked query options of one request (or one ``$expand`` item)."""

    table: Table
    select: list[Attribute] | None = None
    filter: _odata.Expr | None = None
    orderby: list[tuple[tuple[str, ...], bool]] = field(default_factory=list)
    top: int | None = None
    count: bool = False
    expand: list[tuple[str, Query]] = field(default_factory=list)


class Reader:
    """Queries and row output over one catalog and store."""

    def __init__(self, catalog: Catalog, store: Store) -> None:
        self.catalog = catalog
        self.store = store

    # --- Query options -------------------------------------------------------

    def query(
        self,
        table: Table,
        options: Mapping[str, str],
        aliases: Mapping[str, str] | None = None,
    ) -> Query:
        """The checked query options; 400 for anything the service refuses."""
        if "$skip" in options:
            raise DataverseError(
                400, QUERY, "The query parameter $skip is not supported."
            )
        query = Query(table)
        try:
            if "$select" in options:
                query.select = self._select(table, options["$select"])
            if options.get("$filter"):
                parsed = _odata.parse_filter(options["$filter"], aliases=aliases)
                self._check_filter(table, parsed)
                query.filter = sql_nulls(parsed)
            if options.get("$orderby"):
                query.orderby = _odata.parse_orderby(options["$orderby"])
                for path, _ in query.orderby:
                    self._check_path(table, path)
            if options.get("$expand"):
                for item in _odata.parse_expand(options["$expand"]):
                    query.expand.append(self._expand(table, item, aliases))
        except _odata.ODataSyntaxError as exc:
            raise DataverseError(400, QUERY, exc.message) from None
        if "$top" in options:
            query.top = _whole(options["$top"], "$top")
        query.count = options.get("$count", "").lower() == "true"

        return query

    def _select(self, table: Table, text: str) -> list[Attribute]:
        selected: list[Attribute] = []
        for name in _odata.parse_select(text):
            attribute = table.by_wire_name(name)
            if attribute is None:
                if self.catalog.navigation(table.name, name) is not None:
                    continue
                raise unknown_query_property(name, table.type_name)
            if attribute.readable and attribute not in selected:
                selected.append(attribute)

        return selected

    def _expand(
        self,
        table: Table,
        item: _odata.ExpandItem,
        aliases: Mapping[str, str] | None,
    ) -> tuple[str, Query]:
        navigation = self.catalog.navigation(table.name, item.name)
        if navigation is None:
            raise unknown_query_property(item.name, table.type_name)
        target = self.catalog.tables[navigation.target]

        return item.name, self.query(target, item.options, aliases)

    def _check_filter(self, table: Table, expr: _odata.Expr) -> None:
        for node in _odata.walk(expr):
            if isinstance(node, _odata.Call) and node.name not in _FUNCTIONS:
                raise DataverseError(
                    400,
                    QUERY,
                    f"The function '{node.name}' is not supported in $filter.",
                )
        for path in _odata.properties(expr):
            self._check_path(table, path)

    def _check_path(self, table: Table, path: tuple[str, ...]) -> None:
        """400 unless ``path`` names a column, possibly through navigation."""
        name = path[0]
        if table.by_wire_name(name) is not None and len(path) == 1:
            return
        navigation = self.catalog.navigation(table.name, name)
        if navigation is None:
            raise unknown_query_property(name, table.type_name)
        if len(path) > 1:
            self._check_path(self.catalog.tables[navigation.target], path[1:])

    # --- Rows ------------------------------------------------------------------

    def resolve(self, row: Mapping[str, Any], path: tuple[str, ...]) -> Any:
        """The value at ``path`` of a stored row, following navigation properties."""
        table = self.catalog.tables[row["__table"]]
        attribute = table.by_wire_name(path[0])
        if attribute is not None:
            value = row.get(attribute.name)
            return value.id if isinstance(value, Ref) else value
        navigation = self.catalog.navigation(table.name, path[0])
        if navigation is None:
            return None
        if navigation.collection:
            related: Any = self.children(row, table, path[0])
        else:
            related = self.parent(row, path[0])
        if len(path) == 1 or related is None or isinstance(related, list):
            return related

        return self.resolve(related, path[1:])

    def parent(self, row: Mapping[str, Any], navigation_name: str) -> Row | None:
        """The row a single-valued navigation property of ``row`` points at."""
        navigation = self.catalog.navigation(row["__table"], navigation_name)
        if navigation is None or navigation.collection:
            return None
        reference = row.get(navigation.relationship.attribute)
        if not isinstance(reference, Ref) or reference.table != navigation.target:
            return None

        return self.store.get(reference.table, reference.id)

    def children(
        self, row: Mapping[str, Any], table: Table, navigation_name: str
    ) -> list[Row]:
        """The rows a collection-valued navigation property of ``row`` holds."""
        navigation = self.catalog.navigation(table.name, navigation_name)
        if navigation is None or not navigation.collection:
            return []
        relationship = navigation.relationship
        reference = Ref(table.name, row[table.primary_id])

        return self.store.referencing(
            relationship.referencing, relationship.attribute, reference
        )

    def matching(self, query: Query, rows: Sequence[Row] | None = None) -> list[Row]:
        """The rows that pass ``$filter``, in ``$orderby`` then primary-id order."""
        table = query.table
        source = list(self.store.rows(table.name).values()) if rows is None else rows
        try:
            if query.filter is not None:
                expr = query.filter
                source = [
                    row
                    for row in source
                    if _odata.evaluate(expr, row, self.resolve, case_insensitive=True)
                ]
            ordering = [*query.orderby, ((table.primary_id,), False)]
            ordered = _odata.sort_rows(
                source, ordering, self.resolve, case_insensitive=True
            )
        except _odata.ODataSyntaxError as exc:
            raise DataverseError(400, QUERY, exc.message) from None

        return [dict(row) if not isinstance(row, dict) else row for row in ordered]

    # --- Output ------------------------------------------------------------------

    def render(self, query: Query, row: Row, annotate: Annotations) -> dict[str, Any]:
        """``row`` as the Web API writes it, with expansions."""
        table = query.table
        out: dict[str, Any] = {"@odata.etag": f'W/"{row.get("versionnumber", 0)}"'}
        if query.select is not None:
            columns = list(query.select)
        else:
            columns = [a for a in table.attributes.values() if a.readable]
        primary = table.attributes[table.primary_id]
        if primary not in columns:
            columns.append(primary)
        for attribute in columns:
            self._render_column(out, row, attribute, annotate)
        for name, nested in query.expand:
            navigation = self.catalog.navigation(table.name, name)
            if navigation is not None and navigation.collection:
                children = self.matching(nested, self.children(row, table, name))
                if nested.top is not None:
                    children = children[: nested.top]
                out[name] = [self.render(nested, child, annotate) for child in children]
            else:
                related = self.parent(row, name)
                out[name] = (
                    None if related is None else self.render(nested, related, annotate)
                )

        return out

    def _render_column(
        self,
        out: dict[str, Any],
        row: Row,
        attribute: Attribute,
        annotate: Annotations,
    ) -> None:
        name = attribute.wire_name
        value = row.get(attribute.name)
        shown = values.formatted(
            attribute,
            value,
            currency_symbol=self._currency_symbol(row),
            lookup_name=self._lookup_name(value),
        )
        if shown is not None and annotate(FORMATTED):
            out[f"{name}@{FORMATTED}"] = shown
        if isinstance(value, Ref):
            if annotate(NAVIGATION_PROPERTY):
                navigation = attribute.navigation.get(value.table, attribute.name)
                out[f"{name}@{NAVIGATION_PROPERTY}"] = navigation
            if annotate(LOOKUP_LOGICAL_NAME):
                out[f"{name}@{LOOKUP_LOGICAL_NAME}"] = value.table
        out[name] = values.wire(attribute, value)

    def _lookup_name(self, value: Any) -> str | None:
        if not isinstance(value, Ref):
            return None
        target = self.catalog.table(value.table)
        row = self.store.get(value.table, value.id)
        if target is None or row is None:
            return None
        name = row.get(target.primary_name)

        return None if name is None else str(name)

    def _currency_symbol(self, row: Row) -> str:
        currency = row.get("transactioncurrencyid")
        if isinstance(currency, Ref):
            found = self.store.get("transactioncurrency", currency.id)
            if found is not None and found.get("currencysymbol"):
                return str(found["currencysymbol"])

        return "$"


_NOT_NULL = _odata.Literal(None, "null")
_NEGATED = {"eq": "ne", "ne": "eq", "gt": "le", "ge": "lt", "lt": "ge", "le": "gt"}


def sql_nulls(expr: _odata.Expr, negate: bool = False) -> _odata.Expr:
    """``expr`` rewritten so that a comparison with a null column is never true.

    SQL Server, behind Dataverse, compares with three-valued logic: ``x ne 5``
    and ``not (x eq 5)`` leave out rows where ``x`` is null, unlike OData's
    rules. Negations are pushed down to the comparisons, and each ``ne`` (and
    each negated ``in``) of a column against a value also requires the column
    to be set.
    """
    match expr:
        case _odata.Not(operand=operand):
            return sql_nulls(operand, not negate)
        case _odata.And(left=left, right=right) if negate:
            return _odata.Or(sql_nulls(left, True), sql_nulls(right, True))
        case _odata.Or(left=left, right=right) if negate:
            return _odata.And(sql_nulls(left, True), sql_nulls(right, True))
        case _odata.And(left=left, right=right):
            return _odata.And(sql_nulls(left), sql_nulls(right))
        case _odata.Or(left=left, right=right):
            return _odata.Or(sql_nulls(left), sql_nulls(right))
        case _odata.Compare(op=op, left=left, right=right):
            op = _NEGATED[op] if negate else op
            compared = _odata.Compare(op, left, right)
            return _guarded(compared) if op == "ne" else compared
        case _odata.In(left=left) if negate:
            return _odata.And(_odata.Not(expr), _odata.Compare("ne", left, _NOT_NULL))
        case _odata.Lambda(body=body) if body is not None:
            rewritten = replace(expr, body=sql_nulls(body))
            return _odata.Not(rewritten) if negate else rewritten
        case _:
            return _odata.Not(expr) if negate else expr


def _guarded(compare: _odata.Compare) -> _odata.Expr:
    """``x ne v`` as SQL reads it: also false when ``x`` is null."""
    sides = (compare.left, compare.right)
    column = next((s for s in sides if isinstance(s, _odata.Property)), None)
    value = next((s for s in sides if isinstance(s, _odata.Literal)), None)
    if column is None or value is None or value.kind == "null":
        return compare

    return _odata.And(compare, _odata.Compare("ne", column, _NOT_NULL))


def _whole(text: str, option: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 0:
        raise DataverseError(
            400, QUERY, f"Invalid value '{text}' for {option} query option found."
        )

    return number
