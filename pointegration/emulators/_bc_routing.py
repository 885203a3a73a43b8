"""OData addressing of the BC emulator: a path below an API root to a page call.

Below ``/v2.0/{tenant}/{environment}/api/v2.0`` (or a custom API root) a path
reads ``companies({companyId})/{entitySet}[({id})[/{navigation}[({id})]]]`` or
ends in a bound action ``.../{entitySet}({id})/Microsoft.NAV.{action}``. The
company may also come from ``?company=<id or name>`` or a ``Company`` header
(as in Microsoft's ``$batch`` example). Responses carry
``@odata.context``, every entity its ``@odata.etag``, a single entity also an
``ETag`` header; PATCH and DELETE need ``If-Match`` (a current ETag or ``*``).
A collection path may end in ``/$count`` for the number of matching rows.

Navigations served: ``customers/contactsInformation``, ``customers/currency``,
``customers/paymentTerm``, ``salesInvoices/salesInvoiceLines``,
``salesInvoices/customer``, ``salesInvoices/currency``,
``salesInvoices/paymentTerm``, ``salesInvoiceLines/item``, ``.../account`` and
``.../salesInvoice``, ``contactsInformation/contact``. Other navigations of the
contract answer 501.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from pointegration._json import loads
from pointegration.emulators._asgi import Response, json_response
from pointegration.emulators._bc_contract import EMPTY_GUID, EntitySpec
from pointegration.emulators._bc_errors import (
    BCError,
    read_only_method,
    segment_not_found,
)
from pointegration.emulators._bc_invoices import SalesInvoices
from pointegration.emulators._bc_pages import Page, Site
from pointegration.emulators._bc_query import (
    Position,
    Query,
    encode_token,
    parse_query,
    position_of,
    select_rows,
)
from pointegration.emulators._bc_store import Record, etag_of

__all__ = ["STANDARD_SETS", "ApiCall", "Router"]

STANDARD_SETS = frozenset(
    {
        "customers",
        "contacts",
        "contactsInformation",
        "countriesRegions",
        "currencies",
        "paymentTerms",
        "accounts",
        "items",
        "salesInvoices",
        "salesInvoiceLines",
    }
)
CUSTOM_SETS = frozenset({"postCodes"})
MAX_PAGE_SIZE = 20000

# (entity set, navigation) -> (target set, foreign key on the source or None
# for a collection under the source)
NAVIGATIONS: dict[tuple[str, str], tuple[str, str | None]] = {
    ("customers", "contactsInformation"): ("contactsInformation", None),
    ("customers", "currency"): ("currencies", "currencyId"),
    ("customers", "paymentTerm"): ("paymentTerms", "paymentTermsId"),
    ("salesInvoices", "salesInvoiceLines"): ("salesInvoiceLines", None),
    ("salesInvoices", "customer"): ("customers", "customerId"),
    ("salesInvoices", "currency"): ("currencies", "currencyId"),
    ("salesInvoices", "paymentTerm"): ("paymentTerms", "paymentTermsId"),
    ("salesInvoiceLines", "item"): ("items", "itemId"),
    ("salesInvoiceLines", "account"): ("accounts", "accountId"),
    ("salesInvoiceLines", "salesInvoice"): ("salesInvoices", "documentId"),
    ("contactsInformation", "contact"): ("contacts", "contactId"),
}

_SEGMENT = re.compile(r"(?P<name>[A-Za-z_$][\w.]*)(?:\((?P<key>[^()]*)\))?")
_GUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_HEADERS = {"odata-version": "4.0"}


@dataclass
class ApiCall:
    """One request below an API root (``root_url`` is that root, absolute)."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes
    root_url: str
    custom: bool = False
    segments: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass
class _Target:
    page: Page
    parent: Record | None
    record: Record | None
    action: str | None
    context: str


