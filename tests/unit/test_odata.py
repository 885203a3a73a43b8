"""OData literals, GUIDs, alternate keys and query strings (pointegration.odata)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import parse_qs

import httpx
import pytest

from pointegration import odata
from pointegration.errors import PayloadValidationError

GUID = "D31BA648-C592-ED11-AAD1-000D3A993550"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("Contoso", "'Contoso'", id="plain"),
        pytest.param("O'Brien & Sons", "'O''Brien & Sons'", id="apostrophe-doubled"),
        pytest.param("", "''", id="empty"),
        pytest.param("''", "''''''", id="only-quotes"),
    ],
)
def test_quote_writes_an_odata_string_literal(value: str, expected: str) -> None:
    """Strings are wrapped in single quotes with each embedded quote doubled."""
    assert expected == odata.quote(value)


def test_guid_is_normalised_to_lower_case() -> None:
    """A GUID in any case comes back lower case; a uuid.UUID is accepted."""
    assert GUID.lower() == odata.guid(GUID)
    assert GUID.lower() == odata.guid(uuid.UUID(GUID))


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("{" + GUID + "}", id="braces"),
        pytest.param(GUID.replace("-", ""), id="no-hyphens"),
        pytest.param(GUID[:-1], id="too-short"),
        pytest.param(GUID + ")", id="trailing-paren"),
        pytest.param("accounts", id="a-word"),
        pytest.param(42, id="not-a-string"),
    ],
)
def test_guid_refuses_anything_but_the_bare_form(value: object) -> None:
    """Only 8-4-4-4-12 hex passes; the error names what was expected."""
    with pytest.raises(PayloadValidationError, match="invoice id is not a GUID"):
        odata.guid(value, what="invoice id")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        pytest.param({"pobc_isocode": "DE"}, "(pobc_isocode='DE')", id="one-string"),
        pytest.param({"name": "a", "x": 1}, "(name='a',x=1)", id="string-and-int"),
        pytest.param(
            {"accountnumber": "O'Brien Ltd"},
            "(accountnumber='O''Brien Ltd')",
            id="apostrophe-doubled",
        ),
        pytest.param(
            {"_primarycontactid_value": uuid.UUID(GUID)},
            f"(_primarycontactid_value={GUID.lower()})",
            id="lookup-guid-bare",
        ),
    ],
)
def test_key_segment_writes_alternate_keys(
    keys: dict[str, odata.KeyValue], expected: str
) -> None:
    """Alternate keys become name=literal pairs in parentheses, in order."""
    assert expected == odata.key_segment(**keys)


@pytest.mark.parametrize("character", sorted(odata.FORBIDDEN_KEY_CHARACTERS))
def test_key_segment_refuses_characters_dataverse_forbids(character: str) -> None:
    """Each of / < > * % & : \\ ? + in a key value is refused, naming the key."""
    with pytest.raises(PayloadValidationError, match="key 'accountnumber' holds"):
        odata.key_segment(accountnumber=f"A{character}B")


def test_key_segment_refuses_o_brien_and_sons_because_of_the_ampersand() -> None:
    """'O'Brien & Sons' cannot be a key URL value (the & is forbidden there)."""
    with pytest.raises(PayloadValidationError, match="&"):
        odata.key_segment(name="O'Brien & Sons")


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param({}, id="no-keys"),
        pytest.param({"name": ""}, id="empty-value"),
        pytest.param({"flag": True}, id="boolean"),
        pytest.param({"bad-name": "x"}, id="bad-column-name"),
    ],
)
def test_key_segment_refuses_unusable_keys(keys: dict[str, odata.KeyValue]) -> None:
    """Empty keys, empty values, booleans and odd column names are refused."""
    with pytest.raises(PayloadValidationError):
        odata.key_segment(**keys)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, "null", id="none"),
        pytest.param(True, "true", id="true"),
        pytest.param(7, "7", id="int"),
        pytest.param(Decimal("1234.565"), "1234.565", id="decimal-exact"),
        pytest.param("EUR", "'EUR'", id="string"),
        pytest.param(uuid.UUID(GUID), GUID.lower(), id="guid-bare"),
        pytest.param(date(2026, 12, 3), "2026-12-03", id="date"),
        pytest.param(
            datetime(2026, 12, 3, 14, 0, tzinfo=timezone(timedelta(hours=2))),
            "2026-12-03T12:00:00Z",
            id="datetime-to-utc",
        ),
    ],
)
def test_literal_writes_filter_values(value: object, expected: str) -> None:
    """Python values become OData literals for $filter."""
    assert expected == odata.literal(value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(datetime(2026, 12, 3), id="naive-datetime"),  # noqa: DTZ001
        pytest.param(1.5, id="float"),
        pytest.param(Decimal("NaN"), id="nan"),
    ],
)
def test_literal_refuses_values_without_a_safe_form(value: object) -> None:
    """Naive datetimes, floats and NaN are refused rather than guessed."""
    with pytest.raises(PayloadValidationError):
        odata.literal(value)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("name eq 'O''Brien & Sons'", id="ampersand"),
        pytest.param("name eq 'A+B #1 100% = x'", id="plus-hash-percent-equals"),
        pytest.param("name eq 'Müller; Ärzte'", id="non-ascii-semicolon"),
    ],
)
def test_query_string_round_trips_through_a_server_decoder(text: str) -> None:
    """A server decoding the query (even treating + as space) gets the text back."""
    query = odata.query_string({"$filter": text})
    url = httpx.URL(f"https://org.test/api/data/v9.2/accounts{query}")

    decoded = parse_qs(url.query.decode("ascii"), keep_blank_values=True)

    assert {"$filter": [text]} == decoded
    assert " " not in query
    assert "&" not in query.split("=", 1)[1]


