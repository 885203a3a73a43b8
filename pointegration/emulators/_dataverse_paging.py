"""Server-driven paging with paging cookies, as the Web API pages.

A page ends with ``@odata.nextLink``: the request URL with the same query options
and a ``$skiptoken`` holding a cookie, e.g.
``<cookie pagenumber="2" pagingcookie="%253ccookie%2520page..." istracking="False" />``.
The inner cookie names the last row's ``$orderby`` values and primary id, so the
next page starts after that row even when rows were added, changed or deleted in
between (keyset paging, as the service does), rather than at a fixed offset.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, unquote

from pointegration.emulators._dataverse_errors import QUERY, DataverseError
from pointegration.emulators._dataverse_store import Row

__all__ = ["Cookie", "make_cookie", "next_link", "page_after", "read_skiptoken"]

_PAGING_COOKIE = re.compile(r'pagingcookie="([^"]*)"')
_PAGE_NUMBER = re.compile(r'pagenumber="(\d+)"')
Resolve = Callable[[Row, tuple[str, ...]], Any]


@dataclass(frozen=True)
class Cookie:
    """Where the last page ended: its number and the last row's sort values."""

    page: int
    values: tuple[Any, ...]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return "d:" + value.isoformat()

    return f"{type(value).__name__}:{value}"


def _value(text: str | None) -> Any:
    if text is None:
        return None
    if text in ("0", "1"):
        return text == "1"
    kind, _, raw = text.partition(":")
    if kind == "d":
        return date.fromisoformat(raw)
    if kind == "int":
        return int(raw)
    if kind == "Decimal":
        return Decimal(raw)
    if kind == "str":
        return raw

    return datetime.fromisoformat(text)


def make_cookie(
    page: int,
    last: Row,
    ordering: Sequence[tuple[tuple[str, ...], bool]],
    resolve: Resolve,
) -> str:
    """The ``$skiptoken`` value for the page after ``page``, which ended at ``last``."""
    inner = ElementTree.Element("cookie", page=str(page))
    for path, _ in ordering:
        element = ElementTree.SubElement(inner, ".".join(path))
        text = _text(resolve(last, path))
        if text is not None:
            element.set("last", text)
    xml = ElementTree.tostring(inner, encoding="unicode")
    encoded = quote(quote(xml, safe=""), safe="")

    return (
        f'<cookie pagenumber="{page + 1}" pagingcookie="{encoded}" '
        'istracking="False" />'
    )


def read_skiptoken(token: str, width: int) -> Cookie:
    """The cookie in a ``$skiptoken``; 400 when it is not one of ours."""
    match = _PAGING_COOKIE.search(token)
    number = _PAGE_NUMBER.search(token)
    try:
        if match is None or number is None:
            raise ValueError(token)
        inner = ElementTree.fromstring(unquote(unquote(match.group(1))))  # noqa: S314
        found = tuple(_value(element.get("last")) for element in inner)
        if len(found) != width:
            raise ValueError(token)
    except (ValueError, ElementTree.ParseError):
        raise DataverseError(
            400, QUERY, "The $skiptoken value is not a valid paging cookie."
        ) from None

    return Cookie(int(number.group(1)), found)


def _sort_key(value: Any) -> tuple[Any, ...]:
    if value is None:
        return (0,)
    if isinstance(value, str):
        return (1, value.casefold())

    return (1, value)


def _after(
    row_values: tuple[Any, ...],
    cookie_values: tuple[Any, ...],
    ordering: Sequence[tuple[tuple[str, ...], bool]],
) -> bool:
    """Whether a row sorts strictly after the cookie's row."""
    for mine, theirs, (_, descending) in zip(
        row_values, cookie_values, ordering, strict=True
    ):
        left, right = _sort_key(mine), _sort_key(theirs)
        if left == right:
            continue
        try:
            greater = left > right
        except TypeError:
            greater = str(left) > str(right)
        return greater != descending

    return False


def page_after(
    rows: Sequence[Row],
    cookie: Cookie | None,
    ordering: Sequence[tuple[tuple[str, ...], bool]],
    resolve: Resolve,
) -> list[Row]:
    """The rows (already in order) after the cookie's row; all without a cookie."""
    if cookie is None:
        return list(rows)
    for index, row in enumerate(rows):
        row_values = tuple(resolve(row, path) for path, _ in ordering)
        if _after(row_values, cookie.values, ordering):
            return list(rows[index:])

    return []


def next_link(url: str, query_string: str, token: str) -> str:
    """``url`` with the request's query options and ``$skiptoken=token``."""
    kept = [
        part
        for part in query_string.split("&")
        if part and not unquote(part).startswith("$skiptoken=")
    ]
    kept.append("$skiptoken=" + quote(token, safe="="))

    return f"{url}?{'&'.join(kept)}"
