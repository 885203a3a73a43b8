"""Webhook deliveries of the Dataverse emulator, shaped like the real service's.

When a row changes, Dataverse posts a ``RemoteExecutionContext`` to every webhook
step registered for that message and table. This module holds that part of the
emulator, apart from the store that calls it:

- :func:`matching_steps` picks the steps an event fires, as the platform does;
- :func:`build_context` builds the context in Microsoft's JSON form (key/value
  arrays, ``__type`` hints, ``/Date(ms)/`` dates) and :func:`render` writes it as
  the service's serializer does, with every ``/`` escaped as ``\\/``;
- :func:`build_headers` and :func:`auth_params` give the ``x-ms-dynamics-*``
  headers and the WebhookKey / HttpHeader / HttpQueryString credentials;
- :class:`WebhookDispatcher` posts, retries once on 502/503/504 only, and keeps
  a :class:`Delivery` history for the admin API and the tests.

The caller (the emulator's store) dispatches after the change commits. Every step,
synchronous or asynchronous, is delivered before :meth:`WebhookDispatcher.dispatch`
returns, one after another: synchronous steps first, then asynchronous ones, each
group by stage and rank. That keeps tests deterministic.

Limitation: a failed synchronous step does not roll the change back (the store
has committed by then); the failure is only recorded in the history.
Limitation: ``FormattedValues`` is always empty, images never carry
``RelatedEntities``, and a date-only value is written as midnight UTC.
Limitation: the ``ParentContext`` is a simplified Stage-30 context, and an
asynchronous Delete gets no ``AsynchronousStepPrimaryName`` image (there is no
post image of a deleted row).
Limitation: for a payload over 256 KB the trimmed properties are left out of the
JSON altogether, as the documentation words it ("will be removed").
"""

from __future__ import annotations

import logging
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx

from pointegration import _json
from pointegration.telemetry import log_event

__all__ = [
    "ASYNC_PRIMARY_NAME_IMAGE",
    "ENTITY_REFERENCE_TYPE",
    "ENTITY_TYPE",
    "MAX_PAYLOAD_BYTES",
    "MONEY_TYPE",
    "OPTION_SET_VALUE_TYPE",
    "ChangeEvent",
    "Delivery",
    "EntityRef",
    "ImageRegistration",
    "StepRegistration",
    "Value",
    "WebhookDispatcher",
    "auth_params",
    "build_context",
    "build_headers",
    "matching_steps",
    "render",
]

logger = logging.getLogger(__name__)

_CONTRACTS = "http://schemas.microsoft.com/xrm/2011/Contracts"
ENTITY_TYPE = f"Entity:{_CONTRACTS}"
ENTITY_REFERENCE_TYPE = f"EntityReference:{_CONTRACTS}"
OPTION_SET_VALUE_TYPE = f"OptionSetValue:{_CONTRACTS}"
MONEY_TYPE = f"Money:{_CONTRACTS}"
_STRING_PAIR_TYPE = "KeyValuePairOfstringstring:#System.Collections.Generic"

ASYNC_PRIMARY_NAME_IMAGE = "AsynchronousStepPrimaryName"
MAX_PAYLOAD_BYTES = 256 * 1024
"""Above this many body bytes the service trims the context (256 KB)."""

WEBHOOK_CONTRACT = 8
AUTH_WEBHOOK_KEY = 4
AUTH_HTTP_HEADER = 5
AUTH_HTTP_QUERY_STRING = 6
SYNCHRONOUS = 0
ASYNCHRONOUS = 1
_PRE_VALIDATION = 10
_MAIN_OPERATION = 30
_PRE_IMAGE_TYPES = (0, 2)
_POST_IMAGE_TYPES = (1, 2)
_RETRIED_STATUSES = frozenset({502, 503, 504})
_TRIMMED_KEYS = (
    "InputParameters",
    "ParentContext",
    "PostEntityImages",
    "PreEntityImages",
)
_EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KINDS = frozenset(
    {
        "string",
        "memo",
        "integer",
        "bigint",
        "decimal",
        "double",
        "money",
        "boolean",
        "datetime",
        "dateonly",
        "choice",
        "multichoice",
        "lookup",
        "uniqueidentifier",
    }
)


