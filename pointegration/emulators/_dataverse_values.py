"""Column values of the Dataverse emulator: read from bodies, written to bodies.

A stored row holds Python values: ``str`` for strings and GUIDs, ``int`` for
whole numbers and choices, ``Decimal`` for decimals and money (rounded to the
column's precision, as the service stores them), aware UTC ``datetime`` cut to
the second for date-and-time columns, ``date`` for date-only columns, ``bool``,
and :class:`Ref` for lookups. :func:`parse` turns a JSON body value into that
form (or refuses it with the service's error); :func:`wire` writes it back;
:func:`formatted` gives the ``FormattedValue`` annotation (en-US, like an org
whose users read English).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from pointegration.emulators._dataverse_errors import (
    DataverseError,
    too_long,
    wrong_type,
)
from pointegration.emulators._dataverse_model import Attribute

__all__ = [
    "Ref",
    "format_datetime",
    "formatted",
    "parse",
    "parse_guid",
    "wire",
]

_INT32 = (-2_147_483_648, 2_147_483_647)
_MONEY_LIMIT = Decimal("922337203685477")
_DECIMAL_LIMIT = Decimal("100000000000")
_RANGE = "0x8004431a"
_MONEY_SCALE = Decimal("0.0001")


@dataclass(frozen=True)
class Ref:
    """A stored lookup: the target table's logical name and the row id."""

    table: str
    id: str


def parse_guid(text: Any) -> str | None:
    """``text`` as a lower-case GUID string, or ``None`` when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        return str(uuid.UUID(text.strip("{}")))
    except ValueError:
        return None


def parse(attribute: Attribute, value: Any) -> Any:
    """The stored form of body value ``value`` for ``attribute``.

    Raises :class:`DataverseError` (400) for a wrong type, a string over its
    maximum length, a number out of range or a choice value the column lacks.
    Lookups are not parsed here: they are bound through navigation properties.
    """
    if value is None:
        return None
    kind = attribute.kind
    if kind in ("string", "memo"):
        return _string(attribute, value)
    if kind in ("integer", "bigint", "choice", "state", "status"):
        return _whole(attribute, value)
    if kind in ("decimal", "money"):
        return _decimal(attribute, value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise wrong_type(value, attribute.edm_type)
        return value
    if kind == "datetime":
        return _datetime(attribute, value)
    if kind == "dateonly":
        return _date(attribute, value)
    if kind == "uniqueidentifier":
        guid = parse_guid(value)
        if guid is None:
            raise wrong_type(value, attribute.edm_type)
        return guid

    raise wrong_type(value, attribute.edm_type)


def _string(attribute: Attribute, value: Any) -> str:
    if not isinstance(value, str):
        raise wrong_type(value, attribute.edm_type)
    if attribute.max_length is not None and len(value) > attribute.max_length:
        raise too_long(attribute.name, attribute.table, attribute.max_length)

    return value


def _out_of_range(attribute: Attribute, value: Any) -> DataverseError:
    message = (
        f"A validation error occurred. The value {value} of '{attribute.name}' on "
        f"record of type '{attribute.table}' is outside the valid range."
    )
    if attribute.options and attribute.kind != "boolean":
        accepted = ",".join(str(option) for option in attribute.options)
        message += f" Accepted Values: {accepted}"

    return DataverseError(400, _RANGE, message)


def _whole(attribute: Attribute, raw: Any) -> int:
    if isinstance(raw, Decimal) and raw == raw.to_integral_value():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise wrong_type(raw, attribute.edm_type)
    value: int = raw
    if attribute.kind != "bigint" and not _INT32[0] <= value <= _INT32[1]:
        raise wrong_type(str(value), attribute.edm_type)
    is_choice = attribute.kind in ("choice", "state", "status")
    if is_choice and attribute.options and value not in attribute.options:
        raise _out_of_range(attribute, value)
    low = attribute.min_value
    high = attribute.max_value
    if (low is not None and value < low) or (high is not None and value > high):
        raise _out_of_range(attribute, value)

    return value


def _decimal(attribute: Attribute, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise wrong_type(value, attribute.edm_type)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise wrong_type(value, attribute.edm_type) from None
    if not number.is_finite():
        raise wrong_type(str(value), attribute.edm_type)
    limit = _MONEY_LIMIT if attribute.kind == "money" else _DECIMAL_LIMIT
    if abs(number) > limit:
        raise _out_of_range(attribute, value)
    places = attribute.precision if attribute.precision is not None else 2

    return number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _datetime(attribute: Attribute, value: Any) -> datetime:
    if not isinstance(value, str) or "T" not in value:
        raise wrong_type(value, attribute.edm_type)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise wrong_type(value, attribute.edm_type) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)

    return moment.astimezone(UTC).replace(microsecond=0)


def _date(attribute: Attribute, value: Any) -> date:
    if not isinstance(value, str) or len(value) != 10:
        raise wrong_type(value, attribute.edm_type)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise wrong_type(value, attribute.edm_type) from None


def wire(attribute: Attribute, value: Any) -> Any:
    """The JSON form of stored ``value`` (lookups as their id).

    Money is stored rounded to its column's precision but read back with the
    four decimal places of SQL ``money``, as the service's samples show it
    (``"revenue": 5000000.0000`` in create-entity-web-api.md).
    """
    if value is None:
        return None
    if isinstance(value, Ref):
        return value.id
    if attribute.kind == "money" and isinstance(value, Decimal):
        return value.quantize(_MONEY_SCALE)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()

    return value


def format_datetime(moment: datetime) -> str:
    """``1/15/2025 9:05 AM``: how an en-US user sees a date and time (UTC)."""
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"

    return f"{_format_date(moment.date())} {hour}:{moment.minute:02d} {half}"


def _format_date(day: date) -> str:
    return f"{day.month}/{day.day}/{day.year}"


def formatted(
    attribute: Attribute,
    value: Any,
    *,
    currency_symbol: str = "$",
    lookup_name: str | None = None,
) -> str | None:
    """The ``OData.Community.Display.V1.FormattedValue`` of ``value``, if any.

    Strings and GUIDs have none; lookups show the target's primary name.
    """
    if value is None or attribute.kind in ("string", "memo", "uniqueidentifier"):
        return None
    if attribute.kind == "lookup":
        return lookup_name
    if attribute.kind == "boolean":
        return attribute.options.get(int(value), "Yes" if value else "No")
    if attribute.kind in ("choice", "state", "status"):
        return attribute.options.get(value)
    if attribute.kind == "money":
        places = attribute.precision if attribute.precision is not None else 2
        sign = "-" if value < 0 else ""
        return f"{sign}{currency_symbol}{abs(value):,.{places}f}"
    if attribute.kind == "decimal":
        return f"{value:,.{attribute.precision or 2}f}"
    if attribute.kind in ("integer", "bigint"):
        return f"{value:,}"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return _format_date(value)

    return None
