"""The ``Store`` contract (module docstring of ``lmrec.store.base``), for every implementation.

The ``store`` fixture (``conftest.py``) yields a fresh store of each kind, so
every test here runs once per implementation.
"""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

from lmrec.errors import ConflictError, InvalidInputError, NotFoundError, StoreError
from lmrec.schema import Event, EventKind, Item, ModelVersion, StoredEvent, User
from lmrec.store import AppendResult, Store
from lmrec.store.sqlite import PAGE_SIZE

TS = 1_700_000_000.25


def click(user: str, item: str, *, id: str | None = None, ts: float = TS) -> Event:
    return Event(user=user, kind=EventKind.CLICK, item=item, ts=ts, id=id)


def test_implements_the_protocol(store: Store) -> None:
    assert isinstance(store, Store)


# -- catalog -----------------------------------------------------------------------


def test_items_round_trip_every_field(store: Store) -> None:
    item = Item(
        id="m/1 é",
        title="Toy Story (1995)",
        text="A cowboy doll… 玩具总动员",
        categories=("Animation", "Children's", "Comedy"),
        metadata={"year": 1995, "price": 9.5, "tags": ["a", "b"], "nested": {"x": None}},
        active=False,
    )
    bare = Item(id="m2", title="Bare")
    assert store.upsert_items([item, bare]) == 2

    got = store.get_items(["m/1 é", "m2", "missing"])
    assert set(got) == {"m/1 é", "m2"}
    assert got["m/1 é"] == item
    assert isinstance(got["m/1 é"].categories, tuple)
    assert dict(got["m/1 é"].metadata) == dict(item.metadata)
    assert got["m2"] == bare
    assert got["m2"].active is True


def test_get_items_of_nothing_is_empty(store: Store) -> None:
    store.upsert_items([Item(id="a", title="A")])
    assert store.get_items([]) == {}
    assert store.get_items(["zzz"]) == {}


def test_upsert_replaces_by_id(store: Store) -> None:
    store.upsert_items([Item(id="a", title="Old", categories=("x",))])
    store.upsert_items([Item(id="a", title="New", text="t", active=False)])
    assert store.get_items(["a"])["a"] == Item(id="a", title="New", text="t", active=False)
    assert store.count_items(include_inactive=True) == 1


def test_iter_items_is_ordered_by_id_and_hides_inactive(store: Store) -> None:
    ids = ["b", "10", "9", "a", "B", "é", "1"]
    store.upsert_items([Item(id=i, title=i.upper()) for i in ids])
    store.set_item_active("a", False)

    assert [i.id for i in store.iter_items(include_inactive=True)] == sorted(ids)
    assert [i.id for i in store.iter_items()] == sorted(set(ids) - {"a"})
    assert store.count_items() == len(ids) - 1
    assert store.count_items(include_inactive=True) == len(ids)


def test_iter_and_get_many_items_across_pages(store: Store) -> None:
    n = 2 * PAGE_SIZE + 7
    rng = np.random.default_rng(0)
    ids = [f"item-{k:05d}" for k in rng.permutation(n)]
    store.upsert_items([Item(id=i, title=i, active=(k % 3 != 0)) for k, i in enumerate(ids)])

    everything = [i.id for i in store.iter_items(include_inactive=True)]
    assert everything == sorted(ids)
    active = [i.id for i in store.iter_items()]
    assert active == sorted(i for k, i in enumerate(ids) if k % 3 != 0)
    assert len(store.get_items(ids)) == n


def test_set_item_active(store: Store) -> None:
    store.upsert_items([Item(id="a", title="A")])
    assert store.set_item_active("a", False) is True
    assert store.get_items(["a"])["a"].active is False
    assert store.count_items() == 0
    assert store.set_item_active("a", True) is True
    assert store.get_items(["a"])["a"].active is True
    assert store.set_item_active("nope", True) is False
    assert store.count_items(include_inactive=True) == 1


def test_upsert_items_rejects_non_json_metadata_and_stores_nothing(store: Store) -> None:
    good = Item(id="good", title="Good")
    bad = Item(id="bad", title="Bad", metadata={"when": object()})
    with pytest.raises(InvalidInputError):
        store.upsert_items([good, bad])
    assert store.count_items(include_inactive=True) == 0


