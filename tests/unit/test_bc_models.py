"""BC payload and read models: contract names, writable fields only, wire forms."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from pointegration import _json
from pointegration.businesscentral import models
from pointegration.businesscentral.models import (
    PAYLOADS,
    READ_MODELS,
    AddressFormat,
    BCPayload,
    ContactType,
    CustomerPayload,
    InvoiceStatus,
    LineType,
    SalesInvoice,
    SalesInvoiceLinePayload,
    SalesInvoicePayload,
)
from pointegration.errors import DataError, PayloadValidationError

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_PATHS = (
    Path("/work/shared/reference/bc_api_v2_contract.json"),
    ROOT / "pointegration/emulators/data/bc_api_v2_contract.json",
)
# The custom post-code API page (reference/businesscentral.md §2.4); the contract
# JSON covers Microsoft's pages only.
POST_CODE_FIELDS = {
    "id": False,
    "code": True,
    "city": True,
    "countryRegionCode": True,
    "county": True,
    "lastModifiedDateTime": False,
}
GUID = "6f7d0a1c-2b3e-4f50-8a6b-7c8d9e0f1a2b"


def _contract() -> dict[str, Any]:
    for path in CONTRACT_PATHS:
        if path.exists():
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return data
    pytest.skip("bc_api_v2_contract.json is in neither the shared nor the data dir")


def _writable(field: dict[str, Any]) -> bool:
    return bool(
        field.get("editable")
        and not field.get("readOnlyInPractice")
        and not field.get("flowField")
    )


def _fields(entity_set: str) -> dict[str, dict[str, Any]]:
    """Contract fields of ``entity_set`` by name (post codes from the reference)."""
    if entity_set == "postCodes":
        return {n: {"editable": w} for n, w in POST_CODE_FIELDS.items()}
    entity = _contract()["entities"][entity_set]
    return {f["name"]: f for f in entity["fields"]}


def _navigation(entity_set: str) -> set[str]:
    if entity_set == "postCodes":
        return set()
    entity = _contract()["entities"][entity_set]
    return {p["navigationProperty"] for p in entity.get("parts", [])}


def _wire_names(model: type[Any]) -> list[str]:
    return [
        info.alias or name
        for name, info in model.model_fields.items()
        if not (info.alias or "").startswith("@odata.")
    ]


@pytest.mark.parametrize("entity_set", sorted(PAYLOADS))
def test_payload_properties_are_writable_contract_fields(entity_set: str) -> None:
    """Every payload property is a contract field BC lets a caller write."""
    fields = _fields(entity_set)
    navigation = _navigation(entity_set)
    for name in _wire_names(PAYLOADS[entity_set]):
        if name in navigation:
            continue
        assert name in fields, f"{entity_set}.{name} is not in the contract"
        assert _writable(fields[name]), f"{entity_set}.{name} is read-only in BC"


@pytest.mark.parametrize("entity_set", sorted(PAYLOADS))
def test_payload_covers_every_writable_contract_field(entity_set: str) -> None:
    """Every property BC lets a caller write has a place in the payload model."""
    writable = {n for n, f in _fields(entity_set).items() if _writable(f)}
    assert writable <= set(_wire_names(PAYLOADS[entity_set]))


@pytest.mark.parametrize("entity_set", sorted(READ_MODELS))
def test_read_model_properties_exist_in_contract(entity_set: str) -> None:
    """Every read-model property is a field or navigation property in the contract."""
    known = set(_fields(entity_set)) | _navigation(entity_set)
    missing = set(_wire_names(READ_MODELS[entity_set])) - known
    assert missing == set()


def _length_cases() -> list[Any]:
    cases = []
    for entity_set, model in sorted(PAYLOADS.items()):
        if entity_set == "postCodes":
            limits = {"code": 20, "city": 30, "countryRegionCode": 10, "county": 30}
        else:
            limits = {}
            for name, field in _fields(entity_set).items():
                match = re.fullmatch(r"(?:Code|Text)\[(\d+)\]", field["type"])
                if match and name in model.model_fields:
                    limits[name] = int(match.group(1))
        cases += [
            pytest.param(model, name, n, id=f"{entity_set}.{name}[{n}]")
            for name, n in limits.items()
        ]
    return cases


@pytest.mark.parametrize(("model", "name", "length"), _length_cases())
def test_text_lengths_follow_the_al_field(
    model: type[BCPayload], name: str, length: int
) -> None:
    """A Code[N]/Text[N] property takes N characters and refuses N + 1."""
    assert model.parse({name: "A" * length}).to_body() == {name: "A" * length}
    with pytest.raises(PayloadValidationError, match=name):
        model.parse({name: "A" * (length + 1)})


def test_unknown_property_is_refused_by_name() -> None:
    """A property BC does not know is refused, and the error names it."""
    with pytest.raises(PayloadValidationError, match="'yourReference'"):
        SalesInvoicePayload.parse({"customerNumber": "10000", "yourReference": "x"})


@pytest.mark.parametrize(
    ("model", "name", "value"),
    [
        pytest.param(SalesInvoicePayload, "number", "S-INV-1", id="invoice-number"),
        pytest.param(SalesInvoicePayload, "status", "Paid", id="invoice-status"),
        pytest.param(
            SalesInvoicePayload,
            "totalAmountIncludingTax",
            Decimal(1),
            id="invoice-total",
        ),
        pytest.param(CustomerPayload, "balanceDue", Decimal(1), id="customer-balance"),
        pytest.param(CustomerPayload, "id", GUID, id="customer-id"),
        pytest.param(
            CustomerPayload,
            "lastModifiedDateTime",
            "2026-01-01T00:00:00Z",
            id="customer-system-modified-at",
        ),
        pytest.param(
            models.ContactPayload,
            "contactBusinessRelation",
            "Customer",
            id="contact-business-relation",
        ),
        pytest.param(
            SalesInvoiceLinePayload,
            "amountIncludingTax",
            Decimal(1),
            id="line-amount",
        ),
    ],
)
def test_read_only_property_cannot_be_set(
    model: type[BCPayload], name: str, value: object
) -> None:
    """A property BC computes or locks is refused as not writable."""
    with pytest.raises(PayloadValidationError, match=f"'{name}' is not a property"):
        model.parse({name: value})


def test_payload_cannot_be_changed_after_validation() -> None:
    """A payload is immutable, so no property slips in after validation."""
    payload = CustomerPayload.parse({"displayName": "Contoso"})
    with pytest.raises(ValueError, match="frozen"):
        # mypy knows the model is frozen; this proves pydantic enforces it.
        payload.displayName = "x" * 500  # type: ignore[misc]


def test_only_set_properties_are_sent() -> None:
    """Properties left unset are not in the body, so BC's templates fill them."""
    body = CustomerPayload.parse({"displayName": "Contoso", "country": "DE"}).to_body()
    assert body == {"displayName": "Contoso", "country": "DE"}