@dataclass(frozen=True)
class EntityRef:
    """A reference to a row: its table, its id and (optionally) its name."""

    logical_name: str
    id: str
    name: str | None = None


@dataclass(frozen=True)
class Value:
    """One column value with the Dataverse type its ``__type`` hint comes from.

    ``value`` is a ``Decimal`` for money and decimal, an aware datetime for
    datetime, a ``date`` for dateonly, an ``int`` for choice, a list of ``int``
    for multichoice, an :class:`EntityRef` for lookup, a guid string for
    uniqueidentifier, and ``None`` for a cleared column. An unknown kind raises
    ``ValueError``.
    """

    kind: str
    value: Any

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown Dataverse value kind {self.kind!r}")


@dataclass(frozen=True)
class ImageRegistration:
    """An ``sdkmessageprocessingstepimage``: 0 Pre, 1 Post, 2 Both.

    Empty ``attributes`` means every column.
    """

    alias: str
    image_type: int
    attributes: tuple[str, ...]
    message_property_name: str = "Target"


@dataclass(frozen=True)
class StepRegistration:
    """An ``sdkmessageprocessingstep`` joined with its ``serviceendpoint``.

    ``auth_value`` is the endpoint's write-only ``authvalue``: the bare key for
    WebhookKey (4), ``<settings><setting name=".." value=".."/></settings>``
    XML for HttpHeader (5) and HttpQueryString (6).
    """

    step_id: str
    name: str
    message: str
    table: str
    stage: int
    mode: int
    rank: int
    filtering_attributes: tuple[str, ...]
    enabled: bool
    endpoint_id: str
    url: str
    contract: int
    auth_type: int
    auth_value: str | None
    message_format: int | None
    images: tuple[ImageRegistration, ...]


@dataclass(frozen=True, kw_only=True)
class ChangeEvent:
    """One committed Create, Update or Delete, as the pipeline saw it.

    ``target`` is what the request set: for an Update only the changed columns
    plus the system ones the platform adds (``modifiedon``, ``modifiedby``,
    ``modifiedonbehalfby``, the primary id); for a Create every set column; for
    a Delete it is not used (the target is a reference). ``before`` is the full
    row before the change (``None`` for Create), ``after`` the full row after it
    (``None`` for Delete). ``primary_id_attribute`` defaults to ``<table>id``.
    """

    message: str
    table: str
    record_id: str
    target: Mapping[str, Value]
    before: Mapping[str, Value] | None
    after: Mapping[str, Value] | None
    primary_name_attribute: str
    user_id: str
    initiating_user_id: str
    business_unit_id: str
    organization_id: str
    organization_name: str
    organization_domain: str
    correlation_id: str
    occurred_at: datetime
    depth: int = 1
    primary_id_attribute: str | None = None

    @property
    def primary_id(self) -> str:
        """The logical name of the table's primary id column."""
        return self.primary_id_attribute or f"{self.table}id"


@dataclass
class Delivery:
    """The outcome of one step's delivery.

    ``url`` is the registered address without any query string (credentials
    never appear); ``status`` is the last HTTP status, ``None`` when no answer
    came; ``error`` is ``None`` on a 2xx answer; ``event`` is the message name.
    """

    step_id: str
    url: str
    status: int | None
    attempts: int
    error: str | None
    event: str
    record_id: str
    at: datetime


def matching_steps(
    steps: Iterable[StepRegistration],
    event: ChangeEvent,
) -> list[StepRegistration]:
    """The enabled webhook steps ``event`` fires, in the order they run.

    An Update step with filtering attributes fires only when the target holds
    at least one of them. Synchronous steps come before asynchronous ones (those
    run after the commit); within each, by stage, then rank, then registration.
    """
    fired = [step for step in steps if _fires(step, event)]

    return sorted(fired, key=lambda s: (s.mode == ASYNCHRONOUS, s.stage, s.rank))