# -- users -------------------------------------------------------------------------


def test_users_round_trip(store: Store) -> None:
    users = [
        User(id="u1", attributes={"age": 24, "occupation": "technician", "gender": "M"}),
        User(id="u0"),
    ]
    assert store.upsert_users(users) == 2
    assert store.get_user("u1") == users[0]
    assert list(store.get_user("u1").attributes) == ["age", "occupation", "gender"]  # type: ignore[union-attr]
    assert store.get_user("u0") == users[1]
    assert store.get_user("nobody") is None
    assert [u.id for u in store.iter_users()] == ["u0", "u1"]


def test_upsert_users_replaces_attributes(store: Store) -> None:
    store.upsert_users([User(id="u", attributes={"age": 1})])
    store.upsert_users([User(id="u", attributes={"bio": "likes noir"})])
    assert store.get_user("u") == User(id="u", attributes={"bio": "likes noir"})


def test_count_users_counts_profiles_and_users_with_events(store: Store) -> None:
    assert store.count_users() == 0
    store.upsert_users([User(id="profile-only"), User(id="both")])
    store.append_events([click("both", "i1"), click("events-only", "i1"), click("both", "i2")])
    assert store.count_users() == 3


def test_delete_user_erases_profile_and_events(store: Store) -> None:
    store.upsert_users([User(id="gone", attributes={"age": 3}), User(id="kept")])
    store.append_events(
        [click("gone", "i1"), click("kept", "i1"), click("gone", "i2"), click("gone", "i3")]
    )
    assert store.delete_user("gone") == 3

    assert store.get_user("gone") is None
    assert store.user_events("gone") == []
    assert [e.event.user for e in store.iter_events()] == ["kept"]
    assert store.count_events() == 1
    assert store.count_users() == 1
    assert store.get_user("kept") == User(id="kept")
    assert store.delete_user("gone") == 0
    assert store.delete_user("never-existed") == 0


def test_delete_user_without_profile(store: Store) -> None:
    store.append_events([click("anon", "i1")])
    assert store.delete_user("anon") == 1
    assert store.count_users() == 0


# -- event log -----------------------------------------------------------------------


def test_events_round_trip_every_field(store: Store) -> None:
    events = [
        Event(user="u1", kind=EventKind.RATE, item="i1", value=4.5, ts=TS, id="e1"),
        Event(user="u1", kind=EventKind.SEARCH, query="space 太空 movies", ts=TS + 1),
        Event(user="u2", kind=EventKind.PURCHASE, item="i2", ts=0.0),
    ]
    result = store.append_events(events)
    assert result == AppendResult(accepted=3, duplicates=0, last_seq=result.last_seq)

    stored = list(store.iter_events())
    assert [s.event for s in stored] == events
    assert all(type(s.event.kind) is EventKind for s in stored)
    assert all(isinstance(s, StoredEvent) for s in stored)
    assert stored[-1].seq == result.last_seq == store.last_seq()


def test_empty_log(store: Store) -> None:
    assert store.last_seq() == 0
    assert store.count_events() == 0
    assert list(store.iter_events()) == []
    assert store.user_events("u") == []
    assert store.append_events([]) == AppendResult(0, 0, 0)


def test_seq_strictly_increases_across_calls(store: Store) -> None:
    seqs: list[int] = []
    for batch in range(4):
        r = store.append_events([click(f"u{k}", "i", ts=TS + batch) for k in range(3)])
        assert r.accepted == 3
        assert r.last_seq > (seqs[-1] if seqs else 0)
        seqs.extend(s.seq for s in store.iter_events(after_seq=seqs[-1] if seqs else 0))
        assert seqs[-1] == r.last_seq
    assert len(seqs) == 12
    assert all(a < b for a, b in itertools.pairwise(seqs))
    assert seqs[0] >= 1