def test_null_is_refused() -> None:
    """A None value is refused rather than sent as JSON null."""
    with pytest.raises(PayloadValidationError, match="'city'"):
        CustomerPayload.parse({"displayName": "Contoso", "city": None})


def test_decimal_is_written_exactly() -> None:
    """A Decimal stays a Decimal and is written as the exact JSON number."""
    line = SalesInvoiceLinePayload.parse(
        {"unitPrice": Decimal("1234.565"), "quantity": 3}
    )
    body = line.to_body()
    assert body["unitPrice"] == Decimal("1234.565")
    assert type(body["unitPrice"]) is Decimal
    assert _json.dumps(body) == '{"quantity":3,"unitPrice":1234.565}'


def test_float_money_is_refused() -> None:
    """A float for money is refused: it cannot hold cents exactly."""
    with pytest.raises(PayloadValidationError, match="not float"):
        SalesInvoiceLinePayload.parse({"unitPrice": 0.1})


def test_dates_guids_and_enums_take_their_wire_form() -> None:
    """Dates are YYYY-MM-DD, GUIDs strings, enum members BC's encoded names."""
    body = SalesInvoicePayload.parse(
        {
            "customerId": UUID(GUID.upper()),
            "invoiceDate": date(2026, 1, 31),
            "salesInvoiceLines": [{"lineType": LineType.FIXED_ASSET}],
        }
    ).to_body()
    assert body == {
        "invoiceDate": "2026-01-31",
        "customerId": GUID,
        "salesInvoiceLines": [{"lineType": "Fixed_x0020_Asset"}],
    }