def _fires(step: StepRegistration, event: ChangeEvent) -> bool:
    if not step.enabled or step.contract != WEBHOOK_CONTRACT:
        return False
    if step.message.casefold() != event.message.casefold():
        return False
    if step.table.lower() != event.table.lower():
        return False
    if event.message != "Update" or not step.filtering_attributes:
        return True
    changed = {name.lower() for name in event.target}

    return any(name.strip().lower() in changed for name in step.filtering_attributes)


def build_context(
    step: StepRegistration,
    event: ChangeEvent,
    *,
    operation_id: str,
    request_id: str | None = None,
    trimmed: bool = False,
) -> dict[str, Any]:
    """The ``RemoteExecutionContext`` for ``step``, in Microsoft's JSON form.

    With ``trimmed`` the context leaves out ParentContext, InputParameters,
    PreEntityImages and PostEntityImages, as the service does above 256 KB.
    """
    context = _skeleton(
        event,
        mode=step.mode,
        stage=step.stage,
        operation_id=operation_id,
        request_id=request_id,
    )
    context["IsInTransaction"] = (
        step.mode == SYNCHRONOUS and step.stage > _PRE_VALIDATION
    )
    context["OwningExtension"] = _reference("sdkmessageprocessingstep", step.step_id)
    context["ParentContext"] = _parent_context(event, operation_id, request_id)
    context["PostEntityImages"] = _post_images(step, event)
    context["PreEntityImages"] = _pre_images(step, event)
    if trimmed:
        for key in _TRIMMED_KEYS:
            del context[key]

    return context


def _skeleton(
    event: ChangeEvent,
    *,
    mode: int,
    stage: int,
    operation_id: str,
    request_id: str | None,
) -> dict[str, Any]:
    """Every key of a context, in the serializer's (alphabetical) order."""
    return {
        "BusinessUnitId": event.business_unit_id,
        "CorrelationId": event.correlation_id,
        "Depth": event.depth,
        "InitiatingUserId": event.initiating_user_id,
        "InputParameters": [_pair("Target", _target(event))],
        "IsExecutingOffline": False,
        "IsInTransaction": False,
        "IsOfflinePlayback": False,
        "IsolationMode": 1,
        "MessageName": event.message,
        "Mode": mode,
        "OperationCreatedOn": _date_with_offset(event.occurred_at),
        "OperationId": operation_id,
        "OrganizationId": event.organization_id,
        "OrganizationName": event.organization_name,
        "OutputParameters": _output_parameters(event),
        "OwningExtension": _reference("sdkmessageprocessingstep", _EMPTY_GUID),
        "ParentContext": None,
        "PostEntityImages": [],
        "PreEntityImages": [],
        "PrimaryEntityId": event.record_id,
        "PrimaryEntityName": event.table,
        "RequestId": request_id,
        "SecondaryEntityName": "none",
        "SharedVariables": [],
        "Stage": stage,
        "UserId": event.user_id,
    }


def _parent_context(
    event: ChangeEvent,
    operation_id: str,
    request_id: str | None,
) -> dict[str, Any]:
    """The main operation (stage 30) that the step's context descends from."""
    parent = _skeleton(
        event,
        mode=SYNCHRONOUS,
        stage=_MAIN_OPERATION,
        operation_id=operation_id,
        request_id=request_id,
    )
    parent["IsInTransaction"] = True
    if event.message != "Delete":
        parent["InputParameters"].append(_pair("SuppressDuplicateDetection", False))
    changed = {"__type": _STRING_PAIR_TYPE, "key": event.table, "value": event.message}
    parent["SharedVariables"] = [_pair("ChangedEntityTypes", [changed])]

    return parent


def _target(event: ChangeEvent) -> dict[str, Any]:
    if event.message == "Delete":
        return _reference(event.table, event.record_id, typed=True)

    return _entity(event.table, event.record_id, event.target, typed=True)


