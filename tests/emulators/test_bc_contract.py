"""Contract tests generated from ``bc_api_v2_contract.json``, not from copied lists.

Every served entity shows exactly the contract's properties (plus
``@odata.etag``) in page order; every property the contract makes read-only is
refused on write; every Code/Text[n] property enforces its length; every
decimal refuses a JSON string; every enum value shown is one of the contract's
encoded names.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pointegration.emulators import businesscentral
from tests.emulators.test_bc_fixtures import Bc, error_of, make_emulator, open_bc

CONTRACT = json.loads(
    (
        Path(businesscentral.__file__).parent / "data" / "bc_api_v2_contract.json"
    ).read_text(encoding="utf-8")
)
ENTITIES: dict[str, Any] = CONTRACT["entities"]
ENUMS: dict[str, Any] = CONTRACT["enums"]
SERVED = (
    "companies",
    "customers",
    "contacts",
    "contactsInformation",
    "countriesRegions",
    "currencies",
    "paymentTerms",
    "accounts",
    "items",
    "salesInvoices",
    "salesInvoiceLines",
)
WRITABLE_SETS = tuple(s for s in SERVED if ENTITIES[s]["insertAllowed"])


def _fields(entity_set: str) -> list[dict[str, Any]]:
    return list(ENTITIES[entity_set]["fields"])


def _read_only(field: dict[str, Any]) -> bool:
    return not field["editable"] or bool(field.get("readOnlyInPractice"))


def _refused_on_post(field: dict[str, Any]) -> bool:
    return _read_only(field) or bool(field.get("flowField"))


def _sample(field: dict[str, Any]) -> Any:
    """A value of the field's JSON type, so only read-only-ness can refuse it."""
    kind = field["type"].split("[")[0]
    if field.get("enum"):
        return ENUMS[field["enum"]]["values"][0]["odataValue"]
    samples: dict[str, Any] = {
        "Guid": "00000000-0000-0000-0000-000000000000",
        "Decimal": 1,
        "Boolean": True,
        "Integer": 1,
        "int64": 1,
        "Date": "2024-01-01",
        "DateTime": "2024-01-01T00:00:00Z",
    }
    return samples.get(kind, "X")


def _params(
    predicate: Any,
    sets: tuple[str, ...] = WRITABLE_SETS,
) -> list[Any]:
    return [
        pytest.param(entity_set, field["name"], id=f"{entity_set}.{field['name']}")
        for entity_set in sets
        for field in _fields(entity_set)
        if predicate(field)
    ]


class World:
    """One row of every served entity, and how to write to each set."""

    def __init__(self, bc: Bc) -> None:
        self.bc = bc
        self.rows: dict[str, dict[str, Any]] = {}

    async def build(self) -> None:
        bc = self.bc
        customer = await bc.customer(country="US")
        info = await bc.get(f"customers({customer['id']})/contactsInformation")
        contact_id = info.json()["value"][0]["contactId"]
        invoice = await bc.invoice(
            customer, {"lineType": "Item", "lineObjectNumber": "CONSULT", "quantity": 1}
        )
        lines = await bc.get(f"salesInvoices({invoice['id']})/salesInvoiceLines")
        self.rows = {
            "customers": customer,
            "contacts": (await bc.get(f"contacts({contact_id})")).json(),
            "salesInvoices": invoice,
            "salesInvoiceLines": lines.json()["value"][0],
        }
        self.invoice_id = invoice["id"]
        self.customer_number = customer["number"]

    def collection(self, entity_set: str) -> str:
        """Where GET lists and POST creates rows of ``entity_set``."""
        if entity_set == "contactsInformation":
            return f"customers({self.rows['customers']['id']})/contactsInformation"
        if entity_set == "salesInvoiceLines":
            return f"salesInvoices({self.invoice_id})/salesInvoiceLines"
        if entity_set == "companies":
            return f"{self.bc.root}/companies"
        return entity_set

    def minimal(self, entity_set: str) -> dict[str, Any]:
        """The smallest body a POST to ``entity_set`` accepts."""
        bodies: dict[str, dict[str, Any]] = {
            "customers": {"displayName": "Minimal"},
            "contacts": {"displayName": "Minimal"},
            "countriesRegions": {"code": "ZZ"},
            "currencies": {"code": "ZZZ"},
            "paymentTerms": {"code": "ZZ"},
            "items": {},
            "salesInvoices": {"customerNumber": self.customer_number},
            "salesInvoiceLines": {"lineType": "Comment", "description": "note"},
        }
        return dict(bodies[entity_set])

    async def one(self, entity_set: str) -> dict[str, Any]:
        """An existing row of ``entity_set`` (read from the API)."""
        if entity_set in self.rows:
            return self.rows[entity_set]
        response = await self.bc.get(self.collection(entity_set))
        row: dict[str, Any] = response.json()["value"][0]
        return row


@pytest.fixture
async def world() -> AsyncIterator[World]:
    """An emulator with one row of every served entity."""
    async for bc in open_bc(make_emulator()):
        built = World(bc)
        await built.build()
        yield built


@pytest.mark.parametrize("entity_set", SERVED)
async def test_get_returns_exactly_the_contract_properties(
    world: World,
    entity_set: str,
) -> None:
    """Each row has @odata.etag and the contract's properties, in page order."""
    response = await world.bc.get(world.collection(entity_set))

    assert response.status_code == 200, response.text
    rows = response.json()["value"]
    assert rows
    expected = ["@odata.etag", *(f["name"] for f in _fields(entity_set))]
    for row in rows:
        assert list(row) == expected


