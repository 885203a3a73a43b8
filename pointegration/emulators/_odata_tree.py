"""The syntax tree of a ``$filter``: small frozen nodes, and ways to read one.

:func:`walk` and :func:`properties` let each emulator decide what its service
refuses (BC's OR across fields, functions Dataverse lacks) without evaluating;
:data:`Resolver` is how evaluation and sorting find a property's value in a row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = [
    "And",
    "Call",
    "Compare",
    "ExpandItem",
    "Expr",
    "In",
    "Lambda",
    "Literal",
    "Not",
    "Or",
    "Property",
    "Resolver",
    "default_resolve",
    "properties",
    "walk",
]


@dataclass(frozen=True)
class Property:
    """A property, or a navigation path such as ``sdkmessageid/name``."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class Literal:
    """A constant; ``kind`` is string, int, decimal, bool, null, guid, datetime
    or date. GUIDs are lower-case ``str``, datetimes aware UTC, decimals exact.
    """

    value: Any
    kind: str


@dataclass(frozen=True)
class Compare:
    """``left op right`` with ``op`` one of eq ne gt ge lt le."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class And:
    """Both operands true."""

    left: Expr
    right: Expr


@dataclass(frozen=True)
class Or:
    """Either operand true."""

    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not:
    """The operand false."""

    operand: Expr


@dataclass(frozen=True)
class Call:
    """A canonical function such as ``contains(name,'x')``."""

    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class In:
    """``left in (v1, v2, ...)``; also what ``Microsoft.Dynamics.CRM.In`` reads as.

    ``loose`` compares each value after conversion to the property's type, since
    Dataverse query functions pass every value as a string (``['1','2']``).
    """

    left: Expr
    values: tuple[Literal, ...]
    loose: bool = False


@dataclass(frozen=True)
class Lambda:
    """``path/any(var: body)`` or ``path/all(var: body)``; ``any()`` has no body."""

    path: tuple[str, ...]
    op: str
    var: str
    body: Expr | None


Expr: TypeAlias = Property | Literal | Compare | And | Or | Not | Call | In | Lambda

Resolver: TypeAlias = Callable[[Mapping[str, Any], tuple[str, ...]], Any]


@dataclass(frozen=True)
class ExpandItem:
    """One ``$expand`` entry: the navigation name and its nested options, raw."""

    name: str
    options: dict[str, str] = field(default_factory=dict)


def default_resolve(row: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path``, following nested mappings; None where one is missing."""
    value: Any = row
    for segment in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(segment)

    return value


# --- Reading a tree ----------------------------------------------------------


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of ``expr``, parents before children, left to right.

    It keeps its own stack, so a chain of a thousand ``or`` walks too.
    """
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(_children(node)))


def _children(expr: Expr) -> tuple[Expr, ...]:
    match expr:
        case Compare(left=left, right=right) | And(left=left, right=right):
            return (left, right)
        case Or(left=left, right=right):
            return (left, right)
        case Not(operand=operand):
            return (operand,)
        case Call(args=args):
            return args
        case In(left=left, values=values):
            return (left, *values)
        case Lambda(body=body) if body is not None:
            return (body,)

    return ()


def properties(expr: Expr) -> set[tuple[str, ...]]:
    """Every property path ``expr`` reads.

    Inside a lambda, ``o/x`` is reported as the collection's path followed by
    ``x`` (``("salesInvoiceLines", "quantity")``), and the collection's own path
    is reported too; the variable alone is not a property.
    """
    found: set[tuple[str, ...]] = set()
    no_variables: dict[str, tuple[str, ...]] = {}
    stack = [(expr, no_variables)]
    while stack:
        node, variables = stack.pop()
        if isinstance(node, Property | Lambda):
            path = _absolute(node.path, variables)
            if path:
                found.add(path)
        if isinstance(node, Lambda) and node.body is not None:
            variables = {**variables, node.var: path}
        stack.extend((child, variables) for child in _children(node))

    return found


def _absolute(
    path: tuple[str, ...],
    variables: Mapping[str, tuple[str, ...]],
) -> tuple[str, ...]:
    if path[0] not in variables:
        return path

    return variables[path[0]] + path[1:] if len(path) > 1 else ()
