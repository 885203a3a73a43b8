"""A minimal ASGI layer shared by the emulators: one request in, one response out.

The emulators need exact control over status codes, headers and bodies (they
imitate other services byte for byte where it matters), and nothing of a web
framework's conveniences, so this is all they stand on. An app is an async
callable ``handler(request) -> Response`` wrapped by :class:`AsgiApp`; the same
object runs under uvicorn and in-process through ``httpx.ASGITransport``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from pointegration._json import dumps, loads

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass
class Request:
    """What the emulators read of an HTTP request.

    ``path`` is percent-decoded; ``raw_path`` keeps the bytes as sent, which OData
    key segments such as ``accounts(name='a%2Fb')`` need. ``query`` keeps the
    first value of each parameter, decoded; ``query_string`` keeps all of it.
    Header names are lower-case.
    """

    method: str
    path: str
    raw_path: str
    query_string: str
    headers: dict[str, str]
    body: bytes = b""
    client: str = ""
    scheme: str = "http"
    host: str = ""
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def query(self) -> dict[str, str]:
        """Query parameters, first value wins, names and values decoded."""
        result: dict[str, str] = {}
        for name, value in parse_qsl(self.query_string, keep_blank_values=True):
            result.setdefault(name, value)
        return result

    @property
    def base_url(self) -> str:
        """``scheme://host`` as the client addressed this server."""
        return f"{self.scheme}://{self.host}"

    def json(self) -> Any:
        """The body as JSON (decimals exact); ``ValueError`` when it is not JSON."""
        return loads(self.body)


@dataclass
class Response:
    """An HTTP response; ``body`` is bytes, see :func:`json_response`."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    after_send: Callable[[], Awaitable[None]] | None = None


def json_response(
    status: int,
    payload: Any,
    headers: Mapping[str, str] | None = None,
    *,
    content_type: str = "application/json; odata.metadata=minimal",
) -> Response:
    """A JSON response; ``Decimal`` values are written as exact JSON numbers."""
    body = dumps(payload).encode("utf-8")
    merged = {"content-type": content_type}
    merged.update({k.lower(): v for k, v in (headers or {}).items()})
    return Response(status, body, merged)


Handler = Callable[[Request], Awaitable[Response]]


class AsgiApp:
    """Adapts a request handler to ASGI (HTTP only; lifespan is acknowledged)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return

        request = await _read_request(scope, receive)
        response = await self.handler(request)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (k.encode("latin-1"), v.encode("latin-1"))
                    for k, v in response.headers.items()
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})
        if response.after_send is not None:
            await response.after_send()


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_request(scope: Scope, receive: Receive) -> Request:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break

    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
    client = scope.get("client") or ("", 0)

    return Request(
        method=scope["method"].upper(),
        path=scope["path"],
        raw_path=raw_path.decode("latin-1"),
        query_string=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=b"".join(chunks),
        client=str(client[0]),
        scheme=scope.get("scheme", "http"),
        host=headers.get("host", ""),
    )