@pytest.mark.parametrize(
    ("line_type", "wire"),
    [
        pytest.param(LineType.COMMENT, "Comment", id="comment"),
        pytest.param(LineType.ACCOUNT, "Account", id="account"),
        pytest.param(LineType.ITEM, "Item", id="item"),
        pytest.param(LineType.RESOURCE, "Resource", id="resource"),
        pytest.param(LineType.FIXED_ASSET, "Fixed_x0020_Asset", id="fixed-asset"),
        pytest.param(LineType.CHARGE, "Charge", id="charge"),
        pytest.param(
            LineType.ALLOCATION_ACCOUNT,
            "Allocation_x0020_Account",
            id="allocation-account",
        ),
    ],
)
def test_line_type_round_trips_through_the_wire(line_type: LineType, wire: str) -> None:
    """Each line type is sent encoded, accepted encoded, and read back as itself."""
    sent = SalesInvoiceLinePayload.parse({"lineType": line_type}).to_body()
    assert sent == {"lineType": wire}
    assert SalesInvoiceLinePayload.parse({"lineType": wire}).to_body() == sent
    read = models.SalesInvoiceLine.from_bc({"id": GUID, "lineType": wire})
    assert read.lineType is line_type


def test_unknown_line_type_is_refused() -> None:
    """A line type BC does not have (the docs' "Value") is refused."""
    with pytest.raises(PayloadValidationError, match="'lineType'"):
        SalesInvoiceLinePayload.parse({"lineType": "Value"})


def test_extensible_enum_accepts_a_localized_value() -> None:
    """An address format added by a localization is sent encoded, not refused."""
    body = models.CountryRegionPayload.parse(
        {"code": "US", "addressFormat": "City+County+Post Code (no comma)"}
    ).to_body()
    assert body["addressFormat"] == (
        "City_x002B_County_x002B_Post_x0020_Code_x0020__x0028_no_x0020_comma_x0029_"
    )
    standard = models.CountryRegionPayload.parse(
        {"addressFormat": AddressFormat.CITY_POST_CODE}
    )
    assert standard.to_body() == {"addressFormat": "City_x002B_Post_x0020_Code"}


def test_customer_blank_blocked_is_sent_encoded() -> None:
    """The blank "blocked" value goes out as _x0020_."""
    body = CustomerPayload.parse({"blocked": " ", "type": ContactType.PERSON}).to_body()
    assert body == {"blocked": "_x0020_", "type": "Person"}


def test_deep_insert_matches_microsofts_example() -> None:
    """The deep-insert body is Microsoft's documented salesInvoice example."""
    invoice = SalesInvoicePayload.parse(
        {
            "customerNumber": "20000",
            "salesInvoiceLines": [
                {"lineType": "Item", "lineObjectNumber": "1928-S", "quantity": 3}
            ],
        }
    )
    assert _json.dumps(invoice.to_body()) == (
        '{"customerNumber":"20000","salesInvoiceLines":'
        '[{"lineType":"Item","lineObjectNumber":"1928-S","quantity":3}]}'
    )


def test_deep_insert_line_may_not_name_its_document() -> None:
    """A line of a deep insert gets its documentId from the invoice, not the caller."""
    with pytest.raises(PayloadValidationError, match="documentId"):
        SalesInvoicePayload.parse(
            {"customerNumber": "1", "salesInvoiceLines": [{"documentId": GUID}]}
        )


