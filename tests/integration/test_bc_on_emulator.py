"""The BC client against the BC emulator: writes, invoices, batches, faults, limits."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from pointegration.auth import StaticTokenProvider
from pointegration.businesscentral.batch import BatchOperation
from pointegration.businesscentral.client import BusinessCentralClient
from pointegration.businesscentral.models import (
    CustomerPayload,
    InvoiceStatus,
    SalesInvoice,
)
from pointegration.connections import bc_client
from pointegration.emulators.limits import Limits
from pointegration.emulators.server import Emulators, build_emulators, transport_for
from pointegration.errors import (
    AlreadyExistsError,
    ConcurrencyError,
    PayloadValidationError,
    RejectedError,
    RequestTimeoutError,
    ThrottledError,
)
from pointegration.http import RetryPolicy
from pointegration.settings import Secret
from tests.fakes import no_wait
from tests.integration.conftest import QUICK, emulated_settings


async def test_customer_create_and_etag_rules(bc: BusinessCentralClient) -> None:
    """A customer updates with its ETag, and a stale ETag is a ConcurrencyError."""
    created = await bc.create(
        "customers", {"number": "PO-0001", "displayName": "Fabrikam"}
    )
    updated = await bc.update(
        "customers", created["id"], {"city": "Bonn"}, etag=created["@odata.etag"]
    )

    with pytest.raises(ConcurrencyError):
        await bc.update(
            "customers", created["id"], {"city": "Köln"}, etag=created["@odata.etag"]
        )

    assert updated["city"] == "Bonn"
    assert (await bc.get("customers", created["id"]))["city"] == "Bonn"


async def test_duplicate_number_is_already_exists(bc: BusinessCentralClient) -> None:
    """A second customer with the same number fails as AlreadyExistsError."""
    await bc.create("customers", {"number": "PO-0002", "displayName": "First"})

    with pytest.raises(AlreadyExistsError):
        await bc.create("customers", {"number": "PO-0002", "displayName": "Second"})


async def test_unknown_property_never_reaches_bc(
    bc: BusinessCentralClient, emulators: Emulators
) -> None:
    """An unknown property is refused by the payload model with no request sent."""
    emulators.bc_service.recorder.reset()

    with pytest.raises(PayloadValidationError, match="postingGroup"):
        await bc.create("customers", {"displayName": "x", "postingGroup": "DOM"})

    assert emulators.bc_service.recorder.total == 0


async def test_bc_validation_error_carries_bc_code(bc: BusinessCentralClient) -> None:
    """A country BC lacks is a RejectedError carrying BC's code and message."""
    payload = CustomerPayload.parse({"displayName": "Nowhere Ltd", "country": "XX"})

    with pytest.raises(RejectedError) as caught:
        await bc.create("customers", payload)

    assert caught.value.code == "Internal_InvalidTableRelation"
    assert "Country/Region" in caught.value.message
    assert caught.value.correlation_id


async def test_deep_insert_post_keeps_id_and_changes_number(
    bc: BusinessCentralClient,
) -> None:
    """A deep-inserted invoice posts: same id, new number, Open, exact totals."""
    customer = await bc.create(
        "customers", {"number": "PO-0003", "displayName": "Tailspin"}
    )
    draft = await bc.create_sales_invoice(
        {
            "customerId": customer["id"],
            "externalDocumentNumber": "INV-01001",
            "salesInvoiceLines": [
                {
                    "lineType": "Account",
                    "lineObjectNumber": "40100",
                    "description": "Consulting",
                    "quantity": Decimal("3"),
                    "unitPrice": Decimal("1234.565"),
                }
            ],
        }
    )

    await bc.action("salesInvoices", draft["id"], "Microsoft.NAV.post")
    posted = SalesInvoice.from_bc(await bc.get("salesInvoices", draft["id"]))

    assert len(draft["salesInvoiceLines"]) == 1
    assert posted.id == SalesInvoice.from_bc(draft).id
    assert posted.number != draft["number"]
    assert posted.status is InvoiceStatus.OPEN
    assert posted.totalAmountExcludingTax == Decimal("3703.70")


async def test_250_batch_operations_are_three_requests(
    bc: BusinessCentralClient, emulators: Emulators
) -> None:
    """250 country creates go out as three $batch requests and all succeed."""
    emulators.bc_service.recorder.reset()
    operations = [
        BatchOperation.create(
            "countriesRegions", {"code": f"Z{n:03}", "displayName": f"Land {n}"}
        )
        for n in range(250)
    ]

    results = await bc.batch(operations)

    assert all(r.ok for r in results)
    assert emulators.bc_service.recorder.by_route == {
        "POST /v2.0/{tenant}/{environment}/api/v2.0/$batch": 3
    }


async def test_post_codes_use_the_custom_api(bc: BusinessCentralClient) -> None:
    """Post codes are written and found on the custom API route."""
    await bc.create_post_code(
        {"code": "53111", "city": "Bonn", "countryRegionCode": "DE"}
    )

    found = await bc.find_post_codes("53111")

    assert [(p["code"], p["city"]) for p in found] == [("53111", "Bonn")]


def _client(emulators: Emulators, retry: RetryPolicy = QUICK) -> BusinessCentralClient:
    return bc_client(
        emulated_settings(emulators),
        StaticTokenProvider(Secret(emulators.token)),
        transport=transport_for(emulators, "bc"),
        retry=retry,
        sleep=no_wait,
    )


async def test_transient_503s_are_retried_to_success() -> None:
    """Seeded 503 faults on reads are absorbed by the retry policy."""
    emulators = build_emulators(seed=3, token="t", faults="bc:GET:*=503:50%")
    async with _client(emulators, RetryPolicy(max_attempts=10, jitter=0.0)) as client:
        for _ in range(20):
            assert await client.companies()

    faults = emulators.bc_service.recorder.by_fault
    assert sum(faults.values()) > 0
    await emulators.aclose()


async def test_lost_create_is_not_repeated() -> None:
    """A create whose answer is lost raises RequestTimeoutError; BC has it once."""
    emulators = build_emulators(seed=3, token="t", faults="bc:POST:/customers=lost")
    async with _client(emulators) as client:
        with pytest.raises(RequestTimeoutError):
            await client.create(
                "customers", {"number": "LOST-1", "displayName": "Lost"}
            )

    numbers = [c["number"] for c in emulators.bc.rows("customers")]
    assert numbers.count("LOST-1") == 1
    await emulators.aclose()


async def test_client_cap_keeps_bc_within_five_in_flight() -> None:
    """Forty concurrent reads through one client never exceed BC's five at once."""
    emulators = build_emulators(seed=3, token="t", limits="real", latency_ms=5)
    async with _client(emulators) as client:
        await asyncio.gather(*(client.companies() for _ in range(40)))

    recorder = emulators.bc_service.recorder
    assert recorder.peak_in_flight == 5
    assert recorder.by_status == {200: 40}
    await emulators.aclose()


async def test_rate_limit_429_carries_retry_after_to_the_caller() -> None:
    """Past the request rate BC answers 429; when no retry fits, the wait is raised."""
    small = Limits(
        concurrency=5, queue_size=95, queue_timeout_s=60, rate=3, window_s=300
    )
    emulators = build_emulators(seed=3, token="t", bc_limits=small)
    retry = RetryPolicy(max_attempts=3, max_elapsed=10, jitter=0.0)
    async with _client(emulators, retry) as client:
        for _ in range(3):
            await client.companies()
        with pytest.raises(ThrottledError) as caught:
            await client.companies()

    assert caught.value.status == 429
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 10
    await emulators.aclose()
