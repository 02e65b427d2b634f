"""What only the SQLite store promises: a file that persists, is shared, and fails clearly."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from lmrec.errors import StoreError
from lmrec.schema import Event, EventKind, Item, ModelVersion, User
from lmrec.store import open_store
from lmrec.store.memory import MemoryStore
from lmrec.store.schema import SCHEMA_VERSION
from lmrec.store.sqlite import SQLiteStore

TS = 1_700_000_000.0


def click(user: str, item: str, *, id: str | None = None) -> Event:
    return Event(user=user, kind=EventKind.CLICK, item=item, ts=TS, id=id)


def pragma(path: Path, name: str) -> object:
    con = sqlite3.connect(path)
    try:
        return con.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        con.close()


def test_everything_persists_across_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    vec = np.random.default_rng(1).standard_normal(8).astype(np.float32)
    item = Item(id="i1", title="T", text="x", categories=("a",), metadata={"k": [1]})
    mv = ModelVersion(version="v1", path="m/v1", created_at=1.5, metrics={"ndcg": 0.3})
    with SQLiteStore(path) as s:
        s.upsert_items([item])
        s.upsert_users([User(id="u", attributes={"age": 30})])
        first = s.append_events([click("u", "i1", id="e1"), click("u", "ghost")])
        s.put_embeddings("enc", {"h": vec})
        s.register_model(mv)
        s.activate_model("v1")
        s.set_meta("encoder", {"name": "enc", "dim": 8})

    with SQLiteStore(path) as s:
        assert s.get_items(["i1"]) == {"i1": item}
        assert s.get_user("u") == User(id="u", attributes={"age": 30})
        assert [e.event.item for e in s.user_events("u")] == ["i1", "ghost"]
        assert s.last_seq() == first.last_seq
        assert s.get_embeddings("enc", ["h"])["h"].tobytes() == vec.tobytes()
        assert s.active_model() == ModelVersion(
            version="v1", path="m/v1", created_at=1.5, metrics={"ndcg": 0.3}, active=True
        )
        assert s.get_meta("encoder") == {"name": "enc", "dim": 8}
        # Idempotency and seq numbering carry over too.
        again = s.append_events([click("u", "i1", id="e1"), click("u", "i2")])
        assert (again.accepted, again.duplicates) == (1, 1)
        assert again.last_seq > first.last_seq


def test_seq_is_not_reused_after_deleting_the_newest_events_and_reopening(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    with SQLiteStore(path) as s:
        s.append_events([click("a", "i"), click("b", "i")])
        high = s.last_seq()
        s.delete_user("b")
    with SQLiteStore(path) as s:
        assert s.last_seq() == high
        assert s.append_events([click("c", "i")]).last_seq == high + 1


def test_durability_settings(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with SQLiteStore(path, busy_timeout_s=2.5) as s:
        assert str(pragma(path, "journal_mode")).lower() == "wal"  # persistent in the file
        conn = s._conn  # the settings are per connection, so look at the store's own
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert pragma(path, "user_version") == SCHEMA_VERSION


def test_missing_folders_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "lmrec.db"
    with SQLiteStore(path) as s:
        s.append_events([click("u", "i")])
    assert path.is_file()


def test_open_store_factory(tmp_path: Path) -> None:
    s = open_store("sqlite", str(tmp_path / "x.db"))
    assert isinstance(s, SQLiteStore)
    s.close()
    m = open_store("memory")
    assert isinstance(m, MemoryStore)
    m.close()


def test_in_memory_database_works(tmp_path: Path) -> None:
    with SQLiteStore(":memory:") as s:
        assert s.append_events([click("u", "i", id="x")]).accepted == 1
        assert s.append_events([click("u", "i", id="x")]).duplicates == 1


def test_two_stores_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    with SQLiteStore(path) as a, SQLiteStore(path) as b:
        a.upsert_items([Item(id="i1", title="One")])
        assert b.get_items(["i1"])["i1"].title == "One"

        ra = a.append_events([click("u", "i1", id="from-a")])
        assert b.last_seq() == ra.last_seq
        rb = b.append_events([click("u", "i1", id="from-a"), click("u", "i1", id="from-b")])
        assert (rb.accepted, rb.duplicates) == (1, 1)
        assert [e.event.id for e in a.user_events("u")] == ["from-a", "from-b"]

        b.register_model(ModelVersion(version="v1", path="p", created_at=1.0))
        a.activate_model("v1")
        assert b.active_model() is not None


def test_concurrent_appends_through_two_store_objects_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    stores = [SQLiteStore(path), SQLiteStore(path)]
    n_threads, batches, size = 6, 8, 20
    errors: list[BaseException] = []

    def work(t: int) -> None:
        s = stores[t % 2]
        try:
            for b in range(batches):
                # Every batch repeats one id of the thread's previous batch.
                events = [click(f"u{t}", "i", id=f"{t}-{b}-{k}") for k in range(size)]
                if b:
                    events.append(click(f"u{t}", "i", id=f"{t}-{b - 1}-0"))
                r = s.append_events(events)
                assert (r.accepted, r.duplicates) == (size, 1 if b else 0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert errors == []
        for s in stores:
            assert s.count_events() == n_threads * batches * size
            assert s.count_users() == n_threads
        seqs = [e.seq for e in stores[0].iter_events()]
        assert len(set(seqs)) == len(seqs)
    finally:
        for s in stores:
            s.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    SQLiteStore(path).close()
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer lmrec"):
        SQLiteStore(path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are not the pages you are looking for" * 100)
    with pytest.raises(StoreError, match="not an lmrec database"):
        SQLiteStore(path)


def test_a_path_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot"):
        SQLiteStore(tmp_path)


def test_a_locked_database_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with SQLiteStore(path, busy_timeout_s=0.05) as s:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError, match="locked"):
                s.append_events([click("u", "i", id="e")])
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        # Nothing half-done is left behind, and the store works again.
        assert s.count_events() == 0
        assert s.append_events([click("u", "i", id="e")]).accepted == 1


def test_a_full_disk_raises_store_error_and_keeps_the_log_consistent(tmp_path: Path) -> None:
    path = tmp_path / "full.db"
    with SQLiteStore(path) as s:
        s.append_events([click("u", "i", id="before")])
        # Simulate a full disk: cap the file at its current size, on the store's connection.
        conn = s._conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        big = [click("u", "x" * 2000, id=f"e{k}") for k in range(50)]
        with pytest.raises(StoreError, match="full"):
            s.append_events(big)
        assert s.count_events() == 1

        conn.execute("PRAGMA max_page_count = 1073741823")
        assert s.append_events(big).accepted == 50


def test_schema_1_database_is_migrated(tmp_path: Path) -> None:
    """A file written before items carried a version opens, keeps its rows, and tracks changes."""
    import sqlite3

    from lmrec.store.schema import MIGRATIONS

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO items (id, title, text, categories, metadata, active) "
        "VALUES ('a', 'A', '', '[]', '{}', 1)"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    try:
        assert [i.id for i in store.iter_items()] == ["a"]
        v = store.catalog_version()
        store.upsert_items([Item("b", "B")])
        assert [i.id for i in store.items_changed_since(v)] == ["b"]
    finally:
        store.close()