class Router:
    """Answers :class:`ApiCall` requests from the pages of one :class:`Site`."""

    def __init__(self, site: Site, max_page_size: int = MAX_PAGE_SIZE) -> None:
        self.site = site
        self.max_page_size = max_page_size

    def dispatch(self, call: ApiCall) -> Response:
        """The response to ``call``; raises :class:`BCError` for BC's refusals."""
        call.segments = [_segment(part) for part in call.path.split("/") if part]
        if not call.segments:
            return self._service_document(call)
        if call.segments[0][0] == "companies":
            return self._companies(call)
        company = call.params.get("company") or call.headers.get("company")
        if company is None:
            raise BCError(
                404,
                "Internal_CompanyNotFound",
                "Cannot process the request because the default company cannot be "
                "found. You can specify a company in the URL with "
                "companies({id}) or add a query string in the form of "
                '"company=[id]".',
            )
        self._check_company(company, by_name=True)

        return self._company_scoped(call, call.segments, f"companies({company})")

    # --- companies ---------------------------------------------------------------

    def _companies(self, call: ApiCall) -> Response:
        _name, key = call.segments[0]
        page = self.site.page("companies")
        if key is None:
            if len(call.segments) > 1:
                raise segment_not_found(call.segments[1][0])
            target = _Target(page, None, None, None, "companies")
            return self._answer(call, target)
        company_key = _key(key)
        self._check_company(company_key, by_name=False)
        if len(call.segments) == 1:
            record = page.lookup(company_key)
            return self._answer(call, _Target(page, None, record, None, "companies"))

        return self._company_scoped(
            call, call.segments[1:], f"companies({company_key})"
        )

    def _check_company(self, key: str, *, by_name: bool) -> None:
        company = self.site.engine.table("companies").get(self.site.company_id, {})
        if key.lower() == self.site.company_id or (
            by_name and key == company.get("name")
        ):
            return
        raise BCError(
            404,
            "Internal_CompanyNotFound",
            f"Cannot process the request because the company '{key}' cannot be found.",
        )

    # --- entity sets ---------------------------------------------------------

    def _company_scoped(
        self,
        call: ApiCall,
        segments: list[tuple[str, str | None]],
        prefix: str,
    ) -> Response:
        counting = len(segments) > 1 and segments[-1] == ("$count", None)
        target = self._resolve(call, segments[:-1] if counting else segments, prefix)
        if counting:
            return self._count(call, target)
        if target.action is not None:
            return self._action(call, target)

        return self._answer(call, target)

    def _count(self, call: ApiCall, target: _Target) -> Response:
        """``.../{collection}/$count``: the number of matching rows, as text."""
        if target.record is not None or call.method != "GET":
            raise segment_not_found("$count")
        query = self._query(target.page, call.params)
        rows = target.page.scoped(target.parent, query.filter)
        _, count = select_rows(rows, query, target.page.key_order, target.page.value)
        headers = {**_HEADERS, "content-type": "text/plain"}

        return Response(200, str(count).encode("ascii"), headers)

    def _resolve(
        self,
        call: ApiCall,
        segments: list[tuple[str, str | None]],
        prefix: str,
    ) -> _Target:
        name, key = segments[0]
        served = CUSTOM_SETS if call.custom else STANDARD_SETS
        if name not in served:
            raise segment_not_found(name)
        page = self.site.page(name)
        context = f"{prefix}/{name}"
        record = page.lookup(_key(key)) if key is not None else None
        parent: Record | None = None
        for index, (nav, nav_key) in enumerate(segments[1:], start=1):
            if record is None:
                raise segment_not_found(nav)
            if nav.startswith("Microsoft.NAV.") and index == len(segments) - 1:
                return _Target(page, parent, record, nav, context)
            target_set, foreign = NAVIGATIONS.get((page.entity_set, nav), ("", None))
            if not target_set:
                raise segment_not_found(nav)
            target_page = self.site.page(target_set)
            context = f"{context}({record.get('id') or record.get('contactId')})/{nav}"
            if foreign is None:
                parent = record
                page = target_page
                record = target_page.lookup(_key(nav_key), parent) if nav_key else None
                continue
            if nav_key is not None:
                raise segment_not_found(nav)
            related = record.get(foreign, EMPTY_GUID)
            parent, page = None, target_page
            record = target_page.lookup(related)

        return _Target(page, parent, record, None, context)

    def _answer(self, call: ApiCall, target: _Target) -> Response:
        page, record = target.page, target.record
        if record is None:
            if call.method == "GET":
                return self._collection(call, target)
            if call.method == "POST":
                return self._create(call, target)
            raise read_only_method(call.method, page.entity_set)
        if call.method == "GET":
            query = self._query(page, call.params)
            return self._entity(call, target, record, query, 200)
        if call.method == "PATCH":
            _check_etag(call.headers, record)
            changed = page.update(record, _body(call))
            return self._entity(
                call, target, changed, self._query(page, call.params), 200
            )
        if call.method == "DELETE":
            _check_etag(call.headers, record)
            page.remove(record)
            return Response(204, b"", dict(_HEADERS))
        raise read_only_method(call.method, page.entity_set)

    def _create(self, call: ApiCall, target: _Target) -> Response:
        query = self._query(target.page, call.params)
        record = target.page.create(_body(call), target.parent)
        response = self._entity(call, target, record, query, 201)
        location = f"{call.root_url}/{target.context}({record.get('id')})"
        response.headers["location"] = location

        return response

    def _action(self, call: ApiCall, target: _Target) -> Response:
        page, record = target.page, target.record
        assert record is not None
        assert target.action is not None
        action = target.action.removeprefix("Microsoft.NAV.")
        if call.method != "POST":
            raise read_only_method(call.method, target.action)
        if isinstance(page, SalesInvoices) and action == "post":
            page.post(record)
            return Response(204, b"", dict(_HEADERS))
        raise BCError(
            501 if isinstance(page, SalesInvoices) else 404,
            "BadRequest_MethodNotImplemented",
            f"The action '{target.action}' is not served by the emulator.",
        )

    # --- shaping -----------------------------------------------------------------

    def _query(self, page: Page, params: Mapping[str, str]) -> Query:
        return parse_query(page.spec, params, self._expand_specs(page.entity_set))

    def _expand_specs(self, entity_set: str) -> dict[str, EntitySpec]:
        specs: dict[str, EntitySpec] = {}
        for (source, nav), (target, _) in NAVIGATIONS.items():
            if source == entity_set:
                specs[nav] = self.site.page(target).spec

        return specs

    def _collection(self, call: ApiCall, target: _Target) -> Response:
        query = self._query(target.page, call.params)
        page = target.page
        rows = page.scoped(target.parent, query.filter)
        chosen, count = select_rows(rows, query, page.key_order, page.value)
        size = self._page_size(call.headers)
        window = chosen[:size]
        payload: dict[str, Any] = {
            "@odata.context": f"{call.root_url}/$metadata#{target.context}",
        }
        if query.count:
            payload["@odata.count"] = count
        payload["value"] = [self.shape(page, row, query) for row in window]
        if len(chosen) > size:
            last = position_of(window[-1], query, page.key_order, page.value)
            rest = None if query.top is None else query.top - size
            payload["@odata.nextLink"] = _next_link(call, last, rest)
        headers = dict(_HEADERS)
        if "odata.maxpagesize" in call.headers.get("prefer", ""):
            headers["preference-applied"] = f"odata.maxpagesize={size}"

        return json_response(200, payload, headers)

    def _page_size(self, headers: Mapping[str, str]) -> int:
        size = self.max_page_size
        for part in headers.get("prefer", "").split(","):
            name, _, value = part.strip().partition("=")
            if name == "odata.maxpagesize" and value.strip().isdigit():
                size = min(size, max(int(value), 1))

        return size

    def _entity(
        self,
        call: ApiCall,
        target: _Target,
        record: Record,
        query: Query,
        status: int,
    ) -> Response:
        payload: dict[str, Any] = {
            "@odata.context": f"{call.root_url}/$metadata#{target.context}/$entity",
        }
        payload.update(self.shape(target.page, record, query))
        headers = dict(_HEADERS)
        headers["etag"] = payload["@odata.etag"]

        return json_response(status, payload, headers)

    def shape(self, page: Page, record: Record, query: Query) -> dict[str, Any]:
        """``record`` as JSON: ETag, the selected properties, the expansions."""
        shown = page.render(record)
        out: dict[str, Any] = {"@odata.etag": etag_of(record)}
        for name in query.select or shown:
            out[name] = _wire_number(shown[name])
        for item in query.expand:
            out[item.name] = self._expanded(
                page, record, item.name, query.nested[item.name]
            )

        return out

    def _expanded(self, page: Page, record: Record, nav: str, query: Query) -> Any:
        target_set, foreign = NAVIGATIONS[(page.entity_set, nav)]
        target = self.site.page(target_set)
        if foreign is not None:
            related = target.engine.table(target_set).get(record.get(foreign, ""))
            return None if related is None else self.shape(target, related, query)
        rows = target.records(record)
        chosen, _ = select_rows(rows, query, target.key_order, target.value)

        return [self.shape(target, row, query) for row in chosen]

    def _service_document(self, call: ApiCall) -> Response:
        served = sorted(CUSTOM_SETS if call.custom else STANDARD_SETS | {"companies"})
        value = [{"name": n, "kind": "EntitySet", "url": n} for n in served]
        payload = {"@odata.context": f"{call.root_url}/$metadata", "value": value}

        return json_response(200, payload, dict(_HEADERS))


