"""OData v4 query options for the emulators: ``$filter``, ``$orderby``, ``$select``
and ``$expand`` parsed into small frozen values and evaluated over plain rows.

Both emulators answer queries the way the real services do, so both share one
reading of the syntax: single-quoted strings with ``''`` for a quote, bare GUIDs,
bare ``DateTimeOffset`` and date literals, exact decimals, lower-case keywords,
precedence ``not`` > relational > equality > ``and`` > ``or``. What a service
refuses on top of that (BC's OR across fields, ``in`` without schema 2.1,
functions Dataverse lacks) is for each emulator to decide from :func:`walk`.

Evaluation follows the OData rules for null: ``x eq null`` holds when ``x`` is
missing or null, ordering comparisons with null are false, and a string function
of null is null, which makes ``not contains(x, 'a')`` false for a null ``x`` the
way SQL would. A row matches only when the filter is true.

::

    ValueError
    └── ODataSyntaxError        the query option cannot be read (HTTP 400)
        └── ODataTypeError      it reads, but compares incompatible types (400)

Limitation: arithmetic (``add``, ``sub``, ...), date functions (``year``, ...),
``cast``/``isof``, ``has``, ``$it``, ``$search`` and Dataverse query functions
other than ``Microsoft.Dynamics.CRM.In`` and ``NotIn`` are not understood.
"""

from __future__ import annotations

import operator
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, TypeAlias, TypeVar

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
    "default_resolve",
    "evaluate",
    "parse_expand",
    "parse_filter",
    "parse_orderby",
    "parse_select",
    "properties",
    "sort_rows",
    "walk",
]


class ODataSyntaxError(ValueError):
    """A query option that cannot be read; both services answer 400.

    ``message`` is the whole sentence (also ``str(exc)``), ``position`` the
    0-based offset in the option's text where reading failed, when known, and
    ``detail`` the reason alone.
    """

    def __init__(
        self,
        message: str,
        position: int | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.detail = detail or message


class ODataTypeError(ODataSyntaxError):
    """A well-formed filter comparing values of incompatible types.

    Both services refuse such a filter with 400 as they do a syntax error, so
    callers that catch :class:`ODataSyntaxError` answer it the same way.
    """


def _syntax_error(text: str, position: int, detail: str) -> ODataSyntaxError:
    message = f"Syntax error at position {position} in '{text}': {detail}."

    return ODataSyntaxError(message, position, detail)


# --- The syntax tree ---------------------------------------------------------


@dataclass(frozen=True)
class Property:
    """A property, or a navigation path such as ``sdkmessageid/name``."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class Literal:
    """A constant; ``kind`` is string, int, decimal, bool, null, guid, datetime
    or date. GUIDs are lower-case ``str``, datetimes aware UTC, decimals exact.
    """

    value: Any
    kind: str


@dataclass(frozen=True)
class Compare:
    """``left op right`` with ``op`` one of eq ne gt ge lt le."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class And:
    """Both operands true."""

    left: Expr
    right: Expr


@dataclass(frozen=True)
class Or:
    """Either operand true."""

    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not:
    """The operand false."""

    operand: Expr


@dataclass(frozen=True)
class Call:
    """A canonical function such as ``contains(name,'x')``."""

    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class In:
    """``left in (v1, v2, ...)``; also what ``Microsoft.Dynamics.CRM.In`` reads as.

    ``loose`` compares each value after conversion to the property's type, since
    Dataverse query functions pass every value as a string (``['1','2']``).
    """

    left: Expr
    values: tuple[Literal, ...]
    loose: bool = False


@dataclass(frozen=True)
class Lambda:
    """``path/any(var: body)`` or ``path/all(var: body)``; ``any()`` has no body."""

    path: tuple[str, ...]
    op: str
    var: str
    body: Expr | None


Expr: TypeAlias = Property | Literal | Compare | And | Or | Not | Call | In | Lambda

Resolver: TypeAlias = Callable[[Mapping[str, Any], tuple[str, ...]], Any]


@dataclass(frozen=True)
class ExpandItem:
    """One ``$expand`` entry: the navigation name and its nested options, raw."""

    name: str
    options: dict[str, str] = field(default_factory=dict)


# --- Tokens ------------------------------------------------------------------

_GUID = re.compile(r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![\w-])")
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,12}))?)?"
    r"(Z|[+-]\d{2}:\d{2})(?![\w.:])"
)
_DATETIME_START = re.compile(r"\d{4}-\d{2}-\d{2}T")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?![\w.:-])")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?([mM])?(?![\w.])")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_ALIAS = re.compile(r"@[A-Za-z_][A-Za-z0-9_]*")
_PUNCTUATION = frozenset("(),/:[]=")
_OPERATOR_WORDS = frozenset({"and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le"})
_KEYWORDS = _OPERATOR_WORDS | {"in", "true", "false", "null"}
_EQUALITY = frozenset({"eq", "ne"})
_RELATIONAL = frozenset({"gt", "ge", "lt", "le"})
_LITERAL_KINDS = frozenset({"string", "int", "decimal", "guid", "datetime", "date"})
_MAX_DEPTH = 100


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int
    value: Any = None


