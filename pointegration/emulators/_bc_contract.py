"""The BC API v2.0 contract as the emulator reads it, and the typing of values.

The entities, their properties (type, length, editability), parts and enums come
from ``data/bc_api_v2_contract.json``, a copy of the project's reference taken
from Microsoft's AL source; nothing about a property is written here by hand.
The custom ``postCodes`` page is not in that file and is defined below the way
the reference (§2.4) describes it.

A value written by a client passes two gates, in BC's order:

1. the OData layer reads the JSON value as the property's EDM type
   (:func:`read_value`): a string for a decimal, a bad GUID or date is
   ``400 BadRequest`` "Cannot convert a primitive value ...";
2. the AL layer assigns it (:func:`assign`): Code values are upper-cased,
   Code/Text lengths are enforced (``Application_StringExceededLength``) and
   an enum value must name a member (code ``Unknown``, "'x' is not an option.").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from pointegration.businesscentral.enums import decode_enum
from pointegration.emulators._bc_errors import BCError

__all__ = [
    "EMPTY_GUID",
    "EntitySpec",
    "EnumSpec",
    "FieldSpec",
    "assign",
    "contract",
    "format_datetime",
    "read_value",
]

EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
CONTRACT_PATH = Path(__file__).parent / "data" / "bc_api_v2_contract.json"

_GUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LENGTH = re.compile(r"(Code|Text)\[(\d+)\]")
_EDM = {
    "guid": "Edm.Guid",
    "decimal": "Edm.Decimal",
    "boolean": "Edm.Boolean",
    "integer": "Edm.Int32",
    "int64": "Edm.Int64",
    "date": "Edm.Date",
    "datetime": "Edm.DateTimeOffset",
}
_TABLE_CAPTIONS = {
    "salesInvoices": "Sales Invoice Entity Aggregate",
    "salesInvoiceLines": "Sales Invoice Line Aggregate",
    "contactsInformation": "Contact Information Buffer",
    "companies": "Company",
}


@dataclass(frozen=True)
class EnumSpec:
    """An AL enum: its OData type and members as ``(alName, wire name)``."""

    name: str
    odata_type: str
    members: tuple[tuple[str, str], ...]

    @property
    def wire_names(self) -> tuple[str, ...]:
        """The members as the API writes them (``_x0020_``, ``In_x0020_Review``)."""
        return tuple(wire for _, wire in self.members)

    def to_wire(self, text: str) -> str | None:
        """The wire name ``text`` stands for, or None when it names no member.

        Accepted: the wire name itself and the AL name (``" "``, ``In Review``),
        which Microsoft's own request examples send for the blank member.
        """
        name = decode_enum(text)
        for al_name, wire in self.members:
            if text == wire or name == al_name:
                return wire

        return None


@dataclass(frozen=True)
class FieldSpec:
    """One property of an API page, typed as the emulator checks it."""

    name: str
    caption: str
    kind: str
    length: int | None
    writable: bool
    flow_field: bool
    required: bool
    enum: EnumSpec | None = None

    @property
    def edm_type(self) -> str:
        """The EDM type name the OData layer reports in conversion errors."""
        if self.enum is not None:
            return "Microsoft.NAV." + self.enum.odata_type.removeprefix("NAV.")

        return _EDM.get(self.kind, "Edm.String")

    def blank(self) -> Any:
        """The value of the property in a freshly initialised record."""
        blanks: dict[str, Any] = {
            "guid": EMPTY_GUID,
            "decimal": Decimal(0),
            "boolean": False,
            "integer": 0,
            "int64": 0,
            "date": "0001-01-01",
            "datetime": "0001-01-01T00:00:00Z",
        }
        if self.enum is not None:
            return self.enum.wire_names[0]

        return blanks.get(self.kind, "")


@dataclass(frozen=True)
class EntitySpec:
    """One entity set: its properties in page order and what it allows."""

    entity_set: str
    entity_name: str
    table: str
    fields: dict[str, FieldSpec]
    navigations: frozenset[str]
    insert_allowed: bool
    modify_allowed: bool
    delete_allowed: bool

    @property
    def type_name(self) -> str:
        """The OData type, e.g. ``Microsoft.NAV.customer``."""
        return f"Microsoft.NAV.{self.entity_name}"

    def field(self, name: str) -> FieldSpec:
        """The property ``name``; BC's 400 when the type has no such property."""
        spec = self.fields.get(name)
        if spec is None:
            raise BCError(
                400,
                "BadRequest",
                f"The property '{name}' does not exist on type '{self.type_name}'. "
                "Make sure to only use property names that are defined by the type.",
            )

        return spec


@cache
def contract() -> dict[str, EntitySpec]:
    """Every entity set of the contract file, plus the custom ``postCodes``."""
    raw = json.loads(CONTRACT_PATH.read_text(encoding="utf-8"))
    enums = {
        name: _enum(name, body)
        for name, body in raw["enums"].items()
        if not name.startswith("_")
    }
    specs = {
        name: _entity(name, body, enums)
        for name, body in raw["entities"].items()
        if body.get("fields")
    }
    specs["postCodes"] = _post_codes()

    return specs


def _enum(name: str, body: dict[str, Any]) -> EnumSpec:
    members = tuple((v["alName"], v["odataValue"]) for v in body["values"])

    return EnumSpec(name, body["odataType"], members)


