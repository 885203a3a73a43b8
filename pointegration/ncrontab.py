"""NCRONTAB schedules, as the Azure Functions timer trigger reads them.

Six fields: second, minute, hour, day, month, day-of-week; each ``*``, a number,
a range ``a-b``, a list ``a,b`` or a step ``*/n`` / ``a-b/n``; months and days may
be named (``jan``, ``mon``). :func:`problem` says why an expression is not one.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["problem"]

_CRON_FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 6),
)
_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()  # noqa: SIM905
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_NAMES = {
    "month": {m: i for i, m in enumerate(_MONTHS, start=1)},
    "day-of-week": {d: i for i, d in enumerate(_DAYS)},
}


def problem(expression: str) -> str | None:
    """Why ``expression`` is not a six-field NCRONTAB schedule, or ``None``."""
    fields = expression.split()
    if len(fields) != len(_CRON_FIELDS):
        return (
            f"has {len(fields)} fields; NCRONTAB needs 6 "
            "(second minute hour day month day-of-week)"
        )
    for text, (name, low, high) in zip(fields, _CRON_FIELDS, strict=True):
        names = _CRON_NAMES.get(name, {})
        if not all(_cron_item_ok(i, low, high, names) for i in text.split(",")):
            return (
                f"has an invalid {name} field {text!r} "
                f"(values {low}-{high}, *, lists, ranges and /steps)"
            )
    return None


def _cron_item_ok(item: str, low: int, high: int, names: Mapping[str, int]) -> bool:
    body, slash, step = item.partition("/")
    if slash and not (step.isdigit() and int(step) > 0):
        return False
    if body == "*":
        return True
    start, dash, end = body.partition("-")
    first = _cron_value(start, names)
    last = _cron_value(end, names) if dash else first
    if first is None or last is None:
        return False

    return low <= first <= last <= high


def _cron_value(text: str, names: Mapping[str, int]) -> int | None:
    if text.isdigit():
        return int(text)
    return names.get(text.lower())
