"""The rows of the emulated org, with all-or-nothing transactions.

Rows are plain dicts of stored values keyed by column logical name (see
``_dataverse_values``), plus two hidden keys: ``__table`` (the logical name) and
``__seq`` (insertion order, the emulator's default sort and the tie-breaker of
its paging cookies). Every change goes through :meth:`Store.put` or
:meth:`Store.remove`, which record the previous state, so :meth:`Store.rollback`
can undo a failed change set; the alternate-key indexes follow along.

The store is not thread-safe; the emulator runs on one event loop and never
awaits in the middle of a write.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pointegration.emulators._dataverse_model import Catalog, Key
from pointegration.emulators._dataverse_values import Ref

__all__ = ["Row", "Store", "key_tuple"]

Row = dict[str, Any]
_Change = tuple[str, str, Row | None]


def key_tuple(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Key values as the unique index compares them (strings case-insensitive)."""
    folded: list[Any] = []
    for value in values:
        if isinstance(value, str):
            folded.append(value.casefold())
        elif isinstance(value, Ref):
            folded.append(value.id)
        else:
            folded.append(value)

    return tuple(folded)


class Store:
    """Every row of every table, the version counter and the key indexes."""

    def __init__(self, catalog: Catalog, *, first_version: int = 1_000_000) -> None:
        self.catalog = catalog
        self._tables: dict[str, dict[str, Row]] = {}
        self._indexes: dict[tuple[str, str], dict[tuple[Any, ...], str]] = {}
        self._links: dict[tuple[str, str], dict[Ref, dict[str, None]]] = {}
        self._version = first_version
        self._seq = 0
        self._journal: list[_Change] | None = None

    def next_version(self) -> int:
        """A fresh ``versionnumber``, larger than every earlier one."""
        self._version += 1

        return self._version

    def rows(self, table: str) -> dict[str, Row]:
        """The rows of ``table`` by id (a live view; do not modify)."""
        return self._tables.setdefault(table, {})

    def get(self, table: str, record_id: str) -> Row | None:
        """The row ``record_id`` of ``table``, or ``None``."""
        return self._tables.get(table, {}).get(record_id)

    def put(self, table: str, record_id: str, row: Row) -> None:
        """Insert or replace a row (journalled)."""
        rows = self.rows(table)
        previous = rows.get(record_id)
        self._record(table, record_id, previous)
        if previous is not None:
            self._unindex(table, record_id, previous)
            row["__seq"] = previous["__seq"]
        else:
            self._seq += 1
            row["__seq"] = self._seq
        row["__table"] = table
        rows[record_id] = row
        self._index(table, record_id, row)

    def remove(self, table: str, record_id: str) -> None:
        """Delete a row (journalled); a missing row is ignored."""
        previous = self._tables.get(table, {}).pop(record_id, None)
        if previous is None:
            return
        self._record(table, record_id, previous)
        self._unindex(table, record_id, previous)

    def find_by_key(self, table: str, key: Key, values: tuple[Any, ...]) -> Row | None:
        """The row whose alternate ``key`` has ``values``, or ``None``."""
        index = self._key_index(table, key)
        record_id = index.get(key_tuple(values))

        return None if record_id is None else self.get(table, record_id)

    def key_owner(self, table: str, key: Key, row: Row) -> str | None:
        """The id of the row that holds ``row``'s values for ``key``, if any."""
        values = tuple(row.get(name) for name in key.attributes)
        if any(value is None for value in values):
            return None

        return self._key_index(table, key).get(key_tuple(values))

    def referencing(self, table: str, column: str, reference: Ref) -> list[Row]:
        """The rows of ``table`` whose lookup ``column`` holds ``reference``."""
        rows = self.rows(table)
        ids = self._link_index(table, column).get(reference, {})

        return [rows[record_id] for record_id in ids if record_id in rows]

    def _link_index(self, table: str, column: str) -> dict[Ref, dict[str, None]]:
        index = self._links.get((table, column))
        if index is None:
            index = {}
            for record_id, row in self.rows(table).items():
                value = row.get(column)
                if isinstance(value, Ref):
                    index.setdefault(value, {})[record_id] = None
            self._links[(table, column)] = index

        return index

    def drop_table(self, table: str) -> None:
        """Forget every row of ``table`` (not journalled; metadata changes only)."""
        self._tables.pop(table, None)
        for index_key in [k for k in self._indexes if k[0] == table]:
            del self._indexes[index_key]
        for link_key in [k for k in self._links if k[0] == table]:
            del self._links[link_key]

    def clear(self) -> None:
        """Forget every row (the version counter keeps counting up)."""
        self._tables.clear()
        self._indexes.clear()
        self._links.clear()

    def begin(self) -> None:
        """Start recording changes so that :meth:`rollback` can undo them."""
        self._journal = []

    def commit(self) -> None:
        """Keep the changes made since :meth:`begin`."""
        self._journal = None

    def rollback(self) -> None:
        """Undo every change made since :meth:`begin`."""
        journal, self._journal = self._journal or [], None
        for table, record_id, previous in reversed(journal):
            current = self._tables.get(table, {}).pop(record_id, None)
            if current is not None:
                self._unindex(table, record_id, current)
            if previous is not None:
                self.rows(table)[record_id] = previous
                self._index(table, record_id, previous)

    def all_rows(self) -> Iterator[tuple[str, Row]]:
        """Every ``(table, row)``."""
        for table, rows in self._tables.items():
            for row in rows.values():
                yield table, row

    def _record(self, table: str, record_id: str, previous: Row | None) -> None:
        if self._journal is not None:
            self._journal.append((table, record_id, previous))

    def _key_index(self, table: str, key: Key) -> dict[tuple[Any, ...], str]:
        index_key = (table, key.logical_name)
        index = self._indexes.get(index_key)
        if index is None:
            index = {}
            for record_id, row in self.rows(table).items():
                values = tuple(row.get(name) for name in key.attributes)
                if all(value is not None for value in values):
                    index[key_tuple(values)] = record_id
            self._indexes[index_key] = index

        return index

    def _keys(self, table: str) -> list[Key]:
        entry = self.catalog.table(table)

        return [] if entry is None else list(entry.keys.values())

    def _index(self, table: str, record_id: str, row: Row) -> None:
        for (linked, column), links in self._links.items():
            value = row.get(column)
            if linked == table and isinstance(value, Ref):
                links.setdefault(value, {})[record_id] = None
        for key in self._keys(table):
            values = tuple(row.get(name) for name in key.attributes)
            if all(value is not None for value in values):
                self._key_index(table, key)[key_tuple(values)] = record_id

    def _unindex(self, table: str, record_id: str, row: Row) -> None:
        for (linked, column), links in self._links.items():
            value = row.get(column)
            if linked == table and isinstance(value, Ref):
                links.get(value, {}).pop(record_id, None)
        for key in self._keys(table):
            values = tuple(row.get(name) for name in key.attributes)
            index = self._key_index(table, key)
            if index.get(key_tuple(values)) == record_id:
                del index[key_tuple(values)]
