"""A Business Central API v2.0 emulator: one company, real HTTP shapes.

It answers what an integration sees of BC online: the URLs
``/v2.0/{tenant}/{environment}/api/v2.0/companies({companyId})/{entitySet}...``
(plus the custom post-code API at ``/api/{postcodes_api}/...``), bearer-token
auth, BC's error bodies and codes, ETags with ``If-Match``, number series,
``$filter``/``$select``/``$orderby``/``$expand``/``$top``/``$skip`` with BC's
restrictions, server-driven paging, deep insert, ``Microsoft.NAV.post`` and
JSON ``$batch``. The entity types and their properties are read from the
contract file (``data/bc_api_v2_contract.json``), so GET returns exactly the
contract's properties plus ``@odata.etag``.

Served entity sets (standard API): ``companies`` (read-only), ``customers``,
``contacts``, ``contactsInformation`` (read-only), ``countriesRegions``,
``currencies``, ``paymentTerms``, ``accounts`` (read-only), ``items``,
``salesInvoices``, ``salesInvoiceLines``; custom API: ``postCodes``
(``id, code, city, countryRegionCode, county, lastModifiedDateTime``).

Admin API, no auth (drives scenarios BC has no API for)::

    POST /_admin/bc/reset                         back to the seeded state (204)
    POST /_admin/bc/seed                          {"customers": [{...}], ...}: POST
                                                  semantics per row, "id" may be
                                                  given; 200 {set: [rows]}
    POST /_admin/bc/invoices/{id}/post            Microsoft.NAV.post (204)
    POST /_admin/bc/invoices/{id}/payments        {"amount": 12.5}, full when
                                                  omitted; 200 {"remainingAmount",
                                                  "status"}
    GET  /_admin/bc/entities/{set}                every row, rendered (200)

Limitation: one company per emulator; no ``$metadata``, webhooks
(``subscriptions``), customerContacts, customerPayments, dimensions or
attachments; ``Data-Access-Intent`` and ``Accept-Language`` are ignored.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pointegration._json import loads
from pointegration.emulators._asgi import AsgiApp, Request, Response, json_response
from pointegration.emulators._bc_batch import run_batch
from pointegration.emulators._bc_errors import BCError, error_body
from pointegration.emulators._bc_invoices import SalesInvoices
from pointegration.emulators._bc_lines import SalesInvoiceLines
from pointegration.emulators._bc_pages import (
    Accounts,
    Companies,
    CountriesRegions,
    Currencies,
    Items,
    PaymentTerms,
    PostCodes,
    Site,
)
from pointegration.emulators._bc_parties import Contacts, ContactsInformation, Customers
from pointegration.emulators._bc_routing import ApiCall, Router
from pointegration.emulators._bc_seed import seed_company
from pointegration.emulators._bc_store import Engine, etag_of

__all__ = ["DEFAULT_TENANT_ID", "BusinessCentralEmulator"]

DEFAULT_TENANT_ID = "7f3c9a52-4d1e-4b8a-9c6f-2e5d8a1b3c40"
COMPANY_NAME = "CRONUS USA, Inc."
_PAGES = (
    Companies,
    CountriesRegions,
    Currencies,
    PaymentTerms,
    Accounts,
    Items,
    PostCodes,
    Customers,
    Contacts,
    ContactsInformation,
    SalesInvoices,
    SalesInvoiceLines,
)


class BusinessCentralEmulator:
    """An in-memory BC environment with one company, served as an ASGI app.

    ``token`` is the only bearer token accepted. Ids are drawn from a generator
    seeded with ``seed`` (the company's id too, unless ``company_id`` is given),
    so a run is repeatable. ``clock`` gives the current instant (aware UTC) for
    ``lastModifiedDateTime`` and default invoice dates. ``max_page_size`` is the
    server-driven page size (BC online: 20000).
    """

    def __init__(
        self,
        *,
        token: str,
        tenant_id: str = DEFAULT_TENANT_ID,
        environment: str = "production",
        company_id: str | None = None,
        seed: int = 0,
        tax_rate: Decimal = Decimal("0.25"),
        clock: Callable[[], datetime] | None = None,
        lcy_code: str = "USD",
        max_page_size: int = 20000,
        postcodes_api: str = "pobc/integration/v1.0",
    ) -> None:
        self._token = token
        self.tenant_id = tenant_id.lower()
        self.environment = environment
        self.postcodes_api = postcodes_api.strip("/")
        self._seed = seed
        self._tax_rate = tax_rate
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lcy_code = lcy_code.upper()
        self._max_page_size = max_page_size
        self._fixed_company_id = company_id.lower() if company_id else None
        self.company_id = ""
        self.reset()
        self.asgi = AsgiApp(self.handle)

    # --- in-process helpers ----------------------------------------------------

    def reset(self) -> None:
        """Back to the freshly seeded company (same ids for the same seed)."""
        engine = Engine(self._seed, self._clock, self._tax_rate, self._lcy_code)
        company_id = self._fixed_company_id or engine.new_id()
        site = Site(engine, company_id)
        for page_class in _PAGES:
            site.add(page_class(site))
        seed_company(site, COMPANY_NAME)
        self.company_id = company_id
        self._engine = engine
        self._site = site
        self._router = Router(site, self._max_page_size)

    def seed(
        self,
        entities: Mapping[str, Sequence[Mapping[str, Any]]],
    ) -> dict[str, list[dict[str, Any]]]:
        """Creates rows as POSTs would (``id`` may be given); the rows as shown.

        Read-only sets (``accounts``) take the given properties as they are.
        Raises :class:`BCError` as the POST would.
        """
        created: dict[str, list[dict[str, Any]]] = {}
        for entity_set, rows in entities.items():
            page = self._site.page(entity_set)
            for row in rows:
                body = dict(row)
                if "id" in body:
                    self._engine.pending_ids.append(str(body.pop("id")).lower())
                if page.spec.insert_allowed:
                    record = page.create(body)
                else:
                    record = page.new_record()
                    record.update(body)
                    self._engine.insert(entity_set, record)
                self._engine.pending_ids.clear()
                shown = {"@odata.etag": etag_of(record), **page.render(record)}
                created.setdefault(entity_set, []).append(shown)

        return created

    def post_invoice(self, invoice_id: str) -> None:
        """Posts the draft invoice ``invoice_id`` (``Microsoft.NAV.post``)."""
        page = self._invoices()
        page.post(page.lookup(invoice_id.lower()))

    def apply_payment(self, invoice_id: str, amount: Decimal | None = None) -> Decimal:
        """Applies a payment to the posted invoice; the remaining amount after it.

        ``amount`` None pays the rest. Raises ``ValueError`` for a draft, a paid
        invoice or an amount that is not in (0, remaining].
        """
        page = self._invoices()

        return page.apply_payment(page.lookup(invoice_id.lower()), amount)

    def rows(self, entity_set: str) -> list[dict[str, Any]]:
        """Every row of ``entity_set`` as the API shows it (with its ETag)."""
        page = self._site.page(entity_set)

        return [
            {"@odata.etag": etag_of(record), **page.render(record)}
            for record in page.all_records()
        ]

    def _invoices(self) -> SalesInvoices:
        page = self._site.page("salesInvoices")
        assert isinstance(page, SalesInvoices)

        return page

    # --- HTTP ----------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        """Answers one HTTP request."""
        try:
            if request.path.startswith("/_admin/bc/"):
                return self._admin(request)
            return self._api(request)
        except BCError as exc:
            return _error(exc)

    def _api(self, request: Request) -> Response:
        parts = [part for part in request.path.split("/") if part]
        if not self._authorized(request):
            return self._unauthorized()
        if len(parts) < 2 or parts[0] != "v2.0":
            raise BCError(
                404, "BadRequest_NotFound", "Bad Request - Error in query syntax."
            )
        rest = parts[1:]
        if rest[0].lower() == self.tenant_id and len(rest) > 1:
            rest = rest[1:]
        elif _looks_like_tenant(rest[0]):
            raise BCError(
                404,
                "Internal_TenantUnavailable",
                f"The tenant '{rest[0]}' is not accessible",
            )
        if rest[0] != self.environment:
            raise BCError(
                404,
                "Internal_TenantUnavailable",
                f"The environment '{rest[0]}' does not exist in the tenant.",
            )
        return self._under_api(request, rest[1:], parts)

    def _under_api(
        self, request: Request, rest: list[str], parts: list[str]
    ) -> Response:
        custom = self.postcodes_api.split("/")
        if len(rest) < 2 or rest[0] != "api":
            raise BCError(
                404, "BadRequest_NotFound", "Bad Request - Error in query syntax."
            )
        if rest[1] == "v2.0":
            depth, is_custom = 2, False
        elif rest[1 : 1 + len(custom)] == custom:
            depth, is_custom = 1 + len(custom), True
        else:
            raise BCError(
                404,
                "BadRequest_NotFound",
                f"No API is published at '{'/'.join(rest[1:])}'.",
            )
        root_parts = parts[: len(parts) - len(rest) + depth]
        call = ApiCall(
            method=request.method,
            path="/".join(rest[depth:]),
            params=request.query,
            headers=request.headers,
            body=request.body,
            root_url=request.base_url + "/" + "/".join(root_parts),
            custom=is_custom,
        )
        if call.path == "$batch":
            if request.method != "POST":
                raise BCError(
                    405, "BadRequest_MethodNotAllowed", "Use POST for $batch."
                )
            return run_batch(call, self._engine, self._inner)

        return self._router.dispatch(call)

    def _inner(self, call: ApiCall) -> Response:
        if not self._token_ok(call.headers.get("authorization", "")):
            return self._unauthorized()
        try:
            return self._router.dispatch(call)
        except BCError as exc:
            return _error(exc)

    def _authorized(self, request: Request) -> bool:
        return self._token_ok(request.headers.get("authorization", ""))

    def _token_ok(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")

        return scheme.lower() == "bearer" and value.strip() == self._token

    def _unauthorized(self) -> Response:
        correlation = str(uuid.uuid4())
        body = error_body(
            "Authentication_InvalidCredentials",
            "The server has rejected the client credentials.",
            correlation,
        )
        challenge = (
            f'Bearer authorization_uri="https://login.microsoftonline.com/'
            f'{self.tenant_id}/oauth2/authorize", '
            'resource_id="https://api.businesscentral.dynamics.com"'
        )

        return json_response(401, body, {"www-authenticate": challenge})

    # --- admin -------------------------------------------------------------------

    def _admin(self, request: Request) -> Response:
        route = request.path.removeprefix("/_admin/bc/").strip("/").split("/")
        method = request.method
        if method == "POST" and route == ["reset"]:
            self.reset()
            return Response(204)
        if method == "POST" and route == ["seed"]:
            return json_response(200, self.seed(_admin_body(request)))
        if method == "GET" and len(route) == 2 and route[0] == "entities":
            if route[1] not in self._site.pages:
                raise BCError(
                    404, "BadRequest_NotFound", f"Unknown entity set '{route[1]}'."
                )
            return json_response(200, {"value": self.rows(route[1])})
        if method == "POST" and len(route) == 3 and route[0] == "invoices":
            return self._admin_invoice(request, route[1], route[2])
        raise BCError(404, "BadRequest_NotFound", "Unknown admin route.")

    def _admin_invoice(
        self, request: Request, invoice_id: str, action: str
    ) -> Response:
        if action == "post":
            self.post_invoice(invoice_id)
            return Response(204)
        if action != "payments":
            raise BCError(404, "BadRequest_NotFound", "Unknown admin route.")
        body = _admin_body(request)
        amount = body.get("amount")
        if amount is not None and (
            isinstance(amount, bool) or not isinstance(amount, int | Decimal)
        ):
            raise BCError(400, "BadRequest", "The amount must be a number.")
        try:
            remaining = self.apply_payment(
                invoice_id, None if amount is None else Decimal(amount)
            )
        except ValueError as exc:
            raise BCError(400, "Application_DialogException", str(exc)) from None
        invoice = self._invoices().lookup(invoice_id.lower())

        return json_response(
            200, {"remainingAmount": remaining, "status": invoice["status"]}
        )


def _admin_body(request: Request) -> dict[str, Any]:
    try:
        body = loads(request.body) if request.body.strip() else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise BCError(400, "BadRequest", "Invalid Request Body")

    return body


def _looks_like_tenant(segment: str) -> bool:
    try:
        uuid.UUID(segment)
    except ValueError:
        return "." in segment

    return True


def _error(exc: BCError) -> Response:
    body = error_body(exc.code, exc.message, str(uuid.uuid4()))

    return json_response(exc.status, body, {"odata-version": "4.0"})
