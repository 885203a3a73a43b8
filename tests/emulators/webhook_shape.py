"""Compare a RemoteExecutionContext with Microsoft's sample by shape, not values."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

SAMPLE = (
    Path(__file__).parent.parent / "fixtures" / "dataverse_webhook_contact_update.json"
)

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_WCF_DATE = re.compile(r"^/Date\(\d+([+-]\d{4})?\)/$")


def _kind(value: Any) -> str:
    if isinstance(value, str):
        if _WCF_DATE.match(value):
            return "date-with-offset" if value[-7] in "+-" else "date"
        return "guid" if _GUID.match(value) else "string"
    if isinstance(value, bool) or value is None:
        return repr(value) if value is None else "bool"
    if isinstance(value, int | float | Decimal):
        return "number"

    return type(value).__name__


def _pairs(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {entry["key"]: entry["value"] for entry in entries}


def _is_pairs(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, dict) and set(item) == {"key", "value"} for item in value
    )


def shape_errors(
    expected: Any,
    actual: Any,
    path: str,
    loose: frozenset[str],
) -> Iterator[str]:
    """Where ``actual`` departs from the shape of ``expected`` (keys and kinds).

    At a ``loose`` path ``actual`` may carry more keys than ``expected``.
    """
    if _is_pairs(expected) and expected:
        if not _is_pairs(actual):
            yield f"{path}: expected a key/value array"
            return
        want, got = _pairs(expected), _pairs(actual)
        if path not in loose and list(want) != list(got):
            yield f"{path}: keys {list(got)} instead of {list(want)}"
        for key in want:
            if key not in got:
                yield f"{path}: no entry {key!r}"
            else:
                yield from shape_errors(want[key], got[key], f"{path}[{key}]", loose)
    elif isinstance(expected, dict):
        if not isinstance(actual, dict):
            yield f"{path}: {_kind(actual)} instead of an object"
            return
        missing, extra = set(expected) - set(actual), set(actual) - set(expected)
        if missing or (extra and path not in loose):
            yield f"{path}: missing {sorted(missing)}, extra {sorted(extra)}"
        for key in set(expected) & set(actual):
            yield from shape_errors(expected[key], actual[key], f"{path}.{key}", loose)
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            yield f"{path}: {actual!r} is not a list of {len(expected)}"
            return
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            yield from shape_errors(want, got, f"{path}[{index}]", loose)
    elif _kind(expected) != _kind(actual):
        yield f"{path}: {_kind(actual)} instead of {_kind(expected)}"
