"""Every public client method, driven through every failure mode, raises only ours.

httpx, pydantic and JSON errors must be translated at the boundary; a caller
decides from the class of an :class:`~pointegration.errors.IntegrationError`
alone. Each case either succeeds or raises one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from pointegration.businesscentral.batch import BatchOperation
from pointegration.businesscentral.client import BusinessCentralClient
from pointegration.dataverse.batch import Operation
from pointegration.dataverse.client import DataverseClient
from pointegration.dataverse.models import Account
from pointegration.errors import IntegrationError
from tests.unit import _bc_http, _dataverse_http

ID = _dataverse_http.ACCOUNT_ID
BC_ID = _bc_http.RECORD


def _raise(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def _answer(
    status: int, content: bytes, content_type: str = "application/json"
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status, content=content, headers={"Content-Type": content_type}
        )

    return handler


def _bad_gzip(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        content=b"not gzip at all",
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )


FAILURES: dict[str, Callable[[httpx.Request], httpx.Response]] = {
    "connect-error": _raise(httpx.ConnectError("refused")),
    "read-timeout": _raise(httpx.ReadTimeout("slow")),
    "write-timeout": _raise(httpx.WriteTimeout("slow")),
    "pool-timeout": _raise(httpx.PoolTimeout("full")),
    "disconnected": _raise(httpx.RemoteProtocolError("closed")),
    "reset": _raise(httpx.ReadError("reset")),
    "proxy-error": _raise(httpx.ProxyError("proxy")),
    "unsupported-protocol": _raise(httpx.UnsupportedProtocol("ftp")),
    "bad-gzip": _bad_gzip,
    "not-json": _answer(200, b"<html>hello</html>", "text/html"),
    "json-array": _answer(200, b"[1, 2]"),
    "value-not-list": _answer(200, b'{"value": 5}'),
    "rows-not-objects": _answer(200, b'{"value": [1, "x", null]}'),
    "row-of-wrong-types": _answer(
        200, b'{"value": [{"accountid": 5, "name": []}], "accountid": 7}'
    ),
    "next-link-not-text": _answer(200, b'{"value": [], "@odata.nextLink": 5}'),
    "bc-batch-odd-parts": _answer(
        200,
        b'{"responses": [{"id": "1", "status": "abc", "headers": [1]}, 5],'
        b' "value": []}',
    ),
    "empty-200": _answer(200, b""),
    "html-500": _answer(500, b"<html>oops</html>", "text/html"),
    "error-body-odd": _answer(400, b'{"error": "just text"}'),
    "multipart-garbage": _answer(
        200, b"--x\r\nnonsense", "multipart/mixed; boundary=x"
    ),
    "multipart-error": _answer(
        503, b"--x\r\n\r\nHTTP/1.1 9\r\n--x--", "multipart/mixed; boundary=x"
    ),
}


async def _drain(rows: AsyncIterator[Any]) -> None:
    _ = [row async for row in rows]


Call = Callable[[Any], Awaitable[Any]]

DATAVERSE_CALLS: dict[str, Call] = {
    "query": lambda c: _drain(c.query("accounts", select=["name"])),
    "query_page": lambda c: c.query_page("accounts"),
    "next_page": lambda c: c.next_page(
        f"{_dataverse_http.BASE}/accounts?$skiptoken=x", prefer=None
    ),
    "query_all": lambda c: c.query_all("accounts"),
    "query_models": lambda c: _drain(c.query_models(Account)),
    "get": lambda c: c.get("accounts", ID),
    "get_by_key": lambda c: c.get_by_key("accounts", {"accountnumber": "A1"}),
    "get_model": lambda c: c.get_model(Account, ID),
    "who_am_i": lambda c: c.who_am_i(),
    "create": lambda c: c.create("accounts", {"name": "A"}),
    "create_representation": lambda c: c.create(
        "accounts", {"name": "A"}, return_representation=True
    ),
    "update": lambda c: c.update("accounts", ID, {"name": "A"}),
    "upsert": lambda c: c.upsert(
        "accounts", {"accountnumber": "A1"}, {"name": "A"}, mode="create_only"
    ),
    "delete": lambda c: c.delete("accounts", ID),
    "batch": lambda c: c.batch([Operation.create("accounts", {"name": "A"})]),
    "batch_atomic": lambda c: c.batch(
        [Operation.create("accounts", {"name": "A"})], atomic=True
    ),
    "send": lambda c: c.send(Operation("POST", "WhoAmI")),
}

BC_CALLS: dict[str, Call] = {
    "companies": lambda c: c.companies(),
    "list": lambda c: _drain(c.list("customers", page_size=10)),
    "get": lambda c: c.get("customers", BC_ID),
    "contacts_information": lambda c: c.contacts_information(BC_ID),
    "find_one": lambda c: c.find_one("customers", "number eq 'C1'"),
    "create": lambda c: c.create("customers", {"displayName": "A"}),
    "update": lambda c: c.update(
        "customers", BC_ID, {"displayName": "A"}, etag='W/"JzQ0Oyc="'
    ),
    "delete": lambda c: c.delete("customers", BC_ID, etag="*"),
    "create_sales_invoice": lambda c: c.create_sales_invoice(
        {"customerNumber": "C1", "salesInvoiceLines": [{"lineType": "Comment"}]}
    ),
    "action": lambda c: c.action("salesInvoices", BC_ID, "Microsoft.NAV.post"),
    "batch": lambda c: c.batch(
        [BatchOperation.create("customers", {"displayName": "A"})]
    ),
    "batch_atomic": lambda c: c.batch(
        [BatchOperation.get("customers", BC_ID)], atomic=True
    ),
    "list_post_codes": lambda c: _drain(c.list_post_codes()),
    "find_post_codes": lambda c: c.find_post_codes("1000", city="Oslo"),
    "create_post_code": lambda c: c.create_post_code({"code": "1", "city": "X"}),
    "update_post_code": lambda c: c.update_post_code(BC_ID, {"city": "Y"}, etag="*"),
    "delete_post_code": lambda c: c.delete_post_code(BC_ID, etag="*"),
}


async def _only_ours(call: Call, client: Any) -> None:
    try:
        with contextlib.suppress(IntegrationError):
            await call(client)
    finally:
        await client.aclose()


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("method", DATAVERSE_CALLS)
async def test_dataverse_client_raises_only_integration_errors(
    method: str, failure: str
) -> None:
    """A Dataverse client method meeting this failure succeeds or raises ours."""
    client: DataverseClient = _dataverse_http.make_client(FAILURES[failure])

    await _only_ours(DATAVERSE_CALLS[method], client)


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("method", BC_CALLS)
async def test_bc_client_raises_only_integration_errors(
    method: str, failure: str
) -> None:
    """A BC client method meeting this failure succeeds or raises ours."""
    client: BusinessCentralClient = _bc_http.make_client(FAILURES[failure])

    await _only_ours(BC_CALLS[method], client)