def _output_parameters(event: ChangeEvent) -> list[dict[str, Any]]:
    if event.message == "Create":
        return [_pair("id", event.record_id)]

    return []


def _post_images(step: StepRegistration, event: ChangeEvent) -> list[dict[str, Any]]:
    if event.after is None:
        return []
    images = []
    if step.mode == ASYNCHRONOUS:
        images.append(_pair(ASYNC_PRIMARY_NAME_IMAGE, _primary_name_image(event)))
    for image in step.images:
        if image.image_type in _POST_IMAGE_TYPES:
            images.append(_pair(image.alias, _image(image, event, event.after)))

    return images


def _pre_images(step: StepRegistration, event: ChangeEvent) -> list[dict[str, Any]]:
    if event.before is None:
        return []

    return [
        _pair(image.alias, _image(image, event, event.before))
        for image in step.images
        if image.image_type in _PRE_IMAGE_TYPES
    ]


def _primary_name_image(event: ChangeEvent) -> dict[str, Any]:
    row = event.after or {}
    columns: dict[str, Value] = {}
    name = row.get(event.primary_name_attribute)
    if name is not None and _is_set(name):
        columns[event.primary_name_attribute] = name
    columns[event.primary_id] = Value("uniqueidentifier", event.record_id)

    return _entity(event.table, event.record_id, columns, typed=False)


def _image(
    image: ImageRegistration,
    event: ChangeEvent,
    row: Mapping[str, Value],
) -> dict[str, Any]:
    """A row snapshot: the registered columns (all when none), nulls left out.

    Like a Retrieve, the snapshot always carries the primary id column.
    """
    wanted = {name.strip().lower() for name in image.attributes}
    if wanted:
        wanted.add(event.primary_id)
    columns = {
        name: value
        for name, value in row.items()
        if _is_set(value) and (not wanted or name.lower() in wanted)
    }

    return _entity(event.table, event.record_id, columns, typed=False)


def _is_set(value: Value | None) -> bool:
    return value is not None and value.value is not None


def _entity(
    table: str,
    record_id: str,
    attributes: Mapping[str, Value],
    *,
    typed: bool,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Attributes": [_pair(name, _wire(value)) for name, value in attributes.items()],
        "EntityState": None,
        "FormattedValues": [],
        "Id": record_id,
        "KeyAttributes": [],
        "LogicalName": table,
        "RelatedEntities": [],
        "RowVersion": None,
    }
    if typed:
        return {"__type": ENTITY_TYPE, **body}

    return body


def _reference(
    logical_name: str,
    record_id: str,
    name: str | None = None,
    *,
    typed: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Id": record_id,
        "KeyAttributes": [],
        "LogicalName": logical_name,
        "Name": name,
        "RowVersion": None,
    }
    if typed:
        return {"__type": ENTITY_REFERENCE_TYPE, **body}

    return body


def _pair(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "value": value}


def _wire(value: Value) -> Any:
    """An attribute value as the serializer writes it inside ``Attributes``."""
    raw = value.value
    if raw is None:
        return None
    match value.kind:
        case "money":
            return {"__type": MONEY_TYPE, "Value": _decimal(raw)}
        case "choice":
            return _option(raw)
        case "multichoice":
            return [_option(option) for option in raw]
        case "lookup":
            return _reference(raw.logical_name, raw.id, raw.name, typed=True)
        case "datetime":
            return f"/Date({_epoch_ms(raw)})/"
        case "dateonly":
            return f"/Date({_epoch_ms(datetime.combine(raw, time(), UTC))})/"
        case _:
            return raw


def _decimal(number: Decimal | int | float | str) -> Decimal:
    """An exact decimal; a float goes by its shortest text, not its binary value."""
    if isinstance(number, Decimal):
        return number

    return Decimal(str(number))


def _option(number: int) -> dict[str, Any]:
    return {"__type": OPTION_SET_VALUE_TYPE, "Value": int(number)}


