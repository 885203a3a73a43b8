"""How filter values compare and how rows sort.

Both sides are brought to one type before comparing: enums by their wire
value, naive datetimes as UTC, floats as exact decimals, and a stored string
as the GUID, instant, date or number it spells when the other side is one; a
string literal compares only with strings. A date against an instant is
midnight UTC. Anything else is an :class:`ODataTypeError`. :func:`sort_rows`
puts nulls where SQL Server does.
"""

from __future__ import annotations

import operator
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, TypeVar

from pointegration.emulators._odata_errors import ODataTypeError
from pointegration.emulators._odata_lexer import DATE, read_date, read_datetime
from pointegration.emulators._odata_tree import Resolver, default_resolve

__all__ = ["compare", "plain", "sort_rows"]


def compare(
    op: str,
    pair: tuple[Any, Any],
    kinds: tuple[str | None, str | None],
    case_insensitive: bool,
) -> bool:
    """Whether ``pair[0] op pair[1]`` holds; ``kinds`` are the sides' literal
    kinds, None for a side that is not a literal.

    A null on either side is equal only to null and orders with nothing.
    Raises :class:`ODataTypeError` when the two values do not compare.
    """
    left, right = pair
    if left is None or right is None:
        both = left is None and right is None
        return {"eq": both, "ne": not both}.get(op, False)
    left, right = _coerce(plain(left), plain(right), kinds)
    if isinstance(left, str) and case_insensitive:
        left, right = left.casefold(), right.casefold()
    try:
        return bool(_OPERATORS[op](left, right))
    except TypeError:
        raise _mismatch(left, right) from None


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


def plain(value: Any) -> Any:
    """An enum as its wire value, a naive datetime as UTC, anything else as is."""
    if isinstance(value, Enum):
        inner = value.value
        return inner if isinstance(inner, str | int) else value.name
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)

    return value


def _mismatch(left: Any, right: Any) -> ODataTypeError:
    kinds = f"{type(left).__name__} with {type(right).__name__}"

    return ODataTypeError(f"A filter cannot compare {kinds}.")


def _coerce(
    left: Any,
    right: Any,
    kinds: tuple[str | None, str | None],
) -> tuple[Any, Any]:
    """Both values in one comparable type, or :class:`ODataTypeError`.

    A string literal compares only with strings; a stored string is read as the
    GUID, instant, date or number it spells when the other side is one.
    """
    for value, other, kind in ((left, right, kinds[1]), (right, left, kinds[0])):
        if kind == "string" and not isinstance(value, str):
            raise _mismatch(value, other)
    if isinstance(left, str) and isinstance(right, str):
        return left, right
    if isinstance(left, bool) or isinstance(right, bool):
        if isinstance(left, bool) and isinstance(right, bool):
            return left, right
        raise _mismatch(left, right)
    for convert in (_as_uuid, _as_moment, _as_number):
        converted = convert(left, right)
        if converted is not None:
            return converted
    raise _mismatch(left, right)


def _as_uuid(left: Any, right: Any) -> tuple[Any, Any] | None:
    if not isinstance(left, uuid.UUID) and not isinstance(right, uuid.UUID):
        return None
    try:
        return _to_uuid(left), _to_uuid(right)
    except ValueError:
        raise _mismatch(left, right) from None


def _to_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _as_moment(left: Any, right: Any) -> tuple[Any, Any] | None:
    if not any(isinstance(v, date) for v in (left, right)):
        return None
    first, second = _moment(left), _moment(right)
    if first is None or second is None:
        raise _mismatch(left, right)
    if isinstance(first, datetime) or isinstance(second, datetime):
        return _midnight(first), _midnight(second)

    return first, second


def _moment(value: Any) -> date | None:
    if isinstance(value, date):
        return plain(value)  # type: ignore[no-any-return]
    if not isinstance(value, str):
        return None
    try:
        if match := DATE.fullmatch(value):
            return read_date(match)
        if match := _STORED_DATETIME.fullmatch(value):
            return read_datetime(match)
    except ValueError:
        return None

    return None


_STORED_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,12}))?)?"
    r"(Z|[+-]\d{2}:\d{2})?"
)


def _midnight(moment: date) -> datetime:
    if isinstance(moment, datetime):
        return moment

    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def _as_number(left: Any, right: Any) -> tuple[Any, Any] | None:
    numbers = (int, float, Decimal)
    if not isinstance(left, numbers) and not isinstance(right, numbers):
        return None
    try:
        return _to_number(left), _to_number(right)
    except InvalidOperation:
        raise _mismatch(left, right) from None


def _to_number(value: Any) -> int | Decimal:
    """An exact number; a float by its shortest repr, so 0.1 equals 0.1."""
    if isinstance(value, int | Decimal):
        return value

    return Decimal(repr(value) if isinstance(value, float) else str(value))


# --- Sorting -------------------------------------------------------------------

_Row = TypeVar("_Row", bound=Mapping[str, Any])


def sort_rows(
    rows: Sequence[_Row],
    orderby: Sequence[tuple[tuple[str, ...], bool]],
    resolve: Resolver | None = None,
    *,
    case_insensitive: bool = False,
) -> list[_Row]:
    """``rows`` in ``$orderby`` order; null first ascending, last descending.

    That is where SQL Server, behind Dataverse and BC, puts nulls. The sort is
    stable: rows with equal keys keep their order. Values of types that do not
    compare (a number and a string) are ordered by type name, then as text.
    """
    resolver = resolve or default_resolve
    ordered = list(rows)
    for path, descending in reversed(orderby):
        keys = [_sort_key(resolver(row, path), case_insensitive) for row in ordered]
        ordered = [ordered[index] for index in _order(keys, descending)]

    return ordered


def _order(keys: list[tuple[Any, ...]], descending: bool) -> list[int]:
    """Indexes of ``keys`` in (stable) order, by type and text if they clash."""
    indexes = range(len(keys))
    try:
        return sorted(indexes, key=keys.__getitem__, reverse=descending)
    except TypeError:
        texts = [(key[0], type(key[-1]).__name__, str(key[-1])) for key in keys]

    return sorted(indexes, key=texts.__getitem__, reverse=descending)


def _sort_key(value: Any, case_insensitive: bool) -> tuple[Any, ...]:
    if value is None:
        return (0,)
    value = plain(value)
    if isinstance(value, uuid.UUID):
        value = str(value)
    if isinstance(value, str) and case_insensitive:
        value = value.casefold()

    return (1, value)
