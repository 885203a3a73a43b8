"""What a new org holds before anyone uses it, and the ids it hands out.

:func:`seed_org` creates the application user behind the token (a ``#``-named
user with an ``applicationid``), one human user, the currencies USD (the base
currency), EUR and GBP, the ``Create``/``Update``/``Delete`` messages and, for
every table, a message filter per message. :class:`SequentialIds` gives the
GUIDs, seeded and in ascending order like the service's sequential GUIDs.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from pointegration.emulators._dataverse_model import Table
from pointegration.emulators._dataverse_records import Records

__all__ = ["SeededOrg", "SequentialIds", "add_message_filters", "seed_org"]

MESSAGES = ("Create", "Update", "Delete")
_CURRENCIES = (
    ("USD", "US Dollar", "$", Decimal("1.0")),
    ("EUR", "Euro", "€", Decimal("0.92")),
    ("GBP", "Pound Sterling", "£", Decimal("0.79")),
)


class SequentialIds:
    """Deterministic GUIDs that sort in the order they were handed out.

    The service's sequential GUIDs make new rows sort after old ones; so do
    these: the first group counts up from a seeded start, the rest is random.
    """

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self._next = self._random.randrange(0x1000_0000, 0x7000_0000)

    def __call__(self) -> str:
        self._next += 1
        tail = uuid.UUID(int=self._random.getrandbits(128), version=4)

        return f"{self._next:08x}{str(tail)[8:]}"


@dataclass(frozen=True)
class SeededOrg:
    """The ids of what :func:`seed_org` created."""

    user_id: str
    human_user_id: str
    application_id: str
    base_currency_id: str


def seed_org(records: Records, new_id: Callable[[], str]) -> SeededOrg:
    """Fill a fresh org; no change is left for the webhooks."""
    catalog = records.catalog
    user_id, human_user_id, application_id = new_id(), new_id(), new_id()
    users = catalog.tables["systemuser"]
    for systemuser_id, body in (
        (
            user_id,
            {
                "firstname": "#",
                "lastname": "PO-BC Integration",
                "applicationid": application_id,
                "azureactivedirectoryobjectid": new_id(),
                "domainname": f"{application_id}@pobc.onmicrosoft.com",
            },
        ),
        (
            human_user_id,
            {
                "firstname": "Dana",
                "lastname": "Reyes",
                "azureactivedirectoryobjectid": new_id(),
                "domainname": "dana.reyes@pobc.onmicrosoft.com",
                "internalemailaddress": "dana.reyes@pobc.onmicrosoft.com",
            },
        ),
    ):
        records.create(users, {"systemuserid": systemuser_id, **body}, user_id)
    currencies = catalog.tables["transactioncurrency"]
    base_currency_id = ""
    for code, name, symbol, rate in _CURRENCIES:
        row = records.create(
            currencies,
            {
                "isocurrencycode": code,
                "currencyname": name,
                "currencysymbol": symbol,
                "currencyprecision": 2,
                "exchangerate": rate,
            },
            user_id,
        )
        base_currency_id = base_currency_id or row["transactioncurrencyid"]
    messages = catalog.tables["sdkmessage"]
    for name in MESSAGES:
        records.create(messages, {"name": name, "categoryname": name}, user_id)
    for table in list(catalog.tables.values()):
        add_message_filters(records, table, user_id)
    records.changes.clear()

    return SeededOrg(user_id, human_user_id, application_id, base_currency_id)


def add_message_filters(records: Records, table: Table, user_id: str) -> None:
    """Register a message filter of ``table`` for every message."""
    filters = records.catalog.tables["sdkmessagefilter"]
    for message in list(records.store.rows("sdkmessage").values()):
        records.create(
            filters,
            {
                "primaryobjecttypecode": table.name,
                "secondaryobjecttypecode": "none",
                "iscustomprocessingstepallowed": True,
                "isvisible": True,
                "sdkmessageid@odata.bind": f"/sdkmessages({message['sdkmessageid']})",
            },
            user_id,
        )