def _epoch_ms(moment: datetime | date) -> int:
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ValueError(f"{moment!r} is not a timezone-aware datetime")

    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _date_with_offset(moment: datetime) -> str:
    """The WCF form with the offset, e.g. ``/Date(1506409448000+0000)/``."""
    offset = moment.utcoffset() or timedelta()
    sign = "-" if offset < timedelta() else "+"
    minutes = abs(offset) // timedelta(minutes=1)

    return f"/Date({_epoch_ms(moment)}{sign}{minutes // 60:02d}{minutes % 60:02d})/"


def render(context: Mapping[str, Any]) -> bytes:
    """The UTF-8 JSON body as the service writes it: exact numbers, ``/`` as ``\\/``.

    Outside strings JSON text has no ``/``, so escaping every one is safe.
    """
    return _json.dumps(context).replace("/", "\\/").encode("utf-8")


def build_headers(
    step: StepRegistration,
    event: ChangeEvent,
    body_size: int,
    *,
    request_id: str | None = None,
) -> dict[str, str]:
    """The request headers, with HttpHeader credentials when the step has them.

    ``body_size`` is the size of the full (untrimmed) body in bytes; above
    :data:`MAX_PAYLOAD_BYTES` the ``x-ms-dynamics-msg-size-exceeded`` header is
    added. A malformed HttpHeader ``authvalue`` raises ``ValueError``.
    """
    headers = {
        "content-type": "application/json; charset=utf-8",
        "x-ms-dynamics-organization": event.organization_domain,
        "x-ms-dynamics-entity-name": event.table,
        "x-ms-dynamics-request-name": event.message,
        "x-ms-correlation-request-id": event.correlation_id,
        "x-request-id": request_id or str(uuid.uuid4()),
    }
    if body_size > MAX_PAYLOAD_BYTES:
        headers["x-ms-dynamics-msg-size-exceeded"] = "true"
    if step.auth_type == AUTH_HTTP_HEADER:
        headers.update(_settings(step.auth_value))

    return headers


def auth_params(step: StepRegistration) -> list[tuple[str, str]]:
    """The query parameters the step's auth type adds to the URL.

    WebhookKey gives ``code=<authvalue>``; HttpQueryString gives its settings
    pairs. A malformed HttpQueryString ``authvalue`` raises ``ValueError``.
    """
    if step.auth_type == AUTH_WEBHOOK_KEY and step.auth_value:
        return [("code", step.auth_value)]
    if step.auth_type == AUTH_HTTP_QUERY_STRING:
        return _settings(step.auth_value)

    return []


def _settings(auth_value: str | None) -> list[tuple[str, str]]:
    """The name/value pairs of ``<settings><setting name= value=/></settings>``."""
    if not auth_value:
        return []
    try:
        # The XML is the emulator's own registration data, written by its admin.
        root = ElementTree.fromstring(auth_value)  # noqa: S314
    except ElementTree.ParseError as exc:
        raise ValueError("authvalue is not <settings> XML") from exc
    pairs = []
    for setting in root.iter("setting"):
        name = setting.get("name")
        if not name:
            raise ValueError("authvalue has a <setting> without a name")
        pairs.append((name, setting.get("value", "")))

    return pairs


