"""BC emulator: sales invoices, lines, amounts, posting and payments."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.emulators.test_bc_fixtures import Bc, bc, emulator, error_of, instant

__all__ = ["bc", "emulator"]

CONSULT = {"lineType": "Item", "lineObjectNumber": "CONSULT", "quantity": 3}


async def _lines(bc: Bc, invoice: dict[str, Any]) -> list[dict[str, Any]]:
    response = await bc.get(f"salesInvoices({invoice['id']})/salesInvoiceLines")
    lines: list[dict[str, Any]] = response.json()["value"]
    return lines


def _fill(value: Any, values: dict[str, str]) -> Any:
    """``value`` with placeholder strings replaced, recursively."""
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return values.get(value, value) if isinstance(value, str) else value


async def _read(bc: Bc, invoice: dict[str, Any]) -> dict[str, Any]:
    response = await bc.get(f"salesInvoices({invoice['id']})")
    body: dict[str, Any] = response.json()
    return body


async def test_microsofts_deep_insert_example_creates_a_draft_with_its_line(
    bc: Bc,
) -> None:
    """The docs' deep insert: 201 with the header; the line is under it."""
    customer = await bc.customer()
    response = await bc.post(
        "salesInvoices",
        {"customerNumber": customer["number"], "salesInvoiceLines": [CONSULT]},
    )

    assert response.status_code == 201, response.text
    invoice = response.json()
    assert "salesInvoiceLines" not in invoice
    assert (invoice["status"], invoice["number"]) == ("Draft", "S-INV102001")
    assert invoice["customerName"] == "Contoso Ltd."
    lines = await _lines(bc, invoice)
    assert [
        (ln["lineType"], ln["lineObjectNumber"], ln["quantity"]) for ln in lines
    ] == [("Item", "CONSULT", 3)]
    assert lines[0]["description"] == "Consulting services"
    assert lines[0]["unitPrice"] == 150
    assert lines[0]["sequence"] == 10000


async def test_expand_on_the_post_url_returns_the_lines(bc: Bc) -> None:
    """POST ...salesInvoices?$expand=salesInvoiceLines answers with the lines."""
    customer = await bc.customer()
    response = await bc.post(
        "salesInvoices?$expand=salesInvoiceLines",
        {"customerNumber": customer["number"], "salesInvoiceLines": [CONSULT, CONSULT]},
    )

    lines = response.json()["salesInvoiceLines"]
    assert [ln["sequence"] for ln in lines] == [10000, 20000]


async def test_amounts_follow_bc_line_arithmetic(bc: Bc) -> None:
    """Line amount, 10% line discount and 25% tax, rounded to cents; totals add up."""
    customer = await bc.customer()
    invoice = await bc.invoice(
        customer,
        {
            "lineType": "Account",
            "lineObjectNumber": "40100",
            "quantity": 1.5,
            "unitPrice": 99.99,
            "discountPercent": 10,
        },
    )
    line = (await _lines(bc, invoice))[0]
    header = await _read(bc, invoice)

    assert Decimal(str(line["discountAmount"])) == Decimal("15.00")
    assert Decimal(str(line["amountExcludingTax"])) == Decimal("134.99")
    assert Decimal(str(line["taxPercent"])) == Decimal("25")
    assert Decimal(str(line["totalTaxAmount"])) == Decimal("33.75")
    assert Decimal(str(header["totalAmountExcludingTax"])) == Decimal("134.99")
    assert Decimal(str(header["totalAmountIncludingTax"])) == Decimal("168.74")
    assert header["remainingAmount"] == header["totalAmountIncludingTax"]


