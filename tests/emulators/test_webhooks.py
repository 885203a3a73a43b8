"""Tests of the Dataverse emulator's webhook deliveries (payload, auth, retries)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from pointegration import _json
from pointegration.emulators._asgi import AsgiApp, Request, Response
from pointegration.emulators._webhooks import (
    ASYNC_PRIMARY_NAME_IMAGE,
    MAX_PAYLOAD_BYTES,
    ChangeEvent,
    EntityRef,
    ImageRegistration,
    StepRegistration,
    Value,
    WebhookDispatcher,
    build_context,
    build_headers,
    matching_steps,
    render,
)
from tests.emulators.webhook_shape import SAMPLE, shape_errors

FIXTURE = Path(__file__).parent.parent / "fixtures"
ENTITY = "Entity:http://schemas.microsoft.com/xrm/2011/Contracts"
REFERENCE = "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts"
OPTION = "OptionSetValue:http://schemas.microsoft.com/xrm/2011/Contracts"
MONEY = "Money:http://schemas.microsoft.com/xrm/2011/Contracts"

CONTACT_ID = "0b8f3e2a-5c1d-4e7f-9a6b-1c2d3e4f5a6b"
ACCOUNT_ID = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
USER_ID = "3c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f"
STEP_ID = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
MODIFIED_ON = datetime(2025, 1, 1, tzinfo=UTC)
OCCURRED_AT = datetime(2025, 1, 1, 0, 0, 5, tzinfo=UTC)
AT = datetime(2025, 1, 1, 0, 0, 6, tzinfo=UTC)
OPERATION_ID = "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"
HOOK = "http://127.0.0.1:7071/api/dataverse/events"


def _step(**changes: Any) -> StepRegistration:
    step = StepRegistration(
        step_id=STEP_ID,
        name="pobc: contact Update",
        message="Update",
        table="contact",
        stage=40,
        mode=1,
        rank=1,
        filtering_attributes=("firstname", "lastname"),
        enabled=True,
        endpoint_id="9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
        url=HOOK,
        contract=8,
        auth_type=4,
        auth_value="fn-key-123",
        message_format=2,
        images=(
            ImageRegistration(
                alias="PostImage",
                image_type=1,
                attributes=("firstname", "lastname", "emailaddress1"),
            ),
        ),
    )

    return replace(step, **changes)


def _contact_row(firstname: str) -> dict[str, Value]:
    return {
        "contactid": Value("uniqueidentifier", CONTACT_ID),
        "firstname": Value("string", firstname),
        "lastname": Value("string", "Glynn"),
        "fullname": Value("string", f"{firstname} Glynn"),
        "yomifullname": Value("string", f"{firstname} Glynn"),
        "emailaddress1": Value("string", "jg@example.com"),
        "telephone1": Value("string", None),
        "parentcustomerid": Value("lookup", EntityRef("account", ACCOUNT_ID, "Fab")),
        "modifiedon": Value("datetime", MODIFIED_ON),
    }


def _update_event(**changes: Any) -> ChangeEvent:
    event = ChangeEvent(
        message="Update",
        table="contact",
        record_id=CONTACT_ID,
        target={
            "firstname": Value("string", "James"),
            "contactid": Value("uniqueidentifier", CONTACT_ID),
            "fullname": Value("string", "James Glynn"),
            "yomifullname": Value("string", "James Glynn"),
            "modifiedon": Value("datetime", MODIFIED_ON),
            "modifiedby": Value("lookup", EntityRef("systemuser", USER_ID)),
            "modifiedonbehalfby": Value("lookup", None),
        },
        before=_contact_row("Jim"),
        after=_contact_row("James"),
        primary_name_attribute="fullname",
        user_id=USER_ID,
        initiating_user_id=USER_ID,
        business_unit_id="1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a",
        organization_id="2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a6b",
        organization_name="pobcdemo",
        organization_domain="pobcdemo.crm.dynamics.com",
        correlation_id="4f5a6b7c-8d9e-4f0a-8b1c-2d3e4f5a6b7c",
        occurred_at=OCCURRED_AT,
    )

    return replace(event, **changes)


def _pairs(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {entry["key"]: entry["value"] for entry in entries}


def _attributes(entity: dict[str, Any]) -> dict[str, Any]:
    return _pairs(entity["Attributes"])


def _context(step: StepRegistration, event: ChangeEvent) -> dict[str, Any]:
    return build_context(step, event, operation_id=OPERATION_ID)


def test_contact_update_has_the_shape_of_microsofts_sample() -> None:
    """A contact Update context has the keys and value kinds of Microsoft's sample."""
    sample = _json.loads(SAMPLE.read_bytes())
    context = _json.loads(render(_context(_step(), _update_event())))
    # The sample's ParentContext and its Target were cut short in the reference,
    # and our step registers a PostImage beside the automatic one.
    loose = frozenset(
        {
            "$.ParentContext",
            "$.ParentContext.InputParameters[Target]",
            "$.PostEntityImages",
        }
    )

    assert list(shape_errors(sample, context, "$", loose)) == []
    assert list(sample) == list(context)


