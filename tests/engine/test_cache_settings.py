"""The per-process caches are bounded by settings, and a size of 0 turns them off."""

from __future__ import annotations

from pathlib import Path

from lmrec.engine import Engine
from lmrec.schema import Event, EventKind

from ..conftest import MOVIES, fake_settings, sessions  # type: ignore[import-not-found]


def test_query_cache_holds_at_most_its_size(tmp_path: Path) -> None:
    with Engine.open(settings=fake_settings(tmp_path, query_cache_size=2)) as engine:
        engine.upsert_items(MOVIES)
        for q in ("star", "toy", "lion", "toy"):
            engine.search(q, k=3)
        assert list(engine._query_cache) == ["lion", "toy"]


def test_caches_of_size_zero_keep_nothing_and_answers_stay_right(tmp_path: Path) -> None:
    settings = fake_settings(tmp_path, query_cache_size=0, user_state_cache_size=0)
    with Engine.open(settings=settings) as engine:
        engine.upsert_items(MOVIES)
        engine.ingest(sessions(0, 5, 0.0))
        first = engine.search("star", k=3)
        assert engine.search("star", k=3).ids == first.ids
        assert len(engine._query_cache) == 0
        engine.recommend("u1", k=3)
        assert len(engine._user_states) == 0
        engine.ingest([Event(user="u1", kind=EventKind.CLICK, item="2", ts=2e9)])
        assert "2" not in engine.recommend("u1", k=10).ids
