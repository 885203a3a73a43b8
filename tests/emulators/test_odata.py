"""The OData query options both emulators read: $filter, $orderby, $select, $expand."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from pointegration.emulators._odata import (
    And,
    Call,
    Compare,
    ExpandItem,
    In,
    Lambda,
    Literal,
    Not,
    ODataSyntaxError,
    ODataTypeError,
    Or,
    Property,
    evaluate,
    parse_expand,
    parse_filter,
    parse_orderby,
    parse_select,
    properties,
    sort_rows,
    walk,
)

GUID = "8a6b3c2d-1111-2222-3333-444455556666"


def prop(*path: str) -> Property:
    """A property node, for brevity in the tables."""
    return Property(path)


def lit(value: Any, kind: str) -> Literal:
    """A literal node, for brevity in the tables."""
    return Literal(value, kind)


def matches(text: str, row: Mapping[str, Any], **options: Any) -> bool:
    """Whether ``row`` passes the filter ``text``."""
    return evaluate(parse_filter(text), row, **options)


# --- Parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "a eq 1 or b eq 2 and c eq 3",
            Or(
                Compare("eq", prop("a"), lit(1, "int")),
                And(
                    Compare("eq", prop("b"), lit(2, "int")),
                    Compare("eq", prop("c"), lit(3, "int")),
                ),
            ),
            id="and-binds-tighter-than-or",
        ),
        pytest.param(
            "(a eq 1 or b eq 2) and c eq 3",
            And(
                Or(
                    Compare("eq", prop("a"), lit(1, "int")),
                    Compare("eq", prop("b"), lit(2, "int")),
                ),
                Compare("eq", prop("c"), lit(3, "int")),
            ),
            id="parentheses-group",
        ),
        pytest.param(
            "not contains(name,'x') and a eq 1",
            And(
                Not(Call("contains", (prop("name"), lit("x", "string")))),
                Compare("eq", prop("a"), lit(1, "int")),
            ),
            id="not-binds-tighter-than-and",
        ),
        pytest.param(
            "a gt 1 eq true",
            Compare("eq", Compare("gt", prop("a"), lit(1, "int")), lit(True, "bool")),
            id="relational-binds-tighter-than-equality",
        ),
        pytest.param(
            "a eq 1 or b eq 2 or c eq 3",
            Or(
                Or(
                    Compare("eq", prop("a"), lit(1, "int")),
                    Compare("eq", prop("b"), lit(2, "int")),
                ),
                Compare("eq", prop("c"), lit(3, "int")),
            ),
            id="or-is-left-associative",
        ),
        pytest.param(
            "  statecode   eq\t0  ",
            Compare("eq", prop("statecode"), lit(0, "int")),
            id="whitespace-tolerated",
        ),
        pytest.param(
            "sdkmessageid/name eq 'Update'",
            Compare("eq", prop("sdkmessageid", "name"), lit("Update", "string")),
            id="navigation-path",
        ),
        pytest.param(
            "_parentcustomerid_value eq null",
            Compare("eq", prop("_parentcustomerid_value"), lit(None, "null")),
            id="underscore-identifier-and-null",
        ),
        pytest.param(
            "status in ('Open', 'Paid')",
            In(prop("status"), (lit("Open", "string"), lit("Paid", "string"))),
            id="in-list",
        ),
        pytest.param(
            "salesInvoiceLines/any(l: l/quantity gt 2)",
            Lambda(
                ("salesInvoiceLines",),
                "any",
                "l",
                Compare("gt", prop("l", "quantity"), lit(2, "int")),
            ),
            id="lambda-any",
        ),
        pytest.param(
            "lines/any()",
            Lambda(("lines",), "any", "", None),
            id="lambda-any-without-body",
        ),
        pytest.param(
            "Microsoft.Dynamics.CRM.In(PropertyName='statuscode',"
            "PropertyValues=['1','2'])",
            In(prop("statuscode"), (lit("1", "string"), lit("2", "string")), True),
            id="dataverse-in-function",
        ),
        pytest.param(
            "Microsoft.Dynamics.CRM.NotIn(PropertyName='name',PropertyValues=['a'])",
            Not(In(prop("name"), (lit("a", "string"),), True)),
            id="dataverse-notin-function",
        ),
    ],
)
def test_parse_filter_builds_the_tree(text: str, expected: Any) -> None:
    """A filter parses into the tree its precedence and grouping say."""
    assert expected == parse_filter(text)


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        pytest.param("'O''Brien & Sons'", "O'Brien & Sons", "string", id="quote"),
        pytest.param("''''", "'", "string", id="only-a-quote"),
        pytest.param("''", "", "string", id="empty-string"),
        pytest.param("'a or b eq c'", "a or b eq c", "string", id="keywords-in-quotes"),
        pytest.param("42", 42, "int", id="int"),
        pytest.param("-7", -7, "int", id="negative-int"),
        pytest.param("1000.10", Decimal("1000.10"), "decimal", id="decimal-exact"),
        pytest.param("-0.005", Decimal("-0.005"), "decimal", id="negative-decimal"),
        pytest.param("12.5M", Decimal("12.5"), "decimal", id="decimal-suffix"),
        pytest.param("1e3", Decimal("1e3"), "decimal", id="exponent"),
        pytest.param("true", True, "bool", id="true"),
        pytest.param("false", False, "bool", id="false"),
        pytest.param("null", None, "null", id="null"),
        pytest.param(GUID.upper(), GUID, "guid", id="guid-lower-cased"),
        pytest.param(
            "2019-08-18T20:05:51.603Z",
            datetime(2019, 8, 18, 20, 5, 51, 603000, tzinfo=UTC),
            "datetime",
            id="datetime-utc",
        ),
        pytest.param(
            "2024-01-31T10:00:00+01:00",
            datetime(2024, 1, 31, 9, 0, tzinfo=UTC),
            "datetime",
            id="datetime-offset-to-utc",
        ),
        pytest.param(
            "2024-01-31T10:00:00.1234567Z",
            datetime(2024, 1, 31, 10, 0, 0, 123456, tzinfo=UTC),
            "datetime",
            id="datetime-seven-digit-fraction",
        ),
        pytest.param(
            "2024-01-31T10:00Z",
            datetime(2024, 1, 31, 10, 0, tzinfo=UTC),
            "datetime",
            id="datetime-without-seconds",
        ),
        pytest.param("2024-01-31", date(2024, 1, 31), "date", id="date"),
    ],
)
def test_literals_parse_to_exact_values(text: str, value: Any, kind: str) -> None:
    """Each literal form parses to its exact Python value and kind."""
    expr = parse_filter(f"x eq {text}")

    assert isinstance(expr, Compare)
    assert Literal(value, kind) == expr.right
    assert type(value) is type(expr.right.value)


def test_parameter_alias_takes_its_literal() -> None:
    """A parameter alias is replaced by the literal given for it in the query."""
    expr = parse_filter("_ownerid_value eq @stepid", aliases={"@stepid": GUID})

    assert Compare("eq", prop("_ownerid_value"), lit(GUID, "guid")) == expr


def test_parameter_alias_without_value_is_null() -> None:
    """An alias the query gives no value for reads as null, as OData says."""
    expr = parse_filter("name eq @missing")

    assert Compare("eq", prop("name"), lit(None, "null")) == expr


@pytest.mark.parametrize(
    ("text", "position", "detail"),
    [
        pytest.param("name eq", 7, "expected a value", id="missing-operand"),
        pytest.param("name EQ 'x'", 5, "expected an operator", id="upper-keyword"),
        pytest.param("name eq 'abc", 8, "not terminated", id="open-string"),
        pytest.param("name eq 'a' & b eq 1", 12, "'&' is not valid", id="bad-char"),
        pytest.param("foo(name)", 0, "unknown function 'foo'", id="unknown-function"),
        pytest.param("contains(name)", 0, "wrong number", id="wrong-arity"),
        pytest.param("(a eq 1", 7, "expected ')'", id="unclosed-parenthesis"),
        pytest.param("a eq 1)", 6, "expected an operator", id="extra-parenthesis"),
        pytest.param("a eq 1 and", 10, "expected a value", id="dangling-and"),
        pytest.param("a in ()", 6, "expected a literal", id="empty-in"),
        pytest.param("a in (b)", 6, "expected a literal", id="in-needs-literals"),
        pytest.param("a eq 2024-02-30", 5, "not valid", id="impossible-date"),
        pytest.param("a gt 2024-01-01T10:00:00", 5, "offset", id="datetime-no-offset"),
        pytest.param("a eq 12abc", 5, "number is not valid", id="number-glued-to-name"),
        pytest.param("a eq 1.", 5, "number is not valid", id="number-without-fraction"),
        pytest.param("lines/all()", 10, "lambda variable", id="all-needs-a-body"),
        pytest.param("lines/any(l l/x eq 1)", 12, "':'", id="lambda-needs-colon"),
        pytest.param("a/ eq 1", 3, "property name after '/'", id="dangling-slash"),
        pytest.param("", 0, "expected a value", id="empty"),
        pytest.param("(" * 150 + "a eq 1" + ")" * 150, 100, "nested", id="too-deep"),
    ],
)
def test_syntax_errors_name_the_position(text: str, position: int, detail: str) -> None:
    """A filter that cannot be read fails with the offset of the problem."""
    with pytest.raises(ODataSyntaxError) as caught:
        parse_filter(text)

    assert position == caught.value.position
    assert detail in caught.value.detail
    assert caught.value.message.startswith(f"Syntax error at position {position} in ")
    assert str(caught.value) == caught.value.message


def test_bad_alias_value_is_reported_at_the_alias() -> None:
    """An alias whose value is not one literal fails at the alias's position."""
    with pytest.raises(ODataSyntaxError) as caught:
        parse_filter("a eq @p", aliases={"@p": "b eq 1"})

    assert caught.value.position == 5


