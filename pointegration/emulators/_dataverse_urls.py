"""Reading Web API resource paths: segments, keys and record references.

A path such as ``pobc_countries(pobc_isocode='DE')/pobc_name`` is split into
:class:`Segment` values on the ``/`` outside parentheses and quotes, and only
then percent-decoded, so a key value may hold an encoded ``/``. A key is either
the primary id (``accounts(<guid>)``, also through a parameter alias
``accounts(@id)?@id=<guid>``) or named values (``accounts(accountnumber='A1')``,
``contacts(firstname='Joe',emailaddress1='j@x')``); strings double an embedded
quote (``'O''Brien'``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

from pointegration.emulators._dataverse_errors import QUERY, DataverseError
from pointegration.emulators._dataverse_values import parse_guid

__all__ = ["API_PREFIX", "Segment", "parse_key", "reference_path", "split_path"]

API_PREFIX = re.compile(r"^/api/data/v9\.[0-2]/?")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


@dataclass(frozen=True)
class Segment:
    """One path segment: a name and, when it has parentheses, its raw key text."""

    name: str
    key_text: str | None = None


def _syntax(text: str) -> DataverseError:
    return DataverseError(
        400, QUERY, f"Bad Request - Error in query syntax: '{text}' is not a valid key."
    )


def split_path(raw: str) -> list[Segment]:
    """The segments of a raw (still percent-encoded) resource path."""
    segments: list[Segment] = []
    for piece in _split_outside(raw.strip("/"), "/"):
        if not piece:
            continue
        opening = piece.find("(")
        if opening == -1:
            segments.append(Segment(unquote(piece)))
            continue
        if not piece.endswith(")"):
            raise _syntax(unquote(piece))
        name = unquote(piece[:opening])
        segments.append(Segment(name, piece[opening + 1 : -1]))

    return segments


def _split_outside(text: str, separator: str) -> list[str]:
    """``text`` split on ``separator`` where it is outside quotes and parentheses."""
    pieces: list[str] = []
    depth = 0
    quoted = False
    start = 0
    for index, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == separator:
            pieces.append(text[start:index])
            start = index + 1
    pieces.append(text[start:])

    return pieces


def parse_key(
    key_text: str, aliases: Mapping[str, str] | None = None
) -> str | dict[str, Any]:
    """A primary id (lower-case GUID) or the named key values of a key segment.

    Values come back as ``str`` (quoted strings and GUIDs), ``int``, ``Decimal``,
    ``bool`` or ``None``. A malformed key raises a 400 :class:`DataverseError`.
    """
    aliases = aliases or {}
    parts = _split_outside(key_text, ",")
    if len(parts) == 1 and "=" not in _unquoted(parts[0]):
        value = _literal(unquote(parts[0]).strip(), aliases)
        guid = parse_guid(value) if isinstance(value, str) else None
        if guid is None:
            raise _syntax(unquote(key_text))
        return guid
    named: dict[str, Any] = {}
    for part in parts:
        name, equals, literal = part.partition("=")
        if not equals or not name.strip():
            raise _syntax(unquote(key_text))
        named[unquote(name).strip()] = _literal(unquote(literal).strip(), aliases)

    return named


def _unquoted(text: str) -> str:
    """``text`` with its quoted parts removed."""
    return re.sub(r"'(?:[^']|'')*'", "", text)


def _literal(text: str, aliases: Mapping[str, str]) -> Any:
    if text.startswith("@"):
        if text not in aliases:
            raise _syntax(text)
        text = aliases[text]
    if len(text) >= 2 and text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("''", "'")
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    guid = parse_guid(text)
    if guid is not None:
        return guid
    if _NUMBER.fullmatch(text):
        return Decimal(text) if "." in text else int(text)
    raise _syntax(text)


def reference_path(reference: str) -> str:
    """The resource path of an ``@odata.bind`` or ``@odata.id`` value.

    Accepts ``/accounts(<id>)``, ``accounts(<id>)`` and absolute URLs
    (``https://org.crm.dynamics.com/api/data/v9.2/accounts(<id>)``).
    """
    if "://" in reference:
        reference = urlsplit(reference).path
    reference = API_PREFIX.sub("/", reference)

    return reference.lstrip("/")
