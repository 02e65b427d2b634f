"""The per-user state cache: reused between events, invalidated by versions, never by time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lmrec.engine import Engine
from lmrec.engine.userstate import Stamp, UserState, UserStateCache
from lmrec.schema import Event, EventKind, Item, User
from lmrec.settings import Settings

from ..conftest import (  # type: ignore[import-not-found]
    MOVIES,
    fake_settings,
    sessions,
    tiny_model_config,
)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return fake_settings(tmp_path_factory.mktemp("userstate"))


@pytest.fixture(scope="module")
def engine(settings: Settings) -> Iterator[Engine]:
    eng = Engine.open(settings=settings)
    eng.upsert_items(MOVIES)
    eng.ingest(sessions(0, 20, 0.0))
    eng.train(tiny_model_config(4), progress=False)
    yield eng
    eng.close()


def like(user: str, item: str, ts: float) -> Event:
    return Event(user=user, kind=EventKind.LIKE, item=item, ts=ts)


def test_repeat_request_is_answered_from_the_cache_with_the_same_result(engine: Engine) -> None:
    engine.ingest([like("rep", "2", 1e7)])
    assert engine.recommend_if_cached("rep", 5) is None  # never computed yet
    first = engine.recommend("rep", 5)
    cached = engine.recommend_if_cached("rep", 5)
    assert cached is not None and cached == first
    assert engine.recommend("rep", 5) == first
    # Filters and exclusions apply to the cached state like to a fresh one.
    kept = engine.recommend_if_cached("rep", 5, exclude=[first.ids[0]], category="Action")
    fresh = engine.recommend("rep", 5, exclude=[first.ids[0]], category="Action")
    assert kept == fresh and first.ids[0] not in fresh.ids


def test_a_repeated_request_reuses_the_feed_until_its_stamp_changes(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retrieval and the second stage run once per state for unfiltered requests; a
    filter, an event or a catalog change sends the request through them again."""
    engine.ingest([like("feed", "2", 1e7)])
    first = engine.recommend("feed", 5)
    state = engine._user_state("feed")
    assert state.personal is not None
    searched: list[int] = []
    search = type(state.personal[0]).search

    def counted(self: object, *args: object, **kwargs: object) -> object:
        searched.append(1)
        return search(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(type(state.personal[0]), "search", counted)
    assert engine.recommend("feed", 5) == first
    assert engine.recommend_if_cached("feed", 5) == first
    assert not searched
    assert engine.recommend("feed", 3).ids == first.ids[:3]
    n = len(searched)
    assert n <= 1  # once, if k=3 fetches fewer hits than k=5 (no second stage)
    assert engine.recommend("feed", 5) == first and len(searched) == n
    # a filtered request reads the index (its own order, on the feed's scale)
    assert engine.recommend("feed", 5, exclude=[first.ids[0]]).ids[0] != first.ids[0]
    assert len(searched) > n
    n = len(searched)
    engine.ingest([like("feed", first.ids[0], 1e7 + 1)])  # a new stamp: a new feed
    after = engine.recommend("feed", 5)
    assert len(searched) > n and first.ids[0] not in after.ids
    n = len(searched)
    engine.store.upsert_items([Item("new-2", "Feed Film", "Rebels in space.", ("Sci-Fi",))])
    engine.recommend("feed", 5)  # the catalog changed: retrieval runs again
    assert len(searched) > n


def test_an_event_invalidates_the_state_on_the_next_request(engine: Engine) -> None:
    engine.ingest([like("ev", "2", 1e7)])
    before = engine.recommend("ev", 9)
    assert engine.recommend_if_cached("ev", 9) is not None
    target = before.ids[0]
    engine.ingest([like("ev", target, 1e7 + 1)])
    assert engine.recommend_if_cached("ev", 9) is None  # stale: the user did something
    after = engine.recommend("ev", 9)
    assert target not in after.ids  # consumed items are not recommended back


def test_another_process_writing_the_store_is_seen_at_once(
    engine: Engine, settings: Settings
) -> None:
    """A second Engine on the same SQLite file stands in for another server worker."""
    engine.ingest([like("shared", "2", 1e7)])
    before = engine.recommend("shared", 9)
    assert engine.recommend_if_cached("shared", 9) is not None
    with Engine.open(settings=settings, encoder=engine.encoder) as other:
        other.ingest([like("shared", before.ids[0], 1e7 + 1)])
    assert engine.recommend_if_cached("shared", 9) is None
    assert before.ids[0] not in engine.recommend("shared", 9).ids


def test_a_dislike_takes_effect_through_the_cache(engine: Engine) -> None:
    engine.ingest([like("neg", "2", 1e7)])
    candidates = ["3", "4", "6", "10"]
    before = dict(zip(*(lambda r: (r.ids, r.scores))(engine.rank("neg", candidates)), strict=True))
    engine.ingest([Event(user="neg", kind=EventKind.DISLIKE, item="4", ts=1e7 + 1)])
    after = dict(zip(*(lambda r: (r.ids, r.scores))(engine.rank("neg", candidates)), strict=True))
    assert after != before


def test_a_profile_change_invalidates_the_state(engine: Engine) -> None:
    engine.upsert_users([User("prof", {"interests": "space battles"})])
    before = engine.user_vector("prof")
    engine.upsert_users([User("prof", {"interests": "singing animals in a jungle"})])
    after = engine.user_vector("prof")
    assert before is not None and after is not None
    assert not np.allclose(before, after)


def test_a_catalog_change_sends_the_request_to_the_full_path(engine: Engine) -> None:
    engine.ingest([like("cat", "2", 1e7)])
    engine.recommend("cat", 5)
    assert engine.recommend_if_cached("cat", 5) is not None
    engine.store.upsert_items([Item("new-1", "Space Opera", "Rebels in space.", ("Sci-Fi",))])
    assert engine.recommend_if_cached("cat", 5) is None  # items changed: not cheap
    # Written by "another process" (straight to the store): found on the next request.
    assert "new-1" in engine.recommend("cat", 20, category="Sci-Fi").ids
    assert engine.recommend_if_cached("cat", 5) is not None


def test_erasing_a_user_forgets_their_state(engine: Engine) -> None:
    engine.ingest([like("gone", "2", 1e7)])
    assert set(engine.recommend("gone", 5).sources) == {"model"}
    engine.delete_user("gone")
    assert set(engine.recommend("gone", 5).sources) == {"popular"}


def test_the_content_path_caches_too(tmp_path: Path) -> None:
    with Engine.open(settings=fake_settings(tmp_path)) as eng:
        eng.upsert_items(MOVIES)
        eng.ingest([like("c", "2", 1e7)])
        first = eng.recommend("c", 4)
        assert set(first.sources) == {"content"}
        assert eng.recommend_if_cached("c", 4) == first
        eng.ingest([like("c", first.ids[0], 1e7 + 1)])
        assert eng.recommend_if_cached("c", 4) is None
        assert first.ids[0] not in eng.recommend("c", 4).ids


def _state(model: str | None, last_seq: int) -> UserState:
    return UserState(Stamp(model, 1, last_seq, ""), frozenset(), (), None)


def test_cache_matches_whole_stamps_and_drops_least_recently_used() -> None:
    cache = UserStateCache(capacity=2)
    cache.put("a", _state("m1", 5))
    assert cache.get("a", Stamp("m1", 1, 5, "")) is not None
    assert cache.get("a", Stamp("m2", 1, 5, "")) is None  # hot-swapped model
    assert cache.get("a", Stamp("m1", 2, 5, "")) is None  # catalog changed
    assert cache.get("a", Stamp("m1", 1, 6, "")) is None  # a newer event
    assert cache.get("a", Stamp("m1", 1, 5, "x")) is None  # profile changed
    cache.put("b", _state("m1", 1))
    cache.get("a", Stamp("m1", 1, 5, ""))  # a is now the most recently used
    cache.put("c", _state("m1", 1))
    assert len(cache) == 2
    assert cache.get("b", Stamp("m1", 1, 1, "")) is None
    assert cache.get("a", Stamp("m1", 1, 5, "")) is not None


def test_capacity_zero_disables_caching() -> None:
    cache = UserStateCache(capacity=0)
    cache.put("a", _state(None, 1))
    assert len(cache) == 0