async def test_line_tax_is_handed_out_so_the_total_is_the_rounded_sum(bc: Bc) -> None:
    """Three lines of 0.10 at 25%: line taxes 0.03, 0.02, 0.03 sum to 0.08 (of 0.30)."""
    customer = await bc.customer()
    cheap = {"lineType": "Account", "lineObjectNumber": "40400", "quantity": 1}
    invoice = await bc.invoice(
        customer, *[dict(cheap, unitPrice=0.1) for _ in range(3)]
    )
    taxes = [Decimal(str(ln["totalTaxAmount"])) for ln in await _lines(bc, invoice)]
    header = await _read(bc, invoice)

    assert sum(taxes) == Decimal("0.08")
    assert Decimal(str(header["totalTaxAmount"])) == Decimal("0.08")


async def test_an_invoice_discount_is_taken_before_tax(bc: Bc) -> None:
    """Header discountAmount lowers the net amounts and the tax."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer, CONSULT)
    changed = await bc.patch(f"salesInvoices({invoice['id']})", {"discountAmount": 50})
    line = (await _lines(bc, invoice))[0]

    assert changed.json()["totalAmountExcludingTax"] == 400
    assert changed.json()["totalTaxAmount"] == 100
    assert line["invoiceDiscountAllocation"] == 50
    assert line["netAmount"] == 400


async def test_the_invoice_takes_currency_and_due_date_from_the_customer(
    bc: Bc,
) -> None:
    """A EUR customer with 30 DAYS terms: EUR invoice due 30 days after its date."""
    terms = (
        await bc.get("paymentTerms", params={"$filter": "code eq '30 DAYS'"})
    ).json()
    customer = await bc.customer(
        currencyCode="EUR", paymentTermsId=terms["value"][0]["id"]
    )
    invoice = await bc.created(
        "salesInvoices",
        {"customerId": customer["id"], "invoiceDate": "2024-01-31"},
    )

    assert invoice["currencyCode"] == "EUR"
    assert invoice["postingDate"] == "2024-01-31"
    assert invoice["dueDate"] == "2024-03-01"
    assert invoice["paymentTermsId"] == terms["value"][0]["id"]


@pytest.mark.parametrize(
    ("code", "due"),
    [
        pytest.param("1M(8D)", "2024-02-29", id="one-month-clamped"),
        pytest.param("CM", "2024-01-31", id="current-month"),
        pytest.param("COD", "2024-01-31", id="zero-days"),
        pytest.param("14 DAYS", "2024-02-14", id="fourteen-days"),
    ],
)
async def test_due_dates_follow_the_date_formula(bc: Bc, code: str, due: str) -> None:
    """Payment terms' dueDateCalculation sets the due date from the invoice date."""
    terms = (
        await bc.get("paymentTerms", params={"$filter": f"code eq '{code}'"})
    ).json()
    customer = await bc.customer()
    invoice = await bc.created(
        "salesInvoices",
        {
            "customerNumber": customer["number"],
            "invoiceDate": "2024-01-31",
            "paymentTermsId": terms["value"][0]["id"],
        },
    )

    assert invoice["dueDate"] == due