def test_duplicate_ids_across_calls_are_counted_not_stored(store: Store) -> None:
    first = store.append_events([click("u", "i1", id="a"), click("u", "i2", id="b")])
    assert (first.accepted, first.duplicates) == (2, 0)

    again = store.append_events(
        [click("u", "i9", id="b"), click("u", "i3", id="c"), click("u", "i9", id="a")]
    )
    assert (again.accepted, again.duplicates) == (1, 2)
    assert again.last_seq == store.last_seq()
    assert [e.event.item for e in store.user_events("u")] == ["i1", "i2", "i3"]

    replay = store.append_events([click("u", "i1", id="a")])
    assert replay == AppendResult(0, 1, again.last_seq)
    assert store.count_events() == 3


def test_duplicate_ids_within_one_call(store: Store) -> None:
    r = store.append_events(
        [click("u", "i1", id="x"), click("u", "i2", id="x"), click("u", "i3", id="y")]
    )
    assert (r.accepted, r.duplicates) == (2, 1)
    assert [e.event.item for e in store.user_events("u")] == ["i1", "i3"]


def test_a_call_that_stores_nothing_leaves_last_seq_alone(store: Store) -> None:
    # Readers poll last_seq() to notice change; a replayed batch is no change.
    first = store.append_events([click("u", "i1", id="a"), click("u", "i2", id="b")])
    replay = store.append_events([click("u", "i1", id="a"), click("u", "i2", id="b")] * 2)
    assert replay == AppendResult(0, 4, first.last_seq)
    assert store.last_seq() == first.last_seq


def test_ids_are_unique_across_users(store: Store) -> None:
    store.append_events([click("u1", "i", id="same")])
    r = store.append_events([click("u2", "i", id="same")])
    assert (r.accepted, r.duplicates) == (0, 1)
    assert store.user_events("u2") == []


def test_events_without_id_are_never_duplicates(store: Store) -> None:
    e = click("u", "i")
    assert store.append_events([e, e]).accepted == 2
    assert store.append_events([e]).accepted == 1
    assert store.count_events() == 3


def test_events_for_items_not_in_catalog_are_kept(store: Store) -> None:
    store.upsert_items([Item(id="known", title="Known")])
    r = store.append_events([click("u", "known"), click("u", "not-yet")])
    assert r.accepted == 2
    assert [e.event.item for e in store.user_events("u")] == ["known", "not-yet"]


def test_invalid_event_rejects_the_whole_call(store: Store) -> None:
    store.append_events([click("u", "i0")])
    before = store.last_seq()
    bad = Event(user="u", kind="teleport", item="i", ts=TS)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        store.append_events([click("u", "i1", id="ok"), bad])
    assert store.count_events() == 1
    assert store.last_seq() == before
    assert store.append_events([click("u", "i1", id="ok")]).accepted == 1


def test_user_events_order_and_limit(store: Store) -> None:
    store.append_events([click("u", f"i{k}", ts=TS + k) for k in range(5)])
    store.append_events([click("other", "x")])
    store.append_events([click("u", "i5")])

    items = [e.event.item for e in store.user_events("u")]
    assert items == ["i0", "i1", "i2", "i3", "i4", "i5"]
    assert [e.event.item for e in store.user_events("u", limit=2)] == ["i4", "i5"]
    assert [e.event.item for e in store.user_events("u", limit=100)] == items
    assert store.user_events("u", limit=0) == []
    with pytest.raises(InvalidInputError):
        store.user_events("u", limit=-1)


def test_iter_events_after_seq(store: Store) -> None:
    store.append_events([click("u", f"i{k}") for k in range(5)])
    all_events = list(store.iter_events())
    middle = all_events[2].seq
    assert list(store.iter_events(after_seq=middle)) == all_events[3:]
    assert list(store.iter_events(after_seq=store.last_seq())) == []
    assert list(store.iter_events(after_seq=0)) == all_events


def test_iter_events_across_pages(store: Store) -> None:
    n = 2 * PAGE_SIZE + 3
    store.append_events([click(f"u{k % 7}", f"i{k}", id=f"e{k}") for k in range(n)])
    seqs = [s.seq for s in store.iter_events()]
    assert len(seqs) == n == store.count_events()
    assert seqs == sorted(set(seqs))
    assert [s.event.id for s in store.iter_events(after_seq=seqs[PAGE_SIZE])] == [
        f"e{k}" for k in range(PAGE_SIZE + 1, n)
    ]