def test_item_and_account_together_are_refused() -> None:
    """A line names an item or a G/L account, never both."""
    with pytest.raises(PayloadValidationError, match="itemId"):
        SalesInvoiceLinePayload.parse({"itemId": GUID, "accountId": GUID})


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        pytest.param(Decimal(0), True, id="zero"),
        pytest.param(Decimal(100), True, id="hundred"),
        pytest.param(Decimal("100.01"), False, id="above-hundred"),
        pytest.param(Decimal("-0.01"), False, id="negative"),
    ],
)
def test_discount_percent_is_between_0_and_100(value: Decimal, accepted: bool) -> None:
    """discountPercent outside 0..100 is refused before BC sees it."""
    data = {"discountPercent": value}
    if accepted:
        assert SalesInvoiceLinePayload.parse(data).to_body() == data
    else:
        with pytest.raises(PayloadValidationError, match="discountPercent"):
            SalesInvoiceLinePayload.parse(data)


@pytest.mark.parametrize(
    ("model", "data", "missing"),
    [
        pytest.param(CustomerPayload, {"city": "Bonn"}, "displayName", id="customer"),
        pytest.param(
            SalesInvoicePayload,
            {"externalDocumentNumber": "PO-1"},
            "customerNumber or customerId",
            id="invoice",
        ),
        pytest.param(
            models.CountryRegionPayload,
            {"displayName": "Germany"},
            "code",
            id="country",
        ),
        pytest.param(models.PostCodePayload, {"code": "53111"}, "city", id="post-code"),
    ],
)
def test_create_requires_what_bc_requires(
    model: type[BCPayload], data: dict[str, Any], missing: str
) -> None:
    """A POST without the property BC requires is refused, naming it."""
    with pytest.raises(PayloadValidationError, match=missing):
        model.parse(data).check_create()


def test_payload_for_refuses_a_model_of_another_entity_set() -> None:
    """A customer payload cannot be sent to salesInvoices."""
    with pytest.raises(PayloadValidationError, match="SalesInvoicePayload"):
        models.payload_for("salesInvoices", CustomerPayload.parse({"city": "Bonn"}))


def test_sales_invoice_is_read_with_decoded_status_and_exact_money() -> None:
    """A BC invoice reads with its status decoded, UTC time, Decimals, no blank date."""
    raw = _json.loads(
        '{"@odata.etag":"W/\\"JzQ0O\\"","id":"' + GUID + '","number":"103001",'
        '"externalDocumentNumber":"PO-INV-7","status":"In_x0020_Review",'
        '"dueDate":"0001-01-01","invoiceDate":"2026-02-01",'
        '"totalAmountExcludingTax":1234.565,"remainingAmount":0,'
        '"lastModifiedDateTime":"2026-02-01T10:30:00.123+01:00","unknownNew":1}'
    )
    invoice = SalesInvoice.from_bc(raw)
    assert invoice.status is InvoiceStatus.IN_REVIEW
    assert invoice.totalAmountExcludingTax == Decimal("1234.565")
    assert invoice.remainingAmount == Decimal(0)
    assert invoice.dueDate is None
    assert invoice.invoiceDate == date(2026, 2, 1)
    assert invoice.lastModifiedDateTime == datetime(
        2026, 2, 1, 9, 30, 0, 123000, tzinfo=UTC
    )
    assert invoice.etag == 'W/"JzQ0O"'


def test_extensible_enum_is_read_as_its_al_name() -> None:
    """A customer's blank "blocked" reads as " ", and a new contact type survives."""
    customer = models.Customer.from_bc(
        {"id": GUID, "blocked": "_x0020_", "type": "Sole_x0020_Trader"}
    )
    assert customer.blocked == " "
    assert customer.type == "Sole Trader"


def test_unreadable_record_raises_data_error_naming_property() -> None:
    """A status BC's enum does not have becomes a DataError naming 'status'."""
    with pytest.raises(DataError, match="'status'") as caught:
        SalesInvoice.from_bc({"id": GUID, "status": "Archived"})
    assert caught.value.record_id == GUID