async def test_an_explicit_posting_date_wins_over_the_invoice_date(bc: Bc) -> None:
    """invoiceDate sets postingDate unless postingDate is given as well."""
    customer = await bc.customer()
    invoice = await bc.created(
        "salesInvoices",
        {
            "customerNumber": customer["number"],
            "invoiceDate": "2024-03-01",
            "postingDate": "2024-02-29",
        },
    )

    assert (invoice["invoiceDate"], invoice["postingDate"]) == (
        "2024-03-01",
        "2024-02-29",
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            {},
            'A "customerNumber" or a "customerId" must be provided.',
            id="no-customer",
        ),
        pytest.param(
            {"customerNumber": "NOPE"},
            "The sell-to customer cannot be found.",
            id="unknown-customer-number",
        ),
        pytest.param(
            {"customerId": "11111111-2222-3333-4444-555555555555"},
            "The sell-to customer cannot be found.",
            id="unknown-customer-id",
        ),
        pytest.param(
            {"customerNumber": "{number}", "currencyCode": "XYZ"},
            'The "currencyCode" does not match to a Currency.',
            id="unknown-currency",
        ),
        pytest.param(
            {
                "customerNumber": "{number}",
                "salesInvoiceLines": [
                    {"lineType": "Item", "lineObjectNumber": "NOPE", "quantity": 1}
                ],
            },
            "Item does not exist.",
            id="unknown-item",
        ),
        pytest.param(
            {
                "customerNumber": "{number}",
                "salesInvoiceLines": [
                    {"lineType": "Account", "lineObjectNumber": "9999", "quantity": 1}
                ],
            },
            "Account does not exist.",
            id="unknown-account",
        ),
        pytest.param(
            {
                "customerNumber": "{number}",
                "salesInvoiceLines": [
                    {
                        "lineType": "Item",
                        "lineObjectNumber": "CONSULT",
                        "discountPercent": 101,
                    }
                ],
            },
            "Line discount percentage must be below 100.",
            id="discount-over-100",
        ),
        pytest.param(
            {
                "customerNumber": "{number}",
                "salesInvoiceLines": [{"itemId": "{item}", "accountId": "{account}"}],
            },
            'Both "itemId" and "accountId" are specified. Specify only one of them.',
            id="item-and-account",
        ),
        pytest.param(
            {
                "customerNumber": "{number}",
                "salesInvoiceLines": [
                    {"sequence": 10000, "description": "a"},
                    {"sequence": 10000, "description": "b"},
                ],
            },
            "You cannot insert a line because a line already exists.",
            id="duplicate-sequence",
        ),
    ],
)
async def test_documented_invoice_failures(
    bc: Bc,
    body: dict[str, Any],
    message: str,
) -> None:
    """Each documented refusal answers Application_DialogException and its text."""
    customer = await bc.customer()
    item = (await bc.get("items")).json()["value"][0]["id"]
    account = (await bc.get("accounts")).json()["value"][0]["id"]
    values = {"{number}": customer["number"], "{item}": item, "{account}": account}
    response = await bc.post("salesInvoices", _fill(body, values))
    listed = (await bc.get("salesInvoices")).json()["value"]

    assert error_of(response) == (400, "Application_DialogException", message)
    assert listed == []


async def test_a_failed_deep_insert_consumes_no_number(bc: Bc) -> None:
    """After a refused deep insert the next invoice still gets the first number."""
    customer = await bc.customer()
    bad = {"lineType": "Item", "lineObjectNumber": "NOPE", "quantity": 1}
    await bc.post(
        "salesInvoices",
        {"customerNumber": customer["number"], "salesInvoiceLines": [bad]},
    )
    invoice = await bc.invoice(customer)

    assert invoice["number"] == "S-INV102001"


async def test_a_comment_line_with_a_number_looks_for_standard_text(bc: Bc) -> None:
    """A line without lineType is a Comment; its number must be a Standard Text."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer)
    response = await bc.post(
        f"salesInvoices({invoice['id']})/salesInvoiceLines",
        {"lineObjectNumber": "40100", "quantity": 1},
    )

    assert error_of(response) == (
        400,
        "Internal_InvalidTableRelation",
        "The field No. of table Sales Line contains a value (40100) that cannot be "
        "found in the related table (Standard Text).",
    )


async def test_top_level_lines_need_a_document_filter(bc: Bc) -> None:
    """salesInvoiceLines alone is refused; with documentId it lists the lines."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer, CONSULT)
    bare = await bc.get("salesInvoiceLines")
    filtered = await bc.get(
        "salesInvoiceLines", params={"$filter": f"documentId eq {invoice['id']}"}
    )

    assert error_of(bare) == (
        400,
        "Application_DialogException",
        "You must specify an Id or a Document Id to get the lines.",
    )
    assert [ln["documentId"] for ln in filtered.json()["value"]] == [invoice["id"]]


async def test_a_line_posted_at_the_top_needs_its_document(bc: Bc) -> None:
    """POST salesInvoiceLines needs a documentId of an existing invoice."""
    missing = await bc.post("salesInvoiceLines", {"description": "x"})
    unknown = await bc.post(
        "salesInvoiceLines",
        {"documentId": "11111111-2222-3333-4444-555555555555", "description": "x"},
    )

    assert error_of(missing)[2] == "You must specify a document id to get the lines."
    assert error_of(unknown)[2] == "No document with the specified ID exists."