# --- Evaluation --------------------------------------------------------------------

ROW: dict[str, Any] = {
    "name": "O'Brien & Sons",
    "code": "C0001",
    "statecode": 0,
    "amount": Decimal("1000.10"),
    "rate": 0.5,
    "tenth": 0.1,
    "blocked": False,
    "accountid": GUID,
    "uuid": uuid.UUID(GUID),
    "modifiedon": "2024-01-31T10:00:00Z",
    "postedAt": datetime(2024, 1, 31, 10, 0, tzinfo=UTC),
    "naiveAt": datetime(2024, 1, 31, 10, 0),  # noqa: DTZ001  naive means UTC
    "orderDate": "2024-01-31",
    "dueDate": date(2024, 2, 29),
    "numberText": "12.50",
    "missingValue": None,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("name eq 'O''Brien & Sons'", True, id="escaped-quote-equal"),
        pytest.param("name ne 'O''Brien & Sons'", False, id="escaped-quote-not-equal"),
        pytest.param("name eq 'o''brien & sons'", False, id="case-sensitive-eq"),
        pytest.param("code gt 'C0000' and code lt 'C0002'", True, id="string-order"),
        pytest.param("statecode eq 0", True, id="int-equal"),
        pytest.param("amount eq 1000.1", True, id="decimal-equal-any-scale"),
        pytest.param("amount gt 1000", True, id="decimal-vs-int"),
        pytest.param("amount lt 1000.11", True, id="decimal-exact-lt"),
        pytest.param("amount gt 1000.10", False, id="decimal-exact-not-gt"),
        pytest.param("rate eq 0.5", True, id="float-vs-decimal"),
        pytest.param("tenth eq 0.1", True, id="float-by-its-repr"),
        pytest.param("numberText eq 12.5", True, id="stored-number-text"),
        pytest.param("blocked eq false", True, id="bool-equal"),
        pytest.param("blocked", False, id="bare-bool-property"),
        pytest.param("not blocked", True, id="not-bool-property"),
        pytest.param(f"accountid eq {GUID.upper()}", True, id="guid-text-any-case"),
        pytest.param(f"uuid eq {GUID}", True, id="guid-object"),
        pytest.param(f"uuid ne {GUID}", False, id="guid-object-ne"),
        pytest.param("modifiedon eq 2024-01-31T11:00:00+01:00", True, id="instant"),
        pytest.param("modifiedon gt 2024-01-31T09:59:59.999Z", True, id="iso-text-gt"),
        pytest.param("postedAt ge 2024-01-31T10:00:00Z", True, id="datetime-ge"),
        pytest.param("postedAt lt 2024-01-31T10:00:00Z", False, id="datetime-not-lt"),
        pytest.param("naiveAt eq 2024-01-31T10:00:00Z", True, id="naive-is-utc"),
        pytest.param("orderDate eq 2024-01-31", True, id="date-text"),
        pytest.param("dueDate gt 2024-02-28", True, id="date-object"),
        pytest.param("postedAt gt 2024-01-31", True, id="date-is-midnight-utc"),
        pytest.param("missingValue eq null", True, id="null-eq-null"),
        pytest.param("absent eq null", True, id="absent-eq-null"),
        pytest.param("absent ne null", False, id="absent-ne-null"),
        pytest.param("name eq null", False, id="value-eq-null"),
        pytest.param("name ne null", True, id="value-ne-null"),
        pytest.param("absent gt 1", False, id="null-gt-is-false"),
        pytest.param("absent le 1", False, id="null-le-is-false"),
        pytest.param("not (absent gt 1)", True, id="not-of-false-comparison"),
        pytest.param("not contains(absent,'a')", False, id="function-of-null-unknown"),
        pytest.param("contains(absent,'a') or statecode eq 0", True, id="null-or"),
        pytest.param("contains(absent,'a') and statecode eq 0", False, id="null-and"),
        pytest.param("statecode in (1, 0)", True, id="in-hit"),
        pytest.param("statecode in (1, 2)", False, id="in-miss"),
        pytest.param("absent in (null)", True, id="in-null"),
        pytest.param("contains(name,'Brien')", True, id="contains"),
        pytest.param("contains(name,'brien')", False, id="contains-case-sensitive"),
        pytest.param("startswith(code,'C0')", True, id="startswith"),
        pytest.param("endswith(code,'01')", True, id="endswith"),
        pytest.param("tolower(code) eq 'c0001'", True, id="tolower"),
        pytest.param("toupper(name) eq 'O''BRIEN & SONS'", True, id="toupper"),
        pytest.param("length(code) eq 5", True, id="length"),
        pytest.param("trim(concat('  ', code)) eq 'C0001'", True, id="trim-concat"),
        pytest.param("substring(code, 1) eq '0001'", True, id="substring"),
        pytest.param("substring(code, 1, 2) eq '00'", True, id="substring-length"),
        pytest.param("indexof(code, '1') eq 4", True, id="indexof"),
        pytest.param("'C0001' eq code", True, id="literal-on-the-left"),
    ],
)
def test_evaluate_follows_odata_semantics(text: str, expected: bool) -> None:
    """Each comparison, function and null rule gives the OData answer."""
    assert expected is matches(text, ROW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("name eq 'o''brien & sons'", True, id="eq"),
        pytest.param("code gt 'c0000'", True, id="ordering"),
        pytest.param("contains(name,'BRIEN')", True, id="contains"),
        pytest.param("startswith(code,'c0')", True, id="startswith"),
        pytest.param("code in ('c0001')", True, id="in"),
        pytest.param("name eq 'someone else'", False, id="still-compares"),
    ],
)
def test_case_insensitive_strings(text: str, expected: bool) -> None:
    """With case_insensitive, strings compare as SQL Server's collation does."""
    assert expected is matches(text, ROW, case_insensitive=True)


