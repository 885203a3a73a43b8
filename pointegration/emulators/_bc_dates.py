"""BC date formulas (``DateFormula``) as payment terms use them.

A formula is a sequence of terms, each ``[+|-]<n><unit>`` (add n units) or
``[+|-]C<unit>`` (go to the end of the current unit), with units D (day),
W (week), M (month), Q (quarter) and Y (year): ``30D``, ``1M``, ``CM``,
``CM+1M``, ``-1W``. BC clamps a month step to the month's last day (31 Jan
+ 1M = 28/29 Feb), and so does :func:`calc_date`.

Limitation: BC's weekday terms (``WD1``) and the localised letters of other
languages are not understood; they are refused like a typo.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

from pointegration.emulators._bc_errors import BCError

__all__ = ["calc_date", "check_formula"]

_TERM = re.compile(r"([+-]?)(?:(\d+)([DWMQY])|C([DWMQY]))")


def check_formula(text: str) -> str:
    """``text`` as BC stores it (upper-case, no brackets), or BC's refusal."""
    formula = text.strip().strip("<>").upper()
    if formula and _terms(formula) is None:
        message = f'The value "{text}" can\'t be evaluated into type DateFormula.'
        raise BCError(400, "Application_EvaluateException", message)

    return formula


def calc_date(formula: str, start: date) -> date:
    """``start`` moved by ``formula`` (an empty formula leaves it as it is)."""
    moment = start
    for sign, count, unit, current in _terms(formula) or []:
        if current:
            moment = _period_end(moment, current)
        else:
            moment = _add(moment, unit, count if sign != "-" else -count)

    return moment


def _terms(formula: str) -> list[tuple[str, int, str, str]] | None:
    terms: list[tuple[str, int, str, str]] = []
    position = 0
    while position < len(formula):
        match = _TERM.match(formula, position)
        if match is None:
            return None
        sign, count, unit, current = match.groups()
        terms.append((sign, int(count or 0), unit or "", current or ""))
        position = match.end()

    return terms


def _add(moment: date, unit: str, count: int) -> date:
    if unit == "D":
        return moment + timedelta(days=count)
    if unit == "W":
        return moment + timedelta(weeks=count)
    months = {"M": 1, "Q": 3, "Y": 12}[unit] * count
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]

    return date(year, month + 1, min(moment.day, last))


def _period_end(moment: date, unit: str) -> date:
    if unit == "D":
        return moment
    if unit == "W":
        return moment + timedelta(days=6 - moment.weekday())
    if unit == "M":
        last = calendar.monthrange(moment.year, moment.month)[1]
        return moment.replace(day=last)
    if unit == "Q":
        month = (moment.month - 1) // 3 * 3 + 3
        last = calendar.monthrange(moment.year, month)[1]
        return date(moment.year, month, last)

    return date(moment.year, 12, 31)