async def test_changing_a_line_updates_the_invoice(bc: Bc) -> None:
    """A line PATCH recomputes the totals and moves the invoice's ETag."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer, CONSULT)
    line = (await _lines(bc, invoice))[0]
    path = f"salesInvoices({invoice['id']})/salesInvoiceLines({line['id']})"
    response = await bc.patch(path, {"quantity": 4}, line["@odata.etag"])
    header = await _read(bc, invoice)

    assert response.json()["amountExcludingTax"] == 600
    assert header["totalAmountExcludingTax"] == 600
    assert header["@odata.etag"] != invoice["@odata.etag"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            {"sequence": 20000},
            'The value for "sequence" cannot be modified. '
            "Delete and insert the line again.",
            id="sequence",
        ),
        pytest.param(
            {"lineObjectNumber": "TRAVEL"},
            'The value for "lineObjectNumber" cannot be modified.',
            id="line-object-number",
        ),
    ],
)
async def test_fixed_line_properties_cannot_change(
    bc: Bc,
    change: dict[str, Any],
    message: str,
) -> None:
    """sequence and lineObjectNumber are fixed once the line exists."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer, CONSULT)
    line = (await _lines(bc, invoice))[0]
    path = f"salesInvoices({invoice['id']})/salesInvoiceLines({line['id']})"
    response = await bc.patch(path, change)

    assert error_of(response) == (400, "Application_DialogException", message)


async def test_post_keeps_the_id_and_takes_a_posted_number(bc: Bc) -> None:
    """Microsoft.NAV.post: 204, same id, PS-INV number, status Open, date moved."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer, CONSULT)
    response = await bc.post(f"salesInvoices({invoice['id']})/Microsoft.NAV.post")
    posted = await _read(bc, invoice)

    assert response.status_code == 204
    assert response.content == b""
    assert posted["id"] == invoice["id"]
    assert (posted["number"], posted["status"]) == ("PS-INV103001", "Open")
    assert posted["remainingAmount"] == posted["totalAmountIncludingTax"] == 562.5
    assert instant(posted["lastModifiedDateTime"]) > instant(
        invoice["lastModifiedDateTime"]
    )


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        pytest.param(
            [], "Please add at least one line item to the invoice.", id="no-lines"
        ),
        pytest.param(
            [{"lineType": "Item", "lineObjectNumber": "CONSULT"}],
            "One or more document lines with a value in the No. field do not have "
            "a quantity specified.",
            id="no-quantity",
        ),
    ],
)
async def test_post_checks_the_draft(
    bc: Bc,
    lines: list[dict[str, Any]],
    message: str,
) -> None:
    """Posting needs lines, and every line with a number needs a quantity."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer, *lines)
    response = await bc.post(f"salesInvoices({invoice['id']})/Microsoft.NAV.post")

    assert error_of(response) == (400, "Application_DialogException", message)


