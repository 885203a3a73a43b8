"""``$filter`` evaluated over a row: three-valued logic and canonical functions.

Null follows the OData rules: ``x eq null`` holds when ``x`` is missing or
null, ordering comparisons with null are false, and a string function of null
is null, which makes ``not contains(x, 'a')`` false for a null ``x`` the way
SQL would. A row matches only when the filter is true. How two values compare
is :mod:`pointegration.emulators._odata_compare`'s to say.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pointegration.emulators._odata_compare import compare, plain
from pointegration.emulators._odata_errors import ODataTypeError
from pointegration.emulators._odata_tree import (
    And,
    Call,
    Compare,
    Expr,
    In,
    Lambda,
    Literal,
    Not,
    Or,
    Property,
    Resolver,
    default_resolve,
)

__all__ = ["evaluate"]


@dataclass(frozen=True)
class _Scope:
    row: Mapping[str, Any]
    resolve: Resolver
    case_insensitive: bool
    variables: Mapping[str, Any] = field(default_factory=dict)


def evaluate(
    expr: Expr,
    row: Mapping[str, Any],
    resolve: Resolver | None = None,
    *,
    case_insensitive: bool = False,
) -> bool:
    """Whether ``row`` matches the filter ``expr``.

    ``resolve(row, path)`` gives the value of a property or navigation path; it
    is also called with the items of a lambda's collection. ``case_insensitive``
    compares strings as SQL Server's default collation does, functions included.
    Raises :class:`ODataTypeError` when the filter compares incompatible values.
    """
    scope = _Scope(row, resolve or default_resolve, case_insensitive)

    return _truth(_value(expr, scope), "A filter") is True


def _value(expr: Expr, scope: _Scope) -> Any:
    match expr:
        case Literal(value=value, kind="guid"):
            return uuid.UUID(value)
        case Literal(value=value):
            return value
        case Property(path=path):
            return _property(path, scope)
        case Compare(op=op, left=left, right=right):
            pair = (_value(left, scope), _value(right, scope))
            kinds = (_kind(left), _kind(right))
            return compare(op, pair, kinds, scope.case_insensitive)
        case And() | Or() | Not():
            return _logical(expr, scope)
        case In():
            return _in(expr, scope)
        case Call(name=name, args=args):
            arguments = [_value(arg, scope) for arg in args]
            return _call(name, arguments, scope.case_insensitive)
        case Lambda():
            return _lambda(expr, scope)


def _kind(expr: Expr) -> str | None:
    return expr.kind if isinstance(expr, Literal) else None


def _property(path: tuple[str, ...], scope: _Scope) -> Any:
    if path[0] not in scope.variables:
        return scope.resolve(scope.row, path)
    item = scope.variables[path[0]]
    if len(path) == 1:
        return item
    if not isinstance(item, Mapping):
        return None

    return scope.resolve(item, path[1:])


def _truth(value: Any, what: str) -> bool | None:
    """``value`` as a three-valued truth; ``what`` names it in the error."""
    if value is None or isinstance(value, bool):
        return value
    kind = type(value).__name__
    raise ODataTypeError(f"{what} must be true, false or null, not a {kind}.")


def _logical(expr: And | Or | Not, scope: _Scope) -> bool | None:
    """Three-valued logic: null is unknown, as in SQL and the OData spec.

    A chain such as ``a or b or c`` is read in a loop, not by recursion, so a
    filter of a thousand alternatives evaluates.
    """
    if isinstance(expr, Not):
        operand = _truth(_value(expr.operand, scope), "The operand of 'not'")
        return None if operand is None else not operand
    what = f"Each operand of '{type(expr).__name__.lower()}'"
    outcomes = {_truth(_value(node, scope), what) for node in _chain(expr)}
    decisive = isinstance(expr, Or)
    if decisive in outcomes:
        return decisive
    if None in outcomes:
        return None

    return not decisive


def _chain(expr: And | Or) -> list[Expr]:
    """The operands of a left-leaning chain of one operator, in order."""
    operands: list[Expr] = []
    node: Expr = expr
    while isinstance(node, type(expr)):
        operands.append(node.right)
        node = node.left
    operands.append(node)

    return operands[::-1]


def _in(expr: In, scope: _Scope) -> bool:
    subject = _value(expr.left, scope)
    left_kind = _kind(expr.left)
    for literal in expr.values:
        pair = (subject, _value(literal, scope))
        kinds = (left_kind, None if expr.loose else literal.kind)
        if compare("eq", pair, kinds, scope.case_insensitive):
            return True

    return False


def _lambda(expr: Lambda, scope: _Scope) -> bool | None:
    collection = _property(expr.path, scope)
    if collection is None:
        collection = []
    if not isinstance(collection, Sequence) or isinstance(collection, str):
        raise ODataTypeError(f"'{'/'.join(expr.path)}' is not a collection.")
    if expr.body is None:
        return len(collection) > 0
    outcomes = []
    for item in collection:
        variables = {**scope.variables, expr.var: item}
        inner = _Scope(scope.row, scope.resolve, scope.case_insensitive, variables)
        outcomes.append(_truth(_value(expr.body, inner), "A lambda body") is True)

    return any(outcomes) if expr.op == "any" else all(outcomes)


# --- Canonical functions -----------------------------------------------------


def _call(name: str, args: list[Any], case_insensitive: bool) -> Any:
    """A canonical function; null in, null out."""
    if any(arg is None for arg in args):
        return None
    args = [plain(arg) for arg in args]
    if name == "substring":
        return _substring(args)
    if not all(isinstance(arg, str) for arg in args):
        raise ODataTypeError(f"The arguments of '{name}' must be strings.")
    if name in _CASELESS and case_insensitive:
        args = [arg.casefold() for arg in args]

    return _STRING_FUNCTIONS[name](*args)


def _substring(args: list[Any]) -> str:
    text, *bounds = args
    if not isinstance(text, str) or not all(
        isinstance(b, int) and not isinstance(b, bool) for b in bounds
    ):
        raise ODataTypeError("'substring' takes a string and one or two integers.")
    start = max(bounds[0], 0)
    end = None if len(bounds) == 1 else start + max(bounds[1], 0)

    return text[start:end]


_CASELESS = frozenset({"contains", "startswith", "endswith", "indexof"})
_STRING_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "contains": lambda text, part: part in text,
    "startswith": lambda text, part: text.startswith(part),
    "endswith": lambda text, part: text.endswith(part),
    "indexof": lambda text, part: text.find(part),
    "concat": lambda first, second: first + second,
    "tolower": lambda text: text.lower(),
    "toupper": lambda text: text.upper(),
    "trim": lambda text: text.strip(),
    "length": len,
}
