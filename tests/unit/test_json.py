"""Exact-decimal JSON: Decimal in and out exactly, nothing JSON cannot hold."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pointegration import _json


def test_decimal_is_written_as_its_exact_number() -> None:
    """A Decimal goes out as the number it holds, trailing zeros kept."""
    assert _json.dumps({"a": Decimal("1234.565"), "b": Decimal("-0.10")}) == (
        '{"a":1234.565,"b":-0.10}'
    )


def test_fractions_are_read_as_decimal() -> None:
    """A number with a fraction or exponent is read as Decimal, an integer as int."""
    assert _json.loads('{"a": 0.1, "b": 1e3, "c": 7}') == {
        "a": Decimal("0.1"),
        "b": Decimal("1E+3"),
        "c": 7,
    }


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", '{"a": NaN}'])
def test_non_json_constants_are_refused(text: str) -> None:
    """NaN and the infinities are not JSON and are refused when read."""
    with pytest.raises(ValueError, match="is not a JSON value"):
        _json.loads(text)


@pytest.mark.parametrize(
    "value", [Decimal("NaN"), Decimal("Infinity"), float("nan")], ids=str
)
def test_non_finite_numbers_are_refused_when_written(value: object) -> None:
    """A number JSON cannot hold is refused when written."""
    with pytest.raises(ValueError, match="JSON"):
        _json.dumps({"a": value})