def test_shape_check_notices_a_wrong_kind() -> None:
    """The shape comparison reports a value of another kind, so it can fail."""
    sample = {"Mode": 1, "Attributes": [{"key": "modifiedon", "value": "/Date(1)/"}]}
    broken = {"Mode": "1", "Attributes": [{"key": "modifiedon", "value": "x"}]}

    assert len(list(shape_errors(sample, broken, "$", frozenset()))) == 2


def test_contact_update_context_values() -> None:
    """The contact Update context carries the step, the change and the images."""
    context = _context(_step(), _update_event())

    assert (
        context["MessageName"],
        context["PrimaryEntityName"],
        context["PrimaryEntityId"],
    ) == ("Update", "contact", CONTACT_ID)
    assert (
        context["Mode"],
        context["Stage"],
        context["Depth"],
        context["IsInTransaction"],
    ) == (1, 40, 1, False)
    assert context["OperationCreatedOn"] == "/Date(1735689605000+0000)/"
    assert context["OperationId"] == OPERATION_ID
    assert context["RequestId"] is None
    assert context["SecondaryEntityName"] == "none"
    assert context["OutputParameters"] == []
    assert context["PreEntityImages"] == []
    assert context["OwningExtension"] == {
        "Id": STEP_ID,
        "KeyAttributes": [],
        "LogicalName": "sdkmessageprocessingstep",
        "Name": None,
        "RowVersion": None,
    }


def test_update_target_holds_only_the_change_with_type_hints() -> None:
    """The Target is a typed Entity holding the changed and system columns only."""
    target = _pairs(_context(_step(), _update_event())["InputParameters"])["Target"]

    assert target["__type"] == ENTITY
    assert (target["Id"], target["LogicalName"]) == (CONTACT_ID, "contact")
    assert _attributes(target) == {
        "firstname": "James",
        "contactid": CONTACT_ID,
        "fullname": "James Glynn",
        "yomifullname": "James Glynn",
        "modifiedon": "/Date(1735689600000)/",
        "modifiedby": {
            "__type": REFERENCE,
            "Id": USER_ID,
            "KeyAttributes": [],
            "LogicalName": "systemuser",
            "Name": None,
            "RowVersion": None,
        },
        "modifiedonbehalfby": None,
    }


def test_async_step_gets_the_primary_name_image_and_its_post_image() -> None:
    """An async step gets AsynchronousStepPrimaryName plus its filtered PostImage."""
    images = _pairs(_context(_step(), _update_event())["PostEntityImages"])

    assert list(images) == [ASYNC_PRIMARY_NAME_IMAGE, "PostImage"]
    assert images[ASYNC_PRIMARY_NAME_IMAGE]["Attributes"] == [
        {"key": "fullname", "value": "James Glynn"},
        {"key": "contactid", "value": CONTACT_ID},
    ]
    assert _attributes(images["PostImage"]) == {
        "contactid": CONTACT_ID,
        "firstname": "James",
        "lastname": "Glynn",
        "emailaddress1": "jg@example.com",
    }
    assert all("__type" not in image for image in images.values())