@pytest.mark.parametrize("entity_set", SERVED)
async def test_enum_values_shown_are_contract_wire_names(
    world: World,
    entity_set: str,
) -> None:
    """Every enum property reads as one of the contract's encoded names."""
    rows = (await world.bc.get(world.collection(entity_set))).json()["value"]

    for field in _fields(entity_set):
        if field.get("enum"):
            allowed = {v["odataValue"] for v in ENUMS[field["enum"]]["values"]}
            assert {row[field["name"]] for row in rows} <= allowed, field["name"]


@pytest.mark.parametrize(("entity_set", "name"), _params(_refused_on_post))
async def test_read_only_properties_are_refused_on_post(
    world: World,
    entity_set: str,
    name: str,
) -> None:
    """A non-editable, platform or FlowField property in a POST body is a 400."""
    field = next(f for f in _fields(entity_set) if f["name"] == name)
    body = world.minimal(entity_set) | {name: _sample(field)}
    response = await world.bc.post(world.collection(entity_set), body)

    assert response.status_code == 400, response.text


@pytest.mark.parametrize(("entity_set", "name"), _params(_read_only))
async def test_read_only_properties_are_refused_on_patch(
    world: World,
    entity_set: str,
    name: str,
) -> None:
    """A read-only control in a PATCH body is BadRequest_InvalidOperation."""
    field = next(f for f in _fields(entity_set) if f["name"] == name)
    row = await world.one(entity_set)
    path = f"{world.collection(entity_set)}({row['id']})"
    response = await world.bc.patch(path, {name: _sample(field)})

    assert error_of(response) == (
        400,
        "BadRequest_InvalidOperation",
        f"Control '{field['caption']}' is read-only.",
    )


def _bounded_text(field: dict[str, Any]) -> bool:
    kind = field["type"].split("[")[0]
    return kind in ("Code", "Text") and "[" in field["type"] and not _read_only(field)


@pytest.mark.parametrize(("entity_set", "name"), _params(_bounded_text))
async def test_code_and_text_lengths_are_enforced(
    world: World,
    entity_set: str,
    name: str,
) -> None:
    """One character over the contract's length: Application_StringExceededLength."""
    field = next(f for f in _fields(entity_set) if f["name"] == name)
    length = int(field["type"].split("[")[1].rstrip("]"))
    row = await world.one(entity_set)
    path = f"{world.collection(entity_set)}({row['id']})"
    value = "A" * (length + 1)
    response = await world.bc.patch(path, {name: value})

    assert error_of(response) == (
        400,
        "Application_StringExceededLength",
        f"The length of the string is {length + 1}, but it must be less than or "
        f"equal to {length} characters. Value: {value}",
    )


def _writable_decimal(field: dict[str, Any]) -> bool:
    return field["type"] == "Decimal" and not _read_only(field)


@pytest.mark.parametrize(("entity_set", "name"), _params(_writable_decimal))
async def test_decimals_given_as_strings_are_refused(
    world: World,
    entity_set: str,
    name: str,
) -> None:
    """A decimal sent as a JSON string cannot be converted to Edm.Decimal."""
    row = await world.one(entity_set)
    path = f"{world.collection(entity_set)}({row['id']})"
    response = await world.bc.patch(path, {name: "12.5"})

    assert error_of(response) == (
        400,
        "BadRequest",
        "Cannot convert a primitive value to the expected type 'Edm.Decimal'. "
        "See the inner exception for more details.",
    )


@pytest.mark.parametrize("entity_set", WRITABLE_SETS)
async def test_unknown_properties_are_refused_with_the_type_name(
    world: World,
    entity_set: str,
) -> None:
    """A property the type lacks names the type Microsoft.NAV.<entityName>."""
    body = world.minimal(entity_set) | {"yourReference": "x"}
    response = await world.bc.post(world.collection(entity_set), body)
    entity_name = ENTITIES[entity_set]["entityName"]

    assert error_of(response) == (
        400,
        "BadRequest",
        f"The property 'yourReference' does not exist on type "
        f"'Microsoft.NAV.{entity_name}'. Make sure to only use property names "
        "that are defined by the type.",
    )


@pytest.mark.parametrize("entity_set", SERVED)
async def test_filtering_on_an_unknown_property_names_the_type(
    world: World,
    entity_set: str,
) -> None:
    """$filter on a property the type lacks: Could not find a property named."""
    response = await world.bc.get(
        world.collection(entity_set), params={"$filter": "nosuch eq 'x'"}
    )
    entity_name = ENTITIES[entity_set]["entityName"]

    assert error_of(response) == (
        400,
        "BadRequest_NotFound",
        f"Could not find a property named 'nosuch' on type "
        f"'Microsoft.NAV.{entity_name}'.",
    )


REFERENCE = (
    Path(__file__).parents[3] / "shared" / "reference" / "bc_api_v2_contract.json"
)


@pytest.mark.skipif(
    not REFERENCE.exists(), reason="no shared/reference beside the checkout"
)
def test_shipped_contract_is_the_reference() -> None:
    """The contract the emulator ships is byte for byte the shared reference."""
    shipped = Path(businesscentral.__file__).parent / "data" / "bc_api_v2_contract.json"

    assert shipped.read_bytes() == REFERENCE.read_bytes()
