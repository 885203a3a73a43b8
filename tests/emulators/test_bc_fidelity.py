"""BC emulator: behaviours checked against the APIV2 AL pages, one rule each.

Every test here names the AL trigger or aggregator procedure it follows
(``microsoft/ALAppExtensions`` ``Apps/W1/APIV2/app/src/pages`` and the Base
Application's ``SalesInvoiceAggregator``).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulators.test_bc_fixtures import Bc, bc, emulator, error_of

__all__ = ["bc", "emulator"]

EMPTY = "00000000-0000-0000-0000-000000000000"
CONSULT = {"lineType": "Item", "lineObjectNumber": "CONSULT", "quantity": 2}
POSTED_ERR = "The invoice has been posted and can no longer be modified."


async def _eur(bc: Bc) -> dict[str, Any]:
    rows = (await bc.get("currencies?$filter=code eq 'EUR'")).json()["value"]
    found: dict[str, Any] = rows[0]

    return found


async def _currency_body(bc: Bc, entity_set: str) -> dict[str, Any]:
    if entity_set == "customers":
        return {"displayName": "Contoso Ltd."}
    customer = await bc.customer()

    return {"customerNumber": customer["number"]}


@pytest.mark.parametrize("entity_set", ["customers", "salesInvoices"])
async def test_an_empty_currency_id_leaves_the_code_to_choose(
    bc: Bc, entity_set: str
) -> None:
    """currencyId = empty GUID sets no Currency record, so currencyCode still wins."""
    eur = await _eur(bc)
    body = await _currency_body(bc, entity_set)
    body.update(currencyId=EMPTY, currencyCode="EUR")
    created = await bc.created(entity_set, body)

    assert (created["currencyCode"], created["currencyId"]) == ("EUR", eur["id"])


@pytest.mark.parametrize("entity_set", ["customers", "salesInvoices"])
async def test_a_currency_id_with_an_unknown_code_is_a_mismatch(
    bc: Bc, entity_set: str
) -> None:
    """Once currencyId found a currency, any other currencyCode is a mismatch."""
    eur = await _eur(bc)
    body = await _currency_body(bc, entity_set)
    body.update(currencyId=eur["id"], currencyCode="XYZ")
    response = await bc.post(entity_set, body)

    assert error_of(response) == (
        400,
        "Application_DialogException",
        "The currency values do not match to a specific Currency.",
    )


@pytest.mark.parametrize(
    ("prefix", "role"),
    [
        pytest.param("customer", "sell-to", id="sell-to"),
        pytest.param("billToCustomer", "bill-to", id="bill-to"),
    ],
)
async def test_a_customer_id_with_an_unknown_number_is_a_mismatch(
    bc: Bc, prefix: str, role: str
) -> None:
    """Once the id found a customer, an unknown number is a mismatch, not unknown."""
    customer = await bc.customer()
    body = {
        "customerNumber": customer["number"],
        f"{prefix}Id": customer["id"],
        f"{prefix}Number": "NOPE",
    }
    response = await bc.post("salesInvoices", body)

    assert error_of(response) == (
        400,
        "Application_DialogException",
        f"The {role} customer values do not match to a specific Customer.",
    )


@pytest.mark.parametrize(
    "name",
    ["externalDocumentNumber", "customerPurchaseOrderReference", "shipToCity"],
)
async def test_a_posted_invoice_refuses_other_fields_even_unchanged(
    bc: Bc, name: str
) -> None:
    """Any field outside the posted whitelist is refused, whether or not it changes."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer, CONSULT)
    bc.emulator.post_invoice(invoice["id"])
    path = f"salesInvoices({invoice['id']})"
    posted = (await bc.get(path)).json()
    response = await bc.patch(path, {name: posted[name]})

    assert error_of(response) == (400, "Application_DialogException", POSTED_ERR)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({}, id="due-date-alone"),
        pytest.param({"shipToName": "Contoso Ltd."}, id="unchanged-ship-to-name"),
    ],
)
async def test_a_posted_invoice_takes_a_due_date(bc: Bc, extra: dict[str, Any]) -> None:
    """dueDate passes alone, or with a shipToName the page registers only if changed."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer, CONSULT)
    bc.emulator.post_invoice(invoice["id"])
    path = f"salesInvoices({invoice['id']})"
    response = await bc.patch(path, {"dueDate": "2024-07-01", **extra})

    assert response.json()["dueDate"] == "2024-07-01"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("promisedPayDate", "0001-01-01", id="blank-promised-pay-date"),
        pytest.param("disputeStatus", "", id="blank-dispute-status"),
        pytest.param("disputeStatusId", EMPTY, id="empty-dispute-status-id"),
    ],
)
async def test_posted_only_fields_fail_on_a_draft_even_blank(
    bc: Bc, name: str, value: str
) -> None:
    """TestField(Posted) runs whenever the field is validated, whatever the value."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer)
    response = await bc.patch(f"salesInvoices({invoice['id']})", {name: value})

    assert error_of(response) == (
        400,
        "Application_FieldValidationException",
        "Posted must be equal to 'Yes'  in Sales Invoice Entity Aggregate: "
        f"No.={invoice['number']}, Posted=No. Current value is 'No'.",
    )