def _tokenize(text: str) -> list[_Token]:
    """The tokens of ``text``, ending with an ``end`` token at ``len(text)``."""
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        token = _read_token(text, position)
        tokens.append(token)
        position += len(token.text)
    tokens.append(_Token("end", "", len(text)))

    return tokens


def _read_token(text: str, position: int) -> _Token:
    char = text[position]
    if char == "'":
        return _read_string(text, position)
    if char in _PUNCTUATION:
        return _Token(char, char, position)
    if match := _GUID.match(text, position):
        return _Token("guid", match.group(), position, match.group().lower())
    if match := _DATETIME.match(text, position):
        value: Any = _checked(text, position, _datetime, match)
        return _Token("datetime", match.group(), position, value)
    if _DATETIME_START.match(text, position):
        raise _syntax_error(text, position, "a date-time needs an offset such as Z")
    if match := _DATE.match(text, position):
        value = _checked(text, position, _date, match)
        return _Token("date", match.group(), position, value)
    if match := _NUMBER.match(text, position):
        return _number_token(match, position)
    for kind, pattern in (("alias", _ALIAS), ("ident", _IDENT)):
        if match := pattern.match(text, position):
            return _Token(kind, match.group(), position)
    if char.isdigit() or char == "-":
        raise _syntax_error(text, position, "the number is not valid")
    raise _syntax_error(text, position, f"character '{char}' is not valid here")


def _read_string(text: str, start: int) -> _Token:
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
            return _Token("string", text[start : position + 1], start, "".join(chars))
    raise _syntax_error(text, start, "the string literal is not terminated")


def _number_token(match: re.Match[str], position: int) -> _Token:
    literal = match.group()
    digits = literal.rstrip("mM")
    if match.group(1) or match.group(2) or match.group(3):
        return _Token("decimal", literal, position, Decimal(digits))

    return _Token("int", literal, position, int(digits))


def _checked(
    text: str,
    position: int,
    build: Callable[[re.Match[str]], date],
    match: re.Match[str],
) -> date:
    try:
        return build(match)
    except ValueError:
        raise _syntax_error(text, position, "the date or time is not valid") from None


def _date(match: re.Match[str]) -> date:
    """The date a ``_DATE`` match spells; ``ValueError`` for 2024-02-30."""
    year, month, day = (int(part) for part in match.groups())

    return date(year, month, day)


def _datetime(match: re.Match[str]) -> datetime:
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


# --- $filter -------------------------------------------------------------------


def parse_filter(text: str, *, aliases: Mapping[str, str] | None = None) -> Expr:
    """The syntax tree of a ``$filter`` value.

    ``aliases`` maps parameter aliases as they appear in the query (``"@stepid"``)
    to their raw literal text; an alias without a value is null, as OData says.
    Raises :class:`ODataSyntaxError` with the position of the first problem.
    """
    parser = _Parser(text, aliases or {})
    expr = parser.expression()
    parser.expect("end", "expected an operator or the end of the filter")

    return expr


