"""Every event kind changes the very next answer, on the trained-model path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lmrec.engine import Engine
from lmrec.schema import Event, EventKind, User

from ..conftest import (  # type: ignore[import-not-found]
    MOVIES,
    fake_settings,
    sessions,
    tiny_model_config,
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    eng = Engine.open(settings=fake_settings(tmp_path_factory.mktemp("effects")))
    eng.upsert_items(MOVIES)
    eng.ingest(sessions(0, 20, 0.0))
    eng.train(tiny_model_config(6), progress=False)
    yield eng
    eng.close()


def ev(user: str, kind: str, ts: float, **kw: object) -> Event:
    return Event(user=user, kind=EventKind(kind), ts=ts, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["view", "click", "cart", "purchase", "like"])
def test_positive_kinds_take_effect_on_the_next_request(engine: Engine, kind: str) -> None:
    user = f"pos-{kind}"
    assert set(engine.recommend(user, k=5).sources) == {"popular"}
    engine.ingest([ev(user, kind, 1e7, item="2")])
    recs = engine.recommend(user, k=5)
    assert set(recs.sources) == {"model"}
    assert "2" not in recs.ids


def test_rating_value_matters(engine: Engine) -> None:
    engine.ingest([ev("hi", "rate", 1e7, item="2", value=5.0)])
    engine.ingest([ev("lo", "rate", 1e7, item="2", value=1.0)])
    hi, lo = engine.user_vector("hi"), engine.user_vector("lo")
    assert hi is not None and lo is not None
    assert (hi != lo).any()


@pytest.mark.parametrize("kind", ["dislike", "skip"])
def test_negative_feedback_pushes_similar_items_down(engine: Engine, kind: str) -> None:
    user = f"neg-{kind}"
    engine.ingest([ev(user, "like", 1e7, item="1"), ev(user, "like", 1e7 + 1, item="2")])
    candidates = ["3", "6", "9", "10"]
    before = dict(zip(*(lambda r: (r.ids, r.scores))(engine.rank(user, candidates)), strict=True))
    engine.ingest([ev(user, kind, 1e7 + 2, item="4")])  # Return of the Jedi
    after = dict(zip(*(lambda r: (r.ids, r.scores))(engine.rank(user, candidates)), strict=True))
    drop = {i: before[i] - after[i] for i in candidates}
    # The Empire Strikes Back shares the disliked film's words; Sense and Sensibility does not.
    assert drop["3"] > 0
    assert drop["3"] > drop["10"] + 1e-6
    assert "4" not in engine.recommend(user, k=9).ids  # consumed: never recommended back


def test_search_events_feed_interests(engine: Engine) -> None:
    engine.ingest([ev("q", "search", 1e7, query="galactic empire rebels")])
    recs = engine.recommend("q", k=3)
    assert set(recs.sources) == {"model"}
    assert engine.user_vector("q") is not None


def test_profile_only_user_gets_results_from_profile_text(engine: Engine) -> None:
    engine.upsert_users([User("prof", {"age": 9, "interests": "lion king musical animation"})])
    recs = engine.recommend("prof", k=3)
    assert set(recs.sources) == {"model"}