async def test_a_posted_invoice_is_read_only_but_for_its_due_date(bc: Bc) -> None:
    """After posting: header and lines refuse changes; dueDate still changes."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer, CONSULT)
    await bc.post(f"salesInvoices({invoice['id']})/Microsoft.NAV.post")
    line = (await _lines(bc, invoice))[0]
    path = f"salesInvoices({invoice['id']})"
    header = await bc.patch(path, {"externalDocumentNumber": "X"})
    line_change = await bc.patch(
        f"{path}/salesInvoiceLines({line['id']})", {"quantity": 1}
    )
    new_line = await bc.post(f"{path}/salesInvoiceLines", {"description": "x"})
    due = await bc.patch(path, {"dueDate": "2030-01-01"})
    again = await bc.post(f"{path}/Microsoft.NAV.post")

    posted = "The invoice has been posted and can no longer be modified."
    assert error_of(header)[2] == posted
    assert error_of(line_change)[2] == posted
    assert error_of(new_line)[2] == posted
    assert due.json()["dueDate"] == "2030-01-01"
    assert error_of(again)[2] == "The action can be applied to a draft invoice only."


async def test_a_partial_payment_does_not_move_last_modified(bc: Bc) -> None:
    """Partial payment: remaining drops, lastModifiedDateTime and ETag stay (as BC)."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer, CONSULT)
    bc.emulator.post_invoice(invoice["id"])
    before = await _read(bc, invoice)
    remaining = bc.emulator.apply_payment(invoice["id"], Decimal("100"))
    after = await _read(bc, invoice)
    balance = (await bc.get(f"customers({customer['id']})")).json()["balanceDue"]

    assert remaining == Decimal("462.50")
    assert after["remainingAmount"] == 462.5
    assert after["status"] == "Open"
    assert after["lastModifiedDateTime"] == before["lastModifiedDateTime"]
    assert after["@odata.etag"] == before["@odata.etag"]
    assert balance == 462.5


async def test_the_final_payment_makes_it_paid_and_moves_last_modified(bc: Bc) -> None:
    """Full payment: remaining 0, status Paid, lastModifiedDateTime later."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer, CONSULT)
    bc.emulator.post_invoice(invoice["id"])
    before = await _read(bc, invoice)
    bc.emulator.apply_payment(invoice["id"])
    after = await _read(bc, invoice)
    paid = await bc.get(
        "salesInvoices",
        params={
            "$filter": "status eq 'Paid' and lastModifiedDateTime gt "
            + before["lastModifiedDateTime"],
            "$select": "id,status,remainingAmount",
        },
    )

    assert (after["status"], after["remainingAmount"]) == ("Paid", 0)
    assert instant(after["lastModifiedDateTime"]) > instant(
        before["lastModifiedDateTime"]
    )
    assert [r["id"] for r in paid.json()["value"]] == [invoice["id"]]


async def test_payments_apply_only_to_open_invoices(bc: Bc) -> None:
    """A draft, or more than remains, is refused."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer, CONSULT)

    with pytest.raises(ValueError, match="posted"):
        bc.emulator.apply_payment(invoice["id"], Decimal("1"))
    bc.emulator.post_invoice(invoice["id"])
    with pytest.raises(ValueError, match="between"):
        bc.emulator.apply_payment(invoice["id"], Decimal("1000"))


