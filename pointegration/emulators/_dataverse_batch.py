"""``$batch`` for the Dataverse emulator: multipart/mixed in, multipart/mixed out.

The request body is read as the Web API documents it: parts separated by the
``batch_<id>`` boundary, each ``Content-Type: application/http`` with
``Content-Transfer-Encoding: binary`` and an HTTP request (request line with an
absolute or ``/api/data/v9.2/`` URL, headers, blank line, JSON body), or a
nested ``multipart/mixed`` change set whose parts succeed or fail together. A
part's ``Content-ID`` may be referenced later in the same change set as ``$n``,
in a URL (``$1/invoice_details``) or as an ``@odata.bind`` or ``@odata.id``
value. The body must end with a line break (CRLF, or two bare LFs), as the
service needs; otherwise it answers "Stream was not readable".

The whole body is read before anything runs, so a malformed batch (more than
1000 requests, a GET inside a change set, an undeclared ``$n``, a nested
``$batch``) changes nothing and answers 400. Then each top-level request runs
in its own transaction and each change set in one transaction. Without
``Prefer: odata.continue-on-error`` the first failure ends the batch and the
batch answers with that failure's status (the parts up to it included); with it
the batch answers 200 and every failure is a part of its own. A failed change
set is answered by a single part: the failing request's error. Error parts carry
``REQ_ID``, as the service's do.

Limitation: the documentation shows a stopped batch only when its first request
failed, so whether the service also returns the parts that ran before the
failure is unconfirmed; so is the shape of a failed change set's answer.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

from pointegration import _json
from pointegration.emulators._asgi import Response
from pointegration.emulators._dataverse_entities import ApiRequest, Created
from pointegration.emulators._dataverse_errors import (
    BAD_PAYLOAD,
    QUERY,
    DataverseError,
)
from pointegration.emulators._dataverse_urls import API_PREFIX

__all__ = ["MAX_REQUESTS", "run_batch"]

MAX_REQUESTS = 1000
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_REFERENCE = re.compile(r"^\$(\w+)")
_CHANGE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass
class _Part:
    """One request of the batch."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    content_id: str | None = None


@dataclass
class _ChangeSet:
    parts: list[_Part] = field(default_factory=list)


def _bad(message: str) -> DataverseError:
    return DataverseError(400, QUERY, message)


def _boundary(content_type: str) -> str:
    match = _BOUNDARY.search(content_type)
    if match is None or not content_type.lower().startswith("multipart/mixed"):
        raise _bad(
            "The content type of a $batch request must be multipart/mixed with "
            "a boundary."
        )

    return match.group(1)


def _split(text: str, boundary: str) -> list[str]:
    """The parts between ``--boundary`` lines (line endings already ``\\n``)."""
    delimiter = f"--{boundary}"
    pieces = text.split(delimiter)
    if len(pieces) < 2 or not any(p.startswith("--") for p in pieces[1:]):
        raise _bad(f"The batch boundary '{boundary}' is not closed.")
    parts: list[str] = []
    for piece in pieces[1:]:
        if piece.startswith("--"):
            break
        parts.append(piece.removeprefix("\n").removesuffix("\n"))

    return parts


