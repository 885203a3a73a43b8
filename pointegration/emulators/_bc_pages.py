"""API pages of the BC emulator: the shared write pipeline and master data.

A :class:`Page` serves one entity set the way an AL API page does. A write goes
through the same gates as in BC, in BC's order: the OData layer reads the body
(unknown property, wrong JSON type), refuses read-only controls, then the AL
layer assigns the values in page-layout order (Code upper-cased, lengths,
enum members) and the page's own triggers validate and fill the record.

Read-only controls (``Editable = false``, a platform field such as
``lastModifiedDateTime``, or a FlowField) are refused with
``400 BadRequest_InvalidOperation`` "Control '<caption>' is read-only.", the
wording Microsoft's error catalogue gives for that case.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pointegration.emulators._bc_contract import (
    EMPTY_GUID,
    EntitySpec,
    FieldSpec,
    assign,
    contract,
    read_value,
)
from pointegration.emulators._bc_dates import check_formula
from pointegration.emulators._bc_errors import (
    BCError,
    dialog,
    invalid_relation,
    not_found,
    read_only_method,
)
from pointegration.emulators._bc_store import Engine, Record
from pointegration.emulators._odata import Expr

__all__ = [
    "Page",
    "Site",
    "duplicate",
    "must_have_value",
]

Values = dict[str, Any]


class Site:
    """One BC company: the engine's data and the pages serving it, by set name."""

    def __init__(self, engine: Engine, company_id: str) -> None:
        self.engine = engine
        self.company_id = company_id
        self.pages: dict[str, Page] = {}

    def add(self, page: Page) -> None:
        """Registers ``page`` under its entity set name."""
        self.pages[page.entity_set] = page

    def page(self, entity_set: str) -> Page:
        """The page serving ``entity_set``."""
        return self.pages[entity_set]

    def rounding(self, currency_code: str) -> Decimal:
        """The amount rounding precision of ``currency_code`` ('' = LCY)."""
        currency = self.engine.find("currencies", code=currency_code)
        if currency_code and currency is not None:
            precision = currency["amountRoundingPrecision"]
            if isinstance(precision, Decimal) and precision > 0:
                return precision

        return Decimal("0.01")


