"""Query options the way BC's OData endpoint reads them.

The syntax is :mod:`pointegration.emulators._odata`'s; this module adds what BC
refuses or changes on top of it:

- a property the entity type lacks, in ``$filter``, ``$select``, ``$orderby``
  or ``$expand``: 400 "Could not find a property named 'x' on type
  'Microsoft.NAV.customer'.";
- ``or`` between conditions on different properties: 400 "The 'OR' operator is
  not supported on distinct fields on an OData filter." (the sentence of
  learn: dev-itpro/webservices/odata-known-limitations);
- ``in`` without ``$schemaversion=2.1``: 400;
- a function call inside another (``contains(tolower(x), 'a')``) without
  ``$schemaversion=2.1``: 400. Microsoft says such a filter "either throws an
  error or returns an undefined result" there (learn: use-filter-expressions-
  in-odata-uris); the emulator picks the error, whose wording is its own;
- lambda operators: BC ignores the whole filter, and so does this module;
- strings compare case-insensitively (BC online's SQL collation), enum
  literals by their encoded name (``'In_x0020_Review'``; the AL name is read
  too), datetimes as bare literals.

Server-driven paging continues from the last row read, not from an offset, so
a row inserted or deleted before that row while a client pages shifts nothing.
The rows come in ``$orderby`` order, then in the page's key order, then by the
row's own key (so the order is total and ties cannot be lost); without
``$orderby`` in the key order alone, which for an API page is its source
table's primary key (customers by No., salesInvoices by No.). A
``$skiptoken`` is :func:`encode_token` of a :class:`Position`: the sort
values of the last row served, and the order they belong to.

Real BC's ``$skiptoken`` is the bare ``SystemId`` of the last row served
(``customers?aid=FIN&$skiptoken=5de545bc-...``, as captured in third-party
recordings of live tenants; Microsoft documents only that the link is
opaque). The emulator's token carries the sort values as well, so a page can
follow even when that row was deleted meanwhile; what BC does then is
unconfirmed. A token the emulator did not issue, or one issued for another
order, is a 400 ``BadRequest`` "The $skiptoken value is not valid." (code and
wording are the emulator's choice; BC's answer is unconfirmed).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, TypeVar, cast

from pointegration._json import dumps, loads
from pointegration.emulators._bc_contract import EntitySpec
from pointegration.emulators._bc_errors import BCError
from pointegration.emulators._odata import (
    And,
    Call,
    Compare,
    ExpandItem,
    Expr,
    In,
    Lambda,
    Literal,
    Not,
    ODataSyntaxError,
    Or,
    Property,
    Resolver,
    evaluate,
    parse_expand,
    parse_filter,
    parse_orderby,
    parse_select,
    properties,
    sort_rows,
    walk,
)

__all__ = [
    "Position",
    "Query",
    "decode_token",
    "encode_token",
    "parse_query",
    "position_of",
    "required_equalities",
    "select_rows",
]

RowT = TypeVar("RowT", bound=Mapping[str, Any])
_OR_ACROSS_FIELDS = (
    "The 'OR' operator is not supported on distinct fields on an OData filter."
)
_OPTIONS = frozenset(
    {"$filter", "$select", "$orderby", "$top", "$skip", "$expand", "$count"}
    | {"$skiptoken", "$schemaversion", "$format"}
)
_SKIP_REFUSED = "The $skiptoken value is not valid."
_TOKEN_TYPES = (str, int, bool, Decimal)
Order = list[tuple[tuple[str, ...], bool]]


@dataclass(frozen=True)
class Position:
    """Where a page ended: one value per sort term of ``order``.

    ``order`` names the terms as ``$orderby`` would (``"city desc"``).
    """

    order: tuple[str, ...]
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Query:
    """The query options of one request, checked against the entity type."""

    filter: Expr | None = None
    select: tuple[str, ...] | None = None
    orderby: tuple[tuple[tuple[str, ...], bool], ...] = ()
    top: int | None = None
    skip: int = 0
    expand: tuple[ExpandItem, ...] = ()
    count: bool = False
    after: Position | None = None
    schema: str = ""
    nested: dict[str, Query] = field(default_factory=dict)


def parse_query(
    spec: EntitySpec,
    params: Mapping[str, str],
    expand_spec: Mapping[str, EntitySpec] | None = None,
) -> Query:
    """The options in ``params`` for ``spec``, or BC's 400.

    ``expand_spec`` maps each navigation the caller can expand to the type it
    leads to, so nested options are checked against that type.
    """
    unknown = [k for k in params if k.startswith("$") and k not in _OPTIONS]
    if unknown:
        text = f"The query parameter '{unknown[0]}' is not supported."
        raise BCError(400, "BadRequest", text)
    schema = params.get("$schemaversion", "")
    try:
        return _parse(spec, params, schema, expand_spec or {})
    except ODataSyntaxError as exc:
        raise BCError(400, "BadRequest", exc.message) from None


def _parse(
    spec: EntitySpec,
    params: Mapping[str, str],
    schema: str,
    expand_spec: Mapping[str, EntitySpec],
) -> Query:
    expr = _filter(spec, params["$filter"], schema) if params.get("$filter") else None
    select = None
    if params.get("$select"):
        select = tuple(parse_select(params["$select"]))
        for name in select:
            _known(spec, name)
    orderby = tuple(parse_orderby(params["$orderby"])) if params.get("$orderby") else ()
    for path, _ in orderby:
        _known(spec, path[0])
    expand = tuple(parse_expand(params["$expand"])) if params.get("$expand") else ()
    nested: dict[str, Query] = {}
    for item in expand:
        target = expand_spec.get(item.name)
        if item.name not in spec.navigations:
            raise _not_a_property(spec, item.name)
        if target is None:
            text = f"The emulator does not expand '{item.name}'."
            raise BCError(501, "BadRequest_MethodNotImplemented", text)
        nested[item.name] = _parse(target, item.options, schema, {})
    after = decode_token(params["$skiptoken"]) if params.get("$skiptoken") else None

    return Query(
        filter=expr,
        select=select,
        orderby=orderby,
        top=_whole(params, "$top"),
        skip=_whole(params, "$skip") or 0,
        expand=expand,
        count=params.get("$count", "false") == "true",
        after=after,
        schema=schema,
        nested=nested,
    )


def _whole(params: Mapping[str, str], name: str) -> int | None:
    text = params.get(name)
    if text is None:
        return None
    if not text.isdigit():
        message = f"Invalid value '{text}' for {name} query option found."
        raise BCError(400, "BadRequest", message)

    return int(text)


def _filter(spec: EntitySpec, text: str, schema: str) -> Expr | None:
    expr = parse_filter(text)
    nodes = list(walk(expr))
    if any(isinstance(node, Lambda) for node in nodes):
        return None
    for path in properties(expr):
        _known(spec, path[0])
        if len(path) > 1:
            raise _not_a_property(spec, "/".join(path))
    if schema != "2.1" and any(isinstance(node, In) for node in nodes):
        text = "The 'in' operator is supported only with $schemaversion=2.1."
        raise BCError(400, "BadRequest", text)
    if schema != "2.1" and any(_nested_call(node) for node in nodes):
        text = "Nested function calls are supported only with $schemaversion=2.1."
        raise BCError(400, "BadRequest", text)
    for node in nodes:
        if isinstance(node, Or) and len(properties(node)) > 1:
            raise BCError(400, "BadRequest", _OR_ACROSS_FIELDS)

    return _enum_literals(spec, expr)


def _nested_call(node: Expr) -> bool:
    return isinstance(node, Call) and any(isinstance(a, Call) for a in node.args)


def _known(spec: EntitySpec, name: str) -> None:
    if name not in spec.fields:
        raise _not_a_property(spec, name)


def _not_a_property(spec: EntitySpec, name: str) -> BCError:
    text = f"Could not find a property named '{name}' on type '{spec.type_name}'."

    return BCError(400, "BadRequest_NotFound", text)


def _enum_literals(spec: EntitySpec, expr: Expr) -> Expr:
    """``expr`` with string literals compared to enum properties as wire names."""
    match expr:
        case Compare(left=Property(path=path), right=Literal() as literal):
            return replace(expr, right=_wire(spec, path, literal))
        case Compare(left=Literal() as literal, right=Property(path=path)):
            return replace(expr, left=_wire(spec, path, literal))
        case In(left=Property(path=path), values=values):
            return replace(expr, values=tuple(_wire(spec, path, v) for v in values))
        case And(left=left, right=right) | Or(left=left, right=right):
            return replace(
                expr,
                left=_enum_literals(spec, left),
                right=_enum_literals(spec, right),
            )
        case Not(operand=operand):
            return replace(expr, operand=_enum_literals(spec, operand))

    return expr


def _wire(spec: EntitySpec, path: tuple[str, ...], literal: Literal) -> Literal:
    enum = spec.fields[path[0]].enum
    if enum is None or literal.kind != "string":
        return literal
    wire = enum.to_wire(str(literal.value))

    return literal if wire is None else Literal(wire, "string")


def required_equalities(expr: Expr | None) -> dict[str, Any]:
    """``property eq value`` conditions that every match of ``expr`` meets.

    Only the top-level ``and`` chain counts; ``{"documentId": "<guid>"}`` for
    ``documentId eq <guid> and quantity gt 1``.
    """
    found: dict[str, Any] = {}
    stack = [expr] if expr is not None else []
    while stack:
        node = stack.pop()
        match node:
            case And(left=left, right=right):
                stack.extend((left, right))
            case Compare(op="eq", left=Property(path=path), right=Literal(value=v)):
                found[path[0]] = v
            case Compare(op="eq", left=Literal(value=v), right=Property(path=path)):
                found[path[0]] = v

    return found


def select_rows(
    rows: Sequence[RowT],
    query: Query,
    key_order: Sequence[str],
    resolve: Resolver,
) -> tuple[list[RowT], int]:
    """The rows matching ``query``, ordered, after ``$skip``/``$top``; and the count.

    ``key_order`` is the page's key, which orders the rows without ``$orderby``
    and breaks its ties. ``resolve(row, path)`` gives a property's value as the
    API shows it. Rows up to ``query.after`` are left out (BC's 400 when that
    position is of another order). The count is of all matching rows, before
    the position, ``$skip`` and ``$top``.
    """
    matching = [row for row in rows if _matches(query.filter, row, resolve)]
    order = _total_order(query, key_order)
    if query.after is None:
        chosen = sort_rows(matching, order, resolve, case_insensitive=True)
    else:
        chosen = _following(matching, order, query.after, resolve)
    chosen = chosen[query.skip :]
    if query.top is not None:
        chosen = chosen[: query.top]

    return chosen, len(matching)


def position_of(
    row: Mapping[str, Any],
    query: Query,
    key_order: Sequence[str],
    resolve: Resolver,
) -> Position:
    """The position just after ``row`` in the order :func:`select_rows` uses."""
    order = _total_order(query, key_order)
    values = tuple(resolve(row, path) for path, _ in order)

    return Position(_names(order), values)


def _total_order(query: Query, key_order: Sequence[str]) -> Order:
    order = list(query.orderby)
    for name in key_order:
        if all(path != (name,) for path, _ in order):
            order.append(((name,), False))

    return order


def _names(order: Order) -> tuple[str, ...]:
    return tuple("/".join(path) + (" desc" if desc else "") for path, desc in order)


def _following(
    rows: Sequence[RowT],
    order: Order,
    after: Position,
    resolve: Resolver,
) -> list[RowT]:
    """``rows`` sorted, from the first one past ``after``.

    The position joins the sort as a row of its own, last among equals, so the
    rows after it are exactly those sorting strictly after its values.
    """
    if after.order != _names(order):
        raise BCError(400, "BadRequest", _SKIP_REFUSED)
    marker: dict[str, Any] = {}
    values = {path: value for (path, _), value in zip(order, after.values, strict=True)}

    def value(row: Mapping[str, Any], path: tuple[str, ...]) -> Any:
        return values[path] if row is marker else resolve(row, path)

    candidates: list[Mapping[str, Any]] = [*rows, marker]
    ordered = sort_rows(candidates, order, value, case_insensitive=True)
    start = next(i for i, row in enumerate(ordered) if row is marker) + 1

    return cast(list[RowT], ordered[start:])


def _matches(expr: Expr | None, row: Mapping[str, Any], resolve: Resolver) -> bool:
    if expr is None:
        return True
    try:
        return evaluate(expr, row, resolve, case_insensitive=True)
    except ODataSyntaxError as exc:
        raise BCError(400, "BadRequest", exc.message) from None


def encode_token(position: Position) -> str:
    """The ``$skiptoken`` for the page after ``position``: URL-safe base64 JSON."""
    values = [_plain(value) for value in position.values]
    raw = dumps({"order": list(position.order), "after": values}).encode("utf-8")

    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | bool | Decimal):
        return value

    return str(value)


def decode_token(token: str) -> Position:
    """The position in a ``$skiptoken``; BC's 400 for one the emulator did not issue."""
    try:
        padded = token + "=" * (-len(token) % 4)
        value = loads(base64.b64decode(padded, altchars=b"-_", validate=True))
    except ValueError:
        value = None
    if not isinstance(value, dict) or set(value) != {"order", "after"}:
        raise BCError(400, "BadRequest", _SKIP_REFUSED)
    order, after = value["order"], value["after"]
    if not _well_formed(order, after):
        raise BCError(400, "BadRequest", _SKIP_REFUSED)

    return Position(tuple(order), tuple(after))


def _well_formed(order: Any, after: Any) -> bool:
    """Whether ``order`` names sort terms and ``after`` holds one value for each."""
    if not isinstance(order, list) or not isinstance(after, list):
        return False
    if not order or len(order) != len(after):
        return False
    names = all(isinstance(name, str) for name in order)

    return names and all(v is None or isinstance(v, _TOKEN_TYPES) for v in after)
