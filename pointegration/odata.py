"""OData URL pieces for both clients: literals, GUIDs, keys and query strings.

Every value that goes into a Dataverse or BC URL passes through here, so quoting
is decided once. :func:`quote` writes an OData string literal (``'`` doubled);
:func:`literal` writes any supported Python value as a literal for ``$filter``;
:func:`key_segment` writes the ``(name='value',...)`` part of an alternate-key URL
and refuses the characters Dataverse does not allow in key values
(``/ < > * % & : \\ ? +``); :func:`query_string` percent-encodes system query
options so the server decodes each one back to exactly the text given.

Values that cannot be sent raise :class:`~pointegration.errors.PayloadValidationError`
naming the part at fault; nothing is sent.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import quote as _percent_encode

from pointegration.errors import PayloadValidationError

__all__ = [
    "FORBIDDEN_KEY_CHARACTERS",
    "encode_path",
    "entity_path",
    "guid",
    "identifier",
    "key_segment",
    "literal",
    "query_string",
    "quote",
]

#: Characters Dataverse refuses inside alternate-key values in a URL.
FORBIDDEN_KEY_CHARACTERS = frozenset("/<>*%&:\\?+")

KeyValue = str | int | uuid.UUID

_GUID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OPTION_NAME = re.compile(r"^[$@]?[A-Za-z_][A-Za-z0-9_.]*$")
# Left readable in URLs; everything else in a value is percent-encoded, notably
# space, '&', '+', '#', '%', '=' and non-ASCII, so no decoder can misread them,
# and ':' so a relative URL never looks absolute ("://") to a caller.
_QUERY_SAFE = "'(),@$/*!"
_PATH_SAFE = "/'(),=$@!;"


def quote(value: str) -> str:
    """``value`` as an OData string literal: in single quotes, ``'`` doubled."""
    return "'" + value.replace("'", "''") + "'"


def guid(value: str | uuid.UUID, *, what: str = "record id") -> str:
    """``value`` as a bare GUID literal (lower case, 8-4-4-4-12 hex digits).

    Raises :class:`PayloadValidationError` naming ``what`` when it is not one.
    """
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str) or not _GUID.match(value):
        raise PayloadValidationError(f"{what} is not a GUID: {_shown(value)}")

    return value.lower()


def identifier(name: str, *, what: str = "name") -> str:
    """``name`` when it is a plain OData identifier (entity set, column)."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise PayloadValidationError(
            f"{what} is not a valid identifier: {_shown(name)}"
        )

    return name


def literal(value: object) -> str:
    """``value`` as an OData literal for ``$filter``.

    Strings are quoted, GUIDs (``uuid.UUID``) bare, booleans ``true``/``false``,
    ``None`` ``null``, decimals exact, datetimes in UTC with ``Z`` (a naive one
    is refused), dates ``YYYY-MM-DD``.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise PayloadValidationError(f"{value} is not a finite number")
        return format(value, "f")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise PayloadValidationError(
                "a datetime in a filter must be timezone-aware"
            )
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    raise PayloadValidationError(f"{type(value).__name__} has no OData literal form")


def key_segment(**keys: KeyValue) -> str:
    """The key part of an alternate-key URL: ``(pobc_isocode='DE')``.

    Strings are quoted, integers bare, ``uuid.UUID`` values bare (for lookup
    keys such as ``_primarycontactid_value``). Raises
    :class:`PayloadValidationError` naming the key when a value is empty or holds
    a character Dataverse forbids in key URLs.
    """
    if not keys:
        raise PayloadValidationError("an alternate key needs at least one column")
    parts = []
    for name, value in keys.items():
        identifier(name, what="key column")
        parts.append(f"{name}={_key_literal(name, value)}")

    return "(" + ",".join(parts) + ")"


def entity_path(entity_set: str, key: str | uuid.UUID | Mapping[str, KeyValue]) -> str:
    """``accounts(<guid>)`` or ``accounts(accountnumber='A1')``, unencoded."""
    identifier(entity_set, what="entity set")
    if isinstance(key, Mapping):
        return entity_set + key_segment(**key)

    return f"{entity_set}({guid(key)})"


def encode_path(path: str) -> str:
    """``path`` percent-encoded for a URL or a request line (spaces, non-ASCII)."""
    return _percent_encode(path, safe=_PATH_SAFE)


def query_string(options: Mapping[str, str | int | None]) -> str:
    """``?$select=a,b&$filter=...`` with each value percent-encoded; ``""`` if empty.

    Options whose value is ``None`` are left out; the order given is kept.
    """
    pairs = []
    for name, value in options.items():
        if value is None:
            continue
        if not _OPTION_NAME.match(name):
            raise PayloadValidationError(f"not a query option name: {_shown(name)}")
        pairs.append(f"{name}={_percent_encode(str(value), safe=_QUERY_SAFE)}")

    return "?" + "&".join(pairs) if pairs else ""


def _key_literal(name: str, value: KeyValue) -> str:
    if isinstance(value, bool):
        raise PayloadValidationError(f"key {name!r}: a boolean is not a key value")
    if isinstance(value, int | uuid.UUID):
        return literal(value)
    if not isinstance(value, str):
        raise PayloadValidationError(
            f"key {name!r}: {type(value).__name__} is not a key value"
        )
    if not value:
        raise PayloadValidationError(f"key {name!r} is empty")
    forbidden = sorted(set(value) & FORBIDDEN_KEY_CHARACTERS)
    if forbidden:
        shown = " ".join(forbidden)
        raise PayloadValidationError(
            f"key {name!r} holds {shown}, which Dataverse does not allow in a key "
            "URL; look the record up with $filter instead"
        )

    return quote(value)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