def test_sync_step_gets_no_primary_name_image_and_runs_in_the_transaction() -> None:
    """A synchronous step has only its registered images and IsInTransaction."""
    context = _context(_step(mode=0), _update_event())

    assert list(_pairs(context["PostEntityImages"])) == ["PostImage"]
    assert context["IsInTransaction"] is True
    assert context["RequestId"] is None


def test_pre_image_comes_from_the_row_before_with_every_set_column() -> None:
    """A Pre image without attributes holds every non-null column of the old row."""
    step = _step(images=(ImageRegistration("PreImage", 0, ()),))
    images = _pairs(_context(step, _update_event())["PreEntityImages"])

    assert list(images) == ["PreImage"]
    pre = _attributes(images["PreImage"])
    assert pre["firstname"] == "Jim"
    assert "telephone1" not in pre
    assert pre["parentcustomerid"]["LogicalName"] == "account"


def test_both_image_appears_before_and_after() -> None:
    """An image of type Both appears in PreEntityImages and PostEntityImages."""
    step = _step(images=(ImageRegistration("Image", 2, ("firstname",)),))
    context = _context(step, _update_event())

    pre = _attributes(_pairs(context["PreEntityImages"])["Image"])
    post = _attributes(_pairs(context["PostEntityImages"])["Image"])
    assert (pre["firstname"], post["firstname"]) == ("Jim", "James")


def test_parent_context_is_the_main_operation() -> None:
    """ParentContext is a Stage-30 context with the Target and ChangedEntityTypes."""
    parent = _context(_step(), _update_event())["ParentContext"]

    assert (
        parent["MessageName"],
        parent["Stage"],
        parent["PrimaryEntityName"],
        parent["ParentContext"],
    ) == ("Update", 30, "contact", None)
    inputs = _pairs(parent["InputParameters"])
    assert inputs["Target"]["__type"] == ENTITY
    assert inputs["SuppressDuplicateDetection"] is False
    assert _pairs(parent["SharedVariables"])["ChangedEntityTypes"] == [
        {
            "__type": "KeyValuePairOfstringstring:#System.Collections.Generic",
            "key": "contact",
            "value": "Update",
        }
    ]


def test_render_escapes_every_slash_like_the_service() -> None:
    """The body writes each / as \\/ and decodes back to the plain values."""
    body = render(_context(_step(), _update_event()))

    assert b'"\\/Date(1735689600000)\\/"' in body
    assert b'"\\/Date(1735689605000+0000)\\/"' in body
    assert b'"Entity:http:\\/\\/schemas.microsoft.com\\/xrm\\/2011\\/Contracts"' in body
    assert b"/" not in body.replace(b"\\/", b"")
    assert (
        _attributes(_pairs(_json.loads(body)["InputParameters"])["Target"]).get(
            "modifiedon"
        )
        == "/Date(1735689600000)/"
    )


def _create_event() -> ChangeEvent:
    row = {
        "accountid": Value("uniqueidentifier", ACCOUNT_ID),
        "name": Value("string", "Fabrikam"),
        "description": Value("memo", "Key customer/partner"),
        "creditlimit": Value("money", Decimal("1234.565")),
        "pobc_bcsyncstatus": Value("choice", 192350001),
        "pobc_tags": Value("multichoice", [1, 3]),
        "transactioncurrencyid": Value(
            "lookup", EntityRef("transactioncurrency", USER_ID)
        ),
        "donotemail": Value("boolean", False),
        "numberofemployees": Value("integer", 42),
        "revenue_base": Value("decimal", Decimal("10.50")),
        "address1_latitude": Value("double", 47.5),
        "pobc_bcsyncedon": Value("datetime", MODIFIED_ON),
        "pobc_since": Value("dateonly", date(2025, 1, 2)),
    }

    return _update_event(
        message="Create",
        table="account",
        record_id=ACCOUNT_ID,
        target=row,
        before=None,
        after=row,
        primary_name_attribute="name",
    )


