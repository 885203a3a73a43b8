"""Customers, contacts and the contacts-information view of the BC emulator.

Creating a customer also creates its Company contact and the Contact Business
Relation between them (BC does this when Marketing Setup's "Bus. Rel. Code for
Customers" is filled in, as it is in a standard company). The relation shows in
``contacts`` (``contactBusinessRelation`` = ``Customer``) and in
``customers({id})/contactsInformation``; a Person contact whose
``companyNumber`` names that Company contact is related to the customer too.

Limitation: ``salespersonCode`` and ``taxAreaId`` are not checked against their
tables (the emulator has none); config templates are not applied on insert;
a contact's changes are not copied back to its customer.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from pointegration.emulators._bc_contract import EMPTY_GUID
from pointegration.emulators._bc_errors import (
    BCError,
    dialog,
    invalid_relation,
    not_found,
)
from pointegration.emulators._bc_pages import Page, Values
from pointegration.emulators._bc_query import required_equalities
from pointegration.emulators._bc_store import Record
from pointegration.emulators._odata import Expr

__all__ = ["Contacts", "ContactsInformation", "Customers", "currency_of"]

_LETTERS = re.compile(r"[A-Za-z]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_ADDRESS = ("addressLine1", "addressLine2", "city", "state", "country", "postalCode")
_SHARED = (*_ADDRESS, "phoneNumber", "email", "website")


def currency_of(page: Page, values: Values, current_code: str) -> tuple[str, str]:
    """(currencyId, currencyCode) after ``values``, by the customers page rules.

    ``currencyId`` is validated first (page order); ``currencyCode`` '' or the
    LCY code means no currency. Once ``currencyId`` found a currency, any other
    ``currencyCode`` is a mismatch; an empty ``currencyId`` finds none, so the
    code then decides alone (the page's ``Currency`` record stays blank).
    """
    lcy = page.engine.lcy_code
    code = current_code
    by_id = None
    if "currencyId" in values:
        by_id = page.reference(
            "currencies",
            values["currencyId"],
            'The "currencyId" does not match to a Currency.',
        )
        code = by_id["code"] if by_id else ""
    if "currencyCode" in values:
        wanted = values["currencyCode"].upper()
        wanted = "" if wanted == lcy else wanted
        if by_id is not None and by_id["code"] != wanted:
            raise dialog("The currency values do not match to a specific Currency.")
        unknown = wanted and page.engine.find("currencies", code=wanted) is None
        if by_id is None and unknown:
            raise dialog('The "currencyCode" does not match to a Currency.')
        code = wanted
    currency = page.engine.find("currencies", code=code) if code else None

    return (currency["id"] if currency else EMPTY_GUID), code


class Customers(Page):
    """``customers``: No. from the customer series; the company contact follows."""

    entity_set = "customers"
    order = ("number",)
    computed = frozenset({"currencyCode", "balanceDue"})

    def render(self, record: Record) -> dict[str, Any]:
        shown = super().render(record)
        shown["currencyCode"] = record["currencyCode"] or self.engine.lcy_code
        shown["balanceDue"] = record.get("_balance", Decimal(0))

        return shown

    def insert(
        self,
        values: Values,
        nested: dict[str, Any],
        parent: Record | None,
    ) -> Record:
        if not values.get("displayName", "").strip():
            if "displayName" in values:
                raise dialog('The blank "displayName" is not allowed.')
            raise dialog('A "displayName" must be provided.')
        record = self.new_record()
        record.update(type="Company", blocked="_x0020_", currencyCode="")
        self._apply(record, values)
        if not record["number"]:
            record["number"] = self.engine.number("customers")
        self.check_key(record, None)
        self.engine.insert(self.entity_set, record)
        contacts = self.site.page("contacts")
        assert isinstance(contacts, Contacts)
        contacts.company_for(record)

        return record

    def modify(self, record: Record, values: Values) -> Record:
        changed = dict(record)
        self._apply(changed, values)
        self.check_key(changed, record)
        if changed["number"] != record["number"]:
            self._rename(record["id"], changed["number"])
        record.update(changed)
        self.engine.stamp(record)
        contacts = self.site.page("contacts")
        assert isinstance(contacts, Contacts)
        contacts.follow_customer(record)

        return record

    def _rename(self, customer_id: str, number: str) -> None:
        """A renamed customer's number follows into its invoices (BC renames)."""
        for invoice in self.engine.rows("salesInvoices"):
            if invoice["customerId"] == customer_id:
                invoice["customerNumber"] = number
            if invoice["billToCustomerId"] == customer_id:
                invoice["billToCustomerNumber"] = number

    def delete(self, record: Record) -> None:
        for invoice in self.engine.rows("salesInvoices"):
            if invoice["customerId"] == record["id"] and not invoice.get("_posted"):
                raise dialog(
                    f"You cannot delete Customer {record['number']} because there "
                    "is at least one outstanding Sales Invoice for this customer."
                )
        contact = self.engine.table("contacts").get(record.get("_contactId", ""))
        if contact is not None:
            contact["_customerId"] = ""
        super().delete(record)

    def _apply(self, record: Record, values: Values) -> None:
        """The page's and table's OnValidate triggers, in page order."""
        if "displayName" in values and not values["displayName"].strip():
            raise dialog('The blank "displayName" is not allowed.')
        record.update(
            {k: v for k, v in values.items() if k not in ("currencyId", "currencyCode")}
        )
        if "country" in values:
            self.check_country("country", values["country"])
        if values.get("postalCode"):
            self._post_code(record)
        if _LETTERS.search(values.get("phoneNumber", "")):
            text = (
                f"Phone No. must not contain letters in Customer "
                f"No.='{record['number']}'."
            )
            raise BCError(400, "Application_FieldValidationException", text)
        email = values.get("email", "")
        if email and not _EMAIL.fullmatch(email):
            raise dialog(f'The email address "{email}" is not valid.')
        record["currencyId"], record["currencyCode"] = currency_of(
            self, values, record["currencyCode"]
        )
        self.reference(
            "paymentTerms",
            values.get("paymentTermsId", EMPTY_GUID),
            'The "paymentTermsId" does not match to a Payment Terms.',
        )
        for name, table in (
            ("shipmentMethodId", "Shipment Method"),
            ("paymentMethodId", "Payment Method"),
        ):
            if values.get(name, EMPTY_GUID) != EMPTY_GUID:
                raise dialog(f'The "{name}" does not match to a {table}.')

    def _post_code(self, record: Record) -> None:
        """Post Code.ValidatePostCode: a known code overwrites city, county, country."""
        matches = [
            row
            for row in self.engine.rows("postCodes")
            if row["code"] == record["postalCode"]
            and (not record["country"] or row["countryRegionCode"] == record["country"])
        ]
        if matches:
            found = min(matches, key=lambda row: (row["code"], row["city"]))
            record["city"] = found["city"]
            record["state"] = found["county"]
            record["country"] = found["countryRegionCode"]


class Contacts(Page):
    """``contacts``: Company and Person contacts, numbered from the contact series."""

    entity_set = "contacts"
    order = ("number",)
    computed = frozenset({"contactBusinessRelation"})

    def render(self, record: Record) -> dict[str, Any]:
        shown = super().render(record)
        shown["contactBusinessRelation"] = self.relation(record)

        return shown

    def relation(self, record: Record) -> str:
        """Customer when the contact (or its company) is linked to a customer."""
        company = record
        if record["type"] == "Person":
            company = self.engine.find("contacts", number=record["companyNumber"]) or {}
        if company.get("_customerId"):
            return "Customer"

        return "None"

    def company_for(self, customer: Record) -> Record:
        """Creates the Company contact of a new ``customer`` and links the two."""
        contact = self.new_record()
        contact.update(type="Company", number=self.engine.number("contacts"))
        self._copy_from(contact, customer)
        contact["companyNumber"] = contact["number"]
        contact["_customerId"] = customer["id"]
        customer["_contactId"] = contact["id"]

        return self.engine.insert(self.entity_set, contact)

    def follow_customer(self, customer: Record) -> None:
        """Copies a changed customer's name and address to its company contact."""
        contact = self.engine.table(self.entity_set).get(customer.get("_contactId", ""))
        if contact is not None:
            self._copy_from(contact, customer)
            self.engine.stamp(contact)
            self._follow_company(contact["number"], contact)

    def _copy_from(self, contact: Record, customer: Record) -> None:
        contact.update({name: customer[name] for name in _SHARED})
        contact["displayName"] = customer["displayName"]
        contact["companyName"] = customer["displayName"]
        contact["searchName"] = customer["displayName"].upper()

    def insert(
        self,
        values: Values,
        nested: dict[str, Any],
        parent: Record | None,
    ) -> Record:
        if not values.get("displayName", "").strip():
            if "displayName" in values:
                raise dialog('The blank "displayName" is not allowed.')
            raise dialog('A "displayName" must be provided.')
        record = self.new_record()
        record["type"] = "Company"
        record.update(values)
        if not record["number"]:
            record["number"] = self.engine.number("contacts")
        self._validate(record, values)
        self.check_key(record, None)

        return self.engine.insert(self.entity_set, record)

    def modify(self, record: Record, values: Values) -> Record:
        if "displayName" in values and not values["displayName"].strip():
            raise dialog('The blank "displayName" is not allowed.')
        changed = dict(record)
        changed.update(values)
        self._validate(changed, values)
        self.check_key(changed, record)
        old_number = record["number"]
        record.update(changed)
        self.engine.stamp(record)
        if record["type"] == "Company":
            self._follow_company(old_number, record)

        return record

    def _follow_company(self, old_number: str, company: Record) -> None:
        """Persons of a renamed company contact keep pointing at it, by name too."""
        for person in self.engine.rows(self.entity_set):
            if person["type"] == "Person" and person["companyNumber"] == old_number:
                person["companyNumber"] = company["number"]
                person["companyName"] = company["displayName"]
                self.engine.stamp(person)

    def _validate(self, record: Record, values: Values) -> None:
        if "country" in values:
            self.check_country("country", values["country"])
        if not record["searchName"] or "displayName" in values:
            record["searchName"] = (
                values.get("searchName") or record["displayName"].upper()[:100]
            )
        if record["type"] == "Company":
            if values.get("companyNumber", record["number"]) not in (
                "",
                record["number"],
            ):
                text = (
                    "Type must be equal to 'Person'  in Contact: "
                    f"No.={record['number']}. Current value is 'Company'."
                )
                raise BCError(400, "Application_FieldValidationException", text)
            record["companyNumber"] = record["number"]
            record["companyName"] = record["displayName"]
            return
        self._person_company(record, values)

    def _person_company(self, record: Record, values: Values) -> None:
        number = record["companyNumber"]
        if not number and values.get("companyName"):
            named = self.engine.find(
                "contacts", type="Company", displayName=values["companyName"]
            )
            number = named["number"] if named else ""
            record["companyNumber"] = number
        if not number:
            record["companyName"] = ""
            return
        company = self.engine.find("contacts", number=number, type="Company")
        if company is None:
            raise invalid_relation("Company No.", "Contact", number, "Contact")
        record["companyName"] = company["displayName"]
        if all(not record[name] for name in _ADDRESS):
            record.update({name: company[name] for name in _ADDRESS})

    def delete(self, record: Record) -> None:
        customer_id = record.get("_customerId")
        if customer_id and customer_id in self.engine.table("customers"):
            self.engine.table("customers")[customer_id]["_contactId"] = ""
        super().delete(record)


class ContactsInformation(Page):
    """``contactsInformation``: read-only; rows exist only under a customer.

    Under ``customers({id})`` the rows are the customer's Company contact and
    every Person whose ``companyNumber`` is that contact. At the top level BC
    needs ``relatedId`` and ``relatedType`` in the filter ("id type not
    specified." otherwise). The Company contact comes first, then the persons
    by number (the buffer's key is unconfirmed; this keeps the Company first).
    """

    entity_set = "contactsInformation"
    tiebreak = ("contactType", "contactNumber", "contactId")

    def records(self, parent: Record | None = None) -> list[Record]:
        if parent is None:
            raise dialog("id type not specified.")
        company = self.engine.table("contacts").get(parent.get("_contactId", ""))
        if company is None:
            return []
        rows = [self._row(company, parent)]
        for person in self.engine.rows("contacts"):
            if (
                person["type"] == "Person"
                and person["companyNumber"] == company["number"]
            ):
                rows.append(self._row(person, parent))

        return rows

    def scoped(self, parent: Record | None, expr: Expr | None) -> list[Record]:
        """Top-level rows: the customer named by the filter's relatedId."""
        if parent is not None:
            return self.records(parent)
        wanted = required_equalities(expr)
        related = wanted.get("relatedId")
        if related is None or "relatedType" not in wanted:
            raise dialog("id type not specified.")
        customer = self.engine.table("customers").get(str(related))
        if customer is None or wanted["relatedType"] != "Customer":
            return []

        return self.records(customer)

    def all_records(self) -> list[Record]:
        rows: list[Record] = []
        for customer in self.engine.rows("customers"):
            rows.extend(self.records(customer))

        return rows

    def lookup(self, key: str, parent: Record | None = None) -> Record:
        for record in self.records(parent):
            if record["contactId"] == key:
                return record
        raise not_found("Contact Information Buffer", key)

    def _row(self, contact: Record, customer: Record) -> Record:
        return {
            "contactId": contact["id"],
            "contactNumber": contact["number"],
            "contactName": contact["displayName"],
            "contactType": contact["type"],
            "relatedId": customer["id"],
            "relatedType": "Customer",
            "_rv": contact["_rv"],
        }
