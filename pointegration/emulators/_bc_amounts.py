"""The amounts of a sales document, computed as BC's sales lines compute them.

Everything is in the document currency. The line amount is
``round(quantity * unitPrice)`` less the line discount (from
``discountPercent``, or the ``discountAmount`` given, which then sets the
percentage); an invoice discount is spread over the lines in proportion to
their amounts and taken before tax; tax is computed on the running total of
each tax rate and handed out line by line, so the lines' tax adds up to the
rounded tax of the whole document. Rounding is to the currency's
``amountRoundingPrecision`` (0.01 for the local currency), half away from zero.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from pointegration.emulators._bc_store import Record

__all__ = ["allocate", "line_amount", "tax"]

_ZERO = Decimal(0)


def _round(value: Decimal, precision: Decimal) -> Decimal:
    steps = (value / precision).quantize(Decimal(1), rounding=ROUND_HALF_UP)

    return steps * precision


def line_amount(line: Record, precision: Decimal) -> None:
    """Sets the line discount and ``amountExcludingTax`` of ``line``."""
    if line["lineType"] == "Comment":
        for name in ("discountAmount", "amountExcludingTax", "taxPercent"):
            line[name] = _ZERO
        return
    gross = _round(Decimal(line["quantity"]) * Decimal(line["unitPrice"]), precision)
    percent = Decimal(line["discountPercent"])
    if line.get("_discountGiven"):
        discount = Decimal(line["discountAmount"])
        line["discountPercent"] = (
            (discount / gross * 100).quantize(Decimal("0.00001")) if gross else _ZERO
        )
        line["_discountGiven"] = False
    else:
        discount = _round(gross * percent / 100, precision)
    line["discountAmount"] = discount
    line["amountExcludingTax"] = gross - discount


def allocate(lines: list[Record], discount: Decimal, precision: Decimal) -> None:
    """Spreads the invoice ``discount`` over ``lines``; sets their net amounts."""
    base = sum((ln["amountExcludingTax"] for ln in lines), _ZERO)
    left = discount
    running = _ZERO
    for line in lines:
        share = _ZERO
        if base and discount:
            running += line["amountExcludingTax"]
            share = _round(discount * running / base, precision) - (discount - left)
        left -= share
        line["invoiceDiscountAllocation"] = share
        line["netAmount"] = line["amountExcludingTax"] - share
        line["discountAppliedBeforeTax"] = True


def tax(lines: list[Record], precision: Decimal) -> None:
    """Tax per line from running totals per rate, so the lines add up exactly."""
    gross: dict[Decimal, list[Decimal]] = {}
    net: dict[Decimal, list[Decimal]] = {}
    for line in lines:
        rate = Decimal(line["taxPercent"]) / 100
        line["totalTaxAmount"] = _carry(
            gross, rate, line["amountExcludingTax"], precision
        )
        line["netTaxAmount"] = _carry(net, rate, line["netAmount"], precision)
        line["amountIncludingTax"] = line["amountExcludingTax"] + line["totalTaxAmount"]
        line["netAmountIncludingTax"] = line["netAmount"] + line["netTaxAmount"]


def _carry(
    totals: dict[Decimal, list[Decimal]],
    rate: Decimal,
    amount: Decimal,
    precision: Decimal,
) -> Decimal:
    base, taxed = totals.setdefault(rate, [_ZERO, _ZERO])
    base += amount
    tax = _round(base * rate, precision) - taxed
    totals[rate] = [base, taxed + tax]

    return tax