class Status(enum.Enum):
    """A stored enum, as the BC emulator may keep one."""

    OPEN = "Open"
    IN_REVIEW = "In_x0020_Review"


def test_stored_enum_compares_by_wire_value() -> None:
    """An Enum value compares with a string literal by its wire value."""
    row = {"status": Status.IN_REVIEW}

    assert matches("status eq 'In_x0020_Review'", row)
    assert not matches("status eq 'Open'", row)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("statecode eq '0'", id="string-literal-vs-int"),
        pytest.param("name eq 5", id="number-vs-text"),
        pytest.param("blocked eq 0", id="bool-vs-int"),
        pytest.param("postedAt eq 'today'", id="string-literal-vs-datetime"),
        pytest.param(f"name eq {GUID}", id="guid-vs-text"),
        pytest.param("name eq 2024-01-31", id="date-vs-text"),
        pytest.param("name", id="non-boolean-filter"),
        pytest.param("statecode and blocked", id="non-boolean-and"),
        pytest.param("contains(statecode,'0')", id="function-on-number"),
        pytest.param("name/any(n: n eq 'x')", id="lambda-over-text"),
    ],
)
def test_incompatible_types_are_refused(text: str) -> None:
    """A filter comparing incompatible types raises ODataTypeError, a 400."""
    with pytest.raises(ODataTypeError):
        matches(text, ROW)