class _Parser:
    """Recursive descent over the tokens, one method per precedence level."""

    def __init__(self, text: str, aliases: Mapping[str, str]) -> None:
        self.text = text
        self.aliases = aliases
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.peek()
        self.index += 1

        return token

    def error(self, detail: str, token: _Token | None = None) -> ODataSyntaxError:
        position = (token or self.peek()).position

        return _syntax_error(self.text, position, detail)

    def expect(self, kind: str, detail: str) -> _Token:
        if self.peek().kind != kind:
            raise self.error(detail)

        return self.advance()

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token.kind == "ident" and token.text in words:
            self.advance()
            return token.text

        return None

    def descend(self) -> None:
        """Counts one level of nesting; refuses more than ``_MAX_DEPTH``."""
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error("the filter is nested too deeply")

    def expression(self) -> Expr:
        self.descend()
        left = self.conjunction()
        while self.keyword("or"):
            left = Or(left, self.conjunction())
        self.depth -= 1

        return left

    def conjunction(self) -> Expr:
        left = self.equality()
        while self.keyword("and"):
            left = And(left, self.equality())

        return left

    def equality(self) -> Expr:
        left = self.relational()
        while op := self.keyword(*_EQUALITY):
            left = Compare(op, left, self.relational())

        return left

    def relational(self) -> Expr:
        left = self.unary()
        while op := self.keyword(*_RELATIONAL):
            left = Compare(op, left, self.unary())

        return left

    def unary(self) -> Expr:
        if not self.keyword("not"):
            return self.membership()
        self.descend()
        operand = self.unary()
        self.depth -= 1

        return Not(operand)

    def membership(self) -> Expr:
        """``x in (...)`` binds tighter than ``not``, as in Microsoft's parser."""
        left = self.primary()
        if self.keyword("in"):
            return In(left, self.value_list("(", ")"))

        return left

    def primary(self) -> Expr:
        token = self.peek()
        if token.kind == "(":
            self.advance()
            inner = self.expression()
            self.expect(")", "expected ')'")
            return inner
        if token.kind in _LITERAL_KINDS or token.kind == "alias":
            return self.literal()
        if token.kind != "ident" or token.text in _OPERATOR_WORDS | {"in"}:
            raise self.error("expected a value")
        if token.text in _CONSTANTS:
            return self.literal()
        if self.peek(1).kind == "(":
            return self.call()

        return self.path()

    def literal(self) -> Literal:
        token = self.advance()
        if token.kind == "alias":
            return self.alias(token)
        if token.kind == "ident":
            value, kind = _CONSTANTS.get(token.text, (None, ""))
            if not kind:
                raise self.error("expected a literal", token)
            return Literal(value, kind)
        if token.kind not in _LITERAL_KINDS:
            raise self.error("expected a literal", token)

        return Literal(token.value, token.kind)

    def alias(self, token: _Token) -> Literal:
        raw = self.aliases.get(token.text)
        if raw is None:
            return Literal(None, "null")
        try:
            inner = _Parser(raw, {})
            value = inner.literal()
            inner.expect("end", "expected one literal")
        except ODataSyntaxError as exc:
            detail = f"the value of {token.text} is not a literal ({exc.detail})"
            raise self.error(detail, token) from None

        return value

    def value_list(self, opening: str, closing: str) -> tuple[Literal, ...]:
        self.expect(opening, f"expected '{opening}'")
        values = [self.literal()]
        while self.peek().kind == ",":
            self.advance()
            values.append(self.literal())
        self.expect(closing, f"expected ',' or '{closing}'")

        return tuple(values)

    def call(self) -> Expr:
        name = self.advance()
        if name.text in _CRM_IN:
            return self.crm_in(name)
        arity = _FUNCTIONS.get(name.text)
        if arity is None:
            raise self.error(f"unknown function '{name.text}'", name)
        self.advance()
        args = [self.expression()]
        while self.peek().kind == ",":
            self.advance()
            args.append(self.expression())
        self.expect(")", "expected ',' or ')'")
        if not arity[0] <= len(args) <= arity[1]:
            raise self.error(f"wrong number of arguments to '{name.text}'", name)

        return Call(name.text, tuple(args))

    def crm_in(self, name: _Token) -> Expr:
        """``Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=['a'])``."""
        self.advance()
        self.named("PropertyName")
        prop = self.literal()
        if prop.kind != "string" or not _IDENT.fullmatch(prop.value):
            raise self.error("PropertyName must name a property")
        self.expect(",", "expected ','")
        self.named("PropertyValues")
        values = self.value_list("[", "]")
        self.expect(")", "expected ')'")
        expr = In(Property(tuple(prop.value.split("/"))), values, loose=True)

        return Not(expr) if name.text.endswith("NotIn") else expr

    def named(self, parameter: str) -> None:
        token = self.peek()
        if token.kind != "ident" or token.text != parameter:
            raise self.error(f"expected {parameter}")
        self.advance()
        self.expect("=", "expected '='")

    def path(self) -> Expr:
        segments = [self.advance().text]
        while self.peek().kind == "/":
            self.advance()
            token = self.peek()
            if token.kind != "ident" or token.text in _KEYWORDS:
                raise self.error("expected a property name after '/'")
            self.advance()
            if token.text in ("any", "all") and self.peek().kind == "(":
                return self.lambda_(tuple(segments), token.text)
            segments.append(token.text)

        return Property(tuple(segments))

    def lambda_(self, path: tuple[str, ...], op: str) -> Lambda:
        self.advance()
        if op == "any" and self.peek().kind == ")":
            self.advance()
            return Lambda(path, op, "", None)
        var = self.expect("ident", "expected a lambda variable")
        if var.text in _KEYWORDS:
            raise self.error("expected a lambda variable", var)
        self.expect(":", "expected ':' after the lambda variable")
        body = self.expression()
        self.expect(")", "expected ')'")

        return Lambda(path, op, var.text, body)