class Page:
    """One API page; subclasses add the triggers of their AL page and table.

    ``order`` is the primary key the rows come in by default; ``tiebreak``
    the properties that then tell any two rows apart (what ends BC's key, the
    ``SystemId`` for most pages), so :attr:`key_order` is a total order and a
    page of results can continue from its last row. ``nested`` names the parts
    a POST may carry inline (deep insert); ``computed`` the properties
    :meth:`render` computes rather than reads.
    """

    entity_set: str = ""
    order: tuple[str, ...] = ()
    tiebreak: tuple[str, ...] = ("id",)
    nested: frozenset[str] = frozenset()
    computed: frozenset[str] = frozenset()

    def __init__(self, site: Site) -> None:
        self.site = site
        self.engine = site.engine
        self.spec: EntitySpec = contract()[self.entity_set]
        if self.order:
            self.engine.register_key(self.entity_set, self.order)

    # --- reading ---------------------------------------------------------------

    @property
    def key_order(self) -> tuple[str, ...]:
        """The properties rows come in without ``$orderby``; unique together."""
        extra = tuple(name for name in self.tiebreak if name not in self.order)

        return self.order + extra

    def records(self, parent: Record | None = None) -> list[Record]:
        """The rows of the page (under ``parent`` when reached through it)."""
        return list(self.engine.rows(self.entity_set))

    def all_records(self) -> list[Record]:
        """Every row of the page, whatever it belongs to."""
        return list(self.engine.rows(self.entity_set))

    def scoped(self, parent: Record | None, expr: Expr | None) -> list[Record]:
        """The rows a collection GET filters; pages may demand a filter first."""
        return self.records(parent)

    def lookup(self, key: str, parent: Record | None = None) -> Record:
        """The row with key ``key``, or BC's 404."""
        for record in self.records(parent):
            if record.get("id") == key:
                return record
        raise not_found(self.spec.table, key)

    def value(self, record: Mapping[str, Any], path: tuple[str, ...]) -> Any:
        """One property of ``record`` as :meth:`render` shows it (for queries)."""
        name = path[0]
        if name in self.computed:
            row = record if isinstance(record, dict) else dict(record)
            return self.render(row)[name]
        spec = self.spec.fields.get(name)

        return record.get(name, spec.blank() if spec else None)

    def render(self, record: Record) -> dict[str, Any]:
        """The row as the API shows it: every contract property, in page order."""
        return {
            name: record.get(name, spec.blank())
            for name, spec in self.spec.fields.items()
        }

    # --- writing ---------------------------------------------------------------

    def create(
        self,
        body: Any,
        parent: Record | None = None,
    ) -> Record:
        """POST: the new row, or the BC error that refused it."""
        if not self.spec.insert_allowed:
            raise read_only_method("POST", self.entity_set)
        values, nested = self.read_body(body)
        self.refuse_read_only(values)

        return self.insert(self.assign_all(values), nested, parent)

    def update(self, record: Record, body: Any) -> Record:
        """PATCH: the changed row, or the BC error that refused the change."""
        if not self.spec.modify_allowed:
            raise read_only_method("PATCH", self.entity_set)
        values, nested = self.read_body(body)
        if nested:
            name = next(iter(nested))
            text = f"Deep update of '{name}' is not supported."
            raise BCError(400, "BadRequest_MethodNotImplemented", text)
        self.refuse_read_only(values)
        before = dict(record)
        changed = self.modify(record, self.assign_all(values))
        if _unchanged(before, changed):
            changed["_rv"] = before["_rv"]
            if "lastModifiedDateTime" in before:
                changed["lastModifiedDateTime"] = before["lastModifiedDateTime"]

        return changed

    def remove(self, record: Record) -> None:
        """DELETE: removes the row, or raises the BC error that refused it."""
        if not self.spec.delete_allowed:
            raise read_only_method("DELETE", self.entity_set)
        self.delete(record)

    def read_body(self, body: Any) -> tuple[Values, dict[str, Any]]:
        """The OData layer: properties read as their EDM types, parts apart."""
        if not isinstance(body, Mapping):
            raise BCError(400, "BadRequest", "Invalid Request Body")
        values: Values = {}
        nested: dict[str, Any] = {}
        for name, raw in body.items():
            if "@odata." in name:
                continue
            if name in self.nested:
                nested[name] = raw
                continue
            values[name] = read_value(self.spec.field(name), raw)
        ordered = {name: values[name] for name in self.spec.fields if name in values}

        return ordered, nested

    def refuse_read_only(self, values: Values) -> None:
        """BC's refusal of the first read-only control in ``values``."""
        for name in values:
            spec = self.spec.fields[name]
            if not spec.writable:
                text = f"Control '{spec.caption}' is read-only."
                raise BCError(400, "BadRequest_InvalidOperation", text)

    def assign_all(self, values: Values) -> Values:
        """The AL layer's assignment of each value, in page order."""
        return {name: assign(self.spec.fields[name], v) for name, v in values.items()}

    def new_record(self) -> Record:
        """A blank row with a fresh id, as ``Init`` leaves it."""
        record: Record = {n: s.blank() for n, s in self.spec.fields.items()}
        record["id"] = self.engine.new_id()

        return record

    # --- triggers (override) ---------------------------------------------------

    def insert(
        self, values: Values, nested: dict[str, Any], parent: Record | None
    ) -> Record:
        """Validates and stores a new row from the assigned ``values``."""
        record = self.new_record()
        record.update(values)
        self.check_key(record, None)

        return self.engine.insert(self.entity_set, record)

    def modify(self, record: Record, values: Values) -> Record:
        """Validates and applies ``values`` to ``record``."""
        changed = dict(record)
        changed.update(values)
        self.check_key(changed, record)
        record.update(changed)
        self.engine.stamp(record)

        return record

    def delete(self, record: Record) -> None:
        """Removes ``record``."""
        self.engine.delete(self.entity_set, record["id"])

    def check_key(self, record: Record, before: Record | None) -> None:
        """Refuses a blank or duplicate primary key (``order``) of ``record``."""
        if not self.order:
            return
        for name in self.order:
            if record[name] == "":
                raise must_have_value(self.spec, name, self._key_text(record))
        owner = self.engine.key_owner(self.entity_set, record)
        if owner is not None and owner != record["id"]:
            identity = ",".join(
                f"{self.spec.fields[k].caption}='{record[k]}'" for k in self.order
            )
            raise duplicate(self.spec.table, identity)

    def _key_text(self, record: Record) -> str:
        return ", ".join(
            f"{self.spec.fields[k].caption}={record[k]}" for k in self.order
        )

    # --- helpers for subclasses ----------------------------------------------

    def reference(
        self,
        entity_set: str,
        record_id: str,
        message: str,
    ) -> Record | None:
        """The row ``record_id`` of ``entity_set``; None for the empty GUID."""
        if record_id == EMPTY_GUID:
            return None
        target = self.engine.table(entity_set).get(record_id)
        if target is None:
            raise dialog(message)

        return target

    def check_country(self, field: str, code: str, table: str = "") -> None:
        """``code`` must name a countriesRegions row (or be blank).

        ``table`` is the table BC validates in, when not the page's own.
        """
        if code and self.engine.find("countriesRegions", code=code) is None:
            caption = self.spec.fields[field].caption
            owner = table or self.spec.table
            raise invalid_relation(caption, owner, code, "Country/Region")