def test_type_errors_name_types_not_values() -> None:
    """A type error names the types involved and never echoes a stored value."""
    with pytest.raises(ODataTypeError) as caught:
        matches("secret eq 5", {"secret": "hunter2"})

    assert "str" in caught.value.message
    assert "hunter2" not in caught.value.message


def test_type_error_is_a_syntax_error() -> None:
    """Callers that answer ODataSyntaxError with 400 also catch type errors."""
    assert issubclass(ODataTypeError, ODataSyntaxError)


def test_dataverse_in_function_converts_its_text_values() -> None:
    """Microsoft.Dynamics.CRM.In compares '1' with a stored choice 1."""
    text = "Microsoft.Dynamics.CRM.In(PropertyName='statuscode',PropertyValues=['1'])"

    assert matches(text, {"statuscode": 1})
    assert not matches(text, {"statuscode": 2})


def test_navigation_paths_use_the_resolver() -> None:
    """A navigation path is answered by the caller's resolver."""
    messages = {"m1": {"name": "Update"}}
    row = {"sdkmessageid": "m1", "primaryobjecttypecode": "invoice"}

    def resolve(record: Mapping[str, Any], path: tuple[str, ...]) -> Any:
        """Follows sdkmessageid to the message row."""
        if path[0] == "sdkmessageid" and len(path) == 2:
            return messages[record["sdkmessageid"]].get(path[1])
        return record.get(path[0])

    expr = parse_filter(
        "primaryobjecttypecode eq 'invoice' and sdkmessageid/name eq 'Update'"
    )

    assert evaluate(expr, row, resolve)
    assert not evaluate(expr, {**row, "primaryobjecttypecode": "account"}, resolve)