def _wire_number(value: Any) -> Any:
    """A decimal as BC writes it: ``450``, ``112.5`` (no trailing zeros)."""
    if isinstance(value, Decimal):
        normal = value.normalize()
        return normal.quantize(Decimal(1)) if normal == normal.to_integral() else normal

    return value


def _segment(text: str) -> tuple[str, str | None]:
    match = _SEGMENT.fullmatch(text)
    if match is None:
        raise BCError(
            400, "BadRequest_NotFound", "Bad Request - Error in query syntax."
        )

    return match.group("name"), match.group("key")


def _key(text: str) -> str:
    key = text.strip().strip("'")
    if key.startswith("id="):
        key = key[3:].strip("'")
    if not _GUID.fullmatch(key):
        raise BCError(
            400, "BadRequest_NotFound", "Bad Request - Error in query syntax."
        )

    return key.lower()


def _body(call: ApiCall) -> Any:
    try:
        return loads(call.body) if call.body.strip() else {}
    except ValueError:
        raise BCError(400, "BadRequest", "Invalid Request Body") from None


def _check_etag(headers: Mapping[str, str], record: Record) -> None:
    sent = headers.get("if-match", "").strip()
    if not sent:
        raise BCError(
            400,
            "BadRequest_InvalidToken",
            "Could not validate the client concurrency token required by the "
            "service. Please provide a valid token in the client request.",
        )
    if sent == "*":
        return
    if etag_of(record) not in [tag.strip() for tag in sent.split(",")]:
        raise BCError(
            409, "Request_EntityChanged", "Another user has already changed the record."
        )


def _next_link(call: ApiCall, after: Position, top: int | None) -> str:
    """The request's URL continuing after ``after``.

    The other options stay as sent, except that ``$skip`` is spent and ``$top``
    becomes what is left of it: a live BC tenant answered ``$top=25000`` with a
    nextLink carrying ``$top=5000`` (a third-party recording; Microsoft
    documents no such detail).
    """
    kept: list[str] = []
    for name, value in call.params.items():
        if name in ("$skiptoken", "$skip"):
            continue
        text = str(top) if name == "$top" and top is not None else value
        kept.append(f"{quote(name, safe='$')}={quote(text, safe=',()$')}")
    kept.append(f"$skiptoken={encode_token(after)}")

    return f"{call.root_url}/{call.path.lstrip('/')}?{'&'.join(kept)}"