def test_create_carries_the_new_id_and_typed_values() -> None:
    """A Create has OutputParameters id and each column in its documented form."""
    step = _step(message="Create", table="account", filtering_attributes=())
    context = _json.loads(render(_context(step, _create_event())))
    target = _pairs(context["InputParameters"])["Target"]

    assert context["OutputParameters"] == [{"key": "id", "value": ACCOUNT_ID}]
    assert _attributes(target) == {
        "accountid": ACCOUNT_ID,
        "name": "Fabrikam",
        "description": "Key customer/partner",
        "creditlimit": {"__type": MONEY, "Value": Decimal("1234.565")},
        "pobc_bcsyncstatus": {"__type": OPTION, "Value": 192350001},
        "pobc_tags": [{"__type": OPTION, "Value": 1}, {"__type": OPTION, "Value": 3}],
        "transactioncurrencyid": {
            "__type": REFERENCE,
            "Id": USER_ID,
            "KeyAttributes": [],
            "LogicalName": "transactioncurrency",
            "Name": None,
            "RowVersion": None,
        },
        "donotemail": False,
        "numberofemployees": 42,
        "revenue_base": Decimal("10.50"),
        "address1_latitude": 47.5,
        "pobc_bcsyncedon": "/Date(1735689600000)/",
        "pobc_since": "/Date(1735776000000)/",
    }
    primary_name = _pairs(context["PostEntityImages"])[ASYNC_PRIMARY_NAME_IMAGE]
    assert primary_name["Attributes"] == [
        {"key": "name", "value": "Fabrikam"},
        {"key": "accountid", "value": ACCOUNT_ID},
    ]


def test_money_is_written_as_an_exact_number() -> None:
    """A money value reaches the wire as its exact decimal digits."""
    step = _step(message="Create", table="account", filtering_attributes=())
    body = render(_context(step, _create_event()))

    assert b'"Value":1234.565}' in body


def test_delete_target_is_an_entity_reference() -> None:
    """A Delete's Target is an EntityReference and it has no post images."""
    step = _step(
        message="Delete",
        filtering_attributes=(),
        images=(ImageRegistration("PreImage", 0, ("fullname",)),),
    )
    event = _update_event(message="Delete", target={}, after=None)
    context = _context(step, event)

    assert _pairs(context["InputParameters"])["Target"] == {
        "__type": REFERENCE,
        "Id": CONTACT_ID,
        "KeyAttributes": [],
        "LogicalName": "contact",
        "Name": None,
        "RowVersion": None,
    }
    assert context["PostEntityImages"] == []
    assert _attributes(_pairs(context["PreEntityImages"])["PreImage"]) == {
        "fullname": "Jim Glynn",
        "contactid": CONTACT_ID,
    }


def test_unknown_value_kind_is_refused() -> None:
    """A Value of a kind Dataverse has no type for raises ValueError."""
    with pytest.raises(ValueError, match="picklist"):
        Value("picklist", 1)


@pytest.mark.parametrize(
    ("target_columns", "fires"),
    [
        pytest.param(("lastname",), True, id="filtering-attribute-changed"),
        pytest.param(("LastName",), True, id="case-insensitive"),
        pytest.param(("emailaddress1",), False, id="only-other-columns-changed"),
    ],
)
def test_update_steps_respect_filtering_attributes(
    target_columns: tuple[str, ...],
    fires: bool,
) -> None:
    """An Update step fires only when a filtering attribute is in the target."""
    target = {name: Value("string", "x") for name in target_columns}
    event = _update_event(target=target)

    assert bool(matching_steps([_step()], event)) == fires


