"""The entity-set part of the Web API: query, create, retrieve, update, delete.

:class:`EntityApi` answers one :class:`ApiRequest` on a path below
``/api/data/v9.2/`` that starts with an entity set. It runs synchronously:
the caller (the emulator, or ``$batch`` for each part) owns the transaction and
fires the webhooks afterwards.

Served shapes:

- ``GET set`` with ``$select $filter $orderby $top $count $expand`` and paging
  through ``Prefer: odata.maxpagesize``; ``GET set/$count``;
- ``POST set`` (204 + ``OData-EntityId``, or 201 with ``return=representation``);
- ``GET|PATCH|DELETE set(key)`` with ETags, upsert and alternate keys;
- ``GET set(key)/column`` and ``PUT``/``DELETE`` of one column;
- ``GET set(key)/navigation`` (single- or collection-valued, with query
  options), ``POST set(key)/collection`` (create a related row),
  ``PUT set(key)/single/$ref`` and ``DELETE set(key)/single/$ref``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from pointegration import _json
from pointegration.emulators import _dataverse_paging as paging
from pointegration.emulators._asgi import Response, json_response
from pointegration.emulators._dataverse_errors import (
    BAD_PAYLOAD,
    NOT_FOUND,
    QUERY,
    DataverseError,
    not_found,
    record_exists,
    segment_not_found,
    stale_version,
)
from pointegration.emulators._dataverse_model import Table
from pointegration.emulators._dataverse_query import (
    Query,
    Reader,
    annotation_filter,
    parse_prefer,
)
from pointegration.emulators._dataverse_records import Records
from pointegration.emulators._dataverse_store import Row
from pointegration.emulators._dataverse_urls import Segment
from pointegration.emulators._dataverse_values import Ref

__all__ = ["ApiRequest", "Created", "EntityApi", "entity_url"]

API_PATH = "/api/data/v9.2/"
JSON_CONTENT_TYPE = "application/json; odata.metadata=minimal"


@dataclass
class ApiRequest:
    """One Web API call: a top-level request or one part of a ``$batch``.

    ``path`` is the raw resource path below ``/api/data/v9.2/``; ``base_url`` is
    ``scheme://host`` as the client addressed the emulator.
    """

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes
    base_url: str
    user_id: str
    query: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        query: dict[str, str] = {}
        for name, value in parse_qsl(self.query_string, keep_blank_values=True):
            query.setdefault(name, value)
        self.query = query

    @property
    def aliases(self) -> dict[str, str]:
        """Parameter aliases (``@id=...``) of the query string."""
        return {k: v for k, v in self.query.items() if k.startswith("@")}

    @property
    def prefer(self) -> dict[str, str]:
        """The ``Prefer`` header's preferences."""
        return parse_prefer(self.headers.get("prefer"))

    @property
    def service_root(self) -> str:
        """``https://host/api/data/v9.2/``."""
        return self.base_url + API_PATH

    def json(self) -> Any:
        """The body as JSON; 400 when it is not."""
        try:
            return _json.loads(self.body or b"null")
        except ValueError:
            raise DataverseError(
                400, BAD_PAYLOAD, "The request body is not valid JSON."
            ) from None


@dataclass
class Created(Response):
    """A create's answer, with the new row's URL even when no header carries it."""

    entity_url: str = ""


def entity_url(request: ApiRequest, table: Table, record_id: str) -> str:
    """The ``OData-EntityId`` of a row."""
    return f"{request.service_root}{table.entity_set}({record_id})"


def _etag(row: Row) -> str:
    return f'W/"{row.get("versionnumber", 0)}"'


