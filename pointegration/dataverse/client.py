"""The Dataverse Web API client: queries with paging, writes with ETags, ``$batch``.

:class:`DataverseClient` knows URLs, OData headers, paging, ETags, alternate keys
and the batch format, and nothing of the business. It sends through a
:class:`~pointegration.http.ServiceClient` whose ``base_url`` is
``{DATAVERSE_URL}/api/data/v9.2`` (see :func:`service_url`); that client owns
tokens, the concurrency cap, retries and the translation of failed responses into
:mod:`pointegration.errors`.

Every request carries ``OData-MaxVersion: 4.0``, ``OData-Version: 4.0`` and
``Accept: application/json``; reads add ``If-None-Match: null`` as the Web API
documentation recommends. Ids and entity-set names are validated before anything
is sent (:class:`~pointegration.errors.PayloadValidationError`). Responses are
parsed with exact decimals.

A ``$batch`` sent with ``continue_on_error=False`` that hits a failing part is
answered by Dataverse with that part's status for the whole batch and the parts
up to it; the client reads those parts (the ones before committed) instead of
raising or retrying the batch, and marks the operations after it not run.

Limitation: a 429 or 503 for a whole ``$batch`` answered without parts is
retried by the ``ServiceClient`` like any request; parts failing inside a batch
are not retried.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, overload

import httpx
from pydantic import ValidationError

from pointegration import _json, odata
from pointegration.dataverse.batch import (
    MAX_OPERATIONS,
    BatchResult,
    Operation,
    RecordKey,
    UpsertMode,
    as_already_exists,
    batch_content_type,
    decode_batch,
    encode_batch,
    entity_id_from,
    not_run,
    select_list,
)
from pointegration.dataverse.models import DataverseRow, WhoAmI
from pointegration.errors import (
    ConfigurationError,
    IntegrationError,
    PayloadValidationError,
)
from pointegration.http import ServiceClient
from pointegration.telemetry import log_event

__all__ = [
    "API_PATH",
    "DEFAULT_PAGE_SIZE",
    "MAX_CONCURRENCY",
    "BatchResult",
    "DataverseClient",
    "Operation",
    "Page",
    "UpsertMode",
    "service_url",
]

logger = logging.getLogger("pointegration.dataverse")

#: Path of the Web API below the environment URL.
API_PATH = "/api/data/v9.2"
#: Dataverse's default and largest page.
DEFAULT_PAGE_SIZE = 5000
#: Dataverse's concurrent-request limit per user and web server.
MAX_CONCURRENCY = 52

STANDARD_HEADERS: Mapping[str, str] = {
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "Accept": "application/json",
}

Row = TypeVar("Row", bound=DataverseRow)

_API_ROOT = re.compile(r"/api/data/v9\.\d+$")


def service_url(environment_url: str) -> str:
    """The ``ServiceClient`` base URL for ``DATAVERSE_URL``."""
    return environment_url.rstrip("/") + API_PATH


@dataclass(frozen=True)
class Page:
    """One page of a query; ``next_link`` is None on the last page.

    ``prefer`` is the ``Prefer`` header the next page must be asked with, so a
    backfill can store ``next_link`` and ``prefer`` and resume later.
    """

    rows: list[dict[str, Any]]
    next_link: str | None
    prefer: str | None


class DataverseClient:
    """Typed access to the Dataverse Web API over one ``ServiceClient``."""

    def __init__(
        self,
        service: ServiceClient,
        *,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._service = service
        self._new_id = new_id
        base = httpx.URL(service.base_url)
        self._base = base
        self._base_path = base.raw_path.decode("ascii").rstrip("/")
        if not _API_ROOT.search(self._base_path):
            raise ConfigurationError(
                f"the Dataverse base URL must end with {API_PATH}, "
                f"got path {self._base_path or '/'}",
                system="dataverse",
            )

    async def __aenter__(self) -> DataverseClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool of the underlying ``ServiceClient``."""
        await self._service.aclose()

    # Reading

    async def query(
        self,
        entity_set: str,
        *,
        select: Sequence[str] | None = None,
        filter: str | None = None,
        expand: str | None = None,
        orderby: str | None = None,
        top: int | None = None,
        page_size: int | None = None,
        annotations: bool | str = False,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every matching row, following ``@odata.nextLink`` to the last page.

        ``filter``, ``expand`` and ``orderby`` are OData text; build literals
        with :mod:`pointegration.odata`. ``page_size`` (default 5000) goes out as
        ``Prefer: odata.maxpagesize`` on every page. ``top`` limits the rows and
        cannot be combined with ``page_size`` (Dataverse would ignore it).
        ``annotations`` asks for ``odata.include-annotations``: ``True`` for all,
        or a comma-separated list of names.
        """
        page = await self.query_page(
            entity_set,
            select=select,
            filter=filter,
            expand=expand,
            orderby=orderby,
            top=top,
            page_size=page_size,
            annotations=annotations,
        )
        while True:
            for row in page.rows:
                yield row
            if page.next_link is None:
                return
            page = await self.next_page(page.next_link, prefer=page.prefer)

    async def query_page(
        self,
        entity_set: str,
        *,
        select: Sequence[str] | None = None,
        filter: str | None = None,
        expand: str | None = None,
        orderby: str | None = None,
        top: int | None = None,
        page_size: int | None = None,
        annotations: bool | str = False,
    ) -> Page:
        """The first page of a query (options as for :meth:`query`)."""
        if top is not None and page_size is not None:
            raise ValueError("top and page_size exclude each other in Dataverse")
        if top is not None and top < 1:
            raise ValueError("top must be at least 1")
        size = None if top is not None else page_size or DEFAULT_PAGE_SIZE
        if size is not None and not 1 <= size <= DEFAULT_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{DEFAULT_PAGE_SIZE}")
        url = odata.identifier(entity_set, what="entity set") + odata.query_string(
            {
                "$select": select_list(select),
                "$filter": filter,
                "$expand": expand,
                "$orderby": orderby,
                "$top": top,
            }
        )

        return await self._page(url, _prefer(size, annotations))

    async def next_page(self, next_link: str, *, prefer: str | None) -> Page:
        """The page behind ``next_link``, asked for with the same ``prefer``.

        The link is used unchanged; only when it names another host than the
        configured one (Dataverse may answer with the environment's other
        name) is its path and query sent to the configured host instead, so the
        token never leaves it.
        """
        return await self._page(next_link, prefer)

    async def query_all(self, entity_set: str, **options: Any) -> list[dict[str, Any]]:
        """Every row of :meth:`query` in one list; for small result sets."""
        return [row async for row in self.query(entity_set, **options)]

    async def query_models(
        self,
        model: type[Row],
        *,
        filter: str | None = None,
        orderby: str | None = None,
        top: int | None = None,
        page_size: int | None = None,
        annotations: bool | str = False,
    ) -> AsyncIterator[Row]:
        """Rows of ``model``'s table as ``model``, selecting exactly its columns."""
        rows = self.query(
            model.ENTITY_SET,
            select=model.select(),
            filter=filter,
            orderby=orderby,
            top=top,
            page_size=page_size,
            annotations=annotations,
        )
        async for row in rows:
            yield model.from_row(row)

    async def get(
        self,
        entity_set: str,
        record_id: str | uuid.UUID,
        *,
        select: Sequence[str] | None = None,
        expand: str | None = None,
    ) -> dict[str, Any]:
        """One row by its id; :class:`NotFoundError` when there is none."""
        operation = Operation.get(entity_set, record_id, select=select, expand=expand)

        return _row(await self.send(operation))

    async def get_by_key(
        self,
        entity_set: str,
        keys: Mapping[str, odata.KeyValue],
        *,
        select: Sequence[str] | None = None,
        expand: str | None = None,
    ) -> dict[str, Any]:
        """One row by an alternate key, e.g. ``{"pobc_isocode": "DE"}``."""
        operation = Operation.get(entity_set, keys, select=select, expand=expand)

        return _row(await self.send(operation))

    async def get_model(
        self,
        model: type[Row],
        key: RecordKey,
        *,
        annotations: bool | str = False,
    ) -> Row:
        """One row of ``model``'s table by id or alternate key, as ``model``."""
        operation = Operation.get(model.ENTITY_SET, key, select=model.select())
        headers = dict(operation.headers)
        prefer = _prefer(None, annotations)
        if prefer:
            headers["Prefer"] = prefer
        response = await self.send(
            Operation("GET", operation.url, None, headers, None, operation.record_id)
        )

        return model.from_row(_row(response))

    async def who_am_i(self) -> WhoAmI:
        """The user, business unit and organization the integration acts as."""
        response = await self.send(Operation("GET", "WhoAmI"))
        try:
            return WhoAmI.model_validate(_row(response))
        except ValidationError as exc:
            raise _unexpected("WhoAmI answered without its ids", response) from exc

    # Writing

    @overload
    async def create(
        self,
        entity_set: str,
        body: Mapping[str, Any],
        *,
        return_representation: Literal[False] = False,
    ) -> str: ...

    @overload
    async def create(
        self,
        entity_set: str,
        body: Mapping[str, Any],
        *,
        return_representation: Literal[True],
    ) -> dict[str, Any]: ...

    async def create(
        self,
        entity_set: str,
        body: Mapping[str, Any],
        *,
        return_representation: bool = False,
    ) -> str | dict[str, Any]:
        """Create a row; its id from ``OData-EntityId``, or the row itself.

        Not retried on a lost answer (a POST may have been committed); the
        caller looks the record up by its natural key instead.
        """
        operation = Operation.create(
            entity_set, body, return_representation=return_representation
        )
        response = await self.send(operation)
        if return_representation:
            return _row(response)
        entity_id = entity_id_from(response.headers.get("OData-EntityId"))
        if entity_id is None:
            raise _unexpected(
                "create answered without a usable OData-EntityId header", response
            )

        return entity_id

    async def update(
        self,
        entity_set: str,
        record_id: str | uuid.UUID,
        body: Mapping[str, Any],
        *,
        etag: str = "*",
    ) -> None:
        """Change the given columns of an existing row.

        ``If-Match`` carries ``etag``: ``*`` (the row must exist: a missing one
        is :class:`NotFoundError`, never a create) or a row's ``@odata.etag``
        (a changed row is :class:`ConcurrencyError`). Send only changed columns.
        """
        await self.send(Operation.update(entity_set, record_id, body, etag=etag))

    async def upsert(
        self,
        entity_set: str,
        key: RecordKey,
        body: Mapping[str, Any],
        *,
        mode: UpsertMode,
    ) -> str | None:
        """Create or update the row at an id or alternate key; its id if known.

        ``mode="create_only"`` raises :class:`AlreadyExistsError` when the row
        exists; ``"update_only"`` raises :class:`NotFoundError` when it does not;
        ``"any"`` does whichever applies. The id comes from ``OData-EntityId``,
        else it is the id addressed, else None.
        """
        operation = Operation.upsert(entity_set, key, body, mode=mode)
        try:
            response = await self.send(operation)
        except IntegrationError as exc:
            renamed = as_already_exists(exc) if mode == "create_only" else exc
            if renamed is exc:
                raise
            raise renamed from exc
        entity_id = entity_id_from(response.headers.get("OData-EntityId"))

        return entity_id or operation.record_id

    async def delete(
        self, entity_set: str, record_id: str | uuid.UUID, *, etag: str = "*"
    ) -> None:
        """Delete a row; :class:`NotFoundError` when it does not exist."""
        await self.send(Operation.delete(entity_set, record_id, etag=etag))

    async def batch(
        self,
        operations: Iterable[Operation],
        *,
        continue_on_error: bool = True,
        atomic: bool = False,
    ) -> list[BatchResult]:
        """Send operations in ``$batch`` requests; one result per operation, in order.

        Not atomic: up to 1000 operations per request, more are split into
        several requests sent one after another. ``continue_on_error`` sends
        ``Prefer: odata.continue-on-error`` so one failure does not stop the
        rest; without it Dataverse stops at the first failure, and the operations
        after it carry a retryable ``batch_not_run`` error. Atomic: every
        operation in one change set (at most 1000, no GET); all commit or none.
        Failed parts are not retried here.
        """
        pending = list(operations)
        if atomic and len(pending) > MAX_OPERATIONS:
            raise PayloadValidationError(
                f"an atomic batch holds at most {MAX_OPERATIONS} operations, "
                f"got {len(pending)}; split the work or drop atomic",
                system="dataverse",
            )
        results: list[BatchResult] = []
        for start in range(0, len(pending), MAX_OPERATIONS):
            chunk = pending[start : start + MAX_OPERATIONS]
            stopped_at = next((r.index for r in results if not r.ok), None)
            if stopped_at is not None and not continue_on_error:
                results += [
                    not_run(start + n, op, stopped_at, self._base_path)
                    for n, op in enumerate(chunk)
                ]
                continue
            results += await self._send_batch(
                chunk, start, atomic=atomic, continue_on_error=continue_on_error
            )

        return results

    async def send(self, operation: Operation) -> httpx.Response:
        """Send one operation on its own (for actions and functions too).

        An absolute URL naming another host is sent to the configured host.
        """
        headers = {**STANDARD_HEADERS, **operation.headers}
        if operation.method == "GET":
            headers.setdefault("If-None-Match", "null")
        url = operation.url
        if httpx.URL(url).is_absolute_url:
            url = self._on_our_host(url)

        return await self._service.request(
            operation.method,
            url,
            json=operation.body,
            headers=headers,
            record_id=operation.record_id,
        )

    async def _send_batch(
        self,
        chunk: Sequence[Operation],
        first_index: int,
        *,
        atomic: bool,
        continue_on_error: bool,
    ) -> list[BatchResult]:
        batch_id = self._new_id()
        content = encode_batch(
            chunk,
            base_path=self._base_path,
            batch_id=batch_id,
            changeset_id=self._new_id() if atomic else None,
        )
        headers = {
            **STANDARD_HEADERS,
            "If-None-Match": "null",
            "Content-Type": batch_content_type(batch_id),
        }
        if continue_on_error:
            headers["Prefer"] = "odata.continue-on-error"
        response = await self._service.request(
            "POST",
            "$batch",
            content=content,
            headers=headers,
            idempotent=all(op.method == "GET" for op in chunk),
            accept=_answered_in_parts,
        )
        results = decode_batch(
            response.headers.get("Content-Type", ""),
            response.content,
            chunk,
            base_path=self._base_path,
            atomic=atomic,
            first_index=first_index,
        )
        log_event(
            logger,
            logging.INFO,
            "dataverse.batch_completed",
            operations=len(chunk),
            failed=sum(1 for r in results if r.error is not None),
            atomic=atomic,
            first_index=first_index,
        )

        return results

    async def _page(self, url: str, prefer: str | None) -> Page:
        headers = {"Prefer": prefer} if prefer else {}
        response = await self.send(Operation("GET", url, None, headers))
        body = _row(response)
        rows = body.get("value")
        if not isinstance(rows, list):
            raise _unexpected("a query answered without a value array", response)
        next_link = body.get("@odata.nextLink")
        if next_link is not None and not isinstance(next_link, str):
            raise _unexpected("a query answered a nextLink that is no URL", response)

        return Page(rows, next_link, prefer)

    def _on_our_host(self, link: str) -> str:
        url = httpx.URL(link)
        if (url.scheme, url.host, url.port) == (
            self._base.scheme,
            self._base.host,
            self._base.port,
        ):
            return link
        netloc = self._base.netloc.decode("ascii")

        return f"{self._base.scheme}://{netloc}{url.raw_path.decode('ascii')}"


def _answered_in_parts(response: httpx.Response) -> bool:
    """A failed ``$batch`` answered part by part: the parts say what happened.

    Without continue-on-error Dataverse gives the batch the status of the part it
    stopped at; the parts before it committed, so the batch must not be sent
    again nor reported as one failure.
    """
    content_type = str(response.headers.get("Content-Type", ""))

    return content_type.lower().startswith("multipart/")


def _prefer(page_size: int | None, annotations: bool | str) -> str | None:
    preferences = []
    if page_size is not None:
        preferences.append(f"odata.maxpagesize={page_size}")
    if annotations:
        names = "*" if annotations is True else str(annotations)
        if '"' in names or "\n" in names or "\r" in names:
            raise ValueError("annotation names cannot hold quotes or line breaks")
        preferences.append(f'odata.include-annotations="{names}"')

    return ",".join(preferences) or None


def _row(response: httpx.Response) -> dict[str, Any]:
    try:
        body = _json.loads(response.content)
    except ValueError as exc:
        raise _unexpected("the answer is not JSON", response) from exc
    if not isinstance(body, dict):
        raise _unexpected("the answer is not a JSON object", response)

    return body


def _unexpected(message: str, response: httpx.Response) -> IntegrationError:
    return IntegrationError(
        message,
        code="unexpected_response",
        system="dataverse",
        status=response.status_code,
        method=response.request.method,
        path=response.request.url.path,
    )
