"""``$filter`` read into a syntax tree by recursive descent.

Keywords are lower-case and bind ``not`` > relational > equality > ``and`` >
``or``; ``x in (...)`` binds tighter than ``not``. Parameter aliases
(``@stepid``) are replaced by their literal, lambdas (``lines/any(l: ...)``)
and Dataverse's ``Microsoft.Dynamics.CRM.In``/``NotIn`` are read too. Nesting
deeper than 100 levels is refused rather than left to exhaust the stack.
:class:`Parser` also reads ``$orderby`` items for the options module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pointegration.emulators._odata_errors import ODataSyntaxError, syntax_error
from pointegration.emulators._odata_lexer import IDENT, Token, tokenize
from pointegration.emulators._odata_tree import (
    And,
    Call,
    Compare,
    Expr,
    In,
    Lambda,
    Literal,
    Not,
    Or,
    Property,
)

__all__ = ["Parser", "parse_filter"]

_OPERATOR_WORDS = frozenset({"and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le"})
_KEYWORDS = _OPERATOR_WORDS | {"in", "true", "false", "null"}
_EQUALITY = frozenset({"eq", "ne"})
_RELATIONAL = frozenset({"gt", "ge", "lt", "le"})
_LITERAL_KINDS = frozenset({"string", "int", "decimal", "guid", "datetime", "date"})
_MAX_DEPTH = 100


def parse_filter(text: str, *, aliases: Mapping[str, str] | None = None) -> Expr:
    """The syntax tree of a ``$filter`` value.

    ``aliases`` maps parameter aliases as they appear in the query (``"@stepid"``)
    to their raw literal text; an alias without a value is null, as OData says.
    Raises :class:`ODataSyntaxError` with the position of the first problem.
    """
    parser = Parser(text, aliases or {})
    expr = parser.expression()
    parser.expect("end", "expected an operator or the end of the filter")

    return expr


class Parser:
    """Recursive descent over the tokens, one method per precedence level."""

    def __init__(self, text: str, aliases: Mapping[str, str]) -> None:
        self.text = text
        self.aliases = aliases
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.peek()
        self.index += 1

        return token

    def error(self, detail: str, token: Token | None = None) -> ODataSyntaxError:
        position = (token or self.peek()).position

        return syntax_error(self.text, position, detail)

    def expect(self, kind: str, detail: str) -> Token:
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

    def alias(self, token: Token) -> Literal:
        raw = self.aliases.get(token.text)
        if raw is None:
            return Literal(None, "null")
        try:
            inner = Parser(raw, {})
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

    def crm_in(self, name: Token) -> Expr:
        """``Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=['a'])``."""
        self.advance()
        self.named("PropertyName")
        prop = self.literal()
        if prop.kind != "string" or not IDENT.fullmatch(prop.value):
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
