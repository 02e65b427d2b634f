"""Engine behaviour on a small hand-made catalog with the fake encoder."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lmrec.engine import Engine
from lmrec.errors import InvalidInputError, LimitExceededError, NotFoundError
from lmrec.schema import Event, EventKind, Item
from lmrec.settings import Settings
from lmrec.text import FakeEncoder

from ..conftest import MOVIES, fake_settings  # type: ignore[import-not-found]


class CountingEncoder(FakeEncoder):
    """A fake encoder that counts how many texts it was asked to encode."""

    def __init__(self) -> None:
        super().__init__()
        self.encoded = 0

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:  # type: ignore[override]
        self.encoded += len(texts)
        return super().encode(texts, progress=progress)


@pytest.fixture(params=["memory", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    eng = Engine.open(settings=fake_settings(tmp_path, store=request.param))
    eng.upsert_items(MOVIES)
    yield eng
    eng.close()


def ev(user: str, kind: str, item: str | None = None, ts: float = 1.0, **kw: object) -> Event:
    return Event(user=user, kind=EventKind(kind), ts=ts, item=item, **kw)  # type: ignore[arg-type]


def test_recommend_never_returns_consumed_items(engine: Engine) -> None:
    engine.ingest([ev("u", "click", "2"), ev("u", "view", "3", ts=2.0)])
    recs = engine.recommend("u", k=8)
    assert len(recs) == 8
    assert not {"2", "3"} & set(recs.ids)


def test_history_shapes_recommendations(engine: Engine) -> None:
    engine.ingest([ev("fan", "like", "2"), ev("fan", "like", "3", ts=2.0)])
    recs = engine.recommend("fan", k=3)
    # The remaining Star Wars film shares the most words with the liked ones.
    assert recs.ids[0] == "4"
    assert recs.sources[0] == "content"


def test_unknown_user_gets_popular_items(engine: Engine) -> None:
    engine.ingest([ev(f"u{n}", "click", "9", ts=n) for n in range(3)])
    engine.ingest([ev("v", "click", "6")])
    recs = engine.recommend("stranger", k=3)
    assert recs.ids[:2] == ("9", "6")
    assert set(recs.sources) == {"popular"}


def test_k_exclude_and_category(engine: Engine) -> None:
    recs = engine.recommend("x", k=3, exclude=["1", "2"], category="Animation")
    assert set(recs.ids) == {"6", "7"}  # only two Animation items remain
    assert len(engine.recommend("x", k=4)) == 4


def test_duplicate_event_ids_have_one_effect(engine: Engine) -> None:
    first = engine.ingest([ev("a", "click", "8", id="e1"), ev("a", "click", "8", id="e1")])
    again = engine.ingest([ev("a", "click", "8", id="e1")])
    assert (first.accepted, first.duplicates) == (1, 1)
    assert (again.accepted, again.duplicates) == (0, 1)
    assert engine.stats().events == 1
    assert engine.recommend("nobody", k=1).scores[0] == 1.0  # counted once in popularity


def test_event_for_missing_item_counts_once_item_exists(engine: Engine) -> None:
    engine.ingest([ev("early", "like", "new-film")])
    assert engine.recommend("early", k=3).sources[0] == "popular"  # nothing usable yet
    engine.upsert_items(
        [Item("new-film", "Star Wars Special Edition", "Rebels and the galactic empire",
              ("Sci-Fi",))]
    )  # fmt: skip
    recs = engine.recommend("early", k=3)
    assert recs.sources[0] == "content"
    assert "new-film" not in recs.ids  # now consumed
    assert set(recs.ids) & {"2", "3", "4"}
    assert engine.recommend("someone-else", k=1).ids == ("new-film",)  # popularity counts it


def test_dislike_pushes_similar_items_down(engine: Engine) -> None:
    engine.ingest([ev("d", "like", "1"), ev("d", "like", "2", ts=2.0)])
    before = engine.recommend("d", k=8).ids
    engine.ingest([ev("d", "dislike", "3", ts=3.0)])
    after = engine.recommend("d", k=8).ids
    assert after.index("4") > before.index("4")


def test_search_exact_title_first_and_category_filter(engine: Engine) -> None:
    assert engine.search("toy story").ids[0] == "1"
    assert engine.search("Star Wars").ids[0] == "2"
    got = engine.search("toy", category="Action")
    assert got.ids[0] == "5"
    assert "1" not in got.ids


def test_search_personalization_reorders_for_different_users(engine: Engine) -> None:
    engine.ingest([ev("sf", "like", "3"), ev("sf", "like", "4", ts=2.0)])
    engine.ingest([ev("kid", "like", "7"), ev("kid", "like", "1", ts=2.0)])
    sf = engine.search("boy", user="sf", k=2, personalize=0.5).ids
    kid = engine.search("boy", user="kid", k=2, personalize=0.5).ids
    assert set(sf) == set(kid) == {"2", "6"}  # the two films about a boy
    assert sf[0] == "2"
    assert kid[0] == "6"


def test_similar_and_unknown_item(engine: Engine) -> None:
    sim = engine.similar("2", k=3)
    assert "2" not in sim.ids
    assert sim.ids[0] in {"3", "4"}
    with pytest.raises(NotFoundError):
        engine.similar("missing")


def test_rank_orders_given_items(engine: Engine) -> None:
    engine.ingest([ev("r", "like", "2")])
    ranked = engine.rank("r", ["9", "4", "10"])
    assert ranked.ids[0] == "4"
    assert sorted(ranked.ids) == ["10", "4", "9"]
    with pytest.raises(NotFoundError, match="nope"):
        engine.rank("r", ["4", "nope"])


def test_delete_user_erases_history_and_popularity(engine: Engine) -> None:
    engine.ingest([ev("gone", "click", "10"), ev("gone", "click", "9", ts=2.0)])
    assert engine.delete_user("gone") == 2
    assert engine.history("gone") == []
    assert engine.recommend("other", k=1).scores[0] == 0.0


def test_deactivated_item_leaves_results_but_keeps_history(engine: Engine) -> None:
    engine.ingest([ev("h", "click", "3")])
    engine.set_item_active("4", False)
    assert "4" not in engine.recommend("h", k=9).ids
    assert "4" not in engine.search("jedi").ids
    engine.set_item_active("3", False)
    assert [e.event.item for e in engine.history("h")] == ["3"]


def test_unchanged_items_are_not_reencoded(tmp_path: Path) -> None:
    enc = CountingEncoder()
    s = fake_settings(tmp_path)
    with Engine.open(settings=s, encoder=enc) as eng:
        eng.upsert_items(MOVIES)
        assert enc.encoded == len(MOVIES)
        eng.upsert_items(MOVIES)
        eng.upsert_items([replace(MOVIES[0], metadata={"year": 1995, "price": 3})])
        assert enc.encoded == len(MOVIES)
        eng.upsert_items([replace(MOVIES[0], text="A new description")])
        assert enc.encoded == len(MOVIES) + 1
    with Engine.open(settings=s, encoder=enc) as eng:  # reopening reads the cache
        assert enc.encoded == len(MOVIES) + 1
        assert eng.search("toy story").ids[0] == "1"


def test_state_survives_reopen(tmp_path: Path) -> None:
    s = fake_settings(tmp_path)
    with Engine.open(settings=s) as eng:
        eng.upsert_items(MOVIES)
        eng.ingest([ev("p", "like", "2", id="x")])
        before = eng.recommend("p", k=5)
    with Engine.open(settings=s) as eng:
        assert eng.recommend("p", k=5) == before
        assert eng.ingest([ev("p", "like", "2", id="x")]).duplicates == 1


def test_two_engines_on_one_store_converge(tmp_path: Path) -> None:
    s = fake_settings(tmp_path)
    with Engine.open(settings=s) as a, Engine.open(settings=s) as b:
        a.upsert_items(MOVIES)
        b.upsert_items(MOVIES)
        a.ingest([ev(f"u{i}", "purchase", "7", ts=i) for i in range(3)])
        assert b.recommend("fresh", k=1).ids == ("7",)
        a.ingest([ev("w", "like", "2")])
        assert b.recommend("w", k=1).sources[0] == "content"


def test_ann_index_agrees_with_exact(tmp_path: Path) -> None:
    with Engine.open(settings=fake_settings(tmp_path, store="memory", ann_min_items=0)) as eng:
        eng.upsert_items(MOVIES)
        assert type(eng._index).__name__ == "HNSWIndex"
        eng.ingest([ev("fan", "like", "2"), ev("fan", "like", "3", ts=2.0)])
        assert eng.recommend("fan", k=3).ids[0] == "4"
        assert eng.search("toy story").ids[0] == "1"


@pytest.mark.parametrize(
    ("call", "error", "field"),
    [
        (lambda e: e.recommend("", k=3), InvalidInputError, "user"),
        (lambda e: e.recommend("u", k=0), InvalidInputError, "k"),
        (lambda e: e.recommend("u", k=10**6), LimitExceededError, "k"),
        (lambda e: e.recommend("u" * 10_000), LimitExceededError, "user"),
        (lambda e: e.search("   "), InvalidInputError, "q"),
        (lambda e: e.search("x" * 10_000), LimitExceededError, "q"),
        (lambda e: e.search("x", personalize=2.0), InvalidInputError, "personalize"),
        (lambda e: e.ingest([ev("u", "click")]), InvalidInputError, "events.0.item"),
        (lambda e: e.ingest([ev("u", "search")]), InvalidInputError, "events.0.query"),
        (lambda e: e.ingest([ev("u", "rate", "1")]), InvalidInputError, "events.0.value"),
        (lambda e: e.ingest([ev("u", "rate", "1", value=6.0)]), InvalidInputError,
         "events.0.value"),
        (lambda e: e.ingest([ev("u", "click", "1", ts=float("nan"))]), InvalidInputError,
         "events.0.ts"),
        (lambda e: e.ingest([ev("u", "click", "1")] * 20_000), LimitExceededError, "events"),
        (lambda e: e.upsert_items([Item("", "t")]), InvalidInputError, "items.0.id"),
        (lambda e: e.upsert_items([Item("a", " ")]), InvalidInputError, "items.0.title"),
        (lambda e: e.upsert_items([Item("a", "t", "x" * 30_000)]), LimitExceededError,
         "items.0.text"),
        (lambda e: e.upsert_items([Item("a", "t")] * 2000), LimitExceededError, "items"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_the_field(
    engine: Engine, call: object, error: type[Exception], field: str
) -> None:
    with pytest.raises(error) as info:
        call(engine)  # type: ignore[operator]
    assert getattr(info.value, "field", None) == field
    assert str(info.value)


def test_stats(engine: Engine) -> None:
    engine.ingest([ev("s", "click", "1"), ev("t", "click", "2")])
    stats = engine.stats()
    assert (stats.items, stats.active_items, stats.users, stats.events) == (10, 10, 2, 2)
    assert stats.categories["Sci-Fi"] == 4
    assert stats.model is None


def test_settings_limits_are_respected(tmp_path: Path) -> None:
    s = fake_settings(tmp_path, store="memory", max_k=5)
    assert isinstance(s, Settings)
    with Engine.open(settings=s) as eng:
        eng.upsert_items(MOVIES)
        with pytest.raises(LimitExceededError):
            eng.recommend("u", k=6)


def test_items_added_by_another_process_are_served(tmp_path: Path) -> None:
    s = fake_settings(tmp_path)
    with Engine.open(settings=s) as a, Engine.open(settings=s) as b:
        a.upsert_items(MOVIES)
        assert b.search("toy story").ids[0] == "1"
        a.set_item_active("1", False)
        assert "1" not in b.search("toy story").ids
        assert b.recommend("x", k=10, category="Animation").ids == ("6", "7")


def test_text_vectors_cover_active_items_and_rekey_on_change(engine: Engine) -> None:
    first = engine.text_vectors()
    assert set(first.ids) == {m.id for m in MOVIES}
    assert first.matrix.shape == (len(MOVIES), engine.encoder.dim)
    for j, item_id in enumerate(first.ids):
        v = engine.text_vector(item_id)
        assert v is not None and np.array_equal(first.matrix[j], v)
    assert engine.text_vectors().key == first.key  # nothing changed
    engine.set_item_active(first.ids[0], False)
    hidden = engine.text_vectors()
    assert first.ids[0] not in hidden.ids and hidden.key != first.key
    assert engine.text_vector(first.ids[0]) is None
    engine.set_item_active(first.ids[0], True)
    assert engine.text_vectors().key == first.key
    item = engine.get_item(first.ids[1])
    engine.upsert_items([replace(item, title=item.title + " (director's cut)")])
    retitled = engine.text_vectors()
    assert retitled.ids == first.ids and retitled.key != first.key
    assert engine.text_vector("no-such-item") is None