def test_seq_is_not_reused_after_delete_user(store: Store) -> None:
    store.append_events([click("a", "i1"), click("b", "i2"), click("b", "i3")])
    high = store.last_seq()
    store.delete_user("b")
    assert store.last_seq() == high

    r = store.append_events([click("c", "i4")])
    assert r.last_seq > high
    assert store.user_events("c")[0].seq > high


def test_delete_user_frees_the_client_ids_of_erased_events(store: Store) -> None:
    # Erasure is complete: a client replaying an erased event stores it anew.
    store.append_events([click("u", "i", id="e1")])
    store.delete_user("u")
    assert store.append_events([click("u", "i", id="e1")]).accepted == 1


def test_concurrent_appends_from_threads_lose_nothing(store: Store) -> None:
    n_threads, batches, size = 4, 10, 25
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for b in range(batches):
                store.append_events(
                    [click(f"u{t}", f"i{k}", id=f"{t}-{b}-{k}") for k in range(size)]
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()

    assert errors == []
    total = n_threads * batches * size
    assert store.count_events() == total
    seqs = [s.seq for s in store.iter_events()]
    assert len(set(seqs)) == total
    for t in range(n_threads):
        got = [e.event.id for e in store.user_events(f"u{t}")]
        assert got == [f"{t}-{b}-{k}" for b in range(batches) for k in range(size)]


# -- embedding cache -------------------------------------------------------------------


def test_embeddings_round_trip_bit_exactly(store: Store) -> None:
    rng = np.random.default_rng(42)
    special = np.array(
        [0.0, -0.0, np.inf, -np.inf, 1e-45, np.finfo(np.float32).max, np.nan], np.float32
    )
    vectors = {
        "h1": rng.standard_normal(384).astype(np.float32),
        "h2": special,
        "h3": np.frombuffer(rng.bytes(4 * 16), dtype=np.float32).copy(),  # any bit pattern
    }
    store.put_embeddings("enc-a", vectors)

    got = store.get_embeddings("enc-a", ["h1", "h2", "h3", "missing"])
    assert set(got) == {"h1", "h2", "h3"}
    for h, v in vectors.items():
        assert got[h].dtype == np.float32
        assert got[h].shape == v.shape
        assert got[h].tobytes() == v.tobytes()


def test_embeddings_are_keyed_by_encoder_and_hash(store: Store) -> None:
    a = np.ones(4, np.float32)
    b = np.full(4, 2.0, np.float32)
    store.put_embeddings("enc-a", {"h": a})
    store.put_embeddings("enc-b", {"h": b})
    assert store.get_embeddings("enc-a", ["h"])["h"].tolist() == a.tolist()
    assert store.get_embeddings("enc-b", ["h"])["h"].tolist() == b.tolist()
    assert store.get_embeddings("enc-c", ["h"]) == {}

    store.put_embeddings("enc-a", {"h": b})  # replacing is allowed
    assert store.get_embeddings("enc-a", ["h"])["h"].tolist() == b.tolist()


def test_embeddings_are_independent_copies(store: Store) -> None:
    v = np.arange(3, dtype=np.float32)
    store.put_embeddings("e", {"h": v})
    v[0] = 99.0
    got = store.get_embeddings("e", ["h"])["h"]
    assert got.tolist() == [0.0, 1.0, 2.0]
    got[1] = 7.0  # writable, and does not leak back
    assert store.get_embeddings("e", ["h"])["h"].tolist() == [0.0, 1.0, 2.0]


def test_embeddings_many_hashes_and_casts(store: Store) -> None:
    vectors = {f"h{k}": np.full(2, k, np.float32) for k in range(1234)}
    store.put_embeddings("e", vectors)
    got = store.get_embeddings("e", list(vectors))
    assert len(got) == 1234
    assert got["h1000"].tolist() == [1000.0, 1000.0]

    store.put_embeddings("e", {"f64": np.array([1 / 3], dtype=np.float64)})
    assert store.get_embeddings("e", ["f64"])["f64"].tobytes() == np.float32(1 / 3).tobytes()
    with pytest.raises(InvalidInputError):
        store.put_embeddings("e", {"matrix": np.zeros((2, 2), np.float32)})


# -- model registry -------------------------------------------------------------------


def model(version: str, created_at: float, *, active: bool = False) -> ModelVersion:
    return ModelVersion(
        version=version,
        path=f"models/{version}",
        created_at=created_at,
        metrics={"ndcg@10": 0.25, "recall@20": 0.5},
        config={"dim": 64, "layers": [128, 64], "encoder": "all-MiniLM-L6-v2"},
        active=active,
    )


def test_registry_round_trip_newest_first(store: Store) -> None:
    assert store.list_models() == []
    assert store.active_model() is None
    versions = [model("v1", 100.0), model("v3", 300.5), model("v2", 200.0)]
    for v in versions:
        store.register_model(v)
    assert store.list_models() == [versions[1], versions[2], versions[0]]
    assert store.active_model() is None


def test_activate_model_keeps_exactly_one_active(store: Store) -> None:
    for k in range(3):
        store.register_model(model(f"v{k}", float(k)))
    got = store.activate_model("v1")
    assert got == model("v1", 1.0, active=True)
    assert store.active_model() == got

    store.activate_model("v2")
    assert [m.version for m in store.list_models() if m.active] == ["v2"]
    assert store.active_model() == model("v2", 2.0, active=True)

    store.activate_model("v2")  # idempotent
    assert [m.version for m in store.list_models() if m.active] == ["v2"]


def test_activate_unknown_model_raises_and_changes_nothing(store: Store) -> None:
    store.register_model(model("v1", 1.0))
    store.activate_model("v1")
    with pytest.raises(NotFoundError):
        store.activate_model("v404")
    assert store.active_model() == model("v1", 1.0, active=True)


def test_register_active_model_deactivates_the_others(store: Store) -> None:
    store.register_model(model("v1", 1.0, active=True))
    store.register_model(model("v2", 2.0, active=True))
    assert [m.version for m in store.list_models() if m.active] == ["v2"]


def test_register_existing_version_conflicts(store: Store) -> None:
    store.register_model(model("v1", 1.0))
    with pytest.raises(ConflictError):
        store.register_model(model("v1", 5.0))
    assert store.list_models() == [model("v1", 1.0)]


# -- metadata ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [{"encoder": "all-MiniLM-L6-v2", "dim": 384}, [1, "two", None], "text", 3, 2.5, True],
)
def test_meta_round_trip(store: Store, value: object) -> None:
    assert store.get_meta("k") is None
    store.set_meta("k", value)
    assert store.get_meta("k") == value
    store.set_meta("k", "replaced")
    assert store.get_meta("k") == "replaced"
    assert store.get_meta("other") is None


