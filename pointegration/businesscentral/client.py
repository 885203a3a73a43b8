"""The Business Central API v2.0 client: company-scoped URLs, paging, ETags, batches.

The :class:`~pointegration.http.ServiceClient` it wraps has the base URL
``{BC_BASE_URL}/{BC_TENANT_ID}/{BC_ENVIRONMENT}/api``. Standard entities live under
``v2.0/companies({company})/{entitySet}``; post codes, which BC has no standard
API for, under our custom API ``{BC_POSTCODES_API}/companies({company})/postCodes``.
The client picks the API from the entity set, so ``list("postCodes")`` and
``list("customers")`` read alike.

What it guarantees before anything is sent:

- every record id and the company id is a GUID;
- every write body passes the entity set's payload model
  (:mod:`pointegration.businesscentral.models`): unknown and read-only properties
  are refused with :class:`~pointegration.errors.PayloadValidationError`;
- every PATCH and DELETE carries ``If-Match`` (the ``etag`` argument is
  required; pass ``"*"`` to overwrite on purpose).

Query options are percent-encoded so BC decodes each back to exactly the text
given; build ``$filter`` string literals with :func:`pointegration.odata.quote`.
Failures are the exceptions of :mod:`pointegration.errors`, raised by the service
client from BC's status and error code. Responses are read with exact decimals.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from uuid import UUID

import httpx

from pointegration import _json
from pointegration.businesscentral.batch import (
    BatchOperation,
    BatchResult,
    entity_path,
    send_batch,
)
from pointegration.businesscentral.models import (
    BCPayload,
    SalesInvoicePayload,
    create_body,
    update_body,
)
from pointegration.errors import (
    ConfigurationError,
    DataError,
    PayloadValidationError,
    ServiceUnavailableError,
    SettingsError,
)
from pointegration.http import ServiceClient
from pointegration.odata import query_string, quote

__all__ = [
    "DEFAULT_POSTCODES_API",
    "MAX_PAGE_SIZE",
    "STANDARD_API",
    "BusinessCentralClient",
]

STANDARD_API = "v2.0"
DEFAULT_POSTCODES_API = "pobc/integration/v1.0"
#: BC online never returns more rows per page, and refuses to be asked for more.
MAX_PAGE_SIZE = 20_000

_POST_CODES = "postCodes"
_CUSTOM_API = re.compile(r"[A-Za-z0-9]+/[A-Za-z0-9]+/(v\d+\.\d+|beta)")

Payload = BCPayload | Mapping[str, Any]


class BusinessCentralClient:
    """One BC company through the standard API v2.0 and our post-code API."""

    def __init__(
        self,
        service: ServiceClient,
        *,
        company_id: str,
        postcodes_api: str = DEFAULT_POSTCODES_API,
    ) -> None:
        problems = []
        try:
            entity_path(company_id, "companies")
        except PayloadValidationError:
            problems.append(f"BC_COMPANY_ID must be a GUID, got {company_id[:40]!r}")
        postcodes_api = postcodes_api.strip("/")
        if not _CUSTOM_API.fullmatch(postcodes_api):
            problems.append(
                "BC_POSTCODES_API must look like publisher/group/v1.0, "
                f"got {postcodes_api[:60]!r}"
            )
        if problems:
            raise SettingsError(problems)
        self.service = service
        self.company_id = str(UUID(company_id))
        self.postcodes_api = postcodes_api

    async def __aenter__(self) -> BusinessCentralClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool of the underlying ``ServiceClient``."""
        await self.service.aclose()

    # -- reads ---------------------------------------------------------------

    async def companies(self) -> builtins.list[dict[str, Any]]:
        """Every company of the environment (the root ``companies`` collection)."""
        url = f"{self.service.base_url}/{STANDARD_API}/companies"

        return [row async for row in self._rows(url, {}, None)]

    async def list(
        self,
        entity_set: str,
        *,
        filter: str | None = None,
        select: str | None = None,
        expand: str | None = None,
        orderby: str | None = None,
        top: int | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield the records of ``entity_set``, following ``@odata.nextLink``.

        ``page_size`` asks BC for smaller pages (``Prefer: odata.maxpagesize``,
        1 to 20,000); ``top`` caps the rows returned across all pages.
        """
        if page_size is not None and not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        params = {
            "$filter": filter,
            "$select": select,
            "$expand": expand,
            "$orderby": orderby,
            "$top": None if top is None else str(top),
        }
        headers = {}
        if page_size is not None:
            headers["Prefer"] = f"odata.maxpagesize={page_size}"
        url = self._url(entity_set, params=params)

        async for row in self._rows(url, headers, top):
            yield row

    async def get(
        self,
        entity_set: str,
        id: str | UUID,
        *,
        expand: str | None = None,
        select: str | None = None,
    ) -> dict[str, Any]:
        """One record by id, optionally with ``$expand``/``$select``."""
        url = self._url(entity_set, id, params={"$expand": expand, "$select": select})
        response = await self.service.request("GET", url, record_id=str(id))

        return _object(response)

    async def find_one(
        self,
        entity_set: str,
        filter: str,
        *,
        select: str | None = None,
        expand: str | None = None,
    ) -> dict[str, Any] | None:
        """The one record matching ``filter``, or None when there is none.

        For lookups by a key meant to be unique (a customer ``number``, an
        invoice's ``externalDocumentNumber``); two matches raise
        :class:`~pointegration.errors.DataError` rather than pick one.
        """
        rows = [
            row
            async for row in self.list(
                entity_set, filter=filter, select=select, expand=expand, top=2
            )
        ]
        if len(rows) > 1:
            raise DataError(
                f"{entity_set}: more than one record matches {filter}",
                code="ambiguous_match",
                system="bc",
            )

        return rows[0] if rows else None

    async def contacts_information(
        self, customer_id: str | UUID
    ) -> builtins.list[dict[str, Any]]:
        """The contacts linked to a customer (``customers({id})/contactsInformation``).

        The row whose ``contactType`` is ``Company`` is the customer's company
        contact, under which person contacts are created (``companyNumber``).
        """
        url = self._url("customers", customer_id, child="contactsInformation")

        return [row async for row in self._rows(url, {}, None)]

    # -- writes --------------------------------------------------------------

    async def create(self, entity_set: str, payload: Payload) -> dict[str, Any]:
        """POST a new record; returns BC's 201 body (``id``, ``@odata.etag``, ...)."""
        body = create_body(entity_set, payload)
        response = await self.service.request("POST", self._url(entity_set), json=body)

        return _object(response)

    async def update(
        self,
        entity_set: str,
        id: str | UUID,
        payload: Payload,
        *,
        etag: str,
    ) -> dict[str, Any]:
        """PATCH a record with ``If-Match: etag``; returns the updated record.

        A stale ``etag`` raises :class:`~pointegration.errors.ConcurrencyError`.
        """
        body = update_body(entity_set, payload)
        response = await self.service.request(
            "PATCH",
            self._url(entity_set, id),
            json=body,
            headers={"If-Match": _checked_etag(etag, entity_set, id)},
            record_id=str(id),
        )

        return _object(response)

    async def delete(self, entity_set: str, id: str | UUID, *, etag: str) -> None:
        """DELETE a record with ``If-Match: etag`` (BC answers 204)."""
        await self.service.request(
            "DELETE",
            self._url(entity_set, id),
            headers={"If-Match": _checked_etag(etag, entity_set, id)},
            record_id=str(id),
        )

    async def create_sales_invoice(
        self, invoice: SalesInvoicePayload | Mapping[str, Any]
    ) -> dict[str, Any]:
        """Create a draft invoice and its lines in one deep insert.

        POSTs ``salesInvoices?$expand=salesInvoiceLines`` so the answer holds the
        lines BC created. Not retried after a lost answer (a POST may have
        committed): look the invoice up by ``externalDocumentNumber`` instead.
        """
        body = create_body("salesInvoices", invoice)
        if not body.get("salesInvoiceLines"):
            raise PayloadValidationError(
                "salesInvoices: a deep insert needs at least one salesInvoiceLines "
                "entry",
                system="bc",
            )
        url = self._url("salesInvoices", params={"$expand": "salesInvoiceLines"})
        response = await self.service.request("POST", url, json=body)

        return _object(response)

    async def action(self, entity_set: str, id: str | UUID, action: str) -> None:
        """Call a bound action such as ``Microsoft.NAV.post`` (BC answers 204).

        Never repeated after a lost answer: the action may have run.
        """
        await self.service.request(
            "POST",
            self._url(entity_set, id, action=action),
            idempotent=False,
            record_id=str(id),
        )

    async def batch(
        self, requests: Sequence[BatchOperation], *, atomic: bool = False
    ) -> builtins.list[BatchResult]:
        """Send ``requests`` as JSON ``$batch`` calls of at most 100 operations.

        All operations must address one API (the standard one, or post codes on
        ours). See :func:`pointegration.businesscentral.batch.send_batch`.
        """
        if not requests:
            return []
        roots = {self._api_root(op.entity_set) for op in requests}
        if len(roots) > 1:
            raise PayloadValidationError(
                "a $batch goes to one API: send post codes and standard entities "
                "in separate batches",
                system="bc",
            )

        return await send_batch(
            self.service,
            requests,
            api_root=roots.pop(),
            company_id=self.company_id,
            atomic=atomic,
        )

    # -- post codes (custom API) ---------------------------------------------

    def list_post_codes(
        self,
        *,
        filter: str | None = None,
        top: int | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield post codes of the custom API."""
        return self.list(_POST_CODES, filter=filter, top=top, page_size=page_size)

    async def find_post_codes(
        self, code: str, *, city: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """Post codes with this ``code`` (and ``city``): BC's key is the pair."""
        condition = f"code eq {quote(code)}"
        if city is not None:
            condition += f" and city eq {quote(city)}"

        return [row async for row in self.list(_POST_CODES, filter=condition)]

    async def create_post_code(self, payload: Payload) -> dict[str, Any]:
        """POST a post code to the custom API."""
        return await self.create(_POST_CODES, payload)

    async def update_post_code(
        self, id: str | UUID, payload: Payload, *, etag: str
    ) -> dict[str, Any]:
        """PATCH a post code with ``If-Match: etag``."""
        return await self.update(_POST_CODES, id, payload, etag=etag)

    async def delete_post_code(self, id: str | UUID, *, etag: str) -> None:
        """DELETE a post code with ``If-Match: etag``."""
        await self.delete(_POST_CODES, id, etag=etag)

    # -- plumbing ------------------------------------------------------------

    def _api_root(self, entity_set: str) -> str:
        return self.postcodes_api if entity_set == _POST_CODES else STANDARD_API

    def _url(
        self,
        entity_set: str,
        id: str | UUID | None = None,
        *,
        child: str | None = None,
        action: str | None = None,
        params: Mapping[str, str | None] | None = None,
    ) -> str:
        path = entity_path(self.company_id, entity_set, id, child=child, action=action)
        root = self._api_root(entity_set)

        return f"{self.service.base_url}/{root}/{path}{query_string(params or {})}"

    async def _rows(
        self, url: str, headers: Mapping[str, str], top: int | None
    ) -> AsyncIterator[dict[str, Any]]:
        sent = 0
        next_url: str | None = url
        while next_url is not None:
            response = await self.service.request("GET", next_url, headers=headers)
            page = _object(response)
            rows = page.get("value", [])
            if not isinstance(rows, builtins.list) or not all(
                isinstance(row, dict) for row in rows
            ):
                raise _unreadable(response, "has no value array of records")
            for row in rows:
                if top is not None and sent >= top:
                    return
                sent += 1
                yield row
            link = page.get("@odata.nextLink")
            if link is not None and not isinstance(link, str):
                raise _unreadable(response, "has a nextLink that is no URL")
            next_url = self._next_link(next_url, link)

    def _next_link(self, current: str, link: str | None) -> str | None:
        """The next page's absolute URL, refusing one that leaves BC's host."""
        if not link:
            return None
        target = httpx.URL(current).join(link)
        base = httpx.URL(self.service.base_url)
        if (target.scheme, target.host, target.port) != (
            base.scheme,
            base.host,
            base.port,
        ):
            raise ConfigurationError(
                "BC returned an @odata.nextLink to another host; the client does "
                f"not send its token there ({target.host})",
                system="bc",
            )

        return str(target)


def _checked_etag(etag: str, entity_set: str, id: str | UUID) -> str:
    if not isinstance(etag, str) or not etag.strip():
        raise PayloadValidationError(
            f"{entity_set}({id}): If-Match needs the record's @odata.etag, or '*'",
            system="bc",
            record_id=str(id),
        )
    return etag


def _object(response: httpx.Response) -> dict[str, Any]:
    """The response body as a JSON object; ``{}`` for an empty (204) body."""
    if response.status_code == 204 or not response.content:
        return {}
    try:
        body = _json.loads(response.content)
    except ValueError as exc:
        raise _unreadable(response, "is not JSON") from exc
    if not isinstance(body, dict):
        raise _unreadable(response, "is not a JSON object")

    return body


def _unreadable(response: httpx.Response, why: str) -> ServiceUnavailableError:
    return ServiceUnavailableError(
        f"BC answered with a body that {why}",
        system="bc",
        status=response.status_code,
        method=response.request.method,
        path=response.request.url.path,
    )