def _headers(block: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split("\n"):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise _bad(f"The batch header line '{line}' is not 'Name: value'.")
        headers[name.strip().lower()] = value.strip()

    return headers


def _request(mime: dict[str, str], content: str) -> _Part:
    if mime.get("content-type", "").split(";")[0].strip().lower() != "application/http":
        raise _bad("A batch part must have Content-Type application/http.")
    head, _, body = content.partition("\n\n")
    lines = head.split("\n")
    words = lines[0].split(" ")
    if len(words) != 3 or not words[2].startswith("HTTP/"):
        raise _bad(f"The request line '{lines[0]}' is not valid.")

    return _Part(
        method=words[0].upper(),
        url=words[1],
        headers=_headers("\n".join(lines[1:])),
        body=body.strip().encode("utf-8"),
        content_id=mime.get("content-id"),
    )


def _read(content_type: str, body: bytes) -> list[_Part | _ChangeSet]:
    text = body.decode("utf-8").replace("\r\n", "\n")
    items: list[_Part | _ChangeSet] = []
    for raw in _split(text, _boundary(content_type)):
        mime_block, _, content = raw.partition("\n\n")
        mime = _headers(mime_block)
        kind = mime.get("content-type", "")
        if kind.lower().startswith("multipart/mixed"):
            change_set = _ChangeSet()
            for inner in _split(content, _boundary(kind)):
                inner_mime, _, inner_content = inner.partition("\n\n")
                change_set.parts.append(_request(_headers(inner_mime), inner_content))
            items.append(change_set)
        else:
            items.append(_request(mime, content))
    _validate(items)

    return items


def _validate(items: list[_Part | _ChangeSet]) -> None:
    total = sum(len(i.parts) if isinstance(i, _ChangeSet) else 1 for i in items)
    if total > MAX_REQUESTS:
        raise _bad(
            f"The number of requests in a batch cannot exceed {MAX_REQUESTS}; "
            f"this batch has {total}."
        )
    for item in items:
        parts = item.parts if isinstance(item, _ChangeSet) else [item]
        declared: set[str] = set()
        for part in parts:
            if "$batch" in part.url:
                raise _bad("A batch cannot contain another $batch request.")
            if isinstance(item, _ChangeSet) and part.method not in _CHANGE_METHODS:
                raise _bad(
                    f"An invalid HTTP method '{part.method}' was detected for a "
                    "request in a change set. Requests in change sets only support "
                    "the HTTP methods 'POST', 'PUT', 'DELETE', and 'PATCH'."
                )
            for name in _references(part):
                if name not in declared:
                    raise _bad(
                        f"Content-ID Reference: '${name}' does not exist in the "
                        "batch context."
                    )
            if part.content_id:
                declared.add(part.content_id)


def _references(part: _Part) -> list[str]:
    """The Content-IDs ``part`` refers to: in its URL and as bind or id values."""
    names = []
    reference = _REFERENCE.match(part.url)
    if reference:
        names.append(reference.group(1))
    try:
        document = _json.loads(part.body) if part.body else None
    except ValueError:
        document = None
    if isinstance(document, dict):
        for key, value in document.items():
            bound = key.endswith("@odata.bind") or key == "@odata.id"
            match = _REFERENCE.fullmatch(value) if isinstance(value, str) else None
            if bound and match:
                names.append(match.group(1))

    return names


def _unreadable(items: list[_Part | _ChangeSet]) -> Response:
    """The service's answer to a body whose last line has no line break.

    Microsoft's support article ("Troubleshoot Dataverse Web API client
    errors") shows a 400 batch whose only part is 0x80048d19 "Stream was not
    readable" and names CRLF line endings as the cure; a body that ends with a
    CRLF, or with two bare LFs, is read. Limitation: which requests ran before
    the failure is not documented; here none does.
    """
    last = items[-1]
    part = last.parts[-1] if isinstance(last, _ChangeSet) else last
    entity_set = urlsplit(part.url).path.rsplit("/", 1)[-1].split("(")[0]
    error = DataverseError(
        400,
        BAD_PAYLOAD,
        "Error identified in Payload provided by the user for Entity "
        f":'{entity_set}', For more information on this error please follow "
        "this help link https://go.microsoft.com/fwlink/?linkid=2195293 ---->  "
        "InnerException : System.ArgumentException: Stream was not readable.",
    )
    boundary = f"batchresponse_{uuid.uuid4()}"
    body = f"--{boundary}\r\n{_render(_error(error), None)}\r\n--{boundary}--\r\n"
    headers = {"content-type": f"multipart/mixed; boundary={boundary}"}

    return Response(400, body.encode("utf-8"), headers)


def _status_line(status: int) -> str:
    return f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"


def _render(response: Response, content_id: str | None) -> str:
    mime = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        mime.append(f"Content-ID: {content_id}")
    lines = [_status_line(response.status)]
    headers = {"odata-version": "4.0", **response.headers}
    if "odata-entityid" in headers:
        headers["location"] = headers["odata-entityid"]
    for name, value in headers.items():
        lines.append(f"{_canonical(name)}: {value}")
    body = response.body.decode("utf-8")

    return "\r\n".join([*mime, "", *lines, "", body])


def _canonical(name: str) -> str:
    special = {
        "odata-version": "OData-Version",
        "odata-entityid": "OData-EntityId",
        "req_id": "REQ_ID",
    }

    return special.get(name, "-".join(w.capitalize() for w in name.split("-")))


Execute = Callable[[ApiRequest], Response]


@dataclass
class _Runner:
    call: ApiRequest
    execute: Execute
    begin: Callable[[], None]
    commit: Callable[[], None]
    rollback: Callable[[], None]
    entity_ids: dict[str, str] = field(default_factory=dict)

    def sub_request(self, part: _Part) -> ApiRequest:
        url = part.url
        reference = _REFERENCE.match(url)
        if reference:
            url = self.entity_ids[reference.group(1)] + url[reference.end() :]
        split = urlsplit(url)
        path = (
            API_PREFIX.sub("", split.path) if split.path.startswith("/") else split.path
        )
        body = part.body
        if body and self.entity_ids:
            body = self._bind_references(body)

        return ApiRequest(
            method=part.method,
            path=path,
            query_string=split.query,
            headers=part.headers,
            body=body,
            base_url=self.call.base_url,
            user_id=self.call.user_id,
        )

    def _bind_references(self, body: bytes) -> bytes:
        try:
            document = _json.loads(body)
        except ValueError:
            return body
        if not isinstance(document, dict):
            return body
        for name, value in document.items():
            match = _REFERENCE.fullmatch(value) if isinstance(value, str) else None
            if (
                name.endswith("@odata.bind")
                and match
                and match.group(1) in self.entity_ids
            ):
                document[name] = self.entity_ids[match.group(1)]

        return _json.dumps(document).encode("utf-8")

    def one(self, part: _Part) -> Response:
        try:
            response = self.execute(self.sub_request(part))
        except DataverseError as exc:
            return _error(exc)
        entity = response.headers.get("odata-entityid")
        if isinstance(response, Created):
            entity = response.entity_url
        if part.content_id and entity:
            self.entity_ids[part.content_id] = entity

        return response


def _error(exc: DataverseError) -> Response:
    body = _json.dumps(exc.body()).encode("utf-8")
    headers = {
        "req_id": str(uuid.uuid4()),
        "content-type": "application/json; odata.metadata=minimal",
    }

    return Response(exc.status, body, headers)


def run_batch(
    call: ApiRequest,
    *,
    execute: Execute,
    begin: Callable[[], None],
    commit: Callable[[], None],
    rollback: Callable[[], None],
) -> Response:
    """Answer a ``$batch`` request; ``execute`` answers one request (may raise)."""
    if call.method != "POST":
        raise DataverseError(405, QUERY, "$batch accepts only POST.")
    items = _read(call.headers.get("content-type", ""), call.body)
    if items and not call.body.endswith((b"\r\n", b"\n\n")):
        return _unreadable(items)
    keep_going = "odata.continue-on-error" in call.prefer
    runner = _Runner(call, execute, begin, commit, rollback)
    boundary = f"batchresponse_{uuid.uuid4()}"
    rendered: list[str] = []
    failure: int | None = None
    for item in items:
        if isinstance(item, _ChangeSet):
            text, failed = _run_change_set(runner, item)
        else:
            begin()
            response = runner.one(item)
            (rollback if response.status >= 400 else commit)()
            text, failed = _render(response, item.content_id), response.status
            failed = failed if failed >= 400 else 0
        rendered.append(text)
        if failed:
            failure = failure or failed
            if not keep_going:
                break
    body = "".join(f"--{boundary}\r\n{text}\r\n" for text in rendered)
    body += f"--{boundary}--\r\n"
    status = 200 if keep_going or failure is None else failure
    headers = {"content-type": f"multipart/mixed; boundary={boundary}"}
    if keep_going:
        headers["preference-applied"] = "odata.continue-on-error"

    return Response(status, body.encode("utf-8"), headers)


def _run_change_set(runner: _Runner, change_set: _ChangeSet) -> tuple[str, int]:
    """The rendered change-set answer and the failing status (0 on success)."""
    runner.begin()
    answers: list[tuple[Response, str | None]] = []
    for part in change_set.parts:
        response = runner.one(part)
        if response.status >= 400:
            runner.rollback()
            return _render(response, part.content_id), response.status
        answers.append((response, part.content_id))
    runner.commit()
    inner = f"changesetresponse_{uuid.uuid4()}"
    text = "".join(
        f"--{inner}\r\n{_render(response, content_id)}\r\n"
        for response, content_id in answers
    )
    head = f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n"

    return f"{head}{text}--{inner}--", 0