def test_meta_rejects_non_json(store: Store) -> None:
    with pytest.raises(InvalidInputError):
        store.set_meta("k", {1, 2})
    with pytest.raises(InvalidInputError):
        store.set_meta("k", object())
    assert store.get_meta("k") is None


# -- lifecycle ----------------------------------------------------------------------------


def test_closed_store_raises_store_error(store: Store) -> None:
    store.append_events([click("u", "i")])
    store.close()
    store.close()  # closing twice is fine
    with pytest.raises(StoreError):
        store.count_events()
    with pytest.raises(StoreError):
        store.append_events([click("u", "i")])
    with pytest.raises(StoreError):
        list(store.iter_items())


def test_catalog_version_tracks_item_changes(store: Store) -> None:
    assert store.catalog_version() == 0
    assert store.items_changed_since(0) == []
    store.upsert_items([Item("a", "A"), Item("b", "B")])
    v1 = store.catalog_version()
    assert v1 > 0
    assert [i.id for i in store.items_changed_since(0)] == ["a", "b"]
    assert store.items_changed_since(v1) == []
    store.upsert_items([Item("b", "B2")])
    v2 = store.catalog_version()
    assert v2 > v1
    changed = store.items_changed_since(v1)
    assert [(i.id, i.title) for i in changed] == [("b", "B2")]
    assert store.set_item_active("a", False)
    assert [(i.id, i.active) for i in store.items_changed_since(v2)] == [("a", False)]
    assert not store.set_item_active("missing", False)
    assert store.catalog_version() > v2
