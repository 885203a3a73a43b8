"""``$orderby``, ``$select`` and ``$expand`` read into plain values.

``$expand`` items keep their nested options raw for the emulator to apply, but
each nested option is read here as it would be at the top level, so a problem
in one is reported at its position in the whole ``$expand`` text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pointegration.emulators._odata_errors import ODataSyntaxError, syntax_error
from pointegration.emulators._odata_filter import Parser, parse_filter
from pointegration.emulators._odata_lexer import IDENT
from pointegration.emulators._odata_tree import ExpandItem

__all__ = ["parse_expand", "parse_orderby", "parse_select"]


def parse_orderby(text: str) -> list[tuple[tuple[str, ...], bool]]:
    """``(path, descending)`` for each comma-separated ``$orderby`` item."""
    parser = Parser(text, {})
    items: list[tuple[tuple[str, ...], bool]] = []
    while True:
        segments = [parser.expect("ident", "expected a property name").text]
        while parser.peek().kind == "/":
            parser.advance()
            segments.append(parser.expect("ident", "expected a property name").text)
        direction = parser.keyword("asc", "desc")
        items.append((tuple(segments), direction == "desc"))
        if parser.peek().kind == "end":
            return items
        parser.expect(",", "expected ',', 'asc', 'desc' or the end")


# --- $select and $expand -----------------------------------------------------


def parse_select(text: str) -> list[str]:
    """The property names of a ``$select`` value, in order, without repeats."""
    names: list[str] = []
    for item, position in _split_top(text, ",", 0, len(text)):
        name = item.strip()
        if not IDENT.fullmatch(name) or "." in name:
            raise syntax_error(text, position + _indent(item), "expected a name")
        if name not in names:
            names.append(name)

    return names


_EXPAND_OPTIONS = frozenset(
    {"$select", "$filter", "$expand", "$orderby", "$top", "$skip", "$count"}
    | {"$levels"}
)
_EXPAND_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*")


def parse_expand(text: str) -> list[ExpandItem]:
    """The items of an ``$expand`` value with their nested options, raw.

    ``salesInvoiceLines($select=id;$expand=item),customer`` gives two items; the
    first has options ``{"$select": "id", "$expand": "item"}``. Nested options
    are read as they would be at the top level, and a problem in one is
    reported at its position in ``text``.
    """
    items: list[ExpandItem] = []
    for item, position in _split_top(text, ",", 0, len(text)):
        match = _EXPAND_NAME.match(item)
        if not match:
            raise syntax_error(text, position + _indent(item), "expected a name")
        rest = item[match.end() :].rstrip()
        opened = position + match.end()
        if rest and (rest[0] != "(" or rest[-1] != ")"):
            raise syntax_error(text, opened, "expected '(' or ','")
        options = _expand_options(text, opened + 1, opened + len(rest) - 1)
        items.append(ExpandItem(match.group(1), options if rest else {}))

    return items


def _expand_options(text: str, start: int, end: int) -> dict[str, str]:
    """The ``;``-separated options in ``text[start:end]``, checked."""
    options: dict[str, str] = {}
    if end <= start:
        return options
    for option, position in _split_top(text, ";", start, end):
        name, equals, value = option.partition("=")
        at = position + _indent(option)
        if not equals or name.strip() not in _EXPAND_OPTIONS:
            raise syntax_error(text, at, "expected a query option such as $select")
        name = name.strip()
        if name in options:
            raise syntax_error(text, at, f"{name} is given twice")
        options[name] = value.strip()
        value_at = position + option.index("=") + 1 + _indent(value)
        _check_option(text, name, options[name], value_at)

    return options


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def _check_option(text: str, name: str, value: str, offset: int) -> None:
    """Reads a nested option's value so a problem surfaces with its position."""
    whole = value.isdigit() or (name == "$levels" and value == "max")
    if name in ("$top", "$skip", "$levels") and not whole:
        raise syntax_error(text, offset, f"{name} must be a whole number")
    if name == "$count" and value not in ("true", "false"):
        raise syntax_error(text, offset, "$count must be true or false")
    reader = _NESTED_READERS.get(name)
    if reader is None:
        return
    try:
        reader(value)
    except ODataSyntaxError as exc:
        position = offset + (exc.position or 0)
        raise syntax_error(text, position, exc.detail) from None


_NESTED_READERS: dict[str, Callable[[str], object]] = {
    "$select": parse_select,
    "$filter": parse_filter,
    "$orderby": parse_orderby,
    "$expand": parse_expand,
}


def _split_top(
    text: str,
    separator: str,
    start: int,
    end: int,
) -> list[tuple[str, int]]:
    """``text[start:end]`` split at ``separator`` outside parentheses and quotes.

    Each piece comes with its offset in ``text``; an empty piece, an unbalanced
    parenthesis or an open quote is an :class:`ODataSyntaxError`.
    """
    pieces: list[tuple[str, int]] = []
    depth, quoted, begin = 0, False, start
    for index in range(start, end):
        char = text[index]
        if char == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif char in "()":
            depth += 1 if char == "(" else -1
            if depth < 0:
                raise syntax_error(text, index, "unbalanced ')'")
        elif char == separator and depth == 0:
            pieces.append((text[begin:index], begin))
            begin = index + 1
    if quoted or depth:
        raise syntax_error(text, end, "unbalanced parentheses or quotes")
    pieces.append((text[begin:end], begin))
    for piece, position in pieces:
        if not piece.strip():
            raise syntax_error(text, position, "expected an item")

    return pieces
