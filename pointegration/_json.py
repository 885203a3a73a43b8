"""JSON with exact decimals, in both directions.

Money must stay ``Decimal`` from the Dataverse response to the BC request, and the
standard library writes a ``Decimal`` only by way of ``float`` (losing cents on
values such as ``1234.565``). :func:`dumps` writes each ``Decimal`` as the exact
JSON number it holds; :func:`loads` reads every JSON number with a fraction or an
exponent as ``Decimal``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["dumps", "loads"]

_scalar = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode


def dumps(value: Any) -> str:
    """Compact JSON text of ``value``; a ``Decimal`` becomes an exact number.

    Raises ``ValueError`` for a NaN or infinite number, which JSON cannot hold,
    and ``TypeError`` for a value JSON has no form for.
    """
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} cannot be written as a JSON number")
        return format(value, "f")
    if isinstance(value, Mapping):
        items = (f"{_scalar(str(k))}:{dumps(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if value is None or isinstance(value, str | int | float | bool):
        return _scalar(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def loads(text: str | bytes) -> Any:
    """Parse JSON text; numbers with a fraction or exponent become ``Decimal``.

    ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (the standard library
    reads them anyway) and raise ``ValueError``, as the services refuse them.
    """
    return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")
