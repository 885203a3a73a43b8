"""A local Dataverse Web API for Project Operations, faithful where clients notice.

:class:`DataverseEmulator` serves ``/api/data/v9.2/`` over ASGI (``.asgi``; in
process through ``httpx.ASGITransport``, or under uvicorn): entity sets with
OData queries and paging, creates, updates, upserts and deletes with ETags and
alternate keys, ``$batch`` with change sets, ``WhoAmI``, enough of
``EntityDefinitions`` to provision a schema, and webhooks fired with a real
``RemoteExecutionContext`` after each committed change. The org starts seeded
like a real one: the application user behind the token and a human user,
currencies USD (base), EUR and GBP, and the ``Create``/``Update``/``Delete``
messages with a message filter for every table.

Every request but the admin API needs ``Authorization: Bearer <token>``; writes
made through the API are made by the application user (``user_id``), unless the
request impersonates another user with ``MSCRMCallerID: <systemuserid>`` or
``CallerObjectId: <Entra object id>``.

Admin API (no authentication), under ``/_admin/dataverse/``:

``POST /_admin/dataverse/seed``
    Body ``{"<table or entity set>": [{...row as a POST body...}, ...], ...}``.
    Inserts the rows in order as the human user (webhooks fire), and answers
    200 ``{"<table>": ["<id>", ...]}``.
``POST /_admin/dataverse/reset``
    Back to the freshly seeded org (rows, schema, webhook history); 204.
``GET /_admin/dataverse/rows/<table or entity set>``
    200 ``{"value": [...]}``: every row with every column, as a GET renders it.
``PATCH /_admin/dataverse/rows/<table or entity set>/<id>``
    Body: a PATCH body. Updates the row as the human user (webhooks fire) and
    answers 200 with the row; 404 when it does not exist.
``DELETE /_admin/dataverse/rows/<table or entity set>/<id>``
    Deletes the row as the human user (cascades and webhooks as the API's
    DELETE); 204, or 404 when it does not exist.
``GET /_admin/dataverse/deliveries``
    200 ``{"value": [...]}``: the webhook deliveries so far (step id, URL
    without query, status, attempts, error, message, record id, time).

Webhooks: synchronous steps are delivered before the response goes out,
asynchronous ones right after it is sent (through ``httpx.ASGITransport`` that
is still before the client sees the response, which keeps tests deterministic);
writes inside a ``$batch`` fire once the batch has run, and only for change sets
that committed.

Limitation: a failed synchronous webhook step does not roll the write back.
Limitation: security roles, business units beyond the root one, teams, audit,
duplicate detection, plug-ins, calculated and rollup columns are not emulated;
nor are Project Operations' own rules (a confirmed invoice stays editable).
"""

from __future__ import annotations

import hmac
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from pointegration.emulators._asgi import AsgiApp, Request, Response, json_response
from pointegration.emulators._dataverse_admin import ADMIN_PREFIX, admin
from pointegration.emulators._dataverse_batch import run_batch
from pointegration.emulators._dataverse_catalog import build_catalog
from pointegration.emulators._dataverse_csdl import csdl
from pointegration.emulators._dataverse_entities import ApiRequest, EntityApi
from pointegration.emulators._dataverse_errors import (
    DataverseError,
    no_http_resource,
    not_found,
)
from pointegration.emulators._dataverse_events import (
    Organization,
    change_event,
    steps_for,
)
from pointegration.emulators._dataverse_metadata import MetadataApi
from pointegration.emulators._dataverse_model import Catalog, Table
from pointegration.emulators._dataverse_org import (
    SequentialIds,
    add_message_filters,
    seed_org,
)
from pointegration.emulators._dataverse_query import Query, Reader, annotation_filter
from pointegration.emulators._dataverse_records import Change, Records
from pointegration.emulators._dataverse_store import Store
from pointegration.emulators._dataverse_urls import API_PREFIX, split_path
from pointegration.emulators._webhooks import WebhookDispatcher

__all__ = ["DataverseEmulator"]

logger = logging.getLogger(__name__)

_METADATA_RESOURCES = frozenset(
    {"EntityDefinitions", "RelationshipDefinitions", "PublishXml", "PublishAllXml"}
)


