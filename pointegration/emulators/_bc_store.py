"""The BC emulator's state: tables of records, number series, row versions.

A record is a flat ``dict`` of API property values in their wire form (GUIDs,
dates and datetimes as strings, decimals as ``Decimal``, enums as encoded
names) plus private keys starting with ``_``: ``_rv`` is the row version behind
the ETag, the others belong to the page that owns the table. Values are never
mutated in place (tuples, not lists), so a snapshot for an ``Isolation:
snapshot`` batch is a copy of every record dict, and restoring it is exact.
"""

from __future__ import annotations

import base64
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pointegration.emulators._bc_contract import format_datetime

__all__ = ["Engine", "NumberSeries", "Record", "Snapshot", "etag_of"]

Record = dict[str, Any]


@dataclass
class NumberSeries:
    """A No. Series: ``prefix`` + a zero-padded counter stepping by ``step``."""

    prefix: str
    next_value: int
    width: int
    step: int = 1

    def take(self) -> str:
        """The next number, consumed."""
        number = f"{self.prefix}{self.next_value:0{self.width}d}"
        self.next_value += self.step

        return number


@dataclass
class Snapshot:
    """Everything :meth:`Engine.restore` needs to undo later changes."""

    tables: dict[str, dict[str, Record]]
    keys: dict[str, dict[tuple[Any, ...], str]]
    series: dict[str, tuple[int, int]]
    rowversion: int
    random_state: Any


@dataclass
class Engine:
    """The data of one BC company plus the settings pages compute with.

    ``clock`` gives aware UTC datetimes; ids come from a generator seeded with
    ``seed``, so the same sequence of requests yields the same ids.
    """

    seed: int
    clock: Callable[[], datetime]
    tax_rate: Decimal
    lcy_code: str
    tables: dict[str, dict[str, Record]] = field(default_factory=dict)
    series: dict[str, NumberSeries] = field(default_factory=dict)
    rowversion: int = 0
    key_fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    keys: dict[str, dict[tuple[Any, ...], str]] = field(default_factory=dict)
    pending_ids: list[str] = field(default_factory=list)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def new_id(self) -> str:
        """A fresh lower-case GUID, deterministic for the seed.

        An id waiting in ``pending_ids`` (set by the admin seeding) comes first.
        """
        if self.pending_ids:
            return self.pending_ids.pop(0)

        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def now(self) -> datetime:
        """The emulator's current instant, aware UTC."""
        moment = self.clock()
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)

        return moment.astimezone(UTC)

    def today(self) -> date:
        """BC's work date: today in UTC."""
        return self.now().date()

    def table(self, name: str) -> dict[str, Record]:
        """The records of the table behind entity set ``name``, by id."""
        return self.tables.setdefault(name, {})

    def rows(self, name: str) -> Iterator[Record]:
        """The records of ``name`` in insertion order."""
        return iter(list(self.table(name).values()))

    def register_key(self, name: str, fields: tuple[str, ...]) -> None:
        """Keeps an index of table ``name`` by its primary key ``fields``.

        Keys compare case-insensitively, as BC online's collation does.
        """
        self.key_fields[name] = fields
        self.keys.setdefault(name, {})

    def key_owner(self, name: str, record: Record) -> str | None:
        """The id of the row of ``name`` holding ``record``'s key, if any."""
        return self.keys[name].get(self._key_of(name, record))

    def _key_of(self, name: str, record: Record) -> tuple[Any, ...]:
        return tuple(_fold(record.get(f)) for f in self.key_fields[name])

    def _reindex(self, record: Record) -> None:
        name = record.get("_table", "")
        if name not in self.key_fields:
            return
        index = self.keys[name]
        old = record.get("_key")
        if old is not None and index.get(old) == record["id"]:
            del index[old]
        record["_key"] = self._key_of(name, record)
        index[record["_key"]] = record["id"]

    def find(self, name: str, **values: Any) -> Record | None:
        """The first record of ``name`` whose properties equal ``values``."""
        if tuple(values) == self.key_fields.get(name):
            owner = self.key_owner(name, values)
            record = self.table(name).get(owner or "")
            if record is None:
                return None
            same = all(record.get(k) == v for k, v in values.items())
            return record if same else self._scan(name, values)

        return self._scan(name, values)

    def _scan(self, name: str, values: dict[str, Any]) -> Record | None:
        for record in self.table(name).values():
            if all(record.get(k) == v for k, v in values.items()):
                return record

        return None

    def insert(self, name: str, record: Record) -> Record:
        """Stores ``record`` (which has its ``id``) as new; stamps it."""
        record["_table"] = name
        self.table(name)[record["id"]] = record
        self.stamp(record)

        return record

    def stamp(self, record: Record) -> None:
        """Marks ``record`` modified: a new row version and lastModifiedDateTime."""
        self.rowversion += 1
        record["_rv"] = self.rowversion
        if "lastModifiedDateTime" in record:
            record["lastModifiedDateTime"] = format_datetime(self.now())
        self._reindex(record)

    def delete(self, name: str, record_id: str) -> None:
        """Removes the record ``record_id`` of ``name`` if present."""
        record = self.table(name).pop(record_id, None)
        index = self.keys.get(name)
        key = (record or {}).get("_key", ())
        if index is not None and index.get(key) == record_id:
            del index[key]

    def number(self, series: str) -> str:
        """The next number of the series ``series``."""
        return self.series[series].take()

    def snapshot(self) -> Snapshot:
        """A copy of the state, for :meth:`restore`."""
        tables = {
            name: {key: dict(record) for key, record in table.items()}
            for name, table in self.tables.items()
        }
        series = {k: (s.next_value, s.step) for k, s in self.series.items()}
        keys = {name: dict(index) for name, index in self.keys.items()}

        return Snapshot(tables, keys, series, self.rowversion, self.rng.getstate())

    def restore(self, snapshot: Snapshot) -> None:
        """Puts the state back to ``snapshot`` (which stays usable)."""
        self.tables = {
            name: {key: dict(record) for key, record in table.items()}
            for name, table in snapshot.tables.items()
        }
        self.keys = {name: dict(index) for name, index in snapshot.keys.items()}
        for key, (next_value, step) in snapshot.series.items():
            self.series[key].next_value = next_value
            self.series[key].step = step
        self.rowversion = snapshot.rowversion
        self.rng.setstate(snapshot.random_state)


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def etag_of(record: Record) -> str:
    """The weak ETag of ``record``, shaped like BC's ``W/"JzI0O...Jw=="``.

    BC's tag is base64 of ``'<n>;<key>;<row version>;'``; this one encodes the
    record's id and its row version the same way, so it changes on every write.
    """
    identity = record.get("id") or record["contactId"]
    key = base64.b64encode(uuid.UUID(identity).bytes).decode("ascii")
    inner = f"'{len(key)};{key};{record['_rv']};'"
    tag = base64.b64encode(inner.encode("ascii")).decode("ascii")

    return f'W/"{tag}"'