_CONSTANTS: dict[str, tuple[Any, str]] = {
    "true": (True, "bool"),
    "false": (False, "bool"),
    "null": (None, "null"),
}
_CRM_IN = frozenset({"Microsoft.Dynamics.CRM.In", "Microsoft.Dynamics.CRM.NotIn"})
_FUNCTIONS: dict[str, tuple[int, int]] = {
    "contains": (2, 2),
    "startswith": (2, 2),
    "endswith": (2, 2),
    "indexof": (2, 2),
    "concat": (2, 2),
    "substring": (2, 3),
    "tolower": (1, 1),
    "toupper": (1, 1),
    "trim": (1, 1),
    "length": (1, 1),
}


# --- Evaluation ------------------------------------------------------------------


def default_resolve(row: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path``, following nested mappings; None where one is missing."""
    value: Any = row
    for segment in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(segment)

    return value


@dataclass(frozen=True)
class _Scope:
    row: Mapping[str, Any]
    resolve: Resolver
    case_insensitive: bool
    variables: Mapping[str, Any] = field(default_factory=dict)


def evaluate(
    expr: Expr,
    row: Mapping[str, Any],
    resolve: Resolver | None = None,
    *,
    case_insensitive: bool = False,
) -> bool:
    """Whether ``row`` matches the filter ``expr``.

    ``resolve(row, path)`` gives the value of a property or navigation path; it
    is also called with the items of a lambda's collection. ``case_insensitive``
    compares strings as SQL Server's default collation does, functions included.
    Raises :class:`ODataTypeError` when the filter compares incompatible values.
    """
    scope = _Scope(row, resolve or default_resolve, case_insensitive)

    return _truth(_value(expr, scope), "A filter") is True


def _value(expr: Expr, scope: _Scope) -> Any:
    match expr:
        case Literal(value=value, kind="guid"):
            return uuid.UUID(value)
        case Literal(value=value):
            return value
        case Property(path=path):
            return _property(path, scope)
        case Compare(op=op, left=left, right=right):
            pair = (_value(left, scope), _value(right, scope))
            return _compare(op, pair, (_kind(left), _kind(right)), scope)
        case And() | Or() | Not():
            return _logical(expr, scope)
        case In():
            return _in(expr, scope)
        case Call(name=name, args=args):
            arguments = [_value(arg, scope) for arg in args]
            return _call(name, arguments, scope.case_insensitive)
        case Lambda():
            return _lambda(expr, scope)


def _kind(expr: Expr) -> str | None:
    return expr.kind if isinstance(expr, Literal) else None


def _property(path: tuple[str, ...], scope: _Scope) -> Any:
    if path[0] not in scope.variables:
        return scope.resolve(scope.row, path)
    item = scope.variables[path[0]]
    if len(path) == 1:
        return item
    if not isinstance(item, Mapping):
        return None

    return scope.resolve(item, path[1:])


def _truth(value: Any, what: str) -> bool | None:
    """``value`` as a three-valued truth; ``what`` names it in the error."""
    if value is None or isinstance(value, bool):
        return value
    kind = type(value).__name__
    raise ODataTypeError(f"{what} must be true, false or null, not a {kind}.")


def _logical(expr: And | Or | Not, scope: _Scope) -> bool | None:
    """Three-valued logic: null is unknown, as in SQL and the OData spec.

    A chain such as ``a or b or c`` is read in a loop, not by recursion, so a
    filter of a thousand alternatives evaluates.
    """
    if isinstance(expr, Not):
        operand = _truth(_value(expr.operand, scope), "The operand of 'not'")
        return None if operand is None else not operand
    what = f"Each operand of '{type(expr).__name__.lower()}'"
    outcomes = {_truth(_value(node, scope), what) for node in _chain(expr)}
    decisive = isinstance(expr, Or)
    if decisive in outcomes:
        return decisive
    if None in outcomes:
        return None

    return not decisive


def _chain(expr: And | Or) -> list[Expr]:
    """The operands of a left-leaning chain of one operator, in order."""
    operands: list[Expr] = []
    node: Expr = expr
    while isinstance(node, type(expr)):
        operands.append(node.right)
        node = node.left
    operands.append(node)

    return operands[::-1]


def _in(expr: In, scope: _Scope) -> bool:
    subject = _value(expr.left, scope)
    left_kind = _kind(expr.left)
    for literal in expr.values:
        kinds = (left_kind, None if expr.loose else literal.kind)
        if _compare("eq", (subject, _value(literal, scope)), kinds, scope):
            return True

    return False


def _lambda(expr: Lambda, scope: _Scope) -> bool | None:
    collection = _property(expr.path, scope)
    if collection is None:
        collection = []
    if not isinstance(collection, Sequence) or isinstance(collection, str):
        raise ODataTypeError(f"'{'/'.join(expr.path)}' is not a collection.")
    if expr.body is None:
        return len(collection) > 0
    outcomes = []
    for item in collection:
        variables = {**scope.variables, expr.var: item}
        inner = _Scope(scope.row, scope.resolve, scope.case_insensitive, variables)
        outcomes.append(_truth(_value(expr.body, inner), "A lambda body") is True)

    return any(outcomes) if expr.op == "any" else all(outcomes)


# --- Comparison and coercion ---------------------------------------------------


def _compare(
    op: str,
    pair: tuple[Any, Any],
    kinds: tuple[str | None, str | None],
    scope: _Scope,
) -> bool:
    left, right = pair
    if left is None or right is None:
        both = left is None and right is None
        return {"eq": both, "ne": not both}.get(op, False)
    left, right = _coerce(_plain(left), _plain(right), kinds)
    if isinstance(left, str) and scope.case_insensitive:
        left, right = left.casefold(), right.casefold()
    try:
        return bool(_OPERATORS[op](left, right))
    except TypeError:
        raise _mismatch(left, right) from None


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


def _plain(value: Any) -> Any:
    """An enum as its wire value, a naive datetime as UTC, anything else as is."""
    if isinstance(value, Enum):
        inner = value.value
        return inner if isinstance(inner, str | int) else value.name
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)

    return value


def _mismatch(left: Any, right: Any) -> ODataTypeError:
    kinds = f"{type(left).__name__} with {type(right).__name__}"

    return ODataTypeError(f"A filter cannot compare {kinds}.")


def _coerce(
    left: Any,
    right: Any,
    kinds: tuple[str | None, str | None],
) -> tuple[Any, Any]:
    """Both values in one comparable type, or :class:`ODataTypeError`.

    A string literal compares only with strings; a stored string is read as the
    GUID, instant, date or number it spells when the other side is one.
    """
    for value, other, kind in ((left, right, kinds[1]), (right, left, kinds[0])):
        if kind == "string" and not isinstance(value, str):
            raise _mismatch(value, other)
    if isinstance(left, str) and isinstance(right, str):
        return left, right
    if isinstance(left, bool) or isinstance(right, bool):
        if isinstance(left, bool) and isinstance(right, bool):
            return left, right
        raise _mismatch(left, right)
    for convert in (_as_uuid, _as_moment, _as_number):
        converted = convert(left, right)
        if converted is not None:
            return converted
    raise _mismatch(left, right)


def _as_uuid(left: Any, right: Any) -> tuple[Any, Any] | None:
    if not isinstance(left, uuid.UUID) and not isinstance(right, uuid.UUID):
        return None
    try:
        return _to_uuid(left), _to_uuid(right)
    except ValueError:
        raise _mismatch(left, right) from None


def _to_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _as_moment(left: Any, right: Any) -> tuple[Any, Any] | None:
    if not any(isinstance(v, date) for v in (left, right)):
        return None
    first, second = _moment(left), _moment(right)
    if first is None or second is None:
        raise _mismatch(left, right)
    if isinstance(first, datetime) or isinstance(second, datetime):
        return _midnight(first), _midnight(second)

    return first, second


def _moment(value: Any) -> date | None:
    if isinstance(value, date):
        return _plain(value)  # type: ignore[no-any-return]
    if not isinstance(value, str):
        return None
    try:
        if match := _DATE.fullmatch(value):
            return _date(match)
        if match := _STORED_DATETIME.fullmatch(value):
            return _datetime(match)
    except ValueError:
        return None

    return None


_STORED_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,12}))?)?"
    r"(Z|[+-]\d{2}:\d{2})?"
)


def _midnight(moment: date) -> datetime:
    if isinstance(moment, datetime):
        return moment

    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def _as_number(left: Any, right: Any) -> tuple[Any, Any] | None:
    numbers = (int, float, Decimal)
    if not isinstance(left, numbers) and not isinstance(right, numbers):
        return None
    try:
        return _to_number(left), _to_number(right)
    except InvalidOperation:
        raise _mismatch(left, right) from None


def _to_number(value: Any) -> int | Decimal:
    """An exact number; a float by its shortest repr, so 0.1 equals 0.1."""
    if isinstance(value, int | Decimal):
        return value

    return Decimal(repr(value) if isinstance(value, float) else str(value))


# --- Functions ---------------------------------------------------------------------


def _call(name: str, args: list[Any], case_insensitive: bool) -> Any:
    """A canonical function; null in, null out."""
    if any(arg is None for arg in args):
        return None
    args = [_plain(arg) for arg in args]
    if name == "substring":
        return _substring(args)
    if not all(isinstance(arg, str) for arg in args):
        raise ODataTypeError(f"The arguments of '{name}' must be strings.")
    if name in _CASELESS and case_insensitive:
        args = [arg.casefold() for arg in args]

    return _STRING_FUNCTIONS[name](*args)


def _substring(args: list[Any]) -> str:
    text, *bounds = args
    if not isinstance(text, str) or not all(
        isinstance(b, int) and not isinstance(b, bool) for b in bounds
    ):
        raise ODataTypeError("'substring' takes a string and one or two integers.")
    start = max(bounds[0], 0)
    end = None if len(bounds) == 1 else start + max(bounds[1], 0)

    return text[start:end]


_CASELESS = frozenset({"contains", "startswith", "endswith", "indexof"})
_STRING_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "contains": lambda text, part: part in text,
    "startswith": lambda text, part: text.startswith(part),
    "endswith": lambda text, part: text.endswith(part),
    "indexof": lambda text, part: text.find(part),
    "concat": lambda first, second: first + second,
    "tolower": lambda text: text.lower(),
    "toupper": lambda text: text.upper(),
    "trim": lambda text: text.strip(),
    "length": len,
}


# --- Inspection ------------------------------------------------------------------


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of ``expr``, parents before children, left to right.

    It keeps its own stack, so a chain of a thousand ``or`` walks too.
    """
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(_children(node)))


