"""Dataverse requests as values, and the ``$batch`` multipart format both ways.

An :class:`Operation` is one Web API request (method, URL relative to the service
root, headers, JSON body). The client sends an operation on its own or many in
one ``$batch``; either way the request is built by the same constructor, so an
update in a batch carries the same ``If-Match`` as an update sent alone.

:func:`encode_batch` writes the ``multipart/mixed`` body the Web API documents:
CRLF line endings, a ``batch_<id>`` boundary, each part ``Content-Type:
application/http`` and ``Content-Transfer-Encoding: binary``, a request line
``METHOD /api/data/v9.2/<url> HTTP/1.1``, ``Content-Type: application/json;
type=entry`` before a JSON body, and optionally one ``changeset_<id>`` holding
every operation atomically, each part with its ``Content-ID``.

:func:`decode_batch` reads the ``batchresponse_<id>`` answer into one
:class:`BatchResult` per operation, in order. A failed part becomes the same
exception a failed single request would (:func:`pointegration.http.classify`). In a
change set nothing commits unless everything does, so when one part fails every
operation of the set carries an error: the failing one its own, the others the
same class marked as rolled back.

Limitation: one change set per batch (the whole batch, when atomic); Content-ID
references (``$1``) work only inside it.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from pointegration import _json, odata
from pointegration.errors import (
    AlreadyExistsError,
    ConcurrencyError,
    IntegrationError,
    PayloadValidationError,
    RetryableError,
)
from pointegration.http import classify, parse_error_body, parse_retry_after

__all__ = [
    "MAX_OPERATIONS",
    "BatchResult",
    "Operation",
    "UpsertMode",
    "as_already_exists",
    "batch_content_type",
    "decode_batch",
    "encode_batch",
    "entity_id_from",
    "not_run",
]

#: Dataverse accepts at most this many requests in one ``$batch``.
MAX_OPERATIONS = 1000

SYSTEM = "dataverse"

UpsertMode = Literal["create_only", "update_only", "any"]
RecordKey = str | uuid.UUID | Mapping[str, odata.KeyValue]

CRLF = "\r\n"
_ENTITY_ID = re.compile(
    r"\(([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\)"
    r"\s*$"
)
_BOUNDARY = re.compile(r'boundary\s*=\s*"?([^";]+)"?', re.IGNORECASE)
_STATUS_LINE = re.compile(r"^HTTP/\d(?:\.\d)?\s+(\d{3})\b")
_UNSAFE_TEXT = re.compile(r"[\r\n]")
_UNSAFE_URL = re.compile(r"\s")


@dataclass(frozen=True)
class Operation:
    """One Web API request, sent alone or inside a ``$batch``.

    ``url`` is relative to the service root (``accounts(<guid>)?$select=name``),
    already encoded, or a Content-ID reference (``$1``) inside a change set.
    Build operations with the class methods, which validate ids and keys.
    """

    method: str
    url: str
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_id: str | None = None
    record_id: str | None = None

    def __post_init__(self) -> None:
        if not self.url or _UNSAFE_URL.search(self.url):
            raise PayloadValidationError(
                f"operation URL is empty or holds whitespace: {self.url!r}"
            )
        for name, value in self.headers.items():
            if _UNSAFE_TEXT.search(name) or _UNSAFE_TEXT.search(value):
                raise PayloadValidationError(f"header {name!r} holds a line break")

    @classmethod
    def create(
        cls,
        entity_set: str,
        body: Mapping[str, Any],
        *,
        return_representation: bool = False,
        content_id: str | None = None,
    ) -> Operation:
        """``POST <entity_set>``; 204 with ``OData-EntityId``, or 201 and the row."""
        headers = {"Prefer": "return=representation"} if return_representation else {}
        url = odata.identifier(entity_set, what="entity set")

        return cls("POST", url, body, headers, content_id)

    @classmethod
    def update(
        cls,
        entity_set: str,
        record_id: str | uuid.UUID,
        body: Mapping[str, Any],
        *,
        etag: str = "*",
        content_id: str | None = None,
    ) -> Operation:
        """``PATCH <entity_set>(<id>)`` with ``If-Match``: never creates a record."""
        url = odata.encode_path(odata.entity_path(entity_set, record_id))
        headers = {"If-Match": _etag(etag)}

        return cls("PATCH", url, body, headers, content_id, odata.guid(record_id))

    @classmethod
    def upsert(
        cls,
        entity_set: str,
        key: RecordKey,
        body: Mapping[str, Any],
        *,
        mode: UpsertMode,
        content_id: str | None = None,
    ) -> Operation:
        """``PATCH`` to an id or alternate-key URL, limited by ``mode``.

        ``create_only`` sends ``If-None-Match: *`` (an existing record answers
        412, raised as :class:`AlreadyExistsError`); ``update_only`` sends
        ``If-Match: *`` (a missing record answers 404); ``any`` sends neither.
        """
        url = odata.encode_path(odata.entity_path(entity_set, key))
        headers = {
            "create_only": {"If-None-Match": "*"},
            "update_only": {"If-Match": "*"},
            "any": {},
        }[mode]
        record_id = None if isinstance(key, Mapping) else odata.guid(key)

        return cls("PATCH", url, body, headers, content_id, record_id)

    @classmethod
    def delete(
        cls,
        entity_set: str,
        record_id: str | uuid.UUID,
        *,
        etag: str = "*",
        content_id: str | None = None,
    ) -> Operation:
        """``DELETE <entity_set>(<id>)`` with ``If-Match``."""
        url = odata.encode_path(odata.entity_path(entity_set, record_id))
        headers = {"If-Match": _etag(etag)}

        return cls("DELETE", url, None, headers, content_id, odata.guid(record_id))

    @classmethod
    def get(
        cls,
        entity_set: str,
        key: RecordKey,
        *,
        select: Sequence[str] | None = None,
        expand: str | None = None,
    ) -> Operation:
        """``GET <entity_set>(<id or key>)`` with optional ``$select``/``$expand``."""
        path = odata.encode_path(odata.entity_path(entity_set, key))
        url = path + odata.query_string(
            {"$select": select_list(select), "$expand": expand}
        )
        record_id = None if isinstance(key, Mapping) else odata.guid(key)

        return cls("GET", url, None, {}, None, record_id)


@dataclass(frozen=True)
class BatchResult:
    """The answer to one operation of a batch; ``error`` is None when it succeeded.

    ``entity_id`` is the GUID from ``OData-EntityId`` (creates and upserts).
    """

    index: int
    status: int
    headers: httpx.Headers
    body: dict[str, Any] | None
    error: IntegrationError | None
    entity_id: str | None

    @property
    def ok(self) -> bool:
        """True when the operation succeeded."""
        return self.error is None


def select_list(columns: Sequence[str] | None) -> str | None:
    """``$select`` text from column names, each checked; None when not given."""
    if columns is None:
        return None
    if isinstance(columns, str):
        raise TypeError("select takes a sequence of column names, not one string")

    return ",".join(odata.identifier(c, what="column") for c in columns)


def entity_id_from(header: str | None) -> str | None:
    """The GUID at the end of an ``OData-EntityId`` header, lower case, or None."""
    match = _ENTITY_ID.search(header or "")

    return match.group(1).lower() if match else None


def as_already_exists(error: IntegrationError) -> IntegrationError:
    """A 412 to ``If-None-Match: *`` can only mean the record exists: say so.

    Dataverse answers create-only upserts on an existing key with 412; the
    status table may read it as a stale ETag when the message is not the usual
    one. Other errors come back unchanged.
    """
    if not isinstance(error, ConcurrencyError) or error.status != 412:
        return error
    renamed = AlreadyExistsError(
        error.message,
        code=error.code if error.code != ConcurrencyError.default_code else None,
        system=error.system,
        status=error.status,
        method=error.method,
        path=error.path,
        record_id=error.record_id,
        correlation_id=error.correlation_id,
    )
    renamed.__cause__ = error

    return renamed


def batch_content_type(batch_id: str) -> str:
    """The ``Content-Type`` of a ``$batch`` request with boundary ``batch_<id>``."""
    return f'multipart/mixed; boundary="batch_{batch_id}"'


def encode_batch(
    operations: Sequence[Operation],
    *,
    base_path: str,
    batch_id: str,
    changeset_id: str | None = None,
) -> bytes:
    """The ``$batch`` request body; with ``changeset_id`` all in one change set.

    ``base_path`` is the service root's path (``/api/data/v9.2``), put in front
    of every relative URL. In a change set each part gets ``Content-ID`` (the
    operation's own, else its position from 1); a GET is refused there.
    """
    if not operations:
        raise ValueError("a batch needs at least one operation")
    if len(operations) > MAX_OPERATIONS:
        raise ValueError(f"a batch holds at most {MAX_OPERATIONS} operations")
    batch = f"batch_{batch_id}"
    if changeset_id is None:
        parts = [_part(op, base_path, None) for op in operations]
    else:
        changeset = f"changeset_{changeset_id}"
        parts = [_changeset(operations, base_path, changeset)]
    body = "".join(f"--{batch}{CRLF}{part}{CRLF}" for part in parts)

    return (body + f"--{batch}--{CRLF}").encode("utf-8")


def decode_batch(
    content_type: str,
    content: bytes,
    operations: Sequence[Operation],
    *,
    base_path: str,
    atomic: bool,
    first_index: int = 0,
    now: datetime | None = None,
) -> list[BatchResult]:
    """One :class:`BatchResult` per operation from a ``$batch`` response.

    ``first_index`` numbers the results when a long list went out in several
    batches. Without ``odata.continue-on-error`` Dataverse stops at the first
    failing part and answers only up to it: the operations after it never ran
    and carry a :class:`~pointegration.errors.RetryableError` coded
    ``batch_not_run``. Raises :class:`IntegrationError` when the response cannot
    be read or leaves operations unanswered for another reason.
    """
    now = now or datetime.now(UTC)
    answers = _responses(content_type, content)
    if atomic:
        return _changeset_results(answers, operations, base_path, first_index, now)
    stopped = 0 < len(answers) < len(operations) and answers[-1].status >= 400
    if len(answers) != len(operations) and not stopped:
        raise _unexpected(
            f"$batch answered {len(answers)} parts for {len(operations)} operations"
        )

    results = [
        _result(first_index + n, op, answer, base_path, now)
        for n, (op, answer) in enumerate(zip(operations, answers, strict=False))
    ]
    failed_at = first_index + len(answers) - 1
    for n in range(len(answers), len(operations)):
        results.append(not_run(first_index + n, operations[n], failed_at, base_path))

    return results


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: httpx.Headers
    content: bytes
    content_id: str | None


def _etag(etag: str) -> str:
    if not etag or not etag.strip():
        raise PayloadValidationError("If-Match needs an ETag or '*'")
    return etag


def _part(op: Operation, base_path: str, content_id: str | None) -> str:
    head = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        head.append(f"Content-ID: {content_id}")
    url = op.url
    if not url.startswith(("$", "/")) and not httpx.URL(url).is_absolute_url:
        url = f"{base_path}/{url}"
    request = [f"{op.method} {url} HTTP/1.1"]
    request += [f"{name}: {value}" for name, value in op.headers.items()]
    payload = ""
    if op.body is not None:
        request.append("Content-Type: application/json; type=entry")
        payload = _json.dumps(op.body)

    return CRLF.join([*head, "", *request, "", payload])


def _changeset(operations: Sequence[Operation], base_path: str, boundary: str) -> str:
    ids = [op.content_id or str(n) for n, op in enumerate(operations, start=1)]
    if len(set(ids)) != len(ids):
        raise ValueError("Content-ID values in a change set must be unique")
    parts = []
    for op, content_id in zip(operations, ids, strict=True):
        if op.method == "GET":
            raise ValueError("a change set cannot hold a GET (Dataverse refuses it)")
        parts.append(f"--{boundary}{CRLF}{_part(op, base_path, content_id)}{CRLF}")
    head = f'Content-Type: multipart/mixed; boundary="{boundary}"{CRLF}{CRLF}'

    return head + "".join(parts) + f"--{boundary}--{CRLF}"


def _responses(content_type: str, content: bytes) -> list[_Answer]:
    """Every ``application/http`` answer, change-set members flattened in order."""
    answers: list[_Answer] = []
    for headers, body in _split(content_type, content):
        nested = headers.get("Content-Type", "")
        if nested.lower().startswith("multipart/"):
            answers += [_answer(h, b) for h, b in _split(nested, body)]
        else:
            answers.append(_answer(headers, body))

    return answers


def _split(content_type: str, content: bytes) -> list[tuple[httpx.Headers, bytes]]:
    match = _BOUNDARY.search(content_type)
    if not content_type.lower().startswith("multipart/") or not match:
        raise _unexpected(f"$batch answered {content_type or 'no content type'}")
    marker = re.escape(b"--" + match.group(1).strip().encode("ascii"))
    delimiter = re.compile(rb"(?:^|\r?\n)" + marker + rb"(--)?[ \t]*(?:\r?\n|$)")

    parts = []
    matches = list(delimiter.finditer(content))
    for current, following in itertools.pairwise(matches):
        if current.group(1):
            break
        parts.append(_headers_and_body(content[current.end() : following.start()]))
    if not matches or not matches[-1].group(1):
        raise _unexpected("$batch response is cut short (no closing boundary)")

    return parts


def _headers_and_body(part: bytes) -> tuple[httpx.Headers, bytes]:
    empty_head = re.match(rb"\r?\n", part)
    if empty_head:
        return httpx.Headers(), part[empty_head.end() :]
    pieces = re.split(rb"\r?\n\r?\n", part, maxsplit=1)
    head = pieces[0].decode("utf-8", errors="replace")
    body = pieces[1] if len(pieces) > 1 else b""
    headers = httpx.Headers()
    for line in head.splitlines():
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip()] = value.strip()

    return headers, body


def _answer(part_headers: httpx.Headers, message: bytes) -> _Answer:
    lines = re.split(rb"\r?\n", message, maxsplit=1)
    status_line = lines[0].decode("ascii", errors="replace").strip()
    status = _STATUS_LINE.match(status_line)
    if not status:
        raise _unexpected(f"$batch part has no status line: {status_line[:40]!r}")
    headers, body = _headers_and_body(lines[1] if len(lines) > 1 else b"")

    return _Answer(int(status.group(1)), headers, body, part_headers.get("Content-ID"))


def _changeset_results(
    answers: list[_Answer],
    operations: Sequence[Operation],
    base_path: str,
    first_index: int,
    now: datetime,
) -> list[BatchResult]:
    """Results of a change set: matched by Content-ID, all failed if one did."""
    ids = [op.content_id or str(n) for n, op in enumerate(operations, start=1)]
    by_id = {a.content_id: a for a in answers if a.content_id is not None}
    failure = next((a for a in answers if a.status >= 400), None)
    if failure is None:
        if len(answers) != len(operations):
            raise _unexpected(
                f"change set answered {len(answers)} parts "
                f"for {len(operations)} operations"
            )
        if set(ids) <= by_id.keys():
            answers = [by_id[content_id] for content_id in ids]
        return [
            _result(first_index + n, op, answer, base_path, now)
            for n, (op, answer) in enumerate(zip(operations, answers, strict=True))
        ]

    owner = ids.index(failure.content_id) if failure.content_id in ids else None
    if owner is None and len(operations) == 1:
        owner = 0
    results = []
    for n, op in enumerate(operations):
        result = _result(first_index + n, op, failure, base_path, now)
        if n != owner:
            result = _rolled_back(
                result, first_index + owner if owner is not None else None
            )
        results.append(result)

    return results


def not_run(
    index: int, op: Operation, failed_index: int, base_path: str
) -> BatchResult:
    """An operation Dataverse never ran: the batch stopped at an earlier failure."""
    error = RetryableError(
        f"not run: the $batch stopped at the failure of operation {failed_index}",
        code="batch_not_run",
        system=SYSTEM,
        method=op.method,
        path=f"{base_path}/{op.url}".split("?", 1)[0],
        record_id=op.record_id,
    )

    return BatchResult(index, 0, httpx.Headers(), None, error, None)


def _rolled_back(result: BatchResult, failed_index: int | None) -> BatchResult:
    """``result`` (sharing the change set's failure) marked as rolled back."""
    error = result.error
    if error is None:
        return result
    where = f" at operation {failed_index}" if failed_index is not None else ""
    error.message = f"rolled back: the change set failed{where}: {error.message}"
    error.args = (error.message,)

    return BatchResult(result.index, result.status, result.headers, None, error, None)


def _result(
    index: int, op: Operation, answer: _Answer, base_path: str, now: datetime
) -> BatchResult:
    error = None
    if answer.status >= 400:
        error = _error(op, answer, base_path, now)
    body = _json_body(answer.content)

    return BatchResult(
        index=index,
        status=answer.status,
        headers=answer.headers,
        body=body,
        error=error,
        entity_id=entity_id_from(answer.headers.get("OData-EntityId")),
    )


def _error(
    op: Operation, answer: _Answer, base_path: str, now: datetime
) -> IntegrationError:
    response = httpx.Response(
        answer.status, headers=answer.headers, content=answer.content
    )
    code, message, correlation = parse_error_body(response)
    error_type = classify(answer.status, code, message)
    context: dict[str, Any] = {
        "code": code,
        "system": SYSTEM,
        "status": answer.status,
        "method": op.method,
        "path": f"{base_path}/{op.url}".split("?", 1)[0],
        "record_id": op.record_id,
        "correlation_id": correlation,
    }
    if issubclass(error_type, RetryableError):
        retry_after = parse_retry_after(answer.headers.get("Retry-After"), now)
        return error_type(message, retry_after=retry_after, **context)
    error = error_type(message, **context)
    if op.headers.get("If-None-Match") == "*":
        return as_already_exists(error)

    return error


def _json_body(content: bytes) -> dict[str, Any] | None:
    if not content.strip():
        return None
    try:
        parsed = _json.loads(content)
    except ValueError:
        return None

    return parsed if isinstance(parsed, dict) else None


def _unexpected(message: str) -> IntegrationError:
    return IntegrationError(message, code="unexpected_response", system=SYSTEM)
