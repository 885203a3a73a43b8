"""The Dataverse emulator's admin API (no authentication), for scenarios and tests.

Routes, under ``/_admin/dataverse/`` (documented for users in
``pointegration.emulators.dataverse``): ``POST seed``, ``POST reset``,
``GET rows/<table>``, ``PATCH rows/<table>/<id>``, ``DELETE rows/<table>/<id>``
and ``GET deliveries``. Writes are made as the org's human user, so webhooks
fire with that user's id, as when someone edits a record in the app. Admin
answers are plain ``application/json``; errors use the Web API's error shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pointegration.emulators._asgi import Request, Response, json_response
from pointegration.emulators._dataverse_errors import DataverseError

if TYPE_CHECKING:
    from pointegration.emulators.dataverse import DataverseEmulator

__all__ = ["ADMIN_PREFIX", "admin"]

ADMIN_PREFIX = "/_admin/dataverse/"
_JSON = "application/json"


def _body(request: Request) -> Any:
    try:
        return request.json()
    except ValueError:
        raise DataverseError(400, "", "The admin request body is not JSON.") from None


def _object(request: Request) -> dict[str, Any]:
    body = _body(request)
    if not isinstance(body, dict):
        raise DataverseError(400, "", "The admin request body must be a JSON object.")

    return body


async def admin(emulator: DataverseEmulator, request: Request) -> Response:
    """Answer one admin request."""
    route = request.path[len(ADMIN_PREFIX) :].strip("/")
    parts = route.split("/")
    try:
        if request.method == "POST" and route == "seed":
            ids = await emulator.seed(_object(request))
            return json_response(200, ids, content_type=_JSON)
        if request.method == "POST" and route == "reset":
            emulator.reset()
            return Response(204, b"", {})
        if parts[0] == "rows" and len(parts) == 2 and request.method == "GET":
            rows = emulator.rows(parts[1])
            return json_response(200, {"value": rows}, content_type=_JSON)
        if parts[0] == "rows" and len(parts) == 3 and request.method == "PATCH":
            row = await emulator.update(parts[1], parts[2], _object(request))
            return json_response(200, row, content_type=_JSON)
        if parts[0] == "rows" and len(parts) == 3 and request.method == "DELETE":
            await emulator.delete(parts[1], parts[2])
            return Response(204, b"", {})
        if request.method == "GET" and route == "deliveries":
            return json_response(
                200, {"value": _deliveries(emulator)}, content_type=_JSON
            )
    except KeyError as exc:
        raise DataverseError(404, "", str(exc.args[0])) from None
    raise DataverseError(404, "", f"No admin route {request.method} {request.path}.")


def _deliveries(emulator: DataverseEmulator) -> list[dict[str, Any]]:
    return [
        {
            "stepId": delivery.step_id,
            "url": delivery.url,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "error": delivery.error,
            "message": delivery.event,
            "recordId": delivery.record_id,
            "at": delivery.at.isoformat(),
        }
        for delivery in emulator.dispatcher.deliveries
    ]
