"""BC's encoding of AL enum names in API JSON, in one codec.

The API carries an enum member's AL *name*, and a character an OData identifier
cannot hold is written as ``_xHHHH_`` (its UTF-16 code in hex): ``In Review`` is
``In_x0020_Review``, ``G/L Account`` is ``G_x002F_L_x0020_Account`` and the blank
member is ``_x0020_``. The same codec serves the client and the emulator.
"""

from __future__ import annotations

import re

__all__ = ["decode_enum", "encode_enum"]

_PLAIN = re.compile(r"[A-Za-z0-9]")
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")


def encode_enum(name: str) -> str:
    """The wire form of the AL enum name ``name``: ``In Review`` → ``In_x0020_Review``.

    Letters, digits and underscores stay; every other character becomes
    ``_xHHHH_``, and so does an underscore that would otherwise read as an escape.
    """
    out: list[str] = []
    for index, char in enumerate(name):
        literal = _PLAIN.fullmatch(char) or (
            char == "_" and not _ESCAPED.match(name, index)
        )
        if literal:
            out.append(char)
        else:
            out.extend(f"_x{unit:04X}_" for unit in _utf16_units(char))

    return "".join(out)


def decode_enum(value: str) -> str:
    """The AL enum name behind the wire form ``value`` (``_x0020_`` → ``" "``)."""
    units = _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), value)
    return units.encode("utf-16", "surrogatepass").decode("utf-16")


def _utf16_units(char: str) -> list[int]:
    data = char.encode("utf-16-be")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