def _children(expr: Expr) -> tuple[Expr, ...]:
    match expr:
        case Compare(left=left, right=right) | And(left=left, right=right):
            return (left, right)
        case Or(left=left, right=right):
            return (left, right)
        case Not(operand=operand):
            return (operand,)
        case Call(args=args):
            return args
        case In(left=left, values=values):
            return (left, *values)
        case Lambda(body=body) if body is not None:
            return (body,)

    return ()


def properties(expr: Expr) -> set[tuple[str, ...]]:
    """Every property path ``expr`` reads.

    Inside a lambda, ``o/x`` is reported as the collection's path followed by
    ``x`` (``("salesInvoiceLines", "quantity")``), and the collection's own path
    is reported too; the variable alone is not a property.
    """
    found: set[tuple[str, ...]] = set()
    no_variables: dict[str, tuple[str, ...]] = {}
    stack = [(expr, no_variables)]
    while stack:
        node, variables = stack.pop()
        if isinstance(node, Property | Lambda):
            path = _absolute(node.path, variables)
            if path:
                found.add(path)
        if isinstance(node, Lambda) and node.body is not None:
            variables = {**variables, node.var: path}
        stack.extend((child, variables) for child in _children(node))

    return found


def _absolute(
    path: tuple[str, ...],
    variables: Mapping[str, tuple[str, ...]],
) -> tuple[str, ...]:
    if path[0] not in variables:
        return path

    return variables[path[0]] + path[1:] if len(path) > 1 else ()


