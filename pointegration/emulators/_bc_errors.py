"""The BC emulator's refusals: one exception carrying what BC would answer.

Every error body has BC's shape, ``{"error": {"code", "message"}}``, and the
message ends with two spaces, ``CorrelationId:``, two spaces, a GUID and a full
stop, as the service writes it. The codes follow Microsoft's catalogue
(learn: dev-itpro/webservices/dynamics-error-codes): ``BadRequest*`` for a
request the OData layer cannot read, ``Application_*`` for AL business logic,
``Internal_*`` for data integrity, ``Request_EntityChanged`` for a stale ETag.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BCError",
    "dialog",
    "error_body",
    "invalid_relation",
    "not_found",
    "read_only_method",
    "segment_not_found",
]


class BCError(Exception):
    """A request BC refuses: HTTP ``status``, BC error ``code`` and ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_body(code: str, message: str, correlation_id: str) -> dict[str, Any]:
    """BC's error JSON for ``code`` and ``message``."""
    text = f"{message}  CorrelationId:  {correlation_id}."

    return {"error": {"code": code, "message": text}}


def dialog(message: str) -> BCError:
    """An AL ``Error(...)`` raised by page or table code (400)."""
    return BCError(400, "Application_DialogException", message)


def not_found(table: str, key: str) -> BCError:
    """No record with the SystemId ``key`` in the table captioned ``table`` (404)."""
    text = f"The {table} does not exist. Identification fields and values: "
    text += f"SystemId='{key}'"

    return BCError(404, "Internal_RecordNotFound", text)


def segment_not_found(segment: str) -> BCError:
    """A URL segment naming nothing the API serves (404)."""
    text = f"Resource not found for the segment '{segment}'."

    return BCError(404, "BadRequest_ResourceNotFound", text)


def invalid_relation(field: str, table: str, value: str, related: str) -> BCError:
    """A value that a ``TableRelation`` cannot find (400)."""
    text = (
        f"The field {field} of table {table} contains a value ({value}) that "
        f"cannot be found in the related table ({related})."
    )

    return BCError(400, "Internal_InvalidTableRelation", text)


def read_only_method(method: str, entity_set: str) -> BCError:
    """A write on a page whose Insert/Modify/DeleteAllowed is false (405).

    Limitation: the platform's exact wording is unconfirmed; this follows the
    OData layer's "not allowed" refusal.
    """
    text = (
        f"'{method}' requests for '{entity_set}' of EdmType 'Entity' are not "
        "allowed within Dynamics 365 Business Central OData web services."
    )

    return BCError(405, "BadRequest_MethodNotAllowed", text)