def _entity(
    name: str,
    body: dict[str, Any],
    enums: dict[str, EnumSpec],
) -> EntitySpec:
    fields = {f["name"]: _field(f, enums) for f in body["fields"]}
    navigations = {part["navigationProperty"] for part in body.get("parts", [])}
    navigations.update(body.get("implicitNavigation", {}).get("properties", []))
    source = str(body.get("sourceTable") or body["entityName"])
    table = _TABLE_CAPTIONS.get(name) or source.split(" (")[0]

    return EntitySpec(
        entity_set=name,
        entity_name=body["entityName"],
        table=table,
        fields=fields,
        navigations=frozenset(navigations),
        insert_allowed=bool(body.get("insertAllowed", False)),
        modify_allowed=bool(body.get("modifyAllowed", False)),
        delete_allowed=bool(body.get("deleteAllowed", False)),
    )


def _field(body: dict[str, Any], enums: dict[str, EnumSpec]) -> FieldSpec:
    al_type = str(body["type"])
    enum = enums.get(body["enum"]) if body.get("enum") else None
    length_match = _LENGTH.fullmatch(al_type)
    flow_field = bool(body.get("flowField", False))
    editable = bool(body.get("editable", False))
    writable = editable and not body.get("readOnlyInPractice", False)

    return FieldSpec(
        name=body["name"],
        caption=body.get("caption") or body["name"],
        kind=_kind(al_type, enum),
        length=int(length_match.group(2)) if length_match else None,
        writable=writable,
        flow_field=flow_field,
        required=bool(body.get("requiredOnInsert", False)),
        enum=enum,
    )


def _kind(al_type: str, enum: EnumSpec | None) -> str:
    if enum is not None:
        return "enum"
    base = al_type.split("[")[0].lower()
    aliases = {"text": "text", "code": "code", "datetime": "datetime"}

    return aliases.get(base, base)


def _post_codes() -> EntitySpec:
    def text(name: str, caption: str, kind: str, length: int) -> FieldSpec:
        return FieldSpec(name, caption, kind, length, True, False, False)

    fields = [
        FieldSpec("id", "Id", "guid", None, False, False, False),
        FieldSpec("code", "Code", "code", 20, True, False, True),
        FieldSpec("city", "City", "text", 30, True, False, True),
        text("countryRegionCode", "Country/Region Code", "code", 10),
        text("county", "County", "text", 30),
        FieldSpec(
            "lastModifiedDateTime",
            "Last Modified Date",
            "datetime",
            None,
            False,
            False,
            False,
        ),
    ]

    return EntitySpec(
        entity_set="postCodes",
        entity_name="postCode",
        table="Post Code",
        fields={f.name: f for f in fields},
        navigations=frozenset(),
        insert_allowed=True,
        modify_allowed=True,
        delete_allowed=True,
    )


def read_value(spec: FieldSpec, raw: Any) -> Any:
    """``raw`` (a JSON value) read as the property's EDM type, or BC's 400."""
    kind = spec.kind
    if raw is None:
        if kind in ("code", "text", "string", "dateformula", "option"):
            return ""
        raise _conversion(spec)
    if kind == "decimal":
        if isinstance(raw, bool) or not isinstance(raw, int | Decimal):
            raise _conversion(spec)
        return Decimal(raw)
    if kind in ("integer", "int64"):
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise _conversion(spec)
        return raw
    if kind == "boolean":
        if not isinstance(raw, bool):
            raise _conversion(spec)
        return raw
    if not isinstance(raw, str):
        raise _conversion(spec)

    return _read_text(spec, raw)


def _read_text(spec: FieldSpec, raw: str) -> Any:
    if spec.kind == "guid":
        if not _GUID.fullmatch(raw):
            raise _conversion(spec)
        return raw.lower()
    if spec.kind == "date":
        if not _DATE.fullmatch(raw) or not _valid_date(raw):
            raise _conversion(spec)
        return raw
    if spec.kind == "datetime":
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise _conversion(spec) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return format_datetime(moment)

    return raw


def _valid_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False

    return True


def _conversion(spec: FieldSpec) -> BCError:
    text = (
        f"Cannot convert a primitive value to the expected type '{spec.edm_type}'. "
        "See the inner exception for more details."
    )

    return BCError(400, "BadRequest", text)


def assign(spec: FieldSpec, value: Any) -> Any:
    """``value`` as the AL field stores it: enum checked, Code upper-cased, length."""
    if spec.enum is not None:
        wire = spec.enum.to_wire(value)
        if wire is None:
            options = ",".join(al_name for al_name, _ in spec.enum.members)
            text = f"'{value}' is not an option. The existing options are: {options}"
            raise BCError(400, "Unknown", text)
        return wire
    if not isinstance(value, str) or spec.length is None:
        return value
    if spec.kind == "code":
        value = value.upper()
    if len(value) > spec.length:
        text = (
            f"The length of the string is {len(value)}, but it must be less than "
            f"or equal to {spec.length} characters. Value: {value}"
        )
        raise BCError(400, "Application_StringExceededLength", text)

    return value


def format_datetime(moment: datetime) -> str:
    """A UTC instant as BC writes it: ``2024-05-01T10:20:30.45Z``, trailing 0s cut."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    millis = moment.microsecond // 1000
    if millis:
        text += "." + f"{millis:03d}".rstrip("0")

    return text + "Z"
