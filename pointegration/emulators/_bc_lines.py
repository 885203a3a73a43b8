"""Sales invoice lines: under an invoice, or at the top with a documentId.

A line is a Comment unless it says otherwise; ``itemId``/``accountId`` are
validated first, then ``lineType``, then ``lineObjectNumber`` (page order).
An Item or Account line takes its description and price from the item or
G/L account when the caller gives none. ``sequence``, ``documentId`` and
``lineObjectNumber`` cannot change once the line exists, and the lines of a
posted invoice are read-only. Every change recomputes the invoice.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pointegration.emulators._bc_contract import EMPTY_GUID
from pointegration.emulators._bc_errors import BCError, dialog, invalid_relation
from pointegration.emulators._bc_invoices import POSTED_ERR, SalesInvoices, lines_table
from pointegration.emulators._bc_pages import Page, Values
from pointegration.emulators._bc_query import required_equalities
from pointegration.emulators._bc_store import Record
from pointegration.emulators._odata import Expr

__all__ = ["SalesInvoiceLines"]

_ZERO = Decimal(0)
_NO_TABLE = {
    "Resource": "Resource",
    "Fixed_x0020_Asset": "Fixed Asset",
    "Charge": "Item Charge",
    "Allocation_x0020_Account": "Allocation Account",
}


class SalesInvoiceLines(Page):
    """``salesInvoiceLines``: under an invoice, or at the top with a documentId.

    Lines come in ``sequence`` order, BC's Line No. within the document.
    """

    entity_set = "salesInvoiceLines"
    order = ()
    tiebreak = ("sequence", "id")

    def invoices(self) -> SalesInvoices:
        """The invoices page these lines belong to."""
        page = self.site.page("salesInvoices")
        assert isinstance(page, SalesInvoices)

        return page

    def records(self, parent: Record | None = None) -> list[Record]:
        if parent is not None:
            return self.invoices().lines_of(parent)
        lines: list[Record] = []
        for invoice in self.engine.rows("salesInvoices"):
            lines.extend(self.invoices().lines_of(invoice))

        return lines

    def all_records(self) -> list[Record]:
        return self.records(None)

    def scoped(self, parent: Record | None, expr: Expr | None) -> list[Record]:
        """Lines under ``parent``, or all lines when the filter names a document."""
        wanted = required_equalities(expr)
        if parent is None and "documentId" not in wanted and "id" not in wanted:
            raise dialog("You must specify an Id or a Document Id to get the lines.")

        return self.records(parent)

    def lookup(self, key: str, parent: Record | None = None) -> Record:
        if parent is None:
            for invoice in self.engine.rows("salesInvoices"):
                line = self.engine.table(lines_table(invoice["id"])).get(key)
                if line is not None:
                    return line

        return super().lookup(key, parent)

    def _invoice(self, parent: Record | None, values: Values) -> Record:
        if parent is not None:
            return parent
        document = values.get("documentId", EMPTY_GUID)
        if document == EMPTY_GUID:
            raise dialog("You must specify a document id to get the lines.")
        invoice = self.engine.table("salesInvoices").get(document)
        if invoice is None:
            raise dialog("No document with the specified ID exists.")

        return invoice

    def insert(
        self,
        values: Values,
        nested: dict[str, Any],
        parent: Record | None,
    ) -> Record:
        invoice = self._invoice(parent, values)
        if invoice.get("_posted"):
            raise dialog(POSTED_ERR)
        line = self.new_record()
        line.update(documentId=invoice["id"], lineType="Comment")
        self._object(line, values, fresh=True)
        _check_unit_of_measure(line, values)
        line.update({k: v for k, v in values.items() if k not in _LINE_OBJECT})
        line["documentId"] = invoice["id"]
        self._sequence(line, invoice, values.get("sequence", 0))
        self._discounts(line, values)
        self.engine.insert(lines_table(invoice["id"]), line)
        self.invoices().recalculate(invoice)

        return line

    def modify(self, record: Record, values: Values) -> Record:
        invoice = self.engine.table("salesInvoices")[record["documentId"]]
        if invoice.get("_posted"):
            raise dialog(POSTED_ERR)
        if values.get("documentId", record["documentId"]) != record["documentId"]:
            raise dialog('The value for "documentId" cannot be modified.')
        if values.get("sequence", record["sequence"]) != record["sequence"]:
            raise dialog(
                'The value for "sequence" cannot be modified. '
                "Delete and insert the line again."
            )
        changed = dict(record)
        if _LINE_OBJECT.intersection(values):
            self._object(changed, values, fresh=False)
        if changed["lineObjectNumber"] != record["lineObjectNumber"]:
            raise dialog('The value for "lineObjectNumber" cannot be modified.')
        _check_unit_of_measure(changed, values)
        changed.update({k: v for k, v in values.items() if k not in _LINE_OBJECT})
        self._discounts(changed, values)
        record.update(changed)
        self.engine.stamp(record)
        self.invoices().recalculate(invoice)

        return record

    def delete(self, record: Record) -> None:
        invoice = self.engine.table("salesInvoices")[record["documentId"]]
        if invoice.get("_posted"):
            raise dialog(POSTED_ERR)
        self.engine.delete(lines_table(invoice["id"]), record["id"])
        self.invoices().recalculate(invoice)

    def _object(self, line: Record, values: Values, *, fresh: bool) -> None:
        """itemId / accountId, then lineType, then lineObjectNumber (page order)."""
        item_id = values.get("itemId", EMPTY_GUID)
        account_id = values.get("accountId", EMPTY_GUID)
        if item_id != EMPTY_GUID and account_id != EMPTY_GUID:
            raise dialog(
                'Both "itemId" and "accountId" are specified. Specify only one of them.'
            )
        if item_id != EMPTY_GUID:
            item = self.reference("items", item_id, "Item does not exist.")
            line.update(lineType="Item", lineObjectNumber=(item or {})["number"])
        if account_id != EMPTY_GUID:
            account = self.reference("accounts", account_id, "Account does not exist.")
            line.update(lineType="Account", lineObjectNumber=(account or {})["number"])
        if values.get("lineType", line["lineType"]) != line["lineType"]:
            line.update(lineType=values["lineType"], lineObjectNumber="")
        if "lineObjectNumber" in values:
            line["lineObjectNumber"] = values["lineObjectNumber"]
        self._resolve(line, values, fresh=fresh)

    def _resolve(self, line: Record, values: Values, *, fresh: bool) -> None:
        """Looks the line's number up; a new line takes the defaults it gives."""
        kind, number = line["lineType"], line["lineObjectNumber"]
        line.update(itemId=EMPTY_GUID, accountId=EMPTY_GUID)
        if kind == "Item" and number:
            item = self.engine.find("items", number=number)
            if item is None:
                raise dialog("Item does not exist.")
            if item["blocked"]:
                text = (
                    f"Blocked must be equal to 'No'  in Item: No.={number}. "
                    "Current value is 'Yes'."
                )
                raise BCError(400, "Application_FieldValidationException", text)
            line["itemId"] = item["id"]
            if fresh:
                self._defaults(line, values, item, item["unitPrice"])
                line["unitOfMeasureCode"] = values.get(
                    "unitOfMeasureCode", item["baseUnitOfMeasureCode"]
                )
                line["taxCode"] = values.get("taxCode", item["taxGroupCode"])
        elif kind == "Account" and number:
            account = self.engine.find("accounts", number=number)
            if account is None:
                raise dialog("Account does not exist.")
            line["accountId"] = account["id"]
            if fresh:
                self._defaults(line, values, account, _ZERO)
        elif kind == "Comment" and number:
            raise invalid_relation("No.", "Sales Line", number, "Standard Text")
        elif kind in _NO_TABLE and number:
            raise invalid_relation("No.", "Sales Line", number, _NO_TABLE[kind])
        rate = self.engine.tax_rate * 100
        line["taxPercent"] = _ZERO if kind == "Comment" else rate

    def _defaults(
        self,
        line: Record,
        values: Values,
        source: Record,
        price: Decimal,
    ) -> None:
        if "description" not in values:
            line["description"] = source["displayName"]
        if "unitPrice" not in values:
            line["unitPrice"] = price

    def _sequence(self, line: Record, invoice: Record, wanted: int) -> None:
        taken = [int(ln["sequence"]) for ln in self.invoices().lines_of(invoice)]
        if wanted and wanted in taken:
            raise dialog("You cannot insert a line because a line already exists.")
        line["sequence"] = wanted or (max(taken, default=0) + 10000)

    def _discounts(self, line: Record, values: Values) -> None:
        percent = values.get("discountPercent")
        if percent is not None and percent < 0:
            raise dialog("Line discount percentage must be positive.")
        if percent is not None and percent > 100:
            raise dialog("Line discount percentage must be below 100.")
        amount = values.get("discountAmount")
        if amount is not None and amount < 0:
            raise dialog("Line discount amount must be positive.")
        line["_discountGiven"] = amount is not None and percent is None


_LINE_OBJECT = frozenset({"itemId", "accountId", "lineType", "lineObjectNumber"})


def _check_unit_of_measure(line: Record, values: Values) -> None:
    """VerifyCanUpdateUOM: a unit of measure sent (any value) needs an Item line."""
    sent = "unitOfMeasureId" in values or "unitOfMeasureCode" in values
    if sent and line["lineType"] != "Item":
        raise dialog("Unit of Measure can be set only for lines with type Item.")