async def test_the_admin_api_posts_and_pays(bc: Bc) -> None:
    """/_admin/bc/ posts an invoice and applies payments, without auth."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer, CONSULT)
    admin = f"/_admin/bc/invoices/{invoice['id']}"
    posted = await bc.client.post(f"{admin}/post", headers={"Authorization": ""})
    partial = await bc.client.post(f"{admin}/payments", json={"amount": 62.5})
    full = await bc.client.post(f"{admin}/payments")
    listed = await bc.client.get("/_admin/bc/entities/salesInvoices")

    assert posted.status_code == 204
    assert partial.json() == {"remainingAmount": 500, "status": "Open"}
    assert full.json() == {"remainingAmount": 0, "status": "Paid"}
    assert [r["status"] for r in listed.json()["value"]] == ["Paid"]


async def test_microsofts_filter_example_on_status_and_amount(bc: Bc) -> None:
    """status eq 'Open' and totalAmountExcludingTax gt 1000.00 selects posted ones."""
    customer = await bc.customer()
    small = await bc.invoice(customer, CONSULT)
    big = await bc.invoice(customer, dict(CONSULT, quantity=10))
    for invoice in (small, big):
        bc.emulator.post_invoice(invoice["id"])
    response = await bc.get(
        "salesInvoices",
        params={"$filter": "status eq 'Open' and totalAmountExcludingTax gt 1000.00"},
    )

    assert [r["id"] for r in response.json()["value"]] == [big["id"]]


async def test_a_posted_invoice_cannot_be_deleted_but_a_draft_can(bc: Bc) -> None:
    """DELETE removes a draft with its lines and refuses a posted invoice."""
    customer = await bc.customer()
    draft = await bc.invoice(customer, CONSULT)
    posted = await bc.invoice(customer, CONSULT)
    bc.emulator.post_invoice(posted["id"])
    removed = await bc.delete(f"salesInvoices({draft['id']})")
    refused = await bc.delete(f"salesInvoices({posted['id']})")
    lines = await bc.get(
        "salesInvoiceLines", params={"$filter": f"documentId eq {draft['id']}"}
    )

    assert removed.status_code == 204
    assert error_of(refused)[:2] == (400, "Application_DialogException")
    assert lines.json()["value"] == []


async def test_a_customer_with_a_draft_invoice_cannot_be_deleted(bc: Bc) -> None:
    """Deleting a customer with an outstanding draft invoice is refused."""
    customer = await bc.customer()
    await bc.invoice(customer, CONSULT)
    response = await bc.delete(f"customers({customer['id']})")

    assert error_of(response)[:2] == (400, "Application_DialogException")


async def test_posting_gives_the_lines_new_ids(bc: Bc) -> None:
    """Posted lines are new Sales Invoice Line rows: same content, new ids."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer, CONSULT)
    draft_line = (await _lines(bc, invoice))[0]
    bc.emulator.post_invoice(invoice["id"])
    posted_line = (await _lines(bc, invoice))[0]

    assert posted_line["id"] != draft_line["id"]
    assert posted_line["documentId"] == invoice["id"]
    assert posted_line["amountExcludingTax"] == draft_line["amountExcludingTax"]


async def test_a_quantity_change_keeps_the_price_and_description_given(bc: Bc) -> None:
    """PATCHing quantity does not reset a unitPrice or description set by the caller."""
    customer = await bc.customer()
    invoice = await bc.invoice(
        customer, dict(CONSULT, unitPrice=99, description="Own text")
    )
    line = (await _lines(bc, invoice))[0]
    path = f"salesInvoices({invoice['id']})/salesInvoiceLines({line['id']})"
    changed = (await bc.patch(path, {"quantity": 2})).json()

    assert (changed["unitPrice"], changed["description"]) == (99, "Own text")
    assert changed["amountExcludingTax"] == 198


async def test_a_patch_that_changes_nothing_keeps_the_etag(bc: Bc) -> None:
    """PATCH with the current values leaves the ETag and lastModifiedDateTime."""
    customer = await bc.customer(city="Oslo")
    path = f"customers({customer['id']})"
    response = await bc.patch(path, {"city": "Oslo"}, customer["@odata.etag"])

    assert response.json()["@odata.etag"] == customer["@odata.etag"]
    assert response.json()["lastModifiedDateTime"] == customer["lastModifiedDateTime"]


async def test_promised_pay_date_is_for_posted_invoices_only(bc: Bc) -> None:
    """promisedPayDate on a draft fails BC's TestField(Posted); posted it is kept."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer, CONSULT)
    path = f"salesInvoices({invoice['id']})"
    draft = await bc.patch(path, {"promisedPayDate": "2024-06-01"})
    bc.emulator.post_invoice(invoice["id"])
    posted = await bc.patch(path, {"promisedPayDate": "2024-06-01"})

    assert error_of(draft)[:2] == (400, "Application_FieldValidationException")
    assert posted.json()["promisedPayDate"] == "2024-06-01"


async def test_a_ship_to_country_must_exist(bc: Bc) -> None:
    """shipToCountry has a table relation to countriesRegions."""
    customer = await bc.customer()
    response = await bc.post(
        "salesInvoices",
        {"customerNumber": customer["number"], "shipToCountry": "XX"},
    )

    assert error_of(response) == (
        400,
        "Internal_InvalidTableRelation",
        "The field Ship-to Country/Region Code of table Sales Header contains a "
        "value (XX) that cannot be found in the related table (Country/Region).",
    )