class EntityApi:
    """Entity-set requests over one set of records."""

    def __init__(self, records: Records, reader: Reader, *, max_page_size: int) -> None:
        self.records = records
        self.reader = reader
        self.max_page_size = max_page_size

    def handle(self, request: ApiRequest, segments: list[Segment]) -> Response:
        """Answer ``request`` whose path has ``segments`` (the first an entity set)."""
        table = self.records.table_for_set(segments[0].name)
        first = segments[0]
        if first.key_text is None:
            if len(segments) == 2 and segments[1].name == "$count":
                return self._count(request, table)
            if len(segments) > 1:
                raise segment_not_found(segments[1].name)
            return self._collection(request, table)
        if len(segments) == 1:
            return self._single(request, table, first.key_text)

        return self._related(request, table, first.key_text, segments[1:])

    # --- Collections -----------------------------------------------------------

    def _collection(self, request: ApiRequest, table: Table) -> Response:
        if request.method == "GET":
            query = self.reader.query(table, request.query, request.aliases)
            rows = self.reader.matching(query)
            return self._page(request, query, rows, table.entity_set)
        if request.method == "POST":
            row = self.records.create(table, request.json(), request.user_id)
            return self._created(request, table, row)
        raise _method_not_allowed(request.method)

    def _count(self, request: ApiRequest, table: Table) -> Response:
        count = len(self.records.store.rows(table.name))
        return Response(200, str(count).encode(), {"content-type": "text/plain"})

    def _page(
        self,
        request: ApiRequest,
        query: Query,
        rows: list[Row],
        context: str,
    ) -> Response:
        prefer = request.prefer
        annotate = annotation_filter(prefer.get("odata.include-annotations"))
        ordering = [*query.orderby, ((query.table.primary_id,), False)]
        size = self._page_size(prefer)
        headers: dict[str, str] = {}
        if size is not None:
            headers["preference-applied"] = f"odata.maxpagesize={size}"
        if "odata.include-annotations" in prefer:
            wanted = prefer["odata.include-annotations"]
            headers["preference-applied"] = ", ".join(
                filter(None, [headers.get("preference-applied"),
                              f'odata.include-annotations="{wanted}"'])
            )  # fmt: skip
        total = len(rows)
        token = request.query.get("$skiptoken")
        cookie = paging.read_skiptoken(token, len(ordering)) if token else None
        remaining = paging.page_after(rows, cookie, ordering, self.reader.resolve)
        # page-results.md: with Prefer odata.maxpagesize, $top is ignored.
        top = query.top if size is None else None
        limit = top if top is not None else size or self.max_page_size
        page = remaining[:limit]
        payload: dict[str, Any] = {
            "@odata.context": self._context(request, query, context)
        }
        if query.count:
            payload["@odata.count"] = min(total, 5000)
        payload["value"] = [self.reader.render(query, row, annotate) for row in page]
        if top is None and len(remaining) > len(page):
            number = cookie.page if cookie else 1
            skiptoken = paging.make_cookie(
                number, page[-1], ordering, self.reader.resolve
            )
            url = request.service_root + request.path.lstrip("/")
            payload["@odata.nextLink"] = paging.next_link(
                url, request.query_string, skiptoken
            )

        return json_response(200, payload, headers)

    def _page_size(self, prefer: Mapping[str, str]) -> int | None:
        text = prefer.get("odata.maxpagesize")
        if text is None:
            return None
        try:
            size = int(text)
        except ValueError:
            return None
        if size <= 0:
            return None

        return min(size, self.max_page_size)

    def _context(self, request: ApiRequest, query: Query, resource: str) -> str:
        parts = [a.wire_name for a in query.select or []]
        if query.select is not None and query.table.primary_id not in parts:
            parts.append(query.table.primary_id)
        for name, nested in query.expand:
            inner = ",".join(a.wire_name for a in nested.select or [])
            parts.append(f"{name}({inner})")
        if query.select is None and query.expand:
            parts.insert(0, "*")
        shape = f"({','.join(parts)})" if parts else ""

        return f"{request.service_root}$metadata#{resource}{shape}"

    def _created(self, request: ApiRequest, table: Table, row: Row) -> Response:
        """204 with ``OData-EntityId``; or 201 with the row, which a POST sends
        without that header (create-entity-web-api.md, "Create with data
        returned"). The URL stays on the response for ``$batch`` references.
        """
        url = entity_url(request, table, row[table.primary_id])
        headers = {"odata-entityid": url}
        if request.prefer.get("return") == "representation":
            if request.method == "POST":
                headers = {}
            shown = self._representation(request, table, row, 201, headers)
            return Created(shown.status, shown.body, shown.headers, entity_url=url)

        return Created(204, b"", headers, entity_url=url)

    def _representation(
        self,
        request: ApiRequest,
        table: Table,
        row: Row,
        status: int,
        headers: dict[str, str],
    ) -> Response:
        query = self.reader.query(table, request.query, request.aliases)
        if request.method == "PATCH":
            # update-delete-entities-using-web-api.md: a PATCH ignores $expand.
            query.expand = []
        annotate = annotation_filter(request.prefer.get("odata.include-annotations"))
        payload = {
            "@odata.context": self._context(request, query, table.entity_set)
            + "/$entity",
            **self.reader.render(query, row, annotate),
        }
        headers = {**headers, "preference-applied": "return=representation"}

        return json_response(status, payload, headers)

    # --- Single rows -------------------------------------------------------------

    def _find(self, request: ApiRequest, table: Table, key_text: str) -> Row:
        row, key = self.records.locate(table, key_text, request.aliases)
        if row is None:
            raise _missing(table, key)

        return row

    def _single(self, request: ApiRequest, table: Table, key_text: str) -> Response:
        if request.method == "GET":
            row = self._find(request, table, key_text)
            return self._retrieve(request, table, row)
        if request.method == "PATCH":
            return self._upsert(request, table, key_text)
        if request.method == "DELETE":
            row = self._find(request, table, key_text)
            self._check_if_match(request, row)
            self.records.delete(table, row, request.user_id)
            return Response(204, b"", {})
        raise _method_not_allowed(request.method)

    def _retrieve(self, request: ApiRequest, table: Table, row: Row) -> Response:
        query = self.reader.query(table, request.query, request.aliases)
        unchanged = request.headers.get("if-none-match") == _etag(row)
        plain = not query.expand and "odata.include-annotations" not in request.prefer
        if unchanged and plain:
            headers = {"content-type": JSON_CONTENT_TYPE, "etag": _etag(row)}
            return Response(304, b"", headers)
        annotate = annotation_filter(request.prefer.get("odata.include-annotations"))
        payload = {
            "@odata.context": self._context(request, query, table.entity_set)
            + "/$entity",
            **self.reader.render(query, row, annotate),
        }

        return json_response(200, payload, {"etag": _etag(row)})

    def _upsert(self, request: ApiRequest, table: Table, key_text: str) -> Response:
        row, key = self.records.locate(table, key_text, request.aliases)
        body = request.json()
        if_match = request.headers.get("if-match")
        if row is None:
            if if_match is not None:
                raise _missing(table, key)
            created = self.records.create(table, body, request.user_id, preset=key)
            return self._created(request, table, created)
        if request.headers.get("if-none-match") == "*":
            raise record_exists()
        self._check_if_match(request, row)
        updated = self.records.update(table, row, body, request.user_id)
        headers = {"odata-entityid": entity_url(request, table, row[table.primary_id])}
        if request.prefer.get("return") == "representation":
            return self._representation(request, table, updated, 200, headers)

        return Response(204, b"", headers)

    def _check_if_match(self, request: ApiRequest, row: Row) -> None:
        if_match = request.headers.get("if-match")
        if if_match is None or if_match.strip() == "*":
            return
        tags = [tag.strip() for tag in if_match.split(",")]
        if _etag(row) not in tags and _etag(row).removeprefix("W/") not in tags:
            raise stale_version()

    # --- Properties and navigation -------------------------------------------------

    def _related(
        self,
        request: ApiRequest,
        table: Table,
        key_text: str,
        rest: list[Segment],
    ) -> Response:
        row = self._find(request, table, key_text)
        name = rest[0].name
        attribute = table.by_wire_name(name)
        if attribute is not None and len(rest) == 1:
            return self._property(request, table, row, name)
        navigation = self.records.catalog.navigation(table.name, name)
        if navigation is None:
            raise segment_not_found(name)
        if len(rest) == 2 and rest[1].name == "$ref" and not navigation.collection:
            return self._reference(request, table, row, name)
        if len(rest) > 1:
            raise segment_not_found(rest[1].name)
        target = self.records.catalog.tables[navigation.target]
        if navigation.collection:
            if request.method == "POST":
                link = {
                    navigation.relationship.attribute: Ref(
                        table.name, row[table.primary_id]
                    )
                }
                created = self.records.create(
                    target, request.json(), request.user_id, preset=link
                )
                return self._created(request, target, created)
            if request.method != "GET":
                raise _method_not_allowed(request.method)
            query = self.reader.query(target, request.query, request.aliases)
            children = self.reader.children(row, table, name)
            rows = self.reader.matching(query, children)
            return self._page(request, query, rows, target.entity_set)
        if request.method != "GET":
            raise _method_not_allowed(request.method)
        parent = self.reader.parent(row, name)
        if parent is None:
            return Response(204, b"", {})

        return self._retrieve(request, target, parent)

    def _property(
        self, request: ApiRequest, table: Table, row: Row, name: str
    ) -> Response:
        if request.method == "GET":
            rendered = self.reader.render(
                Query(table, select=[table.by_wire_name(name)]),  # type: ignore[list-item]
                row,
                annotation_filter(None),
            )
            if rendered.get(name) is None:
                return Response(204, b"", {})
            context = (
                f"{request.service_root}$metadata#{table.entity_set}"
                f"({row[table.primary_id]})/{name}"
            )
            return json_response(
                200, {"@odata.context": context, "value": rendered[name]}
            )
        if request.method == "PUT":
            body = request.json()
            if not isinstance(body, dict) or "value" not in body:
                raise DataverseError(
                    400, BAD_PAYLOAD, 'The request body must be {"value": ...}.'
                )
            self.records.update(table, row, {name: body["value"]}, request.user_id)
            return Response(204, b"", {})
        if request.method == "DELETE":
            self.records.update(table, row, {name: None}, request.user_id)
            return Response(204, b"", {})
        raise _method_not_allowed(request.method)

    def _reference(
        self, request: ApiRequest, table: Table, row: Row, name: str
    ) -> Response:
        if request.method == "DELETE":
            self.records.update(
                table, row, {f"{name}@odata.bind": None}, request.user_id
            )
            return Response(204, b"", {})
        if request.method == "PUT":
            body = request.json()
            target = body.get("@odata.id") if isinstance(body, dict) else None
            if target is None:
                raise DataverseError(400, BAD_PAYLOAD, "The body must hold @odata.id.")
            self.records.update(
                table, row, {f"{name}@odata.bind": target}, request.user_id
            )
            return Response(204, b"", {})
        raise _method_not_allowed(request.method)


def _missing(table: Table, key: Mapping[str, Any]) -> DataverseError:
    if set(key) == {table.primary_id}:
        return not_found(table.name, str(key[table.primary_id]))

    return DataverseError(
        404,
        NOT_FOUND,
        f"A record with the specified key values does not exist in {table.name} entity",
    )


def _method_not_allowed(method: str) -> DataverseError:
    return DataverseError(
        405, QUERY, f"The HTTP method '{method}' is not allowed for this resource."
    )