def test_default_resolver_follows_nested_mappings() -> None:
    """Without a resolver, a path walks nested mappings and misses quietly."""
    row = {"customer": {"address": {"city": "Oslo"}}, "flat": "x"}

    assert matches("customer/address/city eq 'Oslo'", row)
    assert matches("flat/deeper eq null", row)
    assert matches("nothing/here eq null", row)


INVOICE: dict[str, Any] = {
    "number": "S-INV-1",
    "salesInvoiceLines": [
        {"quantity": 1, "item": {"number": "1000"}},
        {"quantity": 3, "item": {"number": "2000"}},
    ],
    "empty": [],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("salesInvoiceLines/any(l: l/quantity gt 2)", True, id="any-hit"),
        pytest.param("salesInvoiceLines/any(l: l/quantity gt 5)", False, id="any-miss"),
        pytest.param("salesInvoiceLines/all(l: l/quantity gt 0)", True, id="all-hit"),
        pytest.param("salesInvoiceLines/all(l: l/quantity gt 1)", False, id="all-miss"),
        pytest.param(
            "salesInvoiceLines/any(l: l/item/number eq '2000')", True, id="nested-path"
        ),
        pytest.param(
            "salesInvoiceLines/any(l: l/quantity eq 3 and number eq 'S-INV-1')",
            True,
            id="outer-property-in-body",
        ),
        pytest.param("salesInvoiceLines/any()", True, id="any-non-empty"),
        pytest.param("empty/any()", False, id="any-empty"),
        pytest.param("empty/all(l: l/quantity gt 100)", True, id="all-empty"),
        pytest.param("absent/any(l: l/quantity gt 0)", False, id="any-null"),
    ],
)
def test_lambda_operators(text: str, expected: bool) -> None:
    """any and all range over the items of a collection property."""
    assert expected is matches(text, INVOICE)


def test_nested_lambdas_see_both_variables() -> None:
    """An inner lambda's body can use the outer lambda's variable."""
    row = {"orders": [{"limit": 2, "lines": [{"qty": 1}, {"qty": 3}]}]}

    assert matches("orders/any(o: o/lines/any(l: l/qty gt o/limit))", row)
    assert not matches("orders/any(o: o/lines/all(l: l/qty gt o/limit))", row)


def test_primitive_collection_lambda() -> None:
    """The lambda variable alone stands for a primitive item."""
    assert matches("tags/any(t: t eq 'vip')", {"tags": ["new", "vip"]})