# --- $orderby ------------------------------------------------------------------------


def parse_orderby(text: str) -> list[tuple[tuple[str, ...], bool]]:
    """``(path, descending)`` for each comma-separated ``$orderby`` item."""
    parser = _Parser(text, {})
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


_Row = TypeVar("_Row", bound=Mapping[str, Any])


def sort_rows(
    rows: Sequence[_Row],
    orderby: Sequence[tuple[tuple[str, ...], bool]],
    resolve: Resolver | None = None,
    *,
    case_insensitive: bool = False,
) -> list[_Row]:
    """``rows`` in ``$orderby`` order; null first ascending, last descending.

    That is where SQL Server, behind Dataverse and BC, puts nulls. The sort is
    stable: rows with equal keys keep their order. Values of types that do not
    compare (a number and a string) are ordered by type name, then as text.
    """
    resolver = resolve or default_resolve
    ordered = list(rows)
    for path, descending in reversed(orderby):
        keys = [_sort_key(resolver(row, path), case_insensitive) for row in ordered]
        ordered = [ordered[index] for index in _order(keys, descending)]

    return ordered


def _order(keys: list[tuple[Any, ...]], descending: bool) -> list[int]:
    """Indexes of ``keys`` in (stable) order, by type and text if they clash."""
    indexes = range(len(keys))
    try:
        return sorted(indexes, key=keys.__getitem__, reverse=descending)
    except TypeError:
        texts = [(key[0], type(key[-1]).__name__, str(key[-1])) for key in keys]

    return sorted(indexes, key=texts.__getitem__, reverse=descending)