def test_step_without_filtering_attributes_fires_on_any_update() -> None:
    """An Update step with no filtering attributes fires for any change."""
    event = _update_event(target={"emailaddress1": Value("string", "x")})
    fired = matching_steps([_step(filtering_attributes=())], event)

    assert [step.step_id for step in fired] == [STEP_ID]


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"enabled": False}, id="disabled"),
        pytest.param({"contract": 7}, id="event-hub-not-webhook"),
        pytest.param({"message": "Create"}, id="other-message"),
        pytest.param({"table": "account"}, id="other-table"),
    ],
)
def test_steps_that_do_not_apply_are_skipped(changes: dict[str, Any]) -> None:
    """Disabled, non-webhook, other-message and other-table steps never fire."""
    assert matching_steps([_step(**changes)], _update_event()) == []


def test_steps_run_sync_first_then_by_stage_and_rank() -> None:
    """Sync steps come first, then async ones, each by stage and then rank."""
    steps = [
        _step(step_id="async-40-1", mode=1, stage=40, rank=1),
        _step(step_id="sync-40-2", mode=0, stage=40, rank=2),
        _step(step_id="sync-20-9", mode=0, stage=20, rank=9),
        _step(step_id="sync-40-1", mode=0, stage=40, rank=1),
        _step(step_id="async-40-0", mode=1, stage=40, rank=0),
    ]

    assert [step.step_id for step in matching_steps(steps, _update_event())] == [
        "sync-20-9",
        "sync-40-1",
        "sync-40-2",
        "async-40-0",
        "async-40-1",
    ]


def test_headers_name_the_organization_table_message_and_correlation() -> None:
    """The x-ms-dynamics headers carry the org domain, table, message and ids."""
    headers = build_headers(_step(), _update_event(), 1000, request_id="req-1")

    assert headers == {
        "content-type": "application/json; charset=utf-8",
        "x-ms-dynamics-organization": "pobcdemo.crm.dynamics.com",
        "x-ms-dynamics-entity-name": "contact",
        "x-ms-dynamics-request-name": "Update",
        "x-ms-correlation-request-id": "4f5a6b7c-8d9e-4f0a-8b1c-2d3e4f5a6b7c",
        "x-request-id": "req-1",
    }


