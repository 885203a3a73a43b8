"""What the integration sends to and reads from the BC API v2.0, as pydantic models.

Property names are BC's own (camelCase, exactly as in
``reference/bc_api_v2_contract.json``), so a model reads like the API page.

*Payload models* (``...Payload``) are what we write. They hold only the properties
BC lets a caller write (the page makes them editable and neither the platform nor
a FlowField makes them read-only in practice), and they forbid anything else: an
unknown or read-only property is refused here, before a request is made, as a
:class:`~pointegration.errors.PayloadValidationError` naming the property.
:meth:`BCPayload.to_body` gives the JSON body: only the properties that were set
(BC applies its templates to the rest), decimals as exact ``Decimal`` numbers for
:func:`pointegration._json.dumps`, dates as ``YYYY-MM-DD``, GUIDs as strings and
enum members in BC's ``_xHHHH_`` encoding (``Fixed Asset`` → ``Fixed_x0020_Asset``).
Lengths follow the AL fields (``Code[20]`` allows 20 characters); values are kept
as given, since BC upper-cases ``Code`` fields itself.

*Read models* describe BC's answers and ignore properties they do not name.
Enum values are decoded (``In_x0020_Review`` → ``In Review``); BC's blank date
``0001-01-01`` becomes ``None``; datetimes are timezone-aware UTC; money is
``Decimal``. Enums BC lets extensions widen (contact type, blocked, address
format, ...) are read as the decoded AL name (a ``str``, equal to the matching
member of the enums here); the closed ones (invoice status, line type) as members.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from pointegration.businesscentral.enums import decode_enum, encode_enum
from pointegration.errors import DataError, PayloadValidationError

__all__ = [
    "PAYLOADS",
    "READ_MODELS",
    "AddressFormat",
    "BCPayload",
    "BCRecord",
    "Company",
    "Contact",
    "ContactBusinessRelation",
    "ContactInformation",
    "ContactPayload",
    "ContactType",
    "CountryRegion",
    "CountryRegionPayload",
    "Customer",
    "CustomerBlocked",
    "CustomerPayload",
    "InvoiceStatus",
    "LineType",
    "PostCode",
    "PostCodePayload",
    "RelatedType",
    "SalesInvoice",
    "SalesInvoiceLine",
    "SalesInvoiceLinePayload",
    "SalesInvoicePayload",
    "create_body",
    "payload_for",
    "update_body",
]


# -- enums (values are AL names; the wire form is encode_enum(value)) ------------


class InvoiceStatus(StrEnum):
    """Enum 5477 "Invoice Entity Aggregate Status" (closed)."""

    BLANK = " "
    DRAFT = "Draft"
    IN_REVIEW = "In Review"
    OPEN = "Open"
    PAID = "Paid"
    CANCELED = "Canceled"
    CORRECTIVE = "Corrective"


class LineType(StrEnum):
    """Enum 5478 "Invoice Line Agg. Line Type" (closed; no ``Value`` member)."""

    COMMENT = "Comment"
    ACCOUNT = "Account"
    ITEM = "Item"
    RESOURCE = "Resource"
    FIXED_ASSET = "Fixed Asset"
    CHARGE = "Charge"
    ALLOCATION_ACCOUNT = "Allocation Account"


class ContactType(StrEnum):
    """Enum 5050 "Contact Type" (W1 values; extensible)."""

    COMPANY = "Company"
    PERSON = "Person"


class CustomerBlocked(StrEnum):
    """Enum 139 "Customer Blocked" (W1 values; extensible)."""

    BLANK = " "
    SHIP = "Ship"
    INVOICE = "Invoice"
    ALL = "All"


class AddressFormat(StrEnum):
    """Enum 8 "Country/Region Address Format" (W1 values; localizations add more)."""

    POST_CODE_CITY = "Post Code+City"
    CITY_POST_CODE = "City+Post Code"
    CITY_COUNTY_POST_CODE = "City+County+Post Code"
    BLANK_LINE_POST_CODE_CITY = "Blank Line+Post Code+City"
    CUSTOM = "Custom"


class ContactBusinessRelation(StrEnum):
    """Enum "Contact Business Relation" (W1 values; extensible)."""

    BLANK = " "
    CUSTOMER = "Customer"
    VENDOR = "Vendor"
    BANK_ACCOUNT = "Bank Account"
    EMPLOYEE = "Employee"
    NONE = "None"
    OTHER = "Other"
    MULTIPLE = "Multiple"


class RelatedType(StrEnum):
    """Enum "Contact Business Relation Link To Table" (W1 values; extensible)."""

    BLANK = " "
    CUSTOMER = "Customer"
    VENDOR = "Vendor"
    BANK_ACCOUNT = "Bank Account"
    EMPLOYEE = "Employee"


# -- wire types ------------------------------------------------------------------


def _decoded(value: Any) -> Any:
    return decode_enum(str(value)) if isinstance(value, str) else value


def _encoded(value: str) -> str:
    return encode_enum(str(value))


def _not_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("money and quantities must be Decimal, not float")
    return value


def _blank_date(value: Any) -> Any:
    return None if value in ("0001-01-01", date.min) else value


def _blank_datetime(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0001-01-01"):
        return None
    return value


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _text(length: int) -> Any:
    return StringConstraints(max_length=length)


Str10 = Annotated[str, _text(10)]
Str20 = Annotated[str, _text(20)]
Str30 = Annotated[str, _text(30)]
Str35 = Annotated[str, _text(35)]
Str50 = Annotated[str, _text(50)]
Str80 = Annotated[str, _text(80)]
Str100 = Annotated[str, _text(100)]
Guid = Annotated[UUID, PlainSerializer(str, return_type=str)]
WireDate = Annotated[date, PlainSerializer(date.isoformat, return_type=str)]
Amount = Annotated[Decimal, BeforeValidator(_not_float), Field(allow_inf_nan=False)]
Percent = Annotated[Amount, Field(ge=0, le=100)]
NonNegative = Annotated[Amount, Field(ge=0)]
# An extensible enum: any AL name, written encoded.
OpenEnum = Annotated[
    str, BeforeValidator(_decoded), PlainSerializer(_encoded, return_type=str)
]
WireLineType = Annotated[
    LineType, BeforeValidator(_decoded), PlainSerializer(_encoded, return_type=str)
]
ReadStatus = Annotated[InvoiceStatus, BeforeValidator(_decoded)]
ReadLineType = Annotated[LineType, BeforeValidator(_decoded)]
ReadName = Annotated[str, BeforeValidator(_decoded)]
ReadDate = Annotated[date | None, BeforeValidator(_blank_date)]
ReadDateTime = Annotated[
    AwareDatetime | None, BeforeValidator(_blank_datetime), AfterValidator(_utc)
]


# -- payload models --------------------------------------------------------------


class BCPayload(BaseModel):
    """Base of the payload models: writable properties only, nothing else.

    A property left unset is not sent. ``None`` is refused: BC has no null for
    these fields, so leave the property unset or send the blank value. Payloads
    are immutable: parse a new one to change a value.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    entity_set: ClassVar[str]
    # Each group names properties of which at least one must be set on POST.
    required_on_create: ClassVar[tuple[tuple[str, ...], ...]] = ()

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("BC has no null for it; leave the property unset")
        return value

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Self:
        """Validate ``data`` as this payload, or raise ``PayloadValidationError``."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise _payload_error(cls.entity_set, exc) from exc

    def to_body(self) -> dict[str, Any]:
        """The JSON body: set properties only, with ``Decimal`` values kept exact."""
        return self.model_dump(mode="python", exclude_unset=True)

    def check_create(self) -> None:
        """Refuse a POST that BC would refuse for a missing required property."""
        for group in self.required_on_create:
            if not any(getattr(self, name) not in (None, "") for name in group):
                raise PayloadValidationError(
                    f"{self.entity_set}: {' or '.join(group)} must be provided "
                    "to create a record",
                    system="bc",
                )


class CustomerPayload(BCPayload):
    """Writable properties of ``customers`` (page 30009)."""

    entity_set: ClassVar[str] = "customers"
    required_on_create: ClassVar[tuple[tuple[str, ...], ...]] = (("displayName",),)

    number: Str20 | None = None
    displayName: Str100 | None = None
    type: OpenEnum | None = None
    addressLine1: Str100 | None = None
    addressLine2: Str50 | None = None
    city: Str30 | None = None
    state: Str30 | None = None
    country: Str10 | None = None
    postalCode: Str20 | None = None
    phoneNumber: Str30 | None = None
    email: Str80 | None = None
    website: Str80 | None = None
    salespersonCode: Str20 | None = None
    creditLimit: Amount | None = None
    taxLiable: bool | None = None
    taxAreaId: Guid | None = None
    taxRegistrationNumber: Str50 | None = None
    currencyId: Guid | None = None
    currencyCode: Str10 | None = None
    paymentTermsId: Guid | None = None
    shipmentMethodId: Guid | None = None
    paymentMethodId: Guid | None = None
    blocked: OpenEnum | None = None


class ContactPayload(BCPayload):
    """Writable properties of ``contacts`` (page 30071)."""

    entity_set: ClassVar[str] = "contacts"
    required_on_create: ClassVar[tuple[tuple[str, ...], ...]] = (("displayName",),)

    number: Str20 | None = None
    type: OpenEnum | None = None
    displayName: Str100 | None = None
    jobTitle: Str30 | None = None
    companyNumber: Str20 | None = None
    companyName: Str100 | None = None
    addressLine1: Str100 | None = None
    addressLine2: Str50 | None = None
    city: Str30 | None = None
    state: Str30 | None = None
    country: Str10 | None = None
    postalCode: Str20 | None = None
    phoneNumber: Str30 | None = None
    mobilePhoneNumber: Str30 | None = None
    email: Str80 | None = None
    website: Str80 | None = None
    searchName: Str100 | None = None
    privacyBlocked: bool | None = None
    taxRegistrationNumber: Str50 | None = None


class CountryRegionPayload(BCPayload):
    """Writable properties of ``countriesRegions`` (page 30027)."""

    entity_set: ClassVar[str] = "countriesRegions"
    required_on_create: ClassVar[tuple[tuple[str, ...], ...]] = (("code",),)

    code: Str10 | None = None
    displayName: Str50 | None = None
    addressFormat: OpenEnum | None = None


class PostCodePayload(BCPayload):
    """Writable properties of ``postCodes`` on our custom API (table 225)."""

    entity_set: ClassVar[str] = "postCodes"
    required_on_create: ClassVar[tuple[tuple[str, ...], ...]] = (("code",), ("city",))

    code: Str20 | None = None
    city: Str30 | None = None
    countryRegionCode: Str10 | None = None
    county: Str30 | None = None


class SalesInvoiceLinePayload(BCPayload):
    """Writable properties of ``salesInvoiceLines`` (page 30043)."""

    entity_set: ClassVar[str] = "salesInvoiceLines"

    documentId: Guid | None = None
    sequence: int | None = Field(default=None, ge=0)
    itemId: Guid | None = None
    accountId: Guid | None = None
    lineType: WireLineType | None = None
    lineObjectNumber: Str20 | None = None
    description: Str100 | None = None
    description2: Str50 | None = None
    unitOfMeasureId: Guid | None = None
    unitOfMeasureCode: Str10 | None = None
    quantity: Amount | None = None
    unitPrice: Amount | None = None
    discountAmount: NonNegative | None = None
    discountPercent: Percent | None = None
    taxCode: Annotated[str, _text(50)] | None = None
    shipmentDate: WireDate | None = None
    itemVariantId: Guid | None = None
    locationId: Guid | None = None

    @model_validator(mode="after")
    def _one_of_item_or_account(self) -> Self:
        if self.itemId is not None and self.accountId is not None:
            raise ValueError(
                'both "itemId" and "accountId" are set; BC accepts only one of them'
            )
        return self


class SalesInvoicePayload(BCPayload):
    """Writable properties of ``salesInvoices`` (page 30012).

    ``salesInvoiceLines`` is for a deep insert (header and lines in one POST); BC
    has no deep PATCH, so the client refuses it on update.
    """

    entity_set: ClassVar[str] = "salesInvoices"
    required_on_create: ClassVar[tuple[tuple[str, ...], ...]] = (
        ("customerNumber", "customerId"),
    )

    externalDocumentNumber: Str35 | None = None
    invoiceDate: WireDate | None = None
    postingDate: WireDate | None = None
    dueDate: WireDate | None = None
    promisedPayDate: WireDate | None = None
    customerPurchaseOrderReference: Str35 | None = None
    customerId: Guid | None = None
    customerNumber: Str20 | None = None
    billToCustomerId: Guid | None = None
    billToCustomerNumber: Str20 | None = None
    shipToName: Str100 | None = None
    shipToContact: Str100 | None = None
    sellToAddressLine1: Str100 | None = None
    sellToAddressLine2: Str50 | None = None
    sellToCity: Str30 | None = None
    sellToCountry: Str10 | None = None
    sellToState: Str30 | None = None
    sellToPostCode: Str20 | None = None
    shipToAddressLine1: Str100 | None = None
    shipToAddressLine2: Str50 | None = None
    shipToCity: Str30 | None = None
    shipToCountry: Str10 | None = None
    shipToState: Str30 | None = None
    shipToPostCode: Str20 | None = None
    currencyId: Guid | None = None
    currencyCode: Str10 | None = None
    shortcutDimension1Code: Str20 | None = None
    shortcutDimension2Code: Str20 | None = None
    paymentTermsId: Guid | None = None
    shipmentMethodId: Guid | None = None
    salesperson: Str20 | None = None
    disputeStatusId: Guid | None = None
    disputeStatus: Str10 | None = None
    discountAmount: NonNegative | None = None
    phoneNumber: Str30 | None = None
    email: Str80 | None = None
    salesInvoiceLines: list[SalesInvoiceLinePayload] | None = None

    @model_validator(mode="after")
    def _lines_belong_to_this_invoice(self) -> Self:
        for line in self.salesInvoiceLines or ():
            if "documentId" in line.model_fields_set:
                raise ValueError(
                    "a line of a deep insert takes its documentId from the "
                    "invoice; leave documentId unset"
                )
        return self


PAYLOADS: Mapping[str, type[BCPayload]] = {
    model.entity_set: model
    for model in (
        CustomerPayload,
        ContactPayload,
        CountryRegionPayload,
        PostCodePayload,
        SalesInvoicePayload,
        SalesInvoiceLinePayload,
    )
}


def payload_for(entity_set: str, payload: BCPayload | Mapping[str, Any]) -> BCPayload:
    """``payload`` validated as the payload model of ``entity_set``.

    Raises ``PayloadValidationError`` for an entity set without a payload model,
    a model of another entity set, or data the model refuses.
    """
    model = PAYLOADS.get(entity_set)
    if model is None:
        raise PayloadValidationError(
            f"{entity_set}: the integration has no payload model for this entity "
            "set, so it writes nothing to it",
            system="bc",
        )
    if isinstance(payload, BCPayload):
        if not isinstance(payload, model):
            raise PayloadValidationError(
                f"{entity_set}: expected a {model.__name__}, "
                f"got a {type(payload).__name__}",
                system="bc",
            )
        return payload

    return model.parse(payload)


def create_body(
    entity_set: str, payload: BCPayload | Mapping[str, Any]
) -> dict[str, Any]:
    """The POST body for ``entity_set``: validated, with the required properties."""
    model = payload_for(entity_set, payload)
    model.check_create()

    return model.to_body()


def update_body(
    entity_set: str, payload: BCPayload | Mapping[str, Any]
) -> dict[str, Any]:
    """The PATCH body for ``entity_set``; nested lines are refused (no deep PATCH)."""
    body = payload_for(entity_set, payload).to_body()
    nested = [name for name, value in body.items() if isinstance(value, list)]
    if nested:
        raise PayloadValidationError(
            f"{entity_set}: {', '.join(nested)} cannot be sent in a PATCH; BC "
            "supports deep insert only, so write each line on its own",
            system="bc",
        )
    if not body:
        raise PayloadValidationError(
            f"{entity_set}: nothing to change (no property set)", system="bc"
        )

    return body


def _payload_error(entity_set: str, exc: ValidationError) -> PayloadValidationError:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "payload"
        if error["type"] == "extra_forbidden":
            problems.append(
                f"'{where}' is not a property a caller may write "
                "(unknown or read-only in BC)"
            )
        else:
            problems.append(f"'{where}': {_message(error['msg'])}")

    return PayloadValidationError(f"{entity_set}: {'; '.join(problems)}", system="bc")


def _message(text: str) -> str:
    return text.removeprefix("Value error, ")


# -- read models -----------------------------------------------------------------


class BCRecord(BaseModel):
    """Base of the read models: BC's answer, ignoring properties not named here."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    entity_set: ClassVar[str]

    etag: str | None = Field(default=None, alias="@odata.etag")

    @classmethod
    def from_bc(cls, data: Mapping[str, Any]) -> Self:
        """Read one record of BC's JSON, or raise ``DataError`` naming the property."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            problems = "; ".join(
                f"'{'.'.join(str(p) for p in e['loc'])}': {_message(e['msg'])}"
                for e in exc.errors()
            )
            record_id = data.get("id")
            raise DataError(
                f"{cls.entity_set}: BC returned a record the integration cannot "
                f"read: {problems}",
                system="bc",
                record_id=str(record_id) if record_id is not None else None,
            ) from exc


class Customer(BCRecord):
    """A BC customer as read."""

    entity_set: ClassVar[str] = "customers"

    id: UUID
    number: str | None = None
    displayName: str | None = None
    type: ReadName | None = None
    addressLine1: str | None = None
    addressLine2: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    postalCode: str | None = None
    phoneNumber: str | None = None
    email: str | None = None
    website: str | None = None
    taxRegistrationNumber: str | None = None
    currencyId: UUID | None = None
    currencyCode: str | None = None
    paymentTermsId: UUID | None = None
    blocked: ReadName | None = None
    balanceDue: Decimal | None = None
    creditLimit: Decimal | None = None
    lastModifiedDateTime: ReadDateTime = None


class Contact(BCRecord):
    """A BC contact as read."""

    entity_set: ClassVar[str] = "contacts"

    id: UUID
    number: str | None = None
    type: ReadName | None = None
    displayName: str | None = None
    jobTitle: str | None = None
    companyNumber: str | None = None
    companyName: str | None = None
    contactBusinessRelation: ReadName | None = None
    addressLine1: str | None = None
    addressLine2: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    postalCode: str | None = None
    phoneNumber: str | None = None
    mobilePhoneNumber: str | None = None
    email: str | None = None
    privacyBlocked: bool | None = None
    lastModifiedDateTime: ReadDateTime = None


class ContactInformation(BCRecord):
    """A row of ``customers({id})/contactsInformation``: a contact of a customer."""

    entity_set: ClassVar[str] = "contactsInformation"

    contactId: UUID
    contactNumber: str | None = None
    contactName: str | None = None
    contactType: ReadName | None = None
    relatedId: UUID | None = None
    relatedType: ReadName | None = None


class CountryRegion(BCRecord):
    """A BC country/region as read."""

    entity_set: ClassVar[str] = "countriesRegions"

    id: UUID
    code: str | None = None
    displayName: str | None = None
    addressFormat: ReadName | None = None
    lastModifiedDateTime: ReadDateTime = None


class PostCode(BCRecord):
    """A post code of our custom API as read."""

    entity_set: ClassVar[str] = "postCodes"

    id: UUID
    code: str | None = None
    city: str | None = None
    countryRegionCode: str | None = None
    county: str | None = None
    lastModifiedDateTime: ReadDateTime = None


class SalesInvoiceLine(BCRecord):
    """A BC sales invoice line as read."""

    entity_set: ClassVar[str] = "salesInvoiceLines"

    id: UUID
    documentId: UUID | None = None
    sequence: int | None = None
    itemId: UUID | None = None
    accountId: UUID | None = None
    lineType: ReadLineType | None = None
    lineObjectNumber: str | None = None
    description: str | None = None
    unitOfMeasureCode: str | None = None
    quantity: Decimal | None = None
    unitPrice: Decimal | None = None
    discountAmount: Decimal | None = None
    discountPercent: Decimal | None = None
    amountExcludingTax: Decimal | None = None
    taxCode: str | None = None
    taxPercent: Decimal | None = None
    totalTaxAmount: Decimal | None = None
    amountIncludingTax: Decimal | None = None
    netAmount: Decimal | None = None
    netAmountIncludingTax: Decimal | None = None
    shipmentDate: ReadDate = None


class SalesInvoice(BCRecord):
    """A BC sales invoice as read, draft or posted (``id`` survives posting)."""

    entity_set: ClassVar[str] = "salesInvoices"

    id: UUID
    number: str | None = None
    externalDocumentNumber: str | None = None
    invoiceDate: ReadDate = None
    postingDate: ReadDate = None
    dueDate: ReadDate = None
    customerId: UUID | None = None
    customerNumber: str | None = None
    customerName: str | None = None
    currencyId: UUID | None = None
    currencyCode: str | None = None
    status: ReadStatus | None = None
    pricesIncludeTax: bool | None = None
    discountAmount: Decimal | None = None
    totalAmountExcludingTax: Decimal | None = None
    totalTaxAmount: Decimal | None = None
    totalAmountIncludingTax: Decimal | None = None
    remainingAmount: Decimal | None = None
    lastModifiedDateTime: ReadDateTime = None
    salesInvoiceLines: list[SalesInvoiceLine] | None = None


class Company(BCRecord):
    """A row of the root ``companies`` collection; ``id`` goes in every URL."""

    entity_set: ClassVar[str] = "companies"

    id: UUID
    systemVersion: str | None = None
    timestamp: int | None = None
    name: str | None = None
    displayName: str | None = None
    businessProfileId: str | None = None
    systemCreatedAt: ReadDateTime = None
    systemModifiedAt: ReadDateTime = None


READ_MODELS: Mapping[str, type[BCRecord]] = {
    model.entity_set: model
    for model in (
        Customer,
        Contact,
        ContactInformation,
        CountryRegion,
        PostCode,
        SalesInvoice,
        SalesInvoiceLine,
        Company,
    )
}
