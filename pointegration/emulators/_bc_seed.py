"""The master data a fresh emulated BC company starts with.

Ids are drawn from the engine's seeded generator in a fixed order, so the same
``seed`` gives the same ids every time (and :meth:`reset` gives them again).

========================  ==============================================
number series             format (first number)
========================  ==============================================
customers                 ``C00010``, step 10
contacts                  ``CT000010``, step 10
items                     ``I00010``, step 10
draft sales invoices      ``S-INV102001``, step 1
posted sales invoices     ``PS-INV103001``, step 1
========================  ==============================================
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pointegration.emulators._bc_contract import format_datetime
from pointegration.emulators._bc_pages import Site
from pointegration.emulators._bc_store import NumberSeries

__all__ = ["ACCOUNTS", "ITEMS", "PAYMENT_TERMS", "seed_company"]

COUNTRIES = (
    ("US", "United States", "City_x002B_County_x002B_Post_x0020_Code"),
    ("CA", "Canada", "City_x002B_County_x002B_Post_x0020_Code"),
    ("GB", "Great Britain", "Blank_x0020_Line_x002B_Post_x0020_Code_x002B_City"),
    ("DE", "Germany", "Post_x0020_Code_x002B_City"),
    ("DK", "Denmark", "Post_x0020_Code_x002B_City"),
    ("FR", "France", "Post_x0020_Code_x002B_City"),
    ("NL", "Netherlands", "Post_x0020_Code_x002B_City"),
    ("SE", "Sweden", "Post_x0020_Code_x002B_City"),
)
CURRENCIES = (
    ("USD", "US dollar", "$"),
    ("EUR", "Euro", "€"),
    ("GBP", "Pound Sterling", "£"),
    ("DKK", "Danish krone", "kr."),
    ("CAD", "Canadian dollar", "$"),
)
PAYMENT_TERMS = (
    ("COD", "Cash on delivery", "0D"),
    ("14 DAYS", "Net 14 days", "14D"),
    ("30 DAYS", "Net 30 days", "30D"),
    ("1M(8D)", "1 Month/2% 8 days", "1M"),
    ("CM", "Current month", "CM"),
)
# The income accounts of the integration's default BC_LINE_MAPPING.
ACCOUNTS = (
    ("40100", "Sales, Services"),
    ("40200", "Sales, Materials"),
    ("40300", "Fees"),
    ("40400", "Sales, Expenses"),
    ("40500", "Sales, Fixed Price"),
)
ITEMS = (
    ("CONSULT", "Consulting services", Decimal("150"), "HOUR"),
    ("TRAVEL", "Travel expenses", Decimal("0"), "PCS"),
    ("TRAINING", "Training day", Decimal("1200"), "DAY"),
)


def seed_company(site: Site, company_name: str) -> None:
    """Fills ``site`` with the company row, master data and number series."""
    engine = site.engine
    engine.series.update(
        customers=NumberSeries("C", 10, 5, 10),
        contacts=NumberSeries("CT", 10, 6, 10),
        items=NumberSeries("I", 10, 5, 10),
        salesInvoices=NumberSeries("S-INV", 102001, 6),
        postedSalesInvoices=NumberSeries("PS-INV", 103001, 6),
    )
    now = format_datetime(engine.now())
    _add(
        site,
        "companies",
        {
            "id": site.company_id,
            "systemVersion": "25.0.23364.0",
            "timestamp": 1,
            "name": company_name[:30],
            "displayName": company_name,
            "businessProfileId": "",
            "systemCreatedAt": now,
            "systemModifiedAt": now,
        },
    )
    for code, name, address_format in COUNTRIES:
        _add(
            site,
            "countriesRegions",
            {
                "code": code,
                "displayName": name,
                "addressFormat": address_format,
            },
        )
    for code, name, symbol in CURRENCIES:
        if code == engine.lcy_code:
            continue
        _add(
            site,
            "currencies",
            {
                "code": code,
                "displayName": name,
                "symbol": symbol,
                "amountDecimalPlaces": "2:2",
                "amountRoundingPrecision": Decimal("0.01"),
            },
        )
    for code, name, formula in PAYMENT_TERMS:
        _add(
            site,
            "paymentTerms",
            {
                "code": code,
                "displayName": name,
                "dueDateCalculation": formula,
                "discountDateCalculation": "8D" if code == "1M(8D)" else "",
                "discountPercent": Decimal("2") if code == "1M(8D)" else Decimal(0),
            },
        )
    for number, name in ACCOUNTS:
        _add(
            site,
            "accounts",
            {
                "number": number,
                "displayName": name,
                "category": "Income",
                "subCategory": "Income, Services",
                "accountType": "Posting",
                "directPosting": True,
                "consolidationTranslationMethod": "Average Rate (Manual)",
            },
        )
    for number, name, price, unit in ITEMS:
        _add(
            site,
            "items",
            {
                "number": number,
                "displayName": name,
                "type": "Service",
                "unitPrice": price,
                "baseUnitOfMeasureCode": unit,
            },
        )


def _add(site: Site, entity_set: str, values: dict[str, Any]) -> None:
    page = site.page(entity_set)
    record = page.new_record()
    record.update(values)
    site.engine.insert(entity_set, record)
