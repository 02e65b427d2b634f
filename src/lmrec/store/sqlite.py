"""The default durable :class:`~lmrec.store.base.Store`: one SQLite file.

Why these settings:

* **WAL journal** lets readers in other threads and processes keep reading
  while one writer appends, which is what a server with several workers on
  one file needs.
* **synchronous=FULL** makes every commit reach the disk before
  ``append_events`` returns, so an acknowledged event survives ``kill -9`` (and
  power loss). Throughput comes from batching: one transaction, one sync per
  call, whatever its size.
* **busy_timeout** makes a writer wait for another process's write to finish
  instead of failing at once; writes start with ``BEGIN IMMEDIATE`` so the wait
  happens up front, where SQLite can honour it.
* **one connection behind a lock**, opened with ``check_same_thread=False``:
  FastAPI calls the store from its thread pool, and SQLite allows one writer
  per file anyway.

Every ``sqlite3`` failure leaves as :class:`~lmrec.errors.StoreError` with a
sentence that names the file and, where known, the cause (locked, disk full,
read-only, not a database).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lmrec.errors import ConflictError, InvalidInputError, NotFoundError, StoreError
from lmrec.schema import Event, Item, ModelVersion, StoredEvent, User
from lmrec.store.base import AppendResult
from lmrec.store.schema import (
    EVENT_COLUMNS,
    ITEM_COLUMNS,
    MIGRATIONS,
    MODEL_COLUMNS,
    SCHEMA_VERSION,
    USER_COLUMNS,
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

#: Rows fetched per query by the ``iter_*`` methods; the lock is released
#: between pages so one slow consumer never blocks other threads.
PAGE_SIZE = 1000
#: Ids per ``IN (...)`` list, well under SQLite's bound-parameter limit.
_CHUNK = 500

_INSERT_EVENT = (
    "INSERT INTO events (client_id, user_id, kind, item_id, value, query, ts) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class SQLiteStore:
    """A store in one SQLite database file, shareable by threads and processes.

    Args:
        path: The database file; its folder is created if missing. ``:memory:``
            gives a private, non-durable database (no WAL).
        busy_timeout_s: How long a write waits for another connection's write
            lock before failing with a StoreError.

    Raises:
        StoreError: The file cannot be opened or created, is not an lmrec
            database, or was written by a newer lmrec.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 30.0) -> None:
        self.path = str(path)
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.RLock()
        self._closed = False
        if self.path != ":memory:":
            folder = Path(self.path).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the folder {folder} for the database: {exc.strerror}"
                ) from exc
        with self._errors("open the database"):
            self._conn = sqlite3.connect(
                self.path,
                timeout=busy_timeout_s,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,
            )
        try:
            self._configure()
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------
    def _configure(self) -> None:
        with self._errors("configure the database"):
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal" and self.path != ":memory:":
                raise StoreError(
                    f"cannot switch {self.path} to WAL mode (got {mode!r}); "
                    "put the database on a local file system"
                )
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")

    def _migrate(self) -> None:
        version = self._user_version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer lmrec (store schema {version}); this "
                f"version reads schema {SCHEMA_VERSION} or older. Upgrade lmrec to open it."
            )
        if version == SCHEMA_VERSION:
            return
        with self._write("create the tables") as cur:
            # Re-read inside the write lock: another process may have just done it.
            version = self._user_version()
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step]:
                    cur.execute(statement)
            cur.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _user_version(self) -> int:
        with self._errors("read the schema version"):
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the store for {self.path} is closed")

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise self._store_error(action, exc) from exc

    def _store_error(self, action: str, exc: sqlite3.Error) -> StoreError:
        code = getattr(exc, "sqlite_errorname", "") or ""
        text = str(exc)
        if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
            why = (
                f"the database is locked by another connection and stayed locked for "
                f"{self._busy_timeout_s:g} s; retry, or find the process holding it"
            )
        elif code.startswith("SQLITE_FULL"):
            why = "the disk (or the database's size limit) is full; free space and retry"
        elif code.startswith("SQLITE_READONLY"):
            why = "the database file or its folder is read-only"
        elif code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
            why = "the file is not an lmrec database or is corrupt"
        elif code.startswith("SQLITE_CANTOPEN"):
            why = "the file cannot be opened (check the path and permissions)"
        else:
            why = text
        return StoreError(f"cannot {action} in {self.path}: {why}")

    @contextlib.contextmanager
    def _read(self, action: str) -> Iterator[sqlite3.Cursor]:
        with self._lock, self._errors(action):
            self._check_open()
            yield self._conn.cursor()

    @contextlib.contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Cursor]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT`` transaction, rolled back on any error."""
        with self._lock, self._errors(action):
            self._check_open()
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                raise

    # -- catalog -------------------------------------------------------------
    def upsert_items(self, items: Sequence[Item]) -> int:
        rows = [item_to_row(item) for item in items]
        if not rows:
            return 0
        with self._write("store items") as cur:
            version = self._catalog_version(cur) + 1
            cur.executemany(
                f"INSERT INTO items ({ITEM_COLUMNS}, version) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET title = excluded.title, text = excluded.text, "
                "categories = excluded.categories, metadata = excluded.metadata, "
                "active = excluded.active, version = excluded.version",
                [(*row, version) for row in rows],
            )
        return len(rows)

    @staticmethod
    def _catalog_version(cur: sqlite3.Cursor) -> int:
        return int(cur.execute("SELECT COALESCE(MAX(version), 0) FROM items").fetchone()[0])

    def catalog_version(self) -> int:
        with self._read("read the catalog version") as cur:
            return self._catalog_version(cur)

    def items_changed_since(self, version: int) -> list[Item]:
        with self._read("read changed items") as cur:
            rows = cur.execute(
                f"SELECT {ITEM_COLUMNS} FROM items WHERE version > ? ORDER BY version, id",
                (version,),
            ).fetchall()
        return [row_to_item(row) for row in rows]

    def get_items(self, ids: Iterable[str]) -> dict[str, Item]:
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Item] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            with self._read("read items") as cur:
                rows = cur.execute(
                    f"SELECT {ITEM_COLUMNS} FROM items WHERE id IN ({marks})", chunk
                ).fetchall()
            for row in rows:
                found[row[0]] = row_to_item(row)
        return {i: found[i] for i in wanted if i in found}

    def iter_items(self, *, include_inactive: bool = False) -> Iterator[Item]:
        where = "" if include_inactive else "active"
        for row in self._pages(f"SELECT {ITEM_COLUMNS} FROM items", "id", where=where):
            yield row_to_item(row)

    def count_items(self, *, include_inactive: bool = False) -> int:
        where = "" if include_inactive else " WHERE active"
        with self._read("count items") as cur:
            return int(cur.execute(f"SELECT COUNT(*) FROM items{where}").fetchone()[0])

    def set_item_active(self, item_id: str, active: bool) -> bool:
        with self._write("update an item") as cur:
            version = self._catalog_version(cur) + 1
            cur.execute(
                "UPDATE items SET active = ?, version = ? WHERE id = ?",
                (bool(active), version, item_id),
            )
            return cur.rowcount > 0

    def _pages(
        self, select: str, key: str, *, after: Any = None, where: str = ""
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of ``select`` in ``key`` order (``key`` must be its first column), page by page.

        Keyset paging keeps each query short and consistent on its own while
        the lock is free between pages.
        """
        while True:
            conditions = [c for c in (where, "" if after is None else f"{key} > ?") if c]
            sql = select
            if conditions:
                sql += " WHERE " + " AND ".join(conditions)
            sql += f" ORDER BY {key} LIMIT {PAGE_SIZE}"
            with self._read("read rows") as cur:
                rows = cur.execute(sql, () if after is None else (after,)).fetchall()
            yield from rows
            if len(rows) < PAGE_SIZE:
                return
            after = rows[-1][0]

    # -- users ---------------------------------------------------------------
    def upsert_users(self, users: Sequence[User]) -> int:
        rows = [user_to_row(user) for user in users]
        if not rows:
            return 0
        with self._write("store users") as cur:
            cur.executemany(
                f"INSERT INTO users ({USER_COLUMNS}) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET attributes = excluded.attributes",
                rows,
            )
        return len(rows)

    def get_user(self, user_id: str) -> User | None:
        with self._read("read a user") as cur:
            row = cur.execute(
                f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,)
            ).fetchone()
        return None if row is None else row_to_user(row)

    def iter_users(self) -> Iterator[User]:
        """Stored profiles, ordered by id (users known only from events have none)."""
        for row in self._pages(f"SELECT {USER_COLUMNS} FROM users", "id"):
            yield row_to_user(row)

    def count_users(self) -> int:
        with self._read("count users") as cur:
            row = cur.execute(
                "SELECT COUNT(*) FROM (SELECT id FROM users UNION SELECT user_id FROM events) AS u"
            ).fetchone()
        return int(row[0])

    def delete_user(self, user_id: str) -> int:
        with self._write("delete a user") as cur:
            cur.execute("DELETE FROM events WHERE user_id = ?", (user_id,))
            deleted = cur.rowcount
            cur.execute("DELETE FROM users WHERE id = ?", (user_id,))
        return deleted

    # -- event log -----------------------------------------------------------
    def append_events(self, events: Sequence[Event]) -> AppendResult:
        rows = [event_to_row(event) for event in events]  # validate all before storing any
        if not rows:
            return AppendResult(0, 0, self.last_seq())
        with self._write("append events") as cur:
            # Known ids are looked up first, inside the write lock, rather than
            # skipped with ON CONFLICT DO NOTHING: an upsert draws a seq before it
            # finds the conflict, so a replayed batch would move last_seq although
            # nothing was stored. (It is also faster than INSERT ... WHERE NOT EXISTS.)
            seen = self._known_client_ids(cur, [row[0] for row in rows if row[0] is not None])
            fresh = []
            for row in rows:
                client_id = row[0]
                if client_id is not None:
                    if client_id in seen:
                        continue
                    seen.add(client_id)
                fresh.append(row)
            if fresh:
                cur.executemany(_INSERT_EVENT, fresh)
            last = self._last_seq(cur)
        accepted = len(fresh)
        return AppendResult(accepted, len(rows) - accepted, last)

    def user_events(self, user_id: str, *, limit: int | None = None) -> list[StoredEvent]:
        if limit is not None and limit < 0:
            raise InvalidInputError("limit must not be negative", field="limit")
        with self._read("read a user's events") as cur:
            if limit is None:
                rows = cur.execute(
                    f"SELECT {EVENT_COLUMNS} FROM events WHERE user_id = ? ORDER BY seq",
                    (user_id,),
                ).fetchall()
            else:
                rows = cur.execute(
                    f"SELECT {EVENT_COLUMNS} FROM events WHERE user_id = ? "
                    "ORDER BY seq DESC LIMIT ?",
                    (user_id, limit),
                ).fetchall()
                rows.reverse()
        return [row_to_stored_event(row) for row in rows]

    def iter_events(self, *, after_seq: int = 0) -> Iterator[StoredEvent]:
        for row in self._pages(f"SELECT {EVENT_COLUMNS} FROM events", "seq", after=after_seq):
            yield row_to_stored_event(row)

    def count_events(self) -> int:
        with self._read("count events") as cur:
            return int(cur.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def last_seq(self) -> int:
        with self._read("read the last event seq") as cur:
            return self._last_seq(cur)

    @staticmethod
    def _known_client_ids(cur: sqlite3.Cursor, client_ids: list[str]) -> set[str]:
        """The ids among ``client_ids`` that some stored event already carries."""
        wanted = list(dict.fromkeys(client_ids))
        known: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = cur.execute(
                f"SELECT client_id FROM events WHERE client_id IN ({marks})", chunk
            ).fetchall()
            known.update(row[0] for row in rows)
        return known

    @staticmethod
    def _last_seq(cur: sqlite3.Cursor) -> int:
        # AUTOINCREMENT's high-water mark, which deletes never lower.
        row = cur.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return 0 if row is None else int(row[0])

    # -- embedding cache -----------------------------------------------------
    def get_embeddings(
        self, encoder: str, text_hashes: Iterable[str]
    ) -> dict[str, npt.NDArray[np.float32]]:
        wanted = list(dict.fromkeys(text_hashes))
        found: dict[str, npt.NDArray[np.float32]] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            with self._read("read embeddings") as cur:
                rows = cur.execute(
                    "SELECT text_hash, dim, vector FROM embeddings "
                    f"WHERE encoder = ? AND text_hash IN ({marks})",
                    [encoder, *chunk],
                ).fetchall()
            for text_hash, dim, blob in rows:
                found[text_hash] = unpack_vector(dim, blob)
        return found

    def put_embeddings(self, encoder: str, vectors: Mapping[str, npt.NDArray[np.float32]]) -> None:
        rows = [(encoder, h, *pack_vector(v, field=f"vectors[{h!r}]")) for h, v in vectors.items()]
        if not rows:
            return
        with self._write("store embeddings") as cur:
            cur.executemany(
                "INSERT INTO embeddings (encoder, text_hash, dim, vector) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (encoder, text_hash) DO UPDATE "
                "SET dim = excluded.dim, vector = excluded.vector",
                rows,
            )

    # -- model registry ------------------------------------------------------
    def register_model(self, version: ModelVersion) -> None:
        row = model_to_row(version)
        with self._write("register a model") as cur:
            if cur.execute("SELECT 1 FROM models WHERE version = ?", (row[0],)).fetchone():
                raise ConflictError(
                    f"model version {row[0]!r} is already registered", field="version"
                )
            if row[5]:
                cur.execute("UPDATE models SET active = ? WHERE active", (False,))
            cur.execute(f"INSERT INTO models ({MODEL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", row)

    def list_models(self) -> list[ModelVersion]:
        with self._read("list models") as cur:
            rows = cur.execute(
                f"SELECT {MODEL_COLUMNS} FROM models ORDER BY created_at DESC, version DESC"
            ).fetchall()
        return [row_to_model(row) for row in rows]

    def active_model(self) -> ModelVersion | None:
        with self._read("read the active model") as cur:
            row = cur.execute(f"SELECT {MODEL_COLUMNS} FROM models WHERE active").fetchone()
        return None if row is None else row_to_model(row)

    def activate_model(self, version: str) -> ModelVersion:
        with self._write("activate a model") as cur:
            row = cur.execute(
                f"SELECT {MODEL_COLUMNS} FROM models WHERE version = ?", (version,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"model version {version!r} is not registered")
            cur.execute("UPDATE models SET active = (version = ?)", (version,))
        return dataclasses.replace(row_to_model(row), active=True)

    # -- metadata ------------------------------------------------------------
    def get_meta(self, key: str) -> Any | None:
        with self._read("read metadata") as cur:
            row = cur.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else load_json(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        text = dump_json(value, field=key)
        with self._write("store metadata") as cur:
            cur.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, text),
            )

    def close(self) -> None:
        """Close the connection; later calls raise StoreError. Closing twice is fine."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()