class WebhookDispatcher:
    """Posts contexts to the steps an event fires and records every delivery.

    Each answer outside 2xx, and each timeout or connection failure, is a failed
    delivery; only 502, 503 and 504 get one more attempt, right away. Failures
    are recorded in :attr:`deliveries` and logged, never raised.
    """

    def __init__(
        self,
        *,
        client_factory: Callable[[], httpx.AsyncClient] | None = None,
        timeout: float = 60.0,
        clock: Callable[[], datetime] | None = None,
        ids: Callable[[], str] | None = None,
    ) -> None:
        self._timeout = timeout
        self._client_factory = client_factory or (
            lambda: httpx.AsyncClient(timeout=timeout)
        )
        self._clock = clock or (lambda: datetime.now(UTC))
        self._ids = ids or (lambda: str(uuid.uuid4()))
        self.deliveries: list[Delivery] = []

    async def dispatch(
        self,
        steps: Iterable[StepRegistration],
        event: ChangeEvent,
    ) -> list[Delivery]:
        """Deliver ``event`` to each step it fires, in order; the outcomes."""
        fired = matching_steps(steps, event)
        if not fired:
            return []
        async with self._client_factory() as client:
            outcomes = [await self._deliver(client, step, event) for step in fired]
        self.deliveries.extend(outcomes)

        return outcomes

    async def _deliver(
        self,
        client: httpx.AsyncClient,
        step: StepRegistration,
        event: ChangeEvent,
    ) -> Delivery:
        try:
            url, body, headers = self._request(step, event)
        except (ValueError, httpx.InvalidURL) as exc:
            return self._outcome(step, event, status=None, attempts=0, error=str(exc))
        status, error = await self._post(client, url, body, headers)
        attempts = 1
        if status in _RETRIED_STATUSES:
            _log(logging.INFO, "emulator.webhook.retry_scheduled", step, event, status)
            status, error = await self._post(client, url, body, headers)
            attempts = 2

        return self._outcome(step, event, status=status, attempts=attempts, error=error)

    def _request(
        self,
        step: StepRegistration,
        event: ChangeEvent,
    ) -> tuple[httpx.URL, bytes, dict[str, str]]:
        operation_id = self._ids()
        request_id = self._ids() if step.mode == SYNCHRONOUS else None
        context = build_context(
            step, event, operation_id=operation_id, request_id=request_id
        )
        body = render(context)
        size = len(body)
        if size > MAX_PAYLOAD_BYTES:
            trimmed = build_context(
                step,
                event,
                operation_id=operation_id,
                request_id=request_id,
                trimmed=True,
            )
            body = render(trimmed)
        headers = build_headers(step, event, size, request_id=self._ids())
        url = httpx.URL(step.url)
        for name, value in auth_params(step):
            url = url.copy_add_param(name, value)

        return url, body, headers

    async def _post(
        self,
        client: httpx.AsyncClient,
        url: httpx.URL,
        body: bytes,
        headers: dict[str, str],
    ) -> tuple[int | None, str | None]:
        """One attempt: the status and, unless it is 2xx, what went wrong."""
        try:
            response = await client.post(
                url, content=body, headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException:
            return None, "timeout"
        # Whatever breaks on the endpoint's side is a failed delivery, not ours.
        except Exception as exc:
            return None, type(exc).__name__
        if response.is_success:
            return response.status_code, None

        return response.status_code, f"HTTP {response.status_code}"

    def _outcome(
        self,
        step: StepRegistration,
        event: ChangeEvent,
        *,
        status: int | None,
        attempts: int,
        error: str | None,
    ) -> Delivery:
        delivery = Delivery(
            step_id=step.step_id,
            url=_public_url(step.url),
            status=status,
            attempts=attempts,
            error=error,
            event=event.message,
            record_id=event.record_id,
            at=self._clock(),
        )
        if error is None:
            _log(logging.INFO, "emulator.webhook.delivered", step, event, status)
        else:
            _log(
                logging.WARNING,
                "emulator.webhook.failed",
                step,
                event,
                status,
                attempts=attempts,
                error=error,
            )

        return delivery


def _public_url(url: str) -> str:
    """The URL without query, fragment or user info, so no credential shows."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return url.split("?", 1)[0]

    return str(parsed.copy_with(query=None, fragment=None, userinfo=b""))


def _log(
    level: int,
    event_name: str,
    step: StepRegistration,
    event: ChangeEvent,
    status: int | None,
    **fields: Any,
) -> None:
    log_event(
        logger,
        level,
        event_name,
        step_id=step.step_id,
        message=event.message,
        entity=event.table,
        record_id=event.record_id,
        status=status,
        correlation_id=event.correlation_id,
        **fields,
    )
