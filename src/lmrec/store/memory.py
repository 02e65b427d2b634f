"""An in-memory :class:`~lmrec.store.base.Store` for unit tests and throwaway engines.

It keeps the very rows the SQL stores keep (see :mod:`lmrec.store.schema`) and
decodes them on every read, so what a test gets back (lists for tuples inside
metadata, float32 vectors, floats for ``value``) is what production gets back.
Nothing survives the process; "durable" here means "stored before returning".
"""

from __future__ import annotations

import bisect
import dataclasses
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from lmrec.errors import ConflictError, InvalidInputError, NotFoundError, StoreError
from lmrec.schema import Event, Item, ModelVersion, StoredEvent, User
from lmrec.store.base import AppendResult
from lmrec.store.schema import (
    ItemRow,
    ModelRow,
    UserRow,
    dump_json,
    event_to_row,
    item_to_row,
    load_json,
    model_to_row,
    pack_vector,
    row_to_item,
    row_to_model,
    row_to_stored_event,
    row_to_user,
    unpack_vector,
    user_to_row,
)


class MemoryStore:
    """A thread-safe store held in dictionaries; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._closed = False
        self._items: dict[str, ItemRow] = {}
        self._item_version: dict[str, int] = {}
        self._version = 0
        self._users: dict[str, UserRow] = {}
        self._events: list[StoredEvent] = []  # ascending seq
        self._by_user: dict[str, list[StoredEvent]] = {}
        self._client_ids: set[str] = set()
        self._seq = 0
        self._embeddings: dict[tuple[str, str], tuple[int, bytes]] = {}
        self._models: dict[str, ModelRow] = {}
        self._meta: dict[str, str] = {}

    def __repr__(self) -> str:
        return "MemoryStore()"

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    # -- catalog -------------------------------------------------------------
    def upsert_items(self, items: Sequence[Item]) -> int:
        rows = [item_to_row(item) for item in items]
        with self._lock:
            self._check_open()
            if rows:
                self._version += 1
            for row in rows:
                self._items[row[0]] = row
                self._item_version[row[0]] = self._version
        return len(rows)

    def catalog_version(self) -> int:
        with self._lock:
            self._check_open()
            return self._version

    def items_changed_since(self, version: int) -> list[Item]:
        with self._lock:
            self._check_open()
            ids = sorted((v, i) for i, v in self._item_version.items() if v > version)
            rows = [self._items[i] for _, i in ids]
        return [row_to_item(row) for row in rows]

    def get_items(self, ids: Iterable[str]) -> dict[str, Item]:
        with self._lock:
            self._check_open()
            rows = [self._items.get(i) for i in dict.fromkeys(ids)]
        return {row[0]: row_to_item(row) for row in rows if row is not None}

    def iter_items(self, *, include_inactive: bool = False) -> Iterator[Item]:
        with self._lock:
            self._check_open()
            rows = [self._items[i] for i in sorted(self._items)]
        for row in rows:
            if include_inactive or row[5]:
                yield row_to_item(row)

    def count_items(self, *, include_inactive: bool = False) -> int:
        with self._lock:
            self._check_open()
            return sum(1 for row in self._items.values() if include_inactive or row[5])

    def set_item_active(self, item_id: str, active: bool) -> bool:
        with self._lock:
            self._check_open()
            row = self._items.get(item_id)
            if row is None:
                return False
            self._items[item_id] = (*row[:5], bool(active))
            self._version += 1
            self._item_version[item_id] = self._version
            return True

    # -- users ---------------------------------------------------------------
    def upsert_users(self, users: Sequence[User]) -> int:
        rows = [user_to_row(user) for user in users]
        with self._lock:
            self._check_open()
            for row in rows:
                self._users[row[0]] = row
        return len(rows)

    def get_user(self, user_id: str) -> User | None:
        with self._lock:
            self._check_open()
            row = self._users.get(user_id)
        return None if row is None else row_to_user(row)

    def iter_users(self) -> Iterator[User]:
        """Stored profiles, ordered by id (users known only from events have none)."""
        with self._lock:
            self._check_open()
            rows = [self._users[i] for i in sorted(self._users)]
        for row in rows:
            yield row_to_user(row)

    def count_users(self) -> int:
        with self._lock:
            self._check_open()
            return len(self._users.keys() | self._by_user.keys())

    def delete_user(self, user_id: str) -> int:
        with self._lock:
            self._check_open()
            self._users.pop(user_id, None)
            gone = self._by_user.pop(user_id, [])
            if gone:
                self._events = [e for e in self._events if e.event.user != user_id]
                # Like a UNIQUE column, an erased event no longer reserves its id.
                self._client_ids.difference_update(
                    e.event.id for e in gone if e.event.id is not None
                )
            return len(gone)

    # -- event log -----------------------------------------------------------
    def append_events(self, events: Sequence[Event]) -> AppendResult:
        rows = [event_to_row(event) for event in events]  # validate all before storing any
        with self._lock:
            self._check_open()
            accepted = 0
            for row in rows:
                client_id = row[0]
                if client_id is not None:
                    if client_id in self._client_ids:
                        continue
                    self._client_ids.add(client_id)
                self._seq += 1
                stored = row_to_stored_event((self._seq, *row))
                self._events.append(stored)
                self._by_user.setdefault(stored.event.user, []).append(stored)
                accepted += 1
            return AppendResult(accepted, len(rows) - accepted, self._seq)

    def user_events(self, user_id: str, *, limit: int | None = None) -> list[StoredEvent]:
        if limit is not None and limit < 0:
            raise InvalidInputError("limit must not be negative", field="limit")
        with self._lock:
            self._check_open()
            events = self._by_user.get(user_id, [])
            if limit is None:
                return list(events)
            return events[len(events) - limit :] if limit else []

    def iter_events(self, *, after_seq: int = 0) -> Iterator[StoredEvent]:
        with self._lock:
            self._check_open()
            start = bisect.bisect_right(self._events, after_seq, key=lambda e: e.seq)
            events = self._events[start:]
        yield from events

    def count_events(self) -> int:
        with self._lock:
            self._check_open()
            return len(self._events)

    def last_seq(self) -> int:
        with self._lock:
            self._check_open()
            return self._seq

    # -- embedding cache -----------------------------------------------------
    def get_embeddings(
        self, encoder: str, text_hashes: Iterable[str]
    ) -> dict[str, npt.NDArray[np.float32]]:
        with self._lock:
            self._check_open()
            found = {h: self._embeddings.get((encoder, h)) for h in text_hashes}
        return {h: unpack_vector(*packed) for h, packed in found.items() if packed is not None}

    def put_embeddings(self, encoder: str, vectors: Mapping[str, npt.NDArray[np.float32]]) -> None:
        packed = {h: pack_vector(v, field=f"vectors[{h!r}]") for h, v in vectors.items()}
        with self._lock:
            self._check_open()
            for h, value in packed.items():
                self._embeddings[(encoder, h)] = value

    # -- model registry ------------------------------------------------------
    def register_model(self, version: ModelVersion) -> None:
        row = model_to_row(version)
        with self._lock:
            self._check_open()
            if row[0] in self._models:
                raise ConflictError(
                    f"model version {row[0]!r} is already registered", field="version"
                )
            if row[5]:
                self._deactivate_all()
            self._models[row[0]] = row

    def list_models(self) -> list[ModelVersion]:
        with self._lock:
            self._check_open()
            rows = sorted(self._models.values(), key=lambda r: (r[2], r[0]), reverse=True)
        return [row_to_model(row) for row in rows]

    def active_model(self) -> ModelVersion | None:
        with self._lock:
            self._check_open()
            row = next((r for r in self._models.values() if r[5]), None)
        return None if row is None else row_to_model(row)

    def activate_model(self, version: str) -> ModelVersion:
        with self._lock:
            self._check_open()
            row = self._models.get(version)
            if row is None:
                raise NotFoundError(f"model version {version!r} is not registered")
            self._deactivate_all()
            self._models[version] = (*row[:5], True)
            return dataclasses.replace(row_to_model(row), active=True)

    def _deactivate_all(self) -> None:
        for key, row in self._models.items():
            if row[5]:
                self._models[key] = (*row[:5], False)

    # -- metadata ------------------------------------------------------------
    def get_meta(self, key: str) -> Any | None:
        with self._lock:
            self._check_open()
            text = self._meta.get(key)
        return None if text is None else load_json(text)

    def set_meta(self, key: str, value: Any) -> None:
        text = dump_json(value, field=key)
        with self._lock:
            self._check_open()
            self._meta[key] = text

    def close(self) -> None:
        with self._lock:
            self._closed = True