class _Endpoint:
    """A fake webhook receiver answering with the given statuses, in turn."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

        return httpx.Response(status, text="ignored by the service")

    def factory(self) -> Callable[[], httpx.AsyncClient]:
        transport = httpx.MockTransport(self.handle)

        return lambda: httpx.AsyncClient(transport=transport)


def _dispatcher(factory: Callable[[], httpx.AsyncClient]) -> WebhookDispatcher:
    counter = itertools.count(1)

    return WebhookDispatcher(
        client_factory=factory,
        clock=lambda: AT,
        ids=lambda: f"id-{next(counter)}",
    )


async def test_webhook_key_goes_in_the_code_query_and_not_in_the_history() -> None:
    """WebhookKey auth sends ?code=<key>; the Delivery url has no secret."""
    endpoint = _Endpoint(202)
    dispatcher = _dispatcher(endpoint.factory())

    [delivery] = await dispatcher.dispatch([_step()], _update_event())

    assert endpoint.requests[0].url.params["code"] == "fn-key-123"
    assert endpoint.requests[0].method == "POST"
    assert delivery.url == HOOK
    assert (
        delivery.step_id,
        delivery.status,
        delivery.attempts,
        delivery.error,
        delivery.event,
        delivery.record_id,
        delivery.at,
    ) == (STEP_ID, 202, 1, None, "Update", CONTACT_ID, AT)
    assert [delivery] == dispatcher.deliveries


async def test_the_posted_body_and_headers_are_the_rendered_context() -> None:
    """The POST carries the rendered context and the x-ms-dynamics headers."""
    endpoint = _Endpoint(200)
    step, event = _step(), _update_event()

    await _dispatcher(endpoint.factory()).dispatch([step], event)

    request = endpoint.requests[0]
    assert render(build_context(step, event, operation_id="id-1")) == request.content
    assert request.headers["x-ms-dynamics-entity-name"] == "contact"
    assert request.headers["x-request-id"] == "id-2"
    assert "x-ms-dynamics-msg-size-exceeded" not in request.headers


async def test_http_header_auth_sends_each_setting_as_a_header() -> None:
    """HttpHeader auth turns the <settings> XML into request headers."""
    endpoint = _Endpoint(200)
    xml = (
        '<settings><setting name="x-functions-key" value="k1"/>'
        '<setting name="x-tenant" value="contoso"/></settings>'
    )
    step = _step(auth_type=5, auth_value=xml)

    await _dispatcher(endpoint.factory()).dispatch([step], _update_event())

    request = endpoint.requests[0]
    assert (
        request.headers["x-functions-key"],
        request.headers["x-tenant"],
    ) == ("k1", "contoso")
    assert request.url.query.decode() == ""


async def test_http_query_string_auth_adds_each_setting_to_the_query() -> None:
    """HttpQueryString auth adds the settings pairs to the URL's own query."""
    endpoint = _Endpoint(200)
    xml = '<settings><setting name="sig" value="a/b+c"/></settings>'
    step = _step(url=f"{HOOK}?api-version=1", auth_type=6, auth_value=xml)

    [delivery] = await _dispatcher(endpoint.factory()).dispatch([step], _update_event())

    assert list(endpoint.requests[0].url.params.multi_items()) == [
        ("api-version", "1"),
        ("sig", "a/b+c"),
    ]
    assert delivery.url == HOOK


async def test_malformed_auth_settings_fail_the_delivery_without_a_request() -> None:
    """An HttpHeader authvalue that is not XML is a failed delivery, not a crash."""
    endpoint = _Endpoint(200)
    step = _step(auth_type=5, auth_value="x-key: secret")

    [delivery] = await _dispatcher(endpoint.factory()).dispatch([step], _update_event())

    assert endpoint.requests == []
    assert (delivery.status, delivery.attempts) == (None, 0)
    assert "secret" not in (delivery.error or "")


async def test_503_is_retried_once_then_succeeds() -> None:
    """A 503 answer gets exactly one more attempt, which then succeeds."""
    endpoint = _Endpoint(503, 200)

    [delivery] = await _dispatcher(endpoint.factory()).dispatch(
        [_step()], _update_event()
    )

    assert len(endpoint.requests) == 2
    assert endpoint.requests[0].content == endpoint.requests[1].content
    assert (delivery.status, delivery.attempts, delivery.error) == (200, 2, None)


@pytest.mark.parametrize("status", [502, 504])
async def test_gateway_errors_twice_fail_after_two_attempts(status: int) -> None:
    """A 502 or 504 answered twice fails after the second and last attempt."""
    endpoint = _Endpoint(status)

    [delivery] = await _dispatcher(endpoint.factory()).dispatch(
        [_step()], _update_event()
    )

    assert len(endpoint.requests) == 2
    assert (status, 2, f"HTTP {status}") == (
        delivery.status,
        delivery.attempts,
        delivery.error,
    )


