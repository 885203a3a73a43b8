"""From committed changes to webhook deliveries.

:func:`steps_for` reads the registration rows (``serviceendpoint``,
``sdkmessageprocessingstep``, ``sdkmessagefilter``, ``sdkmessage``,
``sdkmessageprocessingstepimage``) into the dispatcher's
:class:`StepRegistration` values, as the platform would read its own
registrations; :func:`change_event` turns a :class:`Change` into the
dispatcher's :class:`ChangeEvent`, with each value typed after its column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pointegration.emulators._dataverse_model import Catalog, Table
from pointegration.emulators._dataverse_records import Change
from pointegration.emulators._dataverse_store import Row, Store
from pointegration.emulators._dataverse_values import Ref
from pointegration.emulators._webhooks import (
    ChangeEvent,
    EntityRef,
    ImageRegistration,
    StepRegistration,
    Value,
)

__all__ = ["Organization", "change_event", "steps_for"]

_VALUE_KINDS = {"state": "choice", "status": "choice"}


@dataclass(frozen=True)
class Organization:
    """The org facts every execution context carries."""

    organization_id: str
    name: str
    domain: str
    business_unit_id: str


def _split(text: Any) -> tuple[str, ...]:
    if not isinstance(text, str):
        return ()

    return tuple(part.strip() for part in text.split(",") if part.strip())


def _id(reference: Any) -> str | None:
    return reference.id if isinstance(reference, Ref) else None


def steps_for(store: Store, table: str) -> list[StepRegistration]:
    """Every registered webhook step for ``table`` (enabled or not)."""
    steps: list[StepRegistration] = []
    images = list(store.rows("sdkmessageprocessingstepimage").values())
    for step in store.rows("sdkmessageprocessingstep").values():
        endpoint_id = _id(step.get("eventhandler"))
        endpoint = store.get("serviceendpoint", endpoint_id) if endpoint_id else None
        message_id = _id(step.get("sdkmessageid"))
        message = store.get("sdkmessage", message_id) if message_id else None
        if endpoint is None or message is None:
            continue
        filter_id = _id(step.get("sdkmessagefilterid"))
        filter_row = store.get("sdkmessagefilter", filter_id) if filter_id else None
        step_table = filter_row.get("primaryobjecttypecode") if filter_row else table
        step_id = step["sdkmessageprocessingstepid"]
        steps.append(
            StepRegistration(
                step_id=step_id,
                name=step.get("name") or "",
                message=message.get("name") or "",
                table=step_table or "",
                stage=step.get("stage") or 40,
                mode=step.get("mode") or 0,
                rank=step.get("rank") or 1,
                filtering_attributes=_split(step.get("filteringattributes")),
                enabled=step.get("statecode", 0) == 0,
                endpoint_id=endpoint["serviceendpointid"],
                url=endpoint.get("url") or "",
                contract=endpoint.get("contract") or 0,
                auth_type=endpoint.get("authtype") or 0,
                auth_value=endpoint.get("authvalue"),
                message_format=endpoint.get("messageformat"),
                images=tuple(
                    ImageRegistration(
                        alias=image.get("entityalias") or image.get("name") or "",
                        image_type=image.get("imagetype") or 0,
                        attributes=_split(image.get("attributes")),
                        message_property_name=image.get("messagepropertyname")
                        or "Target",
                    )
                    for image in images
                    if _id(image.get("sdkmessageprocessingstepid")) == step_id
                ),
            )
        )

    return steps


def _typed(
    catalog: Catalog,
    store: Store,
    table: Table,
    row: Row,
    names: list[str] | None,
) -> dict[str, Value]:
    typed: dict[str, Value] = {}
    for name in names if names is not None else list(table.attributes):
        attribute = table.attributes.get(name)
        if attribute is None or not attribute.readable or name in typed:
            continue
        value = row.get(name)
        kind = _VALUE_KINDS.get(attribute.kind, attribute.kind)
        if isinstance(value, Ref):
            target = catalog.table(value.table)
            target_row = store.get(value.table, value.id)
            label = None
            if target is not None and target_row is not None and names is None:
                label = target_row.get(target.primary_name)
            value = EntityRef(value.table, value.id, label)
        typed[name] = Value(kind, value)

    return typed


def change_event(
    change: Change,
    *,
    catalog: Catalog,
    store: Store,
    organization: Organization,
    correlation_id: str,
    clock: Callable[[], datetime],
) -> ChangeEvent:
    """The dispatcher's view of one committed change."""
    table = catalog.tables[change.table]
    source = change.after or change.before or {}
    target = (
        {}
        if change.message == "Delete"
        else _typed(catalog, store, table, source, change.target)
    )
    before = (
        None
        if change.before is None
        else _typed(catalog, store, table, change.before, None)
    )
    after = (
        None
        if change.after is None
        else _typed(catalog, store, table, change.after, None)
    )

    return ChangeEvent(
        message=change.message,
        table=change.table,
        record_id=change.record_id,
        target=target,
        before=before,
        after=after,
        primary_name_attribute=table.primary_name,
        primary_id_attribute=table.primary_id,
        user_id=change.user_id,
        initiating_user_id=change.user_id,
        business_unit_id=organization.business_unit_id,
        organization_id=organization.organization_id,
        organization_name=organization.name,
        organization_domain=organization.domain,
        correlation_id=correlation_id,
        occurred_at=clock(),
    )
