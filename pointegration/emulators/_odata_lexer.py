"""The tokens of an OData query option, literals already read into values.

Strings are single-quoted with ``''`` for a quote; GUIDs, ``DateTimeOffset``
and date literals stand bare; numbers are exact (``Decimal`` once they have a
fraction, an exponent or the ``m`` suffix). An instant without an offset is
refused here, as the services refuse it. :data:`DATE`, :func:`read_date` and
:func:`read_datetime` also serve evaluation, which reads stored strings the
same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from pointegration.emulators._odata_errors import syntax_error

__all__ = ["DATE", "IDENT", "Token", "read_date", "read_datetime", "tokenize"]


_GUID = re.compile(r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![\w-])")
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,12}))?)?"
    r"(Z|[+-]\d{2}:\d{2})(?![\w.:])"
)
_DATETIME_START = re.compile(r"\d{4}-\d{2}-\d{2}T")
DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?![\w.:-])")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?([mM])?(?![\w.])")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_ALIAS = re.compile(r"@[A-Za-z_][A-Za-z0-9_]*")
_PUNCTUATION = frozenset("(),/:[]=")


@dataclass(frozen=True)
class Token:
    """One token: ``kind`` is a punctuation character, string, int, decimal,
    guid, datetime, date, alias, ident or end; ``value`` is a literal's value.
    """

    kind: str
    text: str
    position: int
    value: Any = None


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an ``end`` token at ``len(text)``."""
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        token = _read_token(text, position)
        tokens.append(token)
        position += len(token.text)
    tokens.append(Token("end", "", len(text)))

    return tokens


def _read_token(text: str, position: int) -> Token:
    char = text[position]
    if char == "'":
        return _read_string(text, position)
    if char in _PUNCTUATION:
        return Token(char, char, position)
    if match := _GUID.match(text, position):
        return Token("guid", match.group(), position, match.group().lower())
    if match := _DATETIME.match(text, position):
        value: Any = _checked(text, position, read_datetime, match)
        return Token("datetime", match.group(), position, value)
    if _DATETIME_START.match(text, position):
        raise syntax_error(text, position, "a date-time needs an offset such as Z")
    if match := DATE.match(text, position):
        value = _checked(text, position, read_date, match)
        return Token("date", match.group(), position, value)
    if match := _NUMBER.match(text, position):
        return _number_token(match, position)
    for kind, pattern in (("alias", _ALIAS), ("ident", IDENT)):
        if match := pattern.match(text, position):
            return Token(kind, match.group(), position)
    if char.isdigit() or char == "-":
        raise syntax_error(text, position, "the number is not valid")
    raise syntax_error(text, position, f"character '{char}' is not valid here")


def _read_string(text: str, start: int) -> Token:
    """A quoted string; ``''`` inside it stands for one quote."""
    chars: list[str] = []
    position = start + 1
    while position < len(text):
        if text[position] != "'":
            chars.append(text[position])
            position += 1
        elif text.startswith("''", position):
            chars.append("'")
            position += 2
        else:
            return Token("string", text[start : position + 1], start, "".join(chars))
    raise syntax_error(text, start, "the string literal is not terminated")


def _number_token(match: re.Match[str], position: int) -> Token:
    literal = match.group()
    digits = literal.rstrip("mM")
    if match.group(1) or match.group(2) or match.group(3):
        return Token("decimal", literal, position, Decimal(digits))

    return Token("int", literal, position, int(digits))


def _checked(
    text: str,
    position: int,
    build: Callable[[re.Match[str]], date],
    match: re.Match[str],
) -> date:
    try:
        return build(match)
    except ValueError:
        raise syntax_error(text, position, "the date or time is not valid") from None


def read_date(match: re.Match[str]) -> date:
    """The date a ``DATE`` match spells; ``ValueError`` for 2024-02-30."""
    year, month, day = (int(part) for part in match.groups())

    return date(year, month, day)


def read_datetime(match: re.Match[str]) -> datetime:
    """The UTC instant a ``_DATETIME`` match spells, no offset meaning UTC.

    Fractions beyond microseconds (.NET writes seven digits) are cut off.
    """
    year, month, day, hour, minute = (int(part) for part in match.groups()[:5])
    second = int(match.group(6) or 0)
    micro = int((match.group(7) or "").ljust(6, "0")[:6])
    offset = _offset(match.group(8))
    moment = datetime(year, month, day, hour, minute, second, micro, offset)

    return moment.astimezone(UTC)


def _offset(text: str | None) -> timezone:
    if text is None or text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])

    return timezone(sign * timedelta(hours=hours, minutes=minutes))