class DataverseEmulator:
    """The emulated org. See the module docstring for the routes it serves."""

    def __init__(
        self,
        *,
        token: str,
        seed: int = 0,
        clock: Callable[[], datetime] | None = None,
        webhook_client_factory: Callable[[], httpx.AsyncClient] | None = None,
        organization_name: str = "pobcdemo",
        max_page_size: int = 5000,
        provisioned: bool = True,
    ) -> None:
        self._token = token
        self._seed = seed
        self._clock = clock or (lambda: datetime.now(UTC))
        self._client_factory = webhook_client_factory
        self.organization_name = organization_name
        self.max_page_size = max_page_size
        self.provisioned = provisioned
        self.asgi = AsgiApp(self.handle)
        self.reset()

    # --- State -----------------------------------------------------------------

    def reset(self) -> None:
        """Back to the freshly seeded org: schema, rows and webhook history."""
        self._ids = SequentialIds(self._seed)
        org_ids = SequentialIds(self._seed + 1_000_003)
        self.organization = Organization(
            organization_id=org_ids(),
            name=self.organization_name,
            domain=f"{self.organization_name}.crm.dynamics.com",
            business_unit_id=org_ids(),
        )
        self.tenant_id = org_ids()
        self.catalog: Catalog = build_catalog(provisioned=self.provisioned)
        self.store = Store(self.catalog)
        self.records = Records(
            self.catalog, self.store, clock=self._clock, new_id=self._ids
        )
        self.reader = Reader(self.catalog, self.store)
        self.entities = EntityApi(
            self.records, self.reader, max_page_size=self.max_page_size
        )
        self.metadata = MetadataApi(self.catalog, self.add_message_filters)
        self.dispatcher = WebhookDispatcher(
            client_factory=self._client_factory,
            clock=self._clock,
            ids=SequentialIds(self._seed + 2_000_003),
        )
        seeded = seed_org(self.records, self._ids)
        self.user_id = seeded.user_id
        self.human_user_id = seeded.human_user_id
        self.application_id = seeded.application_id
        self.base_currency_id = seeded.base_currency_id

    def add_message_filters(self, table: Table) -> None:
        """Register the Create/Update/Delete message filters of ``table``."""
        add_message_filters(self.records, table, self.user_id)

    def table(self, name: str) -> Table:
        """The table with logical name or entity set ``name``; ``KeyError`` if none."""
        found = self.catalog.table(name) or self.catalog.by_entity_set(name)
        if found is None:
            raise KeyError(f"no table {name!r} in the emulated org")

        return found

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of ``table`` as a GET without ``$select`` renders it."""
        entry = self.table(table)
        query = Query(entry)
        annotate = annotation_filter(None)

        return [
            self.reader.render(query, row, annotate)
            for row in self.reader.matching(query)
        ]

    async def seed(
        self,
        data: Mapping[str, Sequence[Mapping[str, Any]]],
        *,
        user_id: str | None = None,
    ) -> dict[str, list[str]]:
        """Insert rows as the human user (or ``user_id``) and fire the webhooks.

        ``data`` maps a table (logical name or entity set) to POST bodies; the
        answer maps each table's logical name to the new ids, in order. A row
        that is refused raises :class:`DataverseError` (``KeyError`` for an
        unknown table) and nothing is kept.
        """
        ids: dict[str, list[str]] = {}

        def write() -> None:
            for name, bodies in data.items():
                entry = self.table(name)
                created = ids.setdefault(entry.name, [])
                for body in bodies:
                    row = self.records.create(
                        entry, dict(body), user_id or self.human_user_id
                    )
                    created.append(row[entry.primary_id])

        await self._write_as_user(write)

        return ids

    async def update(
        self,
        table: str,
        record_id: str,
        body: Mapping[str, Any],
        *,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        """PATCH a row as the human user (or ``user_id``); the row as GET shows it.

        Raises :class:`DataverseError` (404 for a missing row) or ``KeyError``.
        """
        entry = self.table(table)

        def write() -> None:
            row = self.store.get(entry.name, record_id)
            if row is None:
                raise not_found(entry.name, record_id)
            self.records.update(entry, row, dict(body), user_id or self.human_user_id)

        await self._write_as_user(write)
        row = self.store.get(entry.name, record_id) or {}

        return self.reader.render(Query(entry), row, annotation_filter(None))

    async def delete(
        self, table: str, record_id: str, *, user_id: str | None = None
    ) -> None:
        """Delete a row as the human user (or ``user_id``), cascading like DELETE."""
        entry = self.table(table)

        def write() -> None:
            row = self.store.get(entry.name, record_id)
            if row is None:
                raise not_found(entry.name, record_id)
            self.records.delete(entry, row, user_id or self.human_user_id)

        await self._write_as_user(write)

    async def _write_as_user(self, write: Callable[[], None]) -> None:
        """Run ``write`` as one transaction, then deliver every webhook it fires."""
        self.store.begin()
        mark = len(self.records.changes)
        try:
            write()
        except (DataverseError, KeyError):
            self.store.rollback()
            del self.records.changes[mark:]
            raise
        self.store.commit()
        await self._fire(self._drain(), synchronous_only=False)

    # --- HTTP ------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        """Answer one HTTP request."""
        request_id = str(uuid.uuid4())
        try:
            if request.path.startswith(ADMIN_PREFIX):
                response = await admin(self, request)
            else:
                response = await self._api(request)
        except DataverseError as exc:
            response = json_response(exc.status, exc.body())
        # The emulator's own bug answers as the service's failures do, not as a
        # dropped connection; the traceback is logged for whoever runs it.
        except Exception:
            logger.exception("emulator.dataverse.failed")
            response = json_response(
                500,
                {
                    "error": {
                        "code": "0x80040216",
                        "message": "An unexpected error occurred.",
                    }
                },
            )
        response.headers.setdefault("odata-version", "4.0")
        response.headers["req_id"] = request_id
        response.headers["x-ms-service-request-id"] = request_id

        return response

    def _unauthorized(self, request: Request) -> Response:
        challenge = (
            "Bearer authorization_uri=https://login.microsoftonline.com/"
            f"{self.tenant_id}/oauth2/authorize, resource_id={request.base_url}/"
        )
        body = {
            "error": {
                "code": "0x80072560",
                "message": "The user is not authenticated: the bearer token is "
                "missing, expired or not issued for this organization.",
            }
        }

        return json_response(401, body, {"www-authenticate": challenge})

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer":
            return False

        return hmac.compare_digest(presented.strip().encode(), self._token.encode())

    async def _api(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized(request)
        match = API_PREFIX.match(request.raw_path)
        if match is None:
            raise no_http_resource(request.base_url + request.path)
        call = ApiRequest(
            method=request.method,
            path=request.raw_path[match.end() :],
            query_string=request.query_string,
            headers=request.headers,
            body=request.body,
            base_url=request.base_url,
            user_id=self._caller(request.headers),
        )
        segments = split_path(call.path)
        if segments and segments[0].name == "$batch":
            return await self._batch(call)
        response = self._transaction(call)

        return await self._respond(response)

    def _caller(self, headers: Mapping[str, str]) -> str:
        """The user a request acts as: the token's, or the one it impersonates."""
        caller = headers.get("mscrmcallerid")
        if caller and self.store.get("systemuser", caller.strip("{}").lower()):
            return caller.strip("{}").lower()
        object_id = headers.get("callerobjectid")
        if object_id:
            for user in self.store.rows("systemuser").values():
                if user.get("azureactivedirectoryobjectid") == object_id.lower():
                    return str(user["systemuserid"])

        return self.user_id

    def _transaction(self, call: ApiRequest) -> Response:
        """Answer ``call`` as one transaction: all of its writes or none."""
        self.store.begin()
        mark = len(self.records.changes)
        try:
            response = self.execute(call)
        except DataverseError:
            self.store.rollback()
            del self.records.changes[mark:]
            raise
        self.store.commit()

        return response

    def execute(self, call: ApiRequest) -> Response:
        """Answer one Web API call (no transaction, no webhooks); may raise."""
        segments = split_path(call.path)
        if not segments:
            return self._service_document(call)
        head = segments[0].name
        if head == "WhoAmI" and segments[0].key_text in (None, ""):
            return self._who_am_i(call)
        if head == "$metadata" and call.method == "GET":
            return Response(
                200, csdl(self.catalog), {"content-type": "application/xml"}
            )
        if head in _METADATA_RESOURCES:
            return self.metadata.handle(call, segments)

        return self.entities.handle(call, segments)

    def _service_document(self, call: ApiRequest) -> Response:
        value = [
            {"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set}
            for t in self.catalog.tables.values()
        ]
        return json_response(
            200, {"@odata.context": f"{call.service_root}$metadata", "value": value}
        )

    def _who_am_i(self, call: ApiRequest) -> Response:
        if call.method != "GET":
            raise no_http_resource(call.service_root + call.path.lstrip("/"))
        payload = {
            "@odata.context": f"{call.service_root}$metadata"
            "#Microsoft.Dynamics.CRM.WhoAmIResponse",
            "BusinessUnitId": self.organization.business_unit_id,
            "UserId": call.user_id,
            "OrganizationId": self.organization.organization_id,
        }

        return json_response(200, payload)

    async def _batch(self, call: ApiRequest) -> Response:
        """Run a ``$batch``; webhooks fire for what committed, after the batch."""
        marks: list[int] = []

        def begin() -> None:
            self.store.begin()
            marks.append(len(self.records.changes))

        def commit() -> None:
            self.store.commit()
            marks.pop()

        def rollback() -> None:
            self.store.rollback()
            del self.records.changes[marks.pop() :]

        response = run_batch(
            call, execute=self.execute, begin=begin, commit=commit, rollback=rollback
        )

        return await self._respond(response)

    # --- Webhooks ---------------------------------------------------------------

    def _drain(self) -> list[Change]:
        changes = list(self.records.changes)
        self.records.changes.clear()

        return changes

    async def _respond(self, response: Response) -> Response:
        """Fire the synchronous steps now, the asynchronous ones after sending."""
        changes = self._drain()
        if not changes:
            return response
        await self._fire(changes, synchronous_only=True)

        async def after_send() -> None:
            await self._fire(changes, synchronous_only=None)

        response.after_send = after_send

        return response

    async def _fire(
        self, changes: list[Change], *, synchronous_only: bool | None
    ) -> None:
        """Deliver ``changes``: sync steps (True), async steps (None) or all (False)."""
        correlation_id = str(uuid.uuid4())
        for change in changes:
            steps = steps_for(self.store, change.table)
            if synchronous_only is True:
                steps = [s for s in steps if s.mode == 0]
            elif synchronous_only is None:
                steps = [s for s in steps if s.mode != 0]
            if not steps:
                continue
            event = change_event(
                change,
                catalog=self.catalog,
                store=self.store,
                organization=self.organization,
                correlation_id=correlation_id,
                clock=self._clock,
            )
            await self.dispatcher.dispatch(steps, event)
