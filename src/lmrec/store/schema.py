"""Table layout and row codecs shared by the store implementations.

Every store keeps the same rows, whatever engine holds them, so that the
in-memory store behaves exactly like the SQL ones and a PostgreSQL store can
follow without changing callers. The data model therefore sticks to plain SQL
types: JSON travels as ``TEXT``, vectors as little-endian float32 ``BLOB`` with
their ``dim``, flags as ``BOOLEAN`` and times as ``REAL`` (Unix seconds). The
only SQLite-specific word below is ``AUTOINCREMENT`` (``BIGSERIAL`` there): it
is what keeps a ``seq`` from ever being reused after events are deleted.

Ordering by id relies on binary (code point) collation; a PostgreSQL store
must declare the id columns ``COLLATE "C"`` to match.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from lmrec.errors import InvalidInputError, StoreError
from lmrec.schema import Event, EventKind, Item, ModelVersion, StoredEvent, User

#: Version of the table layout written by this lmrec. Bump it, and append the
#: statements that upgrade the previous version to :data:`MIGRATIONS`, whenever
#: the layout changes.
SCHEMA_VERSION = 2

_V1: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS items (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        text TEXT NOT NULL,
        categories TEXT NOT NULL,
        metadata TEXT NOT NULL,
        active BOOLEAN NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS users (
        id TEXT PRIMARY KEY,
        attributes TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        client_id TEXT UNIQUE,
        user_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        item_id TEXT,
        value REAL,
        query TEXT,
        ts REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS events_user_seq ON events (user_id, seq)",
    """CREATE TABLE IF NOT EXISTS embeddings (
        encoder TEXT NOT NULL,
        text_hash TEXT NOT NULL,
        dim INTEGER NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (encoder, text_hash)
    )""",
    """CREATE TABLE IF NOT EXISTS models (
        version TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        created_at REAL NOT NULL,
        metrics TEXT NOT NULL,
        config TEXT NOT NULL,
        active BOOLEAN NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
)

#: ``MIGRATIONS[v]`` upgrades a database at schema version ``v`` to ``v + 1``
#: (version 0 is an empty file).
#: Version 2: items carry the catalog version of their last write, so processes
#: sharing a store can fetch exactly the items changed since they last looked.
_V2: tuple[str, ...] = (
    "ALTER TABLE items ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX IF NOT EXISTS items_version ON items (version)",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2)

ITEM_COLUMNS = "id, title, text, categories, metadata, active"
USER_COLUMNS = "id, attributes"
EVENT_COLUMNS = "seq, client_id, user_id, kind, item_id, value, query, ts"
MODEL_COLUMNS = "version, path, created_at, metrics, config, active"

ItemRow = tuple[str, str, str, str, str, bool]
UserRow = tuple[str, str]
#: An event as inserted: everything but the ``seq`` the store assigns.
EventRow = tuple[str | None, str, str, str | None, float | None, str | None, float]
ModelRow = tuple[str, str, float, str, str, bool]


def _json_default(obj: object) -> Any:
    # Frozen mappings (MappingProxyType) and NumPy scalars are common in
    # metadata and metrics; everything else must already be plain JSON.
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serializable")


def dump_json(value: Any, *, field: str) -> str:
    """JSON text for a stored value; raises InvalidInputError if it has none."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{field} must be JSON-compatible: {exc}", field=field) from exc


def load_json(text: str) -> Any:
    """The value stored as ``text`` by :func:`dump_json`."""
    return json.loads(text)


def pack_vector(vector: npt.ArrayLike, *, field: str = "vector") -> tuple[int, bytes]:
    """``(dim, bytes)`` of a 1-D vector as little-endian float32.

    Inputs of another dtype are cast to float32 first; float32 input is stored
    bit for bit.
    """
    arr = np.asarray(vector)
    if arr.ndim != 1:
        raise InvalidInputError(f"{field} must be a 1-D vector, got shape {arr.shape}", field=field)
    return int(arr.shape[0]), arr.astype("<f4", copy=False).tobytes()


def unpack_vector(dim: int, blob: bytes) -> npt.NDArray[np.float32]:
    """A fresh, writable float32 vector from :func:`pack_vector` output."""
    if len(blob) != 4 * dim:
        raise StoreError(f"a stored embedding is corrupt: {len(blob)} bytes for dimension {dim}")
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def item_to_row(item: Item) -> ItemRow:
    return (
        item.id,
        item.title,
        item.text,
        dump_json(list(item.categories), field="categories"),
        dump_json(item.metadata, field="metadata"),
        bool(item.active),
    )


def row_to_item(row: tuple[Any, ...]) -> Item:
    return Item(
        id=row[0],
        title=row[1],
        text=row[2],
        categories=tuple(load_json(row[3])),
        metadata=load_json(row[4]),
        active=bool(row[5]),
    )


def user_to_row(user: User) -> UserRow:
    return (user.id, dump_json(user.attributes, field="attributes"))


def row_to_user(row: tuple[Any, ...]) -> User:
    return User(id=row[0], attributes=load_json(row[1]))


def event_to_row(event: Event) -> EventRow:
    """The insert row of an event; rejects a kind that is not an :class:`EventKind`."""
    try:
        kind = EventKind(event.kind).value
    except ValueError as exc:
        raise InvalidInputError(f"unknown event kind {event.kind!r}", field="kind") from exc
    return (
        event.id,
        event.user,
        kind,
        event.item,
        None if event.value is None else float(event.value),
        event.query,
        float(event.ts),
    )


def row_to_stored_event(row: tuple[Any, ...]) -> StoredEvent:
    """A :class:`StoredEvent` from a row in :data:`EVENT_COLUMNS` order."""
    return StoredEvent(
        seq=int(row[0]),
        event=Event(
            id=row[1],
            user=row[2],
            kind=EventKind(row[3]),
            item=row[4],
            value=row[5],
            query=row[6],
            ts=row[7],
        ),
    )


def model_to_row(model: ModelVersion) -> ModelRow:
    return (
        model.version,
        model.path,
        float(model.created_at),
        dump_json(model.metrics, field="metrics"),
        dump_json(model.config, field="config"),
        bool(model.active),
    )


def row_to_model(row: tuple[Any, ...]) -> ModelVersion:
    return ModelVersion(
        version=row[0],
        path=row[1],
        created_at=row[2],
        metrics=load_json(row[3]),
        config=load_json(row[4]),
        active=bool(row[5]),
    )
