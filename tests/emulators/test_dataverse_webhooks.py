"""Dataverse emulator: registered webhook steps fire after committed writes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from pointegration import _json
from pointegration.dataverse import schema
from pointegration.emulators.dataverse import DataverseEmulator
from tests.emulators.test_dataverse_batch import change_set, post_batch, request_part
from tests.emulators.test_dataverse_support import API, api_client, create, new_emulator
from tests.emulators.webhook_shape import SAMPLE, shape_errors

HOOK_URL = "https://fn.example.net/api/dataverse/events"


class Receiver:
    """Collects webhook posts; answers ``status``."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.status = 202

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status)

    def contexts(self) -> list[dict[str, Any]]:
        """The posted RemoteExecutionContext bodies."""
        return [json.loads(request.content) for request in self.requests]


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def emulator(receiver: Receiver) -> DataverseEmulator:
    return new_emulator(
        webhook_client_factory=lambda: httpx.AsyncClient(
            transport=httpx.MockTransport(receiver.handler)
        )
    )


@pytest.fixture
async def client(emulator: DataverseEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(emulator) as api:
        yield api


async def lookup_id(client: httpx.AsyncClient, path: str) -> str:
    """The first id a query answers (the query's $select names one column)."""
    rows = (await client.get(f"{API}/{path}")).json()["value"]
    assert len(rows) == 1

    return str(next(v for k, v in rows[0].items() if not k.startswith("@")))


async def register(
    client: httpx.AsyncClient,
    table: str,
    message: str,
    *,
    filtering: str | None = None,
    mode: int = 1,
    image: bool = False,
) -> str:
    """Register a webhook endpoint and step as ``provision`` would; the step id."""
    endpoint = await create(
        client,
        "serviceendpoints",
        {
            "name": "pobc",
            "url": HOOK_URL,
            "contract": 8,
            "authtype": 4,
            "authvalue": "function-key",
            "messageformat": 2,
        },
    )
    message_id = await lookup_id(
        client, f"sdkmessages?$filter=name eq '{message}'&$select=sdkmessageid"
    )
    filter_id = await lookup_id(
        client,
        "sdkmessagefilters?$select=sdkmessagefilterid&$filter=primaryobjecttypecode "
        f"eq '{table}' and sdkmessageid/name eq '{message}'",
    )
    body: dict[str, Any] = {
        "name": f"pobc {message} {table}",
        "mode": mode,
        "rank": 1,
        "stage": 40,
        "supporteddeployment": 0,
        "asyncautodelete": True,
        "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint})",
        "sdkmessageid@odata.bind": f"/sdkmessages({message_id})",
        "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({filter_id})",
    }
    if filtering:
        body["filteringattributes"] = filtering
    step = await create(client, "sdkmessageprocessingsteps", body)
    if image:
        await create(
            client,
            "sdkmessageprocessingstepimages",
            {
                "name": "PostImage",
                "entityalias": "PostImage",
                "imagetype": 1,
                "messagepropertyname": "Target",
                "attributes": "invoicenumber,totalamount",
                "sdkmessageprocessingstepid@odata.bind": (
                    f"/sdkmessageprocessingsteps({step})"
                ),
            },
        )

    return step


def attributes(entity: dict[str, Any]) -> dict[str, Any]:
    """An Entity's Attributes key/value array as a dict."""
    return {pair["key"]: pair["value"] for pair in entity["Attributes"]}


async def test_update_fires_the_registered_step_with_a_real_context(
    client: httpx.AsyncClient, emulator: DataverseEmulator, receiver: Receiver
) -> None:
    """An update of a filtering attribute posts a RemoteExecutionContext."""
    step = await register(
        client, "invoice", "Update", filtering="msdyn_projectinvoicestatus", image=True
    )
    invoice = await create(client, "invoices", {"name": "I", "invoicenumber": "INV-1"})

    await client.patch(
        f"{API}/invoices({invoice})",
        json={"msdyn_projectinvoicestatus": schema.ProjectInvoiceStatus.CONFIRMED},
    )

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.url.params["code"] == "function-key"
    assert request.headers["x-ms-dynamics-entity-name"] == "invoice"
    assert request.headers["x-ms-dynamics-request-name"] == "Update"
    context = receiver.contexts()[0]
    assert context["MessageName"] == "Update"
    assert context["PrimaryEntityId"] == invoice
    assert context["UserId"] == emulator.user_id
    assert context["InitiatingUserId"] == emulator.user_id
    assert context["OwningExtension"]["Id"] == step
    target = attributes(context["InputParameters"][0]["value"])
    assert target["msdyn_projectinvoicestatus"]["Value"] == 192350002
    assert "modifiedon" in target
    images = {pair["key"]: pair["value"] for pair in context["PostEntityImages"]}
    assert attributes(images["PostImage"])["invoicenumber"] == "INV-1"


async def test_update_of_other_columns_does_not_fire(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """A step with filtering attributes ignores updates that touch none of them."""
    await register(client, "invoice", "Update", filtering="msdyn_projectinvoicestatus")
    invoice = await create(client, "invoices", {"name": "I"})

    await client.patch(f"{API}/invoices({invoice})", json={"name": "Renamed"})

    assert receiver.requests == []


async def test_create_and_delete_fire_their_steps(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """Create and Delete steps fire with their messages."""
    await register(client, "account", "Create")
    await register(client, "account", "Delete")
    account = await create(client, "accounts", {"name": "A"})

    await client.delete(f"{API}/accounts({account})")

    assert [c["MessageName"] for c in receiver.contexts()] == ["Create", "Delete"]
    assert receiver.contexts()[0]["OutputParameters"][0]["value"] == account


async def test_a_failed_write_fires_nothing(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """A refused write never reaches the webhook."""
    await register(client, "account", "Create")

    response = await client.post(f"{API}/accounts", json={"name": "x" * 500})

    assert response.status_code == 400
    assert receiver.requests == []


async def test_disabled_steps_do_not_fire(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """A step with statecode 1 (Disabled) is not delivered."""
    step = await register(client, "account", "Create")
    await client.patch(
        f"{API}/sdkmessageprocessingsteps({step})", json={"statecode": 1}
    )

    await create(client, "accounts", {"name": "A"})

    assert receiver.requests == []


async def test_deleting_the_endpoint_removes_its_steps(
    client: httpx.AsyncClient, emulator: DataverseEmulator, receiver: Receiver
) -> None:
    """Steps cascade-delete with their service endpoint and stop firing."""
    await register(client, "account", "Create")
    endpoint = emulator.rows("serviceendpoints")[0]["serviceendpointid"]

    await client.delete(f"{API}/serviceendpoints({endpoint})")
    await create(client, "accounts", {"name": "A"})

    assert emulator.rows("sdkmessageprocessingsteps") == []
    assert receiver.requests == []


async def test_change_set_fires_after_commit_and_not_when_rolled_back(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """Writes in a committed change set fire; a rolled-back change set fires none."""
    await register(client, "account", "Create")

    await post_batch(
        client,
        [
            change_set(
                [
                    request_part("POST", f"{API}/accounts", {"name": "A"}, "1"),
                    request_part("POST", f"{API}/accounts", {"name": "B"}, "2"),
                ]
            )
        ],
    )
    committed = len(receiver.requests)
    await post_batch(
        client,
        [
            change_set(
                [
                    request_part("POST", f"{API}/accounts", {"name": "C"}, "1"),
                    request_part("POST", f"{API}/accounts", {"bad": 1}, "2"),
                ]
            )
        ],
    )

    assert committed == 2
    assert len(receiver.requests) == 2


async def test_admin_seed_writes_as_the_human_user_and_fires(
    client: httpx.AsyncClient, emulator: DataverseEmulator, receiver: Receiver
) -> None:
    """Rows seeded through the admin API fire webhooks with the human user's id."""
    await register(client, "account", "Create")

    response = await client.post(
        "/_admin/dataverse/seed", json={"accounts": [{"name": "Seeded"}]}
    )

    assert response.status_code == 200
    assert len(response.json()["account"]) == 1
    context = receiver.contexts()[0]
    assert context["UserId"] == emulator.human_user_id
    assert context["UserId"] != emulator.user_id


async def test_authvalue_is_write_only(client: httpx.AsyncClient) -> None:
    """authvalue never reads back; isauthvalueset tells that it is set."""
    await register(client, "account", "Create")

    row = (await client.get(f"{API}/serviceendpoints")).json()["value"][0]

    assert "authvalue" not in row
    assert row["isauthvalueset"] is True


async def test_steps_of_an_endpoint_are_listed_through_its_relationship(
    client: httpx.AsyncClient, emulator: DataverseEmulator
) -> None:
    """serviceendpoints(@id)/serviceendpoint_sdkmessageprocessingstep lists steps."""
    step = await register(
        client, "invoice", "Update", filtering="msdyn_projectinvoicestatus"
    )
    endpoint = emulator.rows("serviceendpoints")[0]["serviceendpointid"]

    response = await client.get(
        f"{API}/serviceendpoints(@id)/serviceendpoint_sdkmessageprocessingstep"
        "?$select=sdkmessageprocessingstepid,filteringattributes,mode,stage"
        f"&@id={endpoint}"
    )

    assert response.status_code == 200
    rows = response.json()["value"]
    assert [row["sdkmessageprocessingstepid"] for row in rows] == [step]
    assert rows[0]["filteringattributes"] == "msdyn_projectinvoicestatus"


async def test_admin_update_and_delete_act_as_the_human_user(
    client: httpx.AsyncClient, emulator: DataverseEmulator, receiver: Receiver
) -> None:
    """Admin PATCH and DELETE of a row fire Update and Delete as the human user."""
    await register(client, "account", "Update")
    await register(client, "account", "Delete")
    account = await create(client, "accounts", {"name": "A"})

    patched = await client.patch(
        f"/_admin/dataverse/rows/accounts/{account}", json={"name": "B"}
    )
    deleted = await client.delete(f"/_admin/dataverse/rows/account/{account}")
    missing = await client.delete(f"/_admin/dataverse/rows/account/{account}")

    assert patched.json()["name"] == "B"
    assert (deleted.status_code, missing.status_code) == (204, 404)
    contexts = receiver.contexts()
    assert [c["MessageName"] for c in contexts] == ["Update", "Delete"]
    assert {c["UserId"] for c in contexts} == {emulator.human_user_id}


async def test_contact_update_posts_the_shape_of_microsofts_sample(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """Updating a contact posts a context shaped like Microsoft's sample, end to end."""
    await register(client, "contact", "Update", filtering="firstname,lastname")
    contact = await create(
        client, "contacts", {"firstname": "Jim", "lastname": "Glynn"}
    )

    await client.patch(f"{API}/contacts({contact})", json={"firstname": "James"})

    [request] = receiver.requests
    sample = _json.loads(SAMPLE.read_bytes())
    context = _json.loads(request.content)
    loose = frozenset({"$.ParentContext", "$.ParentContext.InputParameters[Target]"})
    assert list(shape_errors(sample, context, "$", loose)) == []
    assert list(context) == list(sample)