@pytest.mark.parametrize(
    "status",
    [
        pytest.param(500, id="server-error-not-retried"),
        pytest.param(400, id="bad-request-not-retried"),
        pytest.param(401, id="wrong-key-not-retried"),
        pytest.param(429, id="throttled-not-retried"),
    ],
)
async def test_other_failures_are_not_retried(status: int) -> None:
    """Any non-2xx answer other than 502/503/504 fails after one attempt."""
    endpoint = _Endpoint(status, 200)

    [delivery] = await _dispatcher(endpoint.factory()).dispatch(
        [_step()], _update_event()
    )

    assert len(endpoint.requests) == 1
    assert (status, 1, f"HTTP {status}") == (
        delivery.status,
        delivery.attempts,
        delivery.error,
    )


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        pytest.param(httpx.ReadTimeout("timed out"), "timeout", id="timeout"),
        pytest.param(httpx.ConnectError("refused"), "ConnectError", id="refused"),
    ],
)
async def test_no_answer_is_a_failed_delivery_without_retry(
    failure: Exception,
    error: str,
) -> None:
    """A timeout or a refused connection fails after one attempt, never raising."""
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise failure

    transport = httpx.MockTransport(handle)
    dispatcher = _dispatcher(lambda: httpx.AsyncClient(transport=transport))

    [delivery] = await dispatcher.dispatch([_step()], _update_event())

    assert len(calls) == 1
    assert (None, 1, error) == (delivery.status, delivery.attempts, delivery.error)


async def test_large_payload_is_trimmed_and_flagged() -> None:
    """Above 256 KB the header is set and the context loses params and images."""
    endpoint = _Endpoint(200)
    notes = Value("memo", "n" * (MAX_PAYLOAD_BYTES + 1))
    event = _update_event(
        target={"lastname": Value("string", "Glynn"), "description": notes},
        after={**_contact_row("James"), "description": notes},
    )
    step = _step(images=(ImageRegistration("PostImage", 1, ()),))

    await _dispatcher(endpoint.factory()).dispatch([step], event)

    request = endpoint.requests[0]
    body = _json.loads(request.content)
    assert request.headers["x-ms-dynamics-msg-size-exceeded"] == "true"
    assert len(request.content) < 10_000
    for key in ("InputParameters", "ParentContext", "PreEntityImages"):
        assert key not in body
    assert "PostEntityImages" not in body
    assert (
        body["PrimaryEntityName"],
        body["PrimaryEntityId"],
    ) == ("contact", CONTACT_ID)


async def test_each_fired_step_is_delivered_in_order_and_recorded() -> None:
    """Two fired steps give two deliveries, in run order, kept in the history."""
    endpoint = _Endpoint(200)
    steps = [_step(step_id="async"), _step(step_id="sync", mode=0)]
    dispatcher = _dispatcher(endpoint.factory())

    await dispatcher.dispatch(steps, _update_event())
    await dispatcher.dispatch(steps, _update_event(target={}))

    assert [d.step_id for d in dispatcher.deliveries] == ["sync", "async"]
    assert [_json.loads(r.content)["Mode"] for r in endpoint.requests] == [0, 1]


async def test_failures_are_logged_without_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failed delivery logs one WARNING event that never shows the key."""
    endpoint = _Endpoint(503)
    caplog.set_level(logging.INFO, logger="pointegration.emulators._webhooks")

    await _dispatcher(endpoint.factory()).dispatch([_step()], _update_event())

    events = [(r.levelno, getattr(r, "event", None)) for r in caplog.records]
    assert events == [
        (logging.INFO, "emulator.webhook.retry_scheduled"),
        (logging.WARNING, "emulator.webhook.failed"),
    ]
    assert all("fn-key-123" not in r.getMessage() for r in caplog.records)


async def test_delivery_reaches_an_asgi_function_that_checks_the_key() -> None:
    """An in-process ASGI receiver gets the key, the headers and a parsable body."""
    seen: list[Request] = []

    async def receive(request: Request) -> Response:
        seen.append(request)
        status = 202 if request.query.get("code") == "fn-key-123" else 401

        return Response(status)

    transport = httpx.ASGITransport(app=AsgiApp(receive))
    dispatcher = _dispatcher(lambda: httpx.AsyncClient(transport=transport))

    [delivery] = await dispatcher.dispatch([_step()], _update_event())

    assert delivery.status == 202
    assert seen[0].path == "/api/dataverse/events"
    assert seen[0].json()["MessageName"] == "Update"
    assert seen[0].headers["x-ms-dynamics-organization"] == "pobcdemo.crm.dynamics.com"