def _unchanged(before: Record, after: Record) -> bool:
    """Whether a write left ``after`` as ``before`` (BC then modifies nothing)."""
    stamps = ("_rv", "lastModifiedDateTime")
    keys = (set(before) | set(after)) - set(stamps)

    return all(before.get(k) == after.get(k) for k in keys)


def must_have_value(spec: EntitySpec | FieldSpec, name: str, key: str) -> BCError:
    """BC's ``TestField`` refusal of a blank ``name``."""
    caption = (
        spec.fields[name].caption if isinstance(spec, EntitySpec) else spec.caption
    )
    table = spec.table if isinstance(spec, EntitySpec) else ""
    text = f"{caption} must have a value in {table}: {key}. It cannot be zero or empty."

    return BCError(400, "Application_FieldValidationException", text)


def duplicate(table: str, identity: str) -> BCError:
    """The platform's refusal of a second record with the same key."""
    text = (
        f"The record in table {table} already exists. "
        f"Identification fields and values: {identity}"
    )

    return BCError(400, "Internal_EntityWithSameKeyExists", text)


class CountriesRegions(Page):
    """``countriesRegions``: Code is the key; a new code renames."""

    entity_set = "countriesRegions"
    order = ("code",)

    def insert(
        self, values: Values, nested: dict[str, Any], parent: Record | None
    ) -> Record:
        values.setdefault("addressFormat", "City_x002B_Post_x0020_Code")

        return super().insert(values, nested, parent)


class Currencies(Page):
    """``currencies``: Code is the key; rounding precision defaults to 0.01."""

    entity_set = "currencies"
    order = ("code",)

    def insert(
        self, values: Values, nested: dict[str, Any], parent: Record | None
    ) -> Record:
        values.setdefault("amountDecimalPlaces", "2:2")
        values.setdefault("amountRoundingPrecision", Decimal("0.01"))

        return super().insert(values, nested, parent)


class PaymentTerms(Page):
    """``paymentTerms``: Code is the key; date formulas must read."""

    entity_set = "paymentTerms"
    order = ("code",)

    def insert(
        self, values: Values, nested: dict[str, Any], parent: Record | None
    ) -> Record:
        self._check(values)

        return super().insert(values, nested, parent)

    def modify(self, record: Record, values: Values) -> Record:
        self._check(values)

        return super().modify(record, values)

    def _check(self, values: Values) -> None:
        for name in ("dueDateCalculation", "discountDateCalculation"):
            if name in values:
                values[name] = check_formula(values[name])
        percent = values.get("discountPercent")
        if isinstance(percent, Decimal) and not 0 <= percent <= 100:
            text = (
                f"The value {percent} is outside the allowed range 0..100 "
                "for Discount %."
            )
            raise BCError(400, "Application_FieldValidationException", text)


class Accounts(Page):
    """``accounts``: G/L accounts, read-only through the API."""

    entity_set = "accounts"
    order = ("number",)


class Companies(Page):
    """``companies``: the root collection; read-only."""

    entity_set = "companies"
    order = ("name",)


class PostCodes(Page):
    """``postCodes`` on the custom API: key Code + City, city compared upper-case."""

    entity_set = "postCodes"
    order = ("code", "city")

    def insert(
        self, values: Values, nested: dict[str, Any], parent: Record | None
    ) -> Record:
        self.check_country("countryRegionCode", values.get("countryRegionCode", ""))

        return super().insert(values, nested, parent)

    def modify(self, record: Record, values: Values) -> Record:
        if "countryRegionCode" in values:
            self.check_country("countryRegionCode", values["countryRegionCode"])

        return super().modify(record, values)


class Items(Page):
    """``items``: numbered from the item series; ``inventory`` only by PATCH."""

    entity_set = "items"
    order = ("number",)

    def insert(
        self, values: Values, nested: dict[str, Any], parent: Record | None
    ) -> Record:
        if "inventory" in values:
            raise dialog("Inventory cannot be changed during on insert.")
        if not values.get("number"):
            values["number"] = self.engine.number("items")

        return super().insert(values, nested, parent)