def test_long_or_chains_parse_and_evaluate() -> None:
    """A filter of a thousand alternatives neither recurses too deep nor fails."""
    text = " or ".join(f"id eq {number}" for number in range(1000))
    expr = parse_filter(text)

    assert evaluate(expr, {"id": 999})
    assert not evaluate(expr, {"id": 1000})
    assert sum(isinstance(node, Compare) for node in walk(expr)) == 1000
    assert {("id",)} == properties(expr)


# --- Inspection ----------------------------------------------------------------------


def test_properties_lists_every_path() -> None:
    """properties() gives each path read, lambda bodies relative to their collection."""
    expr = parse_filter(
        "a eq 1 and (contains(b/c,'x') or d in (1)) "
        "and lines/any(l: l/qty gt 1 and l eq null and top eq 2)"
    )

    expected = {("a",), ("b", "c"), ("d",), ("lines",), ("lines", "qty"), ("top",)}
    assert expected == properties(expr)


def test_walk_visits_every_node_in_order() -> None:
    """walk() yields parents before children, left to right, literals included."""
    expr = parse_filter("a eq 1 or not b in ('x', 'y')")

    assert [
        expr,
        Compare("eq", prop("a"), lit(1, "int")),
        prop("a"),
        lit(1, "int"),
        Not(In(prop("b"), (lit("x", "string"), lit("y", "string")))),
        In(prop("b"), (lit("x", "string"), lit("y", "string"))),
        prop("b"),
        lit("x", "string"),
        lit("y", "string"),
    ] == list(walk(expr))


def test_in_binds_tighter_than_not() -> None:
    """``not x in (...)`` negates the membership, as Microsoft's parser reads it."""
    expr = parse_filter("not status in ('Open')")

    assert Not(In(prop("status"), (lit("Open", "string"),))) == expr
    assert matches("not status in ('Open')", {"status": "Paid"})


def test_walk_finds_or_across_fields() -> None:
    """walk() lets an emulator see which fields each OR spans, as BC must."""
    expr = parse_filter("(status eq 'Open' or status eq 'Paid') and number eq 'X'")
    spans = [
        {path for child in (node.left, node.right) for path in properties(child)}
        for node in walk(expr)
        if isinstance(node, Or)
    ]

    assert [{("status",)}] == spans


# --- $orderby ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("name", [(("name",), False)], id="one"),
        pytest.param("completedon desc", [(("completedon",), True)], id="desc"),
        pytest.param(
            "a asc, sdkmessageid/name desc,b",
            [(("a",), False), (("sdkmessageid", "name"), True), (("b",), False)],
            id="several",
        ),
    ],
)
def test_parse_orderby(text: str, expected: list[Any]) -> None:
    """$orderby gives (path, descending) pairs in order."""
    assert expected == parse_orderby(text)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        pytest.param("", 0, id="empty"),
        pytest.param("name sideways", 5, id="bad-direction"),
        pytest.param("a,", 2, id="dangling-comma"),
        pytest.param("a desc desc", 7, id="twice"),
    ],
)
def test_parse_orderby_errors(text: str, position: int) -> None:
    """A bad $orderby fails with the position of the problem."""
    with pytest.raises(ODataSyntaxError) as caught:
        parse_orderby(text)

    assert position == caught.value.position


ROWS: list[dict[str, Any]] = [
    {"id": 1, "name": "beta", "amount": Decimal("2.00")},
    {"id": 2, "name": None, "amount": Decimal("1.00")},
    {"id": 3, "name": "Alpha", "amount": Decimal("2.00")},
    {"id": 4, "name": "alpha", "amount": None},
]


@pytest.mark.parametrize(
    ("orderby", "case_insensitive", "expected"),
    [
        pytest.param("name", False, [2, 3, 4, 1], id="null-first-ascending"),
        pytest.param("name desc", False, [1, 4, 3, 2], id="null-last-descending"),
        pytest.param("name", True, [2, 3, 4, 1], id="case-insensitive-stable"),
        pytest.param("amount desc,id desc", False, [3, 1, 2, 4], id="two-keys"),
        pytest.param("amount desc", False, [1, 3, 2, 4], id="desc-keeps-ties-order"),
    ],
)
def test_sort_rows(orderby: str, case_insensitive: bool, expected: list[int]) -> None:
    """Rows sort by each key in turn, with nulls where SQL Server puts them."""
    rows = sort_rows(ROWS, parse_orderby(orderby), case_insensitive=case_insensitive)

    assert expected == [row["id"] for row in rows]


