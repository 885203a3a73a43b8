"""Sales invoices: drafts, deep insert, posting, payments.

An invoice is one row of the Sales Invoice Entity Aggregate: a Draft until
``Microsoft.NAV.post``, then a posted invoice with the same ``id``, a number
from the posted series and status Open, Paid once its remaining amount is 0.

Amounts are computed by :mod:`pointegration.emulators._bc_amounts`; lines are
served by :mod:`pointegration.emulators._bc_lines`.

Payments have no standard API (customerPayments are unposted journal lines), so
:meth:`SalesInvoices.apply_payment` stands in for posting a payment journal
applied to the invoice: a partial payment lowers ``remainingAmount`` and leaves
``lastModifiedDateTime`` and the ETag alone, as BC does (the aggregate row is
modified only when the status changes); the final payment makes it Paid and
moves both.

Limitation: tax is one rate for every Item and Account line (``tax_rate``),
VAT-style, whatever the customer's ``taxLiable``; exchange rates do not exist,
so ``balanceDue`` adds document-currency amounts; the send, cancel and
corrective-credit-memo actions are not served; a blocked customer is not
refused.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pointegration.emulators._bc_amounts import allocate, line_amount, tax
from pointegration.emulators._bc_contract import EMPTY_GUID
from pointegration.emulators._bc_dates import calc_date
from pointegration.emulators._bc_errors import BCError, dialog
from pointegration.emulators._bc_pages import Page, Values
from pointegration.emulators._bc_parties import currency_of
from pointegration.emulators._bc_store import Record

__all__ = ["POSTED_ERR", "SalesInvoices", "lines_table"]

_POSTED_EDITABLE = frozenset(
    {"dueDate", "promisedPayDate", "disputeStatus", "disputeStatusId"}
)
_POSTED_ONLY = ("promisedPayDate", "disputeStatus", "disputeStatusId")
# The page registers these for the aggregator only when their value changes;
# every other field sent is registered, changed or not.
_CHANGE_REGISTERED = frozenset({"shipToName", "shipToContact"})
POSTED_ERR = "The invoice has been posted and can no longer be modified."
_ZERO = Decimal(0)


def lines_table(invoice_id: str) -> str:
    """The engine table holding the lines of the invoice ``invoice_id``."""
    return f"salesInvoiceLines/{invoice_id}"


class SalesInvoices(Page):
    """``salesInvoices``: drafts and posted invoices, addressed by one ``id``."""

    entity_set = "salesInvoices"
    order = ("number",)
    nested = frozenset({"salesInvoiceLines"})
    computed = frozenset({"currencyCode", "remainingAmount"})

    def render(self, record: Record) -> dict[str, Any]:
        shown = super().render(record)
        shown["currencyCode"] = record["currencyCode"] or self.engine.lcy_code
        if not record.get("_posted"):
            shown["remainingAmount"] = record["totalAmountIncludingTax"]
        elif record["status"] == "Canceled":
            shown["remainingAmount"] = _ZERO
        else:
            shown["remainingAmount"] = record["_remaining"]

        return shown

    # --- create, change, delete ------------------------------------------------

    def insert(
        self,
        values: Values,
        nested: dict[str, Any],
        parent: Record | None,
    ) -> Record:
        if "customerId" not in values and "customerNumber" not in values:
            raise dialog('A "customerNumber" or a "customerId" must be provided.')
        lines = nested.get("salesInvoiceLines", [])
        if not isinstance(lines, list):
            raise BCError(400, "BadRequest", "Invalid Request Body")
        record = self.new_record()
        record.update(status="Draft", currencyCode="", discountAppliedBeforeTax=True)
        self._apply(record, values, inserting=True)
        series = self.engine.series["salesInvoices"]
        before = series.next_value
        record["number"] = series.take()
        self.engine.insert(self.entity_set, record)
        try:
            page = self.site.page("salesInvoiceLines")
            for body in lines:
                page.create(body, record)
        except BCError:
            self._discard(record)
            series.next_value = before
            raise

        return record

    def _discard(self, record: Record) -> None:
        self.engine.tables.pop(lines_table(record["id"]), None)
        self.engine.delete(self.entity_set, record["id"])

    def modify(self, record: Record, values: Values) -> Record:
        if record.get("_posted"):
            return self._modify_posted(record, values)
        changed = dict(record)
        self._apply(changed, values, inserting=False)
        record.update(changed)
        self.recalculate(record)

        return record

    def _modify_posted(self, record: Record, values: Values) -> Record:
        for name, value in values.items():
            if name in _CHANGE_REGISTERED and record.get(name) == value:
                continue
            if name not in _POSTED_EDITABLE:
                raise dialog(POSTED_ERR)
        if "disputeStatusId" in values and values["disputeStatusId"] != EMPTY_GUID:
            raise dialog('The "disputeStatusId" does not match to a Dispute Status.')
        if values.get("disputeStatus"):
            raise dialog("The dispute status cannot be found.")
        record.update({k: v for k, v in values.items() if k in _POSTED_EDITABLE})
        self.engine.stamp(record)

        return record

    def delete(self, record: Record) -> None:
        if record.get("_posted"):
            raise dialog(
                "You cannot delete the posted invoice because Allow Document "
                "Deletion Before is not set in Sales & Receivables Setup."
            )
        self._discard(record)

    def _apply(self, record: Record, values: Values, *, inserting: bool) -> None:
        """The header's validations, customer first and dates last (as BC)."""
        for name in _POSTED_ONLY:
            if name in values:
                text = (
                    "Posted must be equal to 'Yes'  in Sales Invoice Entity "
                    f"Aggregate: No.={record['number']}, Posted=No. "
                    "Current value is 'No'."
                )
                raise BCError(400, "Application_FieldValidationException", text)
        customer = self._customer(values, "customer", "sell-to")
        if customer is not None and customer["id"] != record["customerId"]:
            self._from_customer(record, customer)
        bill_to = self._customer(values, "billToCustomer", "bill-to")
        if bill_to is not None:
            self._bill_to(record, bill_to)
        plain = {k: v for k, v in values.items() if k not in _SPECIAL}
        record.update(plain)
        for name in ("sellToCountry", "shipToCountry"):
            if name in values:
                self.check_country(name, values[name], "Sales Header")
        if "currencyId" in values or "currencyCode" in values:
            record["currencyId"], record["currencyCode"] = currency_of(
                self, values, record["currencyCode"]
            )
        if "paymentTermsId" in values:
            record["paymentTermsId"] = values["paymentTermsId"]
            self.reference(
                "paymentTerms",
                values["paymentTermsId"],
                'The "paymentTermsId" does not match to a Payment Terms.',
            )
        if values.get("shipmentMethodId", EMPTY_GUID) != EMPTY_GUID:
            raise dialog('The "shipmentMethodId" does not match to a Shipment Method.')
        self._dates(record, values, inserting=inserting)

    def _customer(self, values: Values, prefix: str, role: str) -> Record | None:
        """The customer named by ``<prefix>Id`` / ``<prefix>Number``, checked."""
        by_id = by_number = None
        missing = f"The {role} customer cannot be found."
        if f"{prefix}Id" in values:
            by_id = self.engine.table("customers").get(values[f"{prefix}Id"])
            if by_id is None:
                raise dialog(missing)
        if f"{prefix}Number" in values:
            number = values[f"{prefix}Number"]
            if by_id is not None and by_id["number"] != number:
                text = (
                    f"The {role} customer values do not match to a specific Customer."
                )
                raise dialog(text)
            by_number = self.engine.find("customers", number=number)
            if by_number is None:
                raise dialog(missing)

        return by_id or by_number

    def _from_customer(self, record: Record, customer: Record) -> None:
        address = {
            "AddressLine1": customer["addressLine1"],
            "AddressLine2": customer["addressLine2"],
            "City": customer["city"],
            "Country": customer["country"],
            "State": customer["state"],
            "PostCode": customer["postalCode"],
        }
        record.update(
            customerId=customer["id"],
            customerNumber=customer["number"],
            customerName=customer["displayName"],
            shipToName=customer["displayName"],
            shipToContact="",
            phoneNumber=customer["phoneNumber"],
            email=customer["email"],
            salesperson=customer["salespersonCode"],
            currencyId=customer["currencyId"],
            currencyCode=customer["currencyCode"],
            paymentTermsId=customer["paymentTermsId"],
        )
        for part, value in address.items():
            record["sellTo" + part] = value
            record["shipTo" + part] = value
        self._bill_to(record, customer)

    def _bill_to(self, record: Record, customer: Record) -> None:
        record.update(
            billToCustomerId=customer["id"],
            billToCustomerNumber=customer["number"],
            billToName=customer["displayName"],
            billToAddressLine1=customer["addressLine1"],
            billToAddressLine2=customer["addressLine2"],
            billToCity=customer["city"],
            billToCountry=customer["country"],
            billToState=customer["state"],
            billToPostCode=customer["postalCode"],
        )

    def _dates(self, record: Record, values: Values, *, inserting: bool) -> None:
        if inserting and "invoiceDate" not in values:
            record["invoiceDate"] = self.engine.today().isoformat()
        if "invoiceDate" in values or inserting:
            record["postingDate"] = values.get("postingDate", record["invoiceDate"])
        terms_changed = "paymentTermsId" in values or "customerId" in values
        terms_changed = terms_changed or "customerNumber" in values
        if "dueDate" not in values and (
            inserting or "invoiceDate" in values or terms_changed
        ):
            record["dueDate"] = self._due_date(record)

    def _due_date(self, record: Record) -> str:
        start = date.fromisoformat(record["invoiceDate"])
        terms = self.engine.table("paymentTerms").get(record["paymentTermsId"])
        formula = terms["dueDateCalculation"] if terms else ""

        return calc_date(formula, start).isoformat()

    # --- amounts -----------------------------------------------------------------

    def lines_of(self, record: Record) -> list[Record]:
        """The invoice's lines in sequence order."""
        lines = self.engine.table(lines_table(record["id"])).values()

        return sorted(lines, key=lambda line: int(line["sequence"]))

    def recalculate(self, record: Record) -> None:
        """Line and header amounts after any change; stamps the invoice."""
        precision = self.site.rounding(record["currencyCode"])
        lines = self.lines_of(record)
        for line in lines:
            line_amount(line, precision)
        allocate(lines, Decimal(record["discountAmount"]), precision)
        tax(lines, precision)
        record["totalAmountExcludingTax"] = sum(
            (ln["netAmount"] for ln in lines), _ZERO
        )
        record["totalTaxAmount"] = sum((ln["netTaxAmount"] for ln in lines), _ZERO)
        record["totalAmountIncludingTax"] = (
            record["totalAmountExcludingTax"] + record["totalTaxAmount"]
        )
        self.engine.stamp(record)

    # --- actions -----------------------------------------------------------------

    def post(self, record: Record) -> None:
        """``Microsoft.NAV.post``: the draft becomes a posted, Open invoice."""
        if record.get("_posted"):
            raise dialog("The action can be applied to a draft invoice only.")
        lines = self.lines_of(record)
        if not lines:
            raise dialog("Please add at least one line item to the invoice.")
        if any(ln["lineObjectNumber"] and ln["quantity"] == 0 for ln in lines):
            raise dialog(
                "One or more document lines with a value in the No. field do not "
                "have a quantity specified."
            )
        if all(ln["lineType"] == "Comment" for ln in lines):
            raise dialog("There is nothing to post.")
        self._rekey_lines(record, lines)
        total = record["totalAmountIncludingTax"]
        record.update(
            number=self.engine.number("postedSalesInvoices"),
            _posted=True,
            _remaining=total,
            status="Open" if total != 0 else "Paid",
        )
        self.engine.stamp(record)
        self._balance(record, total)

    def _rekey_lines(self, record: Record, lines: list[Record]) -> None:
        """Posted lines are new Sales Invoice Line rows: new ids, same content."""
        table = self.engine.table(lines_table(record["id"]))
        table.clear()
        for line in lines:
            line["id"] = self.engine.new_id()
            self.engine.stamp(line)
            table[line["id"]] = line

    def apply_payment(self, record: Record, amount: Decimal | None) -> Decimal:
        """Applies a payment of ``amount`` (None: the rest); the remaining amount.

        Raises ``ValueError`` for a draft, a closed invoice, or an amount that
        is not positive or exceeds what remains.
        """
        if not record.get("_posted") or record["status"] != "Open":
            raise ValueError("payments apply only to posted, open invoices")
        remaining: Decimal = record["_remaining"]
        amount = remaining if amount is None else amount
        if amount <= 0 or amount > remaining:
            raise ValueError(f"the amount must be between 0 and {remaining}")
        record["_remaining"] = remaining - amount
        self._balance(record, -amount)
        if record["_remaining"] == 0:
            record["status"] = "Paid"
            self.engine.stamp(record)

        return Decimal(record["_remaining"])

    def _balance(self, record: Record, change: Decimal) -> None:
        customer = self.engine.table("customers").get(record["customerId"])
        if customer is not None:
            customer["_balance"] = customer.get("_balance", _ZERO) + change


_SPECIAL = frozenset(
    {
        "customerId",
        "customerNumber",
        "billToCustomerId",
        "billToCustomerNumber",
        "currencyId",
        "currencyCode",
        "paymentTermsId",
    }
)