def test_query_string_keeps_order_and_drops_none() -> None:
    """Options keep their order, None values are left out, quotes stay readable."""
    query = odata.query_string(
        {"$select": "name,accountid", "$filter": "name eq 'A'", "$top": None}
    )

    assert query == "?$select=name,accountid&$filter=name%20eq%20'A'"
    assert odata.query_string({"$top": None}) == ""


def test_quote_inside_a_filter_survives_the_wire() -> None:
    """quote("O'Brien & Sons") in a $filter is decoded back exactly by the server."""
    text = "name eq " + odata.quote("O'Brien & Sons")
    query = odata.query_string({"$filter": text})
    request = httpx.Request("GET", "https://org.test/x" + query)

    assert request.url.query == b"$filter=name%20eq%20'O''Brien%20%26%20Sons'"
    assert parse_qs(request.url.query.decode()) == {
        "$filter": ["name eq 'O''Brien & Sons'"]
    }


def test_entity_path_addresses_by_id_or_alternate_key() -> None:
    """A record path is entity_set(guid) or entity_set(key='value')."""
    assert f"accounts({GUID.lower()})" == odata.entity_path("accounts", GUID)
    assert (
        odata.entity_path("pobc_countries", {"pobc_isocode": "DE"})
        == "pobc_countries(pobc_isocode='DE')"
    )


@pytest.mark.parametrize(
    "entity_set",
    [
        pytest.param("accounts/../x", id="slash"),
        pytest.param("accounts(1)", id="parenthesis"),
        pytest.param("", id="empty"),
    ],
)
def test_entity_path_refuses_odd_entity_sets(entity_set: str) -> None:
    """An entity set must be a plain identifier."""
    with pytest.raises(PayloadValidationError, match="entity set"):
        odata.entity_path(entity_set, GUID)


def test_encode_path_encodes_spaces_and_non_ascii_only() -> None:
    """Key values with spaces or umlauts become percent-encoded; quotes stay."""
    path = odata.entity_path("accounts", {"name": "Müller GmbH"})

    assert odata.encode_path(path) == "accounts(name='M%C3%BCller%20GmbH')"


def test_literal_datetime_in_utc_is_written_with_z() -> None:
    """A UTC datetime is written with a Z suffix, as both services expect."""
    assert (
        odata.literal(datetime(2026, 12, 3, 12, tzinfo=UTC)) == "2026-12-03T12:00:00Z"
    )


def test_query_string_never_makes_a_relative_url_look_absolute() -> None:
    """Colons in values are encoded, so '://' cannot appear in a built query."""
    query = odata.query_string({"$filter": "websiteurl eq 'https://contoso.com'"})

    assert "://" not in query
    assert parse_qs(query[1:]) == {"$filter": ["websiteurl eq 'https://contoso.com'"]}
