"""The errors the Dataverse emulator answers with, in the real service's shape.

Every refusal is a :class:`DataverseError` carrying the HTTP status, the hex
error code and the message, answered as ``{"error":{"code":..,"message":..}}``.
The functions below build the ones the real Web API is known to send, with its
wording and codes (``reference/dataverse.md`` §2 "Error JSON" and "Status
codes"; the support article "Troubleshoot Dataverse Web API client errors" for
the unknown segment, property and payload errors, whose codes are ``0x8006088a``
and ``0x0``).
"""

from __future__ import annotations

__all__ = [
    "BAD_PAYLOAD",
    "DUPLICATE",
    "NOT_FOUND",
    "NO_CODE",
    "QUERY",
    "DataverseError",
    "bad_key",
    "duplicate_key",
    "no_http_resource",
    "not_found",
    "payload_error",
    "record_exists",
    "segment_not_found",
    "stale_version",
    "too_long",
    "unknown_payload_property",
    "unknown_query_property",
    "wrong_type",
]

NOT_FOUND = "0x80040217"
DUPLICATE = "0x80040237"
QUERY = "0x80060888"
BAD_PAYLOAD = "0x80048d19"
NO_CODE = "0x0"
_SEGMENT = "0x8006088a"
_CONCURRENCY = "0x80060882"
_TOO_LONG = "0x80044331"


class DataverseError(Exception):
    """A request the emulator refuses: status, Dataverse error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, dict[str, str]]:
        """The JSON error body."""
        return {"error": {"code": self.code, "message": self.message}}


def not_found(table: str, record_id: str) -> DataverseError:
    """404 for a row that does not exist."""
    return DataverseError(
        404, NOT_FOUND, f"{table} With Id = {record_id} Does Not Exist"
    )


def segment_not_found(segment: str) -> DataverseError:
    """404 for a URL segment that names no resource."""
    return DataverseError(
        404, _SEGMENT, f"Resource not found for the segment '{segment}'."
    )


def no_http_resource(url: str) -> DataverseError:
    """404 for a URL outside the API, or a function or action called wrongly.

    The service sends this one with an empty code (POST to ``WhoAmI``).
    """
    return DataverseError(
        404,
        "",
        f"No HTTP resource was found that matches the request URI '{url}'.",
    )


def unknown_query_property(name: str, type_name: str) -> DataverseError:
    """400 for a property in ``$select``, ``$filter`` or ``$orderby`` that is not."""
    return DataverseError(
        400,
        NO_CODE,
        f"Could not find a property named '{name}' on type '{type_name}'.",
    )


def unknown_payload_property(name: str, type_name: str) -> DataverseError:
    """400 for a property in a request body that the entity type lacks.

    Worded as Microsoft's troubleshooting article on Web API client errors shows
    it (code ``0x0``); the text after ``--->`` is the inner exception's.
    """
    return DataverseError(
        400,
        "0x0",
        "An error occurred while validating input parameters: "
        f"Microsoft.Crm.CrmException: Invalid property '{name}' was found in entity "
        f"'{type_name}'. ---> Microsoft.Crm.CrmException: Invalid property '{name}' "
        f"was found in entity '{type_name}'.",
    )


def payload_error(entity_set: str, inner: str) -> DataverseError:
    """400 for a body the OData reader refuses, worded with its inner exception."""
    return DataverseError(
        400,
        BAD_PAYLOAD,
        "Error identified in Payload provided by the user for Entity "
        f":'{entity_set}'  ---->  InnerException : {inner}",
    )


def wrong_type(value: object, edm_type: str) -> DataverseError:
    """400 for a body value that is not of the column's type."""
    if isinstance(value, str):
        literal = (
            f"Cannot convert the literal '{value}' to the expected type '{edm_type}'."
        )
        return DataverseError(400, BAD_PAYLOAD, literal)

    return DataverseError(
        400,
        BAD_PAYLOAD,
        f"Cannot convert a primitive value to the expected type '{edm_type}'. "
        "See the inner exception for more details.",
    )


def too_long(attribute: str, table: str, max_length: int) -> DataverseError:
    """400 for a string longer than its column allows."""
    return DataverseError(
        400,
        _TOO_LONG,
        f"A validation error occurred.  The length of the '{attribute}' attribute "
        f"of the '{table}' entity exceeded the maximum allowed length of "
        f"'{max_length}'.",
    )


def record_exists() -> DataverseError:
    """412 for a create-only upsert (``If-None-Match: *``) of an existing row."""
    return DataverseError(
        412, DUPLICATE, "A record with matching key values already exists."
    )


def duplicate_key(values: str, key: str) -> DataverseError:
    """412 for a write that would give two rows the same alternate key."""
    return DataverseError(
        412,
        DUPLICATE,
        f"A record that has the attribute values {values} already exists. The "
        f"entity key {key} requires that this set of attributes contains unique "
        "values. Select unique values and try again.",
    )


def stale_version() -> DataverseError:
    """412 for an ``If-Match`` ETag older than the row."""
    return DataverseError(
        412,
        _CONCURRENCY,
        "The version of the existing record doesn't match the RowVersion "
        "property provided.",
    )


def bad_key(type_name: str) -> DataverseError:
    """400 for a key segment that uses columns of no alternate key."""
    return DataverseError(
        400,
        QUERY,
        f"The key in the request URI is not valid for resource "
        f"'{type_name}'. Ensure that the names and "
        "number of key properties match the declared or alternate key "
        "properties for the resource.",
    )
