"""BC's JSON ``$batch``: many operations per HTTP request, one result per operation.

A :class:`BatchOperation` is one inner request (``POST``, ``PATCH``, ``DELETE``,
``GET`` or a bound action); :func:`send_batch` posts them to
``{api}/$batch`` with ``Content-Type`` and ``Accept`` ``application/json``, at most
:data:`MAX_BATCH_OPERATIONS` (BC's limit, 100) per request, so 250 operations go
out as three requests. Inner URLs are relative to the API root
(``companies({id})/customers``).

Every operation gets a :class:`BatchResult`, in input order, whatever order BC
answered in. A non-atomic batch asks ``Prefer: odata.continue-on-error`` so BC
runs every operation; should BC still stop at a failure, the operations it did
not answer after that failure are marked ``batch_not_run`` (retryable: they never
ran), while one missing without an earlier failure may or may not have run.
A failed operation carries the exception a single request with the
same answer would have raised (:func:`pointegration.http.classify`), so callers
decide from its class.

``atomic=True`` sends ``Isolation: snapshot``: BC runs the batch in one
transaction and, when an operation fails, rolls back the others while still
answering them 2xx; those results carry a :class:`~pointegration.errors.RetryableError`
coded ``batch_rolled_back``. BC cannot make several requests one transaction, so an
atomic batch of more than 100 operations is refused before anything is sent.

Limitation: BC may commit inside an atomic batch (posting routines do), so
``Microsoft.NAV.post`` in a snapshot batch is not guaranteed to roll back.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx

from pointegration import _json, odata
from pointegration.businesscentral.models import BCPayload, create_body, update_body
from pointegration.errors import (
    IntegrationError,
    PayloadValidationError,
    RequestTimeoutError,
    RetryableError,
    ServiceUnavailableError,
)
from pointegration.http import (
    ServiceClient,
    classify,
    parse_error_body,
    parse_retry_after,
)
from pointegration.telemetry import log_event

__all__ = [
    "MAX_BATCH_OPERATIONS",
    "BatchOperation",
    "BatchResult",
    "entity_path",
    "send_batch",
]

logger = logging.getLogger("pointegration.businesscentral")

MAX_BATCH_OPERATIONS = 100

_METHODS = frozenset({"GET", "POST", "PATCH", "DELETE"})
_ENTITY_SET = re.compile(r"[a-z][A-Za-z0-9]*")
_ACTION = re.compile(r"Microsoft\.NAV\.[a-z][A-Za-z0-9]*")
# Characters left as they are in a query value; everything else is %-encoded
# (spaces as %20, so "+" in a datetime offset stays a plus).


def entity_path(
    company_id: str,
    entity_set: str,
    record_id: str | UUID | None = None,
    *,
    child: str | None = None,
    action: str | None = None,
) -> str:
    """``companies({company})/{set}[({id})][/{child}][/{action}]``, checked."""
    for name in (entity_set, child):
        if name is not None and not _ENTITY_SET.fullmatch(name):
            raise PayloadValidationError(
                f"{name!r} is not a BC entity set name", system="bc"
            )
    path = f"companies({odata.guid(company_id, what='company id')})/{entity_set}"
    if record_id is not None:
        path += f"({odata.guid(record_id, what=f'{entity_set} id')})"
    if child is not None:
        path += f"/{child}"
    if action is not None:
        if record_id is None or not _ACTION.fullmatch(action):
            raise PayloadValidationError(
                f"{action!r} is not a bound action of one record, such as "
                "Microsoft.NAV.post",
                system="bc",
            )
        path += f"/{action}"

    return path


@dataclass(frozen=True)
class BatchOperation:
    """One inner request of a ``$batch``; build it with the class methods.

    ``id`` names the operation in its :class:`BatchResult`; without one, its
    1-based position in the call is used. PATCH and DELETE need ``etag`` (the
    record's ``@odata.etag``, or ``"*"`` to overwrite whatever is there).
    """

    method: str
    entity_set: str
    record_id: str | None = None
    body: Mapping[str, Any] | None = None
    etag: str | None = None
    action: str | None = None
    params: Mapping[str, str | None] = field(default_factory=dict)
    id: str | None = None

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise PayloadValidationError(
                f"{self.method!r} is not a method a $batch operation can use",
                system="bc",
            )
        if self.method in ("PATCH", "DELETE") and not self.etag:
            raise PayloadValidationError(
                f"{self.method} {self.entity_set}({self.record_id}) needs an etag "
                "for If-Match (the record's @odata.etag, or '*')",
                system="bc",
                record_id=self.record_id,
            )
        if self.method in ("PATCH", "DELETE") and self.record_id is None:
            raise PayloadValidationError(
                f"{self.method} {self.entity_set} needs the record id", system="bc"
            )

    @classmethod
    def create(
        cls,
        entity_set: str,
        payload: BCPayload | Mapping[str, Any],
        *,
        id: str | None = None,
    ) -> BatchOperation:
        """POST a new record (validated by the entity set's payload model)."""
        return cls("POST", entity_set, body=create_body(entity_set, payload), id=id)

    @classmethod
    def update(
        cls,
        entity_set: str,
        record_id: str | UUID,
        payload: BCPayload | Mapping[str, Any],
        *,
        etag: str,
        id: str | None = None,
    ) -> BatchOperation:
        """PATCH one record with ``If-Match: etag``."""
        body = update_body(entity_set, payload)
        key = odata.guid(record_id, what=f"{entity_set} id")

        return cls("PATCH", entity_set, key, body, etag=etag, id=id)

    @classmethod
    def delete(
        cls,
        entity_set: str,
        record_id: str | UUID,
        *,
        etag: str,
        id: str | None = None,
    ) -> BatchOperation:
        """DELETE one record with ``If-Match: etag``."""
        key = odata.guid(record_id, what=f"{entity_set} id")

        return cls("DELETE", entity_set, key, etag=etag, id=id)

    @classmethod
    def get(
        cls,
        entity_set: str,
        record_id: str | UUID,
        *,
        select: str | None = None,
        expand: str | None = None,
        id: str | None = None,
    ) -> BatchOperation:
        """GET one record."""
        key = odata.guid(record_id, what=f"{entity_set} id")
        params = {"$select": select, "$expand": expand}

        return cls("GET", entity_set, key, params=params, id=id)

    @classmethod
    def invoke(
        cls,
        entity_set: str,
        record_id: str | UUID,
        action: str,
        *,
        id: str | None = None,
    ) -> BatchOperation:
        """POST a bound action such as ``Microsoft.NAV.post`` (answers 204)."""
        key = odata.guid(record_id, what=f"{entity_set} id")

        return cls("POST", entity_set, key, action=action, id=id)

    def relative_url(self, company_id: str) -> str:
        """The inner URL, relative to the API root."""
        path = entity_path(
            company_id, self.entity_set, self.record_id, action=self.action
        )

        return path + odata.query_string(self.params)

    def to_request(self, company_id: str, request_id: str) -> dict[str, Any]:
        """This operation as an entry of the batch body's ``requests`` array."""
        headers: dict[str, str] = {}
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        if self.etag is not None and self.method in ("PATCH", "DELETE"):
            headers["If-Match"] = self.etag
        request: dict[str, Any] = {
            "method": self.method,
            "id": request_id,
            "url": self.relative_url(company_id),
            "headers": headers,
        }
        if self.body is not None:
            request["body"] = dict(self.body)

        return request


@dataclass(frozen=True)
class BatchResult:
    """BC's answer to one operation; ``error`` is set when it did not take effect.

    ``headers`` has lower-case names; ``body`` is the parsed JSON (exact decimals)
    or ``None`` (204).
    """

    id: str
    status: int
    headers: Mapping[str, str]
    body: Any
    error: IntegrationError | None = None

    @property
    def ok(self) -> bool:
        """Whether the operation succeeded (and, in an atomic batch, was kept)."""
        return self.error is None


async def send_batch(
    service: ServiceClient,
    operations: Sequence[BatchOperation],
    *,
    api_root: str,
    company_id: str,
    atomic: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[BatchResult]:
    """Send ``operations`` as JSON batches of at most 100; results in input order.

    Refuses (``PayloadValidationError``, nothing sent) an atomic batch of more
    than 100 operations and duplicate ids. A failure of a whole batch request
    (after the client's retries) becomes the error of each of its operations, and
    the operations after it are not sent and carry the same kind of error.
    """
    ids = _request_ids(operations)
    if atomic and len(operations) > MAX_BATCH_OPERATIONS:
        raise PayloadValidationError(
            f"an atomic batch holds at most {MAX_BATCH_OPERATIONS} operations "
            f"(got {len(operations)}): BC cannot make several $batch requests one "
            "transaction",
            system="bc",
        )

    results: list[BatchResult] = []
    failure: IntegrationError | None = None
    for start in range(0, len(operations), MAX_BATCH_OPERATIONS):
        chunk = list(operations[start : start + MAX_BATCH_OPERATIONS])
        chunk_ids = ids[start : start + MAX_BATCH_OPERATIONS]
        if failure is not None:
            results.extend(_not_sent(chunk_ids, failure))
            continue
        try:
            answer = await _post_chunk(
                service, chunk, chunk_ids, api_root, company_id, atomic
            )
        except IntegrationError as exc:
            failure = exc
            results.extend(_failed_with(chunk_ids, exc))
            continue
        results.extend(_read_answer(answer, chunk, chunk_ids, api_root, atomic, now))

    _log_outcome(results, atomic)
    return results


def _request_ids(operations: Sequence[BatchOperation]) -> list[str]:
    ids = [op.id or str(position) for position, op in enumerate(operations, 1)]
    twice = sorted(i for i, count in Counter(ids).items() if count > 1)
    if twice:
        raise PayloadValidationError(
            f"batch operation ids must be unique; repeated: {', '.join(twice)}",
            system="bc",
        )

    return ids


async def _post_chunk(
    service: ServiceClient,
    chunk: Sequence[BatchOperation],
    ids: Sequence[str],
    api_root: str,
    company_id: str,
    atomic: bool,
) -> Any:
    body = {
        "requests": [
            op.to_request(company_id, request_id)
            for op, request_id in zip(chunk, ids, strict=True)
        ]
    }
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if atomic:
        headers["Isolation"] = "snapshot"
    else:
        # Without it BC stops at the first failure and answers nothing for the rest.
        headers["Prefer"] = "odata.continue-on-error"
    response = await service.request(
        "POST",
        f"{service.base_url}/{api_root}/$batch",
        json=body,
        headers=headers,
        idempotent=all(op.method == "GET" for op in chunk),
    )
    try:
        return _json.loads(response.content)
    except ValueError as exc:
        raise ServiceUnavailableError(
            "BC answered a $batch with a body that is not JSON",
            system="bc",
            status=response.status_code,
            method="POST",
            path=f"/{api_root}/$batch",
        ) from exc


def _read_answer(
    answer: Any,
    chunk: Sequence[BatchOperation],
    ids: Sequence[str],
    api_root: str,
    atomic: bool,
    now: Callable[[], datetime],
) -> list[BatchResult]:
    parts = answer.get("responses") if isinstance(answer, dict) else None
    by_id = {
        str(part.get("id")): part for part in parts or () if isinstance(part, dict)
    }
    results: list[BatchResult] = []
    for op, request_id in zip(chunk, ids, strict=True):
        part = by_id.get(request_id)
        if part is None and any(r.error is not None for r in results):
            results.append(_not_run(op, request_id, api_root))
        else:
            results.append(_result(part, op, request_id, api_root, now))
    failed = [r.id for r in results if r.error is not None]
    if not atomic or not failed:
        return results

    rolled_back = RetryableError(
        f"rolled back: operation {failed[0]} of the same atomic batch failed",
        code="batch_rolled_back",
        system="bc",
    )
    return [r if r.error is not None else _with_error(r, rolled_back) for r in results]


def _not_run(op: BatchOperation, request_id: str, api_root: str) -> BatchResult:
    """BC stopped the batch at an earlier failure: this operation never ran."""
    error = RetryableError(
        f"not run: BC stopped the $batch before operation {request_id}",
        code="batch_not_run",
        system="bc",
        method=op.method,
        path=_inner_path(op, api_root),
        record_id=op.record_id,
    )
    return BatchResult(request_id, 0, {}, None, error)


def _result(
    part: Mapping[str, Any] | None,
    op: BatchOperation,
    request_id: str,
    api_root: str,
    now: Callable[[], datetime],
) -> BatchResult:
    status = part.get("status") if part is not None else None
    if part is None or not isinstance(status, int) or isinstance(status, bool):
        lost = RequestTimeoutError(
            f"BC's $batch answer has no readable response for operation "
            f"{request_id}; it may or may not have been applied",
            system="bc",
            method=op.method,
            path=_inner_path(op, api_root),
            record_id=op.record_id,
        )
        return BatchResult(request_id, 0, {}, None, lost)

    raw_headers = part.get("headers")
    headers = (
        {str(k).lower(): str(v) for k, v in raw_headers.items()}
        if isinstance(raw_headers, Mapping)
        else {}
    )
    body = part.get("body")
    error = None
    if not 200 <= status < 300:
        error = _inner_error(status, headers, body, op, api_root, now)

    return BatchResult(request_id, status, headers, body, error)


def _inner_error(
    status: int,
    headers: Mapping[str, str],
    body: Any,
    op: BatchOperation,
    api_root: str,
    now: Callable[[], datetime],
) -> IntegrationError:
    # parse_error_body reads a response, so the part is given the shape of one.
    as_response = httpx.Response(status, content=_json.dumps(body).encode("utf-8"))
    code, message, correlation = parse_error_body(as_response)
    error_type = classify(status, code, message)
    context: dict[str, Any] = {
        "code": code,
        "system": "bc",
        "status": status,
        "method": op.method,
        "path": _inner_path(op, api_root),
        "record_id": op.record_id,
        "correlation_id": correlation,
    }
    if issubclass(error_type, RetryableError):
        wait = parse_retry_after(headers.get("retry-after"), now())
        return error_type(message, retry_after=wait, **context)

    return error_type(message, **context)


def _inner_path(op: BatchOperation, api_root: str) -> str:
    return f"/{api_root}/{op.entity_set}"


def _with_error(result: BatchResult, error: IntegrationError) -> BatchResult:
    return BatchResult(result.id, result.status, result.headers, result.body, error)


def _failed_with(ids: Sequence[str], error: IntegrationError) -> list[BatchResult]:
    return [BatchResult(i, error.status or 0, {}, None, error) for i in ids]


def _not_sent(ids: Sequence[str], cause: IntegrationError) -> list[BatchResult]:
    error = type(cause)(
        f"not sent: an earlier $batch request failed ({cause.message})",
        code=cause.code,
        system="bc",
    )
    return [BatchResult(i, 0, {}, None, error) for i in ids]


def _log_outcome(results: Sequence[BatchResult], atomic: bool) -> None:
    failed = sum(1 for r in results if r.error is not None)
    log_event(
        logger,
        logging.WARNING if failed else logging.INFO,
        "bc.batch.completed",
        operations=len(results),
        failed=failed,
        atomic=atomic,
    )