def test_sort_rows_by_navigation_path_and_mixed_types() -> None:
    """A nested path sorts through the resolver; clashing types do not crash."""
    rows: list[dict[str, Any]] = [{"c": {"n": "b"}}, {"c": {"n": 1}}, {"c": None}]

    ordered = sort_rows(rows, [(("c", "n"), False)])

    assert [(row["c"] or {}).get("n") for row in ordered] == [None, 1, "b"]


# --- $select and $expand -----------------------------------------------------------


def test_parse_select() -> None:
    """$select gives the names in order, trimmed, without repeats."""
    assert parse_select("id, number,_parentcustomerid_value,id") == [
        "id",
        "number",
        "_parentcustomerid_value",
    ]


@pytest.mark.parametrize(
    ("text", "position"),
    [
        pytest.param("", 0, id="empty"),
        pytest.param("id,,name", 3, id="empty-item"),
        pytest.param("id, na-me", 4, id="bad-name"),
    ],
)
def test_parse_select_errors(text: str, position: int) -> None:
    """A bad $select fails with the position of the problem."""
    with pytest.raises(ODataSyntaxError) as caught:
        parse_select(text)

    assert position == caught.value.position


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("customer", [ExpandItem("customer", {})], id="plain"),
        pytest.param(
            "salesInvoiceLines($select=id,quantity;$expand=item),customer",
            [
                ExpandItem(
                    "salesInvoiceLines", {"$select": "id,quantity", "$expand": "item"}
                ),
                ExpandItem("customer", {}),
            ],
            id="options-and-top-level-comma",
        ),
        pytest.param(
            "paymentTerm,salesOrderLines($expand=account,item($expand=itemCategory))",
            [
                ExpandItem("paymentTerm", {}),
                ExpandItem(
                    "salesOrderLines", {"$expand": "account,item($expand=itemCategory)"}
                ),
            ],
            id="nested-expand",
        ),
        pytest.param(
            "lines($filter=description eq 'a,b;(c)';$orderby=x desc;$top=5)",
            [
                ExpandItem(
                    "lines",
                    {
                        "$filter": "description eq 'a,b;(c)'",
                        "$orderby": "x desc",
                        "$top": "5",
                    },
                )
            ],
            id="separators-inside-quotes",
        ),
        pytest.param(
            " customer ( $select = id ) , currency ",
            [ExpandItem("customer", {"$select": "id"}), ExpandItem("currency", {})],
            id="whitespace",
        ),
        pytest.param("lines()", [ExpandItem("lines", {})], id="empty-options"),
    ],
)
def test_parse_expand(text: str, expected: list[ExpandItem]) -> None:
    """$expand splits at top-level commas and keeps nested options raw."""
    assert expected == parse_expand(text)


@pytest.mark.parametrize(
    ("text", "position", "detail"),
    [
        pytest.param("", 0, "expected an item", id="empty"),
        pytest.param("a,,b", 2, "expected an item", id="empty-item"),
        pytest.param("lines($select=id", 16, "unbalanced", id="unclosed"),
        pytest.param("lines)", 5, "unbalanced", id="stray-close"),
        pytest.param("lines(x=1)", 6, "query option", id="unknown-option"),
        pytest.param("lines($top=1;$top=2)", 13, "twice", id="repeated-option"),
        pytest.param("lines($top=many)", 11, "whole number", id="bad-top"),
        pytest.param("lines($filter=a eq)", 18, "expected a value", id="nested-filter"),
        pytest.param("a,lines($select=x,,y)", 18, "expected an item", id="in-select"),
        pytest.param("lines($expand=item(x))", 19, "query option", id="nested-expand"),
        pytest.param("lines x", 6, "expected '('", id="junk-after-name"),
        pytest.param("lines('x)", 9, "unbalanced", id="open-quote"),
    ],
)
def test_parse_expand_errors(text: str, position: int, detail: str) -> None:
    """A bad $expand fails at its position in the whole text, nested ones too."""
    with pytest.raises(ODataSyntaxError) as caught:
        parse_expand(text)

    assert position == caught.value.position
    assert detail in caught.value.detail
    assert f"in '{text}'" in caught.value.message
