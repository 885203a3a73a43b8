"""OData v4 query options for the emulators: ``$filter``, ``$orderby``, ``$select``
and ``$expand`` parsed into small frozen values and evaluated over plain rows.

Both emulators answer queries the way the real services do, so both share one
reading of the syntax: single-quoted strings with ``''`` for a quote, bare GUIDs,
bare ``DateTimeOffset`` and date literals, exact decimals, lower-case keywords,
precedence ``not`` > relational > equality > ``and`` > ``or``. What a service
refuses on top of that (BC's OR across fields, ``in`` without schema 2.1,
functions Dataverse lacks) is for each emulator to decide from :func:`walk`.

Evaluation follows the OData rules for null (``x eq null`` holds when ``x`` is
missing or null; a string function of null is null), and a row matches only
when the filter is true.

This module is the face the emulators import; each concept lives in its own
private module:

- ``_odata_errors``: :class:`ODataSyntaxError`, :class:`ODataTypeError`.
- ``_odata_tree``: the syntax tree (:class:`Property`, :class:`Compare`, ...,
  :data:`Expr`), :class:`ExpandItem`, :data:`Resolver`, :func:`walk` and
  :func:`properties`.
- ``_odata_lexer``: tokens and literal values.
- ``_odata_filter``: :func:`parse_filter`, the recursive-descent parser.
- ``_odata_eval``: :func:`evaluate`, three-valued logic, canonical functions.
- ``_odata_compare``: comparison and coercion rules, :func:`sort_rows`.
- ``_odata_options``: :func:`parse_orderby`, :func:`parse_select`,
  :func:`parse_expand`.

::

    ValueError
    └── ODataSyntaxError        the query option cannot be read (HTTP 400)
        └── ODataTypeError      it reads, but compares incompatible types (400)

Limitation: arithmetic (``add``, ``sub``, ...), date functions (``year``, ...),
``cast``/``isof``, ``has``, ``$it``, ``$search`` and Dataverse query functions
other than ``Microsoft.Dynamics.CRM.In`` and ``NotIn`` are not understood.
"""

from __future__ import annotations

from pointegration.emulators._odata_compare import sort_rows
from pointegration.emulators._odata_errors import ODataSyntaxError, ODataTypeError
from pointegration.emulators._odata_eval import evaluate
from pointegration.emulators._odata_filter import parse_filter
from pointegration.emulators._odata_options import (
    parse_expand,
    parse_orderby,
    parse_select,
)
from pointegration.emulators._odata_tree import (
    And,
    Call,
    Compare,
    ExpandItem,
    Expr,
    In,
    Lambda,
    Literal,
    Not,
    Or,
    Property,
    Resolver,
    properties,
    walk,
)

__all__ = [
    "And",
    "Call",
    "Compare",
    "ExpandItem",
    "Expr",
    "In",
    "Lambda",
    "Literal",
    "Not",
    "ODataSyntaxError",
    "ODataTypeError",
    "Or",
    "Property",
    "Resolver",
    "evaluate",
    "parse_expand",
    "parse_filter",
    "parse_orderby",
    "parse_select",
    "properties",
    "sort_rows",
    "walk",
]