def _sort_key(value: Any, case_insensitive: bool) -> tuple[Any, ...]:
    if value is None:
        return (0,)
    value = _plain(value)
    if isinstance(value, uuid.UUID):
        value = str(value)
    if isinstance(value, str) and case_insensitive:
        value = value.casefold()

    return (1, value)


# --- $select and $expand -----------------------------------------------------------


def parse_select(text: str) -> list[str]:
    """The property names of a ``$select`` value, in order, without repeats."""
    names: list[str] = []
    for item, position in _split_top(text, ",", 0, len(text)):
        name = item.strip()
        if not _IDENT.fullmatch(name) or "." in name:
            raise _syntax_error(text, position + _indent(item), "expected a name")
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
            raise _syntax_error(text, position + _indent(item), "expected a name")
        rest = item[match.end() :].rstrip()
        opened = position + match.end()
        if rest and (rest[0] != "(" or rest[-1] != ")"):
            raise _syntax_error(text, opened, "expected '(' or ','")
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
            raise _syntax_error(text, at, "expected a query option such as $select")
        name = name.strip()
        if name in options:
            raise _syntax_error(text, at, f"{name} is given twice")
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
        raise _syntax_error(text, offset, f"{name} must be a whole number")
    if name == "$count" and value not in ("true", "false"):
        raise _syntax_error(text, offset, "$count must be true or false")
    reader = _NESTED_READERS.get(name)
    if reader is None:
        return
    try:
        reader(value)
    except ODataSyntaxError as exc:
        position = offset + (exc.position or 0)
        raise _syntax_error(text, position, exc.detail) from None


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
                raise _syntax_error(text, index, "unbalanced ')'")
        elif char == separator and depth == 0:
            pieces.append((text[begin:index], begin))
            begin = index + 1
    if quoted or depth:
        raise _syntax_error(text, end, "unbalanced parentheses or quotes")
    pieces.append((text[begin:end], begin))
    for piece, position in pieces:
        if not piece.strip():
            raise _syntax_error(text, position, "expected an item")

    return pieces