@pytest.mark.parametrize(
    ("line", "name"),
    [
        pytest.param(
            {"lineType": "Account", "lineObjectNumber": "40100"},
            "unitOfMeasureCode",
            id="account-code",
        ),
        pytest.param({"description": "note"}, "unitOfMeasureCode", id="comment-code"),
        pytest.param(
            {"lineType": "Account", "lineObjectNumber": "40100"},
            "unitOfMeasureId",
            id="account-id",
        ),
    ],
)
async def test_a_unit_of_measure_is_for_item_lines_only(
    bc: Bc, line: dict[str, Any], name: str
) -> None:
    """VerifyCanUpdateUOM refuses any unit of measure on a line that is not an Item."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer)
    value = "HOUR" if name == "unitOfMeasureCode" else EMPTY
    response = await bc.post(
        f"salesInvoices({invoice['id']})/salesInvoiceLines",
        {**line, "quantity": 1, name: value},
    )

    assert error_of(response) == (
        400,
        "Application_DialogException",
        "Unit of Measure can be set only for lines with type Item.",
    )


async def test_an_item_line_takes_a_unit_of_measure(bc: Bc) -> None:
    """An Item line keeps the unitOfMeasureCode the caller gives."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer)
    line = await bc.created(
        f"salesInvoices({invoice['id']})/salesInvoiceLines",
        {**CONSULT, "unitOfMeasureCode": "DAY"},
    )

    assert line["unitOfMeasureCode"] == "DAY"


async def test_microsofts_batch_example_names_the_company_in_a_header(bc: Bc) -> None:
    """Inner requests may name the company by a Company header (use-odata-batch)."""
    customer = await bc.customer()
    body = {
        "requests": [
            {
                "method": "PATCH",
                "url": f"customers({customer['id']})",
                "headers": {
                    "Company": "CRONUS USA, Inc.",
                    "Content-Type": "application/json",
                    "If-Match": "*",
                },
                "body": {"displayName": "Renamed"},
            }
        ]
    }
    response = await bc.post(f"{bc.root}/$batch", body)
    answer = response.json()["responses"][0]

    assert (answer["status"], answer["body"]["displayName"]) == (200, "Renamed")


@pytest.mark.parametrize(
    ("schema", "status"),
    [
        pytest.param("", 400, id="default-schema"),
        pytest.param("&$schemaversion=2.1", 200, id="schema-2.1"),
    ],
)
async def test_nested_filter_functions_need_schema_version_2_1(
    bc: Bc, schema: str, status: int
) -> None:
    """contains(tolower(x), ...) is supported only from $schemaversion=2.1."""
    await bc.customer()
    query = "$filter=contains(tolower(displayName), 'contoso')"
    response = await bc.get(f"customers?{query}{schema}")

    assert response.status_code == status


async def test_posting_in_a_snapshot_batch_commits_what_came_before(bc: Bc) -> None:
    """Sales-Post commits, so a later failure cannot undo the post or earlier writes."""
    customer = await bc.customer()
    invoice = await bc.invoice(customer, CONSULT)
    customer_path = f"customers({customer['id']})"
    prefix = f"companies({bc.emulator.company_id})"
    requests = [
        {
            "method": "PATCH",
            "id": "1",
            "url": f"{prefix}/{customer_path}",
            "headers": {"If-Match": "*"},
            "body": {"displayName": "Before the post"},
        },
        {
            "method": "POST",
            "id": "2",
            "url": f"{prefix}/salesInvoices({invoice['id']})/Microsoft.NAV.post",
        },
        {
            "method": "PATCH",
            "id": "3",
            "url": f"{prefix}/{customer_path}",
            "headers": {"If-Match": "*"},
            "body": {"blocked": "Nope"},
        },
    ]
    response = await bc.post(
        f"{bc.root}/$batch", {"requests": requests}, headers={"Isolation": "snapshot"}
    )
    posted = (await bc.get(f"salesInvoices({invoice['id']})")).json()
    renamed = (await bc.get(customer_path)).json()

    assert [r["status"] for r in response.json()["responses"]] == [200, 204, 400]
    assert (posted["status"], renamed["displayName"]) == ("Open", "Before the post")
