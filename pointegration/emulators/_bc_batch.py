"""JSON ``$batch`` of the BC emulator.

``POST {api root}/$batch`` with ``{"requests": [{"method", "id", "url",
"headers", "body"}]}``; each ``url`` is relative to the API root (an absolute
URL under that root works too). The answer is ``200 {"responses": [{"id",
"status", "headers", "body"}]}`` in request order.

- Inner requests run one after another, as BC runs them. Without
  ``Prefer: odata.continue-on-error`` the batch stops at the first failed
  request and the responses end with that failure (BC's default, as community
  reports describe it); with it every request runs.
- ``Isolation: snapshot`` makes the batch one transaction: if any inner request
  fails, every change of the batch is undone, while the responses still say
  what each request answered (Microsoft's documented example). AL that
  COMMITs ends that transaction (learn: use-odata-batch): a successful
  ``Microsoft.NAV.post`` (Sales-Post commits after posting) keeps itself and
  everything before it, and only later changes are undone.
- More than 100 operations: ``400 BadRequest`` (BC's documented limit; the
  wording of its refusal is unconfirmed).
- ``dependsOn`` and ``atomicityGroup`` are accepted and otherwise ignored:
  requests run in order anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pointegration._json import dumps, loads
from pointegration.emulators._asgi import Response, json_response
from pointegration.emulators._bc_errors import BCError
from pointegration.emulators._bc_routing import ApiCall
from pointegration.emulators._bc_store import Engine

__all__ = ["MAX_OPERATIONS", "run_batch"]

MAX_OPERATIONS = 100

Answer = Callable[[ApiCall], Response]


def run_batch(
    outer: ApiCall,
    engine: Engine,
    answer: Answer,
) -> Response:
    """The ``$batch`` response for ``outer``; ``answer`` runs one inner call."""
    requests = _requests(outer)
    isolated = outer.headers.get("isolation", "").strip().lower() == "snapshot"
    keep_going = "odata.continue-on-error" in outer.headers.get("prefer", "")
    snapshot = engine.snapshot() if isolated else None
    responses: list[dict[str, Any]] = []
    failed = False
    for item in requests:
        call = _inner(outer, item)
        response = answer(call)
        responses.append(_describe(item, response))
        if response.status >= 400:
            failed = True
            if not keep_going:
                break
        elif snapshot is not None and _commits(call):
            snapshot = engine.snapshot()
    if snapshot is not None and failed:
        engine.restore(snapshot)

    return json_response(200, {"responses": responses}, {"odata-version": "4.0"})


def _commits(call: ApiCall) -> bool:
    """Whether the AL behind ``call`` COMMITs (Sales-Post does, after posting)."""
    return call.method == "POST" and call.path.endswith(
        ("/Microsoft.NAV.post", "/Microsoft.NAV.postAndSend")
    )


def _requests(outer: ApiCall) -> list[Mapping[str, Any]]:
    try:
        body = loads(outer.body)
    except ValueError:
        body = None
    requests = body.get("requests") if isinstance(body, Mapping) else None
    if not isinstance(requests, list) or not all(
        isinstance(r, Mapping) and isinstance(r.get("url"), str) for r in requests
    ):
        raise BCError(400, "BadRequest", "Invalid Request Body")
    if len(requests) > MAX_OPERATIONS:
        text = (
            f"The batch request contains {len(requests)} operations, but at most "
            f"{MAX_OPERATIONS} are allowed."
        )
        raise BCError(400, "BadRequest", text)

    return requests


def _inner(outer: ApiCall, item: Mapping[str, Any]) -> ApiCall:
    url = str(item["url"])
    if url.startswith(("http://", "https://")):
        root_path = urlsplit(outer.root_url).path
        url = urlsplit(url).path.removeprefix(root_path) + (
            "?" + urlsplit(url).query if urlsplit(url).query else ""
        )
    path, _, query = url.partition("?")
    headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
    if "authorization" in outer.headers:
        headers.setdefault("authorization", outer.headers["authorization"])
    body = item.get("body")
    raw = b"" if body is None else dumps(body).encode("utf-8")

    return ApiCall(
        method=str(item.get("method", "GET")).upper(),
        path=path.lstrip("/"),
        params=dict(parse_qsl(query, keep_blank_values=True)),
        headers=headers,
        body=raw,
        root_url=outer.root_url,
        custom=outer.custom,
    )


def _describe(item: Mapping[str, Any], response: Response) -> dict[str, Any]:
    described: dict[str, Any] = {
        "id": item.get("id"),
        "status": response.status,
        "headers": {k: v for k, v in response.headers.items()},
    }
    if response.body:
        described["body"] = loads(response.body)

    return described
