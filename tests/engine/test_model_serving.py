"""The engine serving a trained model: train verb, model path, new items, hot swap."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lmrec.engine import Engine
from lmrec.engine.serving import ModelServing
from lmrec.model.rerank import ShortlistRanker
from lmrec.schema import Event, EventKind, Item, User

from ..conftest import (  # type: ignore[import-not-found]
    MOVIES,
    fake_settings,
    sessions,
    tiny_model_config,
)

TINY = tiny_model_config(8)
Vector = npt.NDArray[np.float32]


@pytest.fixture
def trained(tmp_path: Path) -> Iterator[Engine]:
    engine = Engine.open(settings=fake_settings(tmp_path))
    engine.upsert_items(MOVIES)
    engine.upsert_users([User("p1", {"age": 30, "interests": "space battles and aliens"})])
    engine.ingest(sessions(0, 30, 0.0))
    engine.train(TINY, progress=False)
    yield engine
    engine.close()


def test_train_registers_activates_and_serves(trained: Engine) -> None:
    version = trained.model_version
    assert version is not None
    models = trained.store.list_models()
    assert [m.version for m in models] == [version] and models[0].active
    assert "valid_ndcg10" in models[0].metrics
    assert {"rerank_enabled", "rerank_valid_ndcg10"} <= set(models[0].metrics)
    assert {"rerank_item_mix", "item_mix_valid_ndcg10"} <= set(models[0].metrics)
    # after early stopping it trained on over every event, held-out ones included
    assert TINY.refit_epochs > 0 and models[0].metrics["refit_epochs"] == TINY.refit_epochs
    assert models[0].metrics["train_samples_per_second"] > 0
    assert Path(models[0].path, "config.json").is_file()
    trained.ingest([Event(user="fan", kind=EventKind.CLICK, item="2", ts=1e9)])
    recs = trained.recommend("fan", k=3)
    assert set(recs.sources) == {"model"}
    assert "2" not in recs.ids
    assert trained.stats().model == version


def test_reopened_engine_serves_the_active_model(trained: Engine, tmp_path: Path) -> None:
    trained.ingest([Event(user="fan", kind=EventKind.CLICK, item="2", ts=1e9)])
    before = trained.recommend("fan", k=5)
    with Engine.open(settings=fake_settings(tmp_path)) as again:
        assert again.model_version == trained.model_version
        after = again.recommend("fan", k=5)
        assert after.ids == before.ids
        assert after.scores == pytest.approx(before.scores, rel=1e-5)


def test_new_item_is_recommendable_at_once(trained: Engine) -> None:
    trained.upsert_items([Item("11", "Star Trek (1979)", "A starship crew meets an alien",
                               ("Sci-Fi",))])  # fmt: skip
    got = trained.rank("u0", ["11", "10"])
    assert set(got.ids) == {"11", "10"} and set(got.sources) == {"model"}
    assert "11" in trained.recommend("u0", k=10).ids or "11" in trained.similar("2", k=5).ids


def test_profile_only_and_unknown_users(trained: Engine) -> None:
    assert set(trained.recommend("p1", k=3).sources) == {"model"}  # profile text alone
    assert set(trained.recommend("nobody-at-all", k=3).sources) == {"popular"}


def test_hot_swap_under_concurrent_requests_fails_nothing(trained: Engine) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                assert len(trained.recommend("u1", k=3)) == 3
                trained.search("star", user="u2", k=3)
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    versions = {trained.model_version}
    for _ in range(3):
        record = trained.train(TINY.replace(max_epochs=2), progress=False)
        versions.add(record.version)
        assert trained.model_version == record.version
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert len(versions) == 4


def test_an_enabled_ranker_reorders_the_models_shortlist(trained: Engine) -> None:
    import numpy as np
    import torch

    serving = trained._serving
    assert serving is not None
    ranker = serving.model.net.rerank
    trained.ingest([Event(user="fan", kind=EventKind.CLICK, item="2", ts=1e9)])
    before = trained.recommend("fan", k=5)
    assert serving.shortlist == (serving.model.config.rerank_shortlist if ranker.active else 0)
    saved = {k: v.clone() for k, v in ranker.state_dict().items()}
    try:
        with torch.no_grad():  # a ranker that prefers the items retrieval likes least
            last = ranker.mlp.net[-1]
            last.weight.zero_()
            last.bias.zero_()
            last.weight[0, 0] = -1.0
            ranker.mlp.net[0].weight.zero_()
            ranker.mlp.net[0].bias.fill_(10.0)
            ranker.mlp.net[0].weight[0, 3 * serving.model.dim] = 1e3  # the retrieval score
        ranker.enabled.fill_(True)
        _changed_in_place(trained)
        after = trained.recommend("fan", k=5)
    finally:
        ranker.load_state_dict(saved)
        _changed_in_place(trained)
    assert set(after.sources) == {"model"} and "2" not in after.ids
    assert after.ids != before.ids
    assert list(after.scores) == sorted(after.scores, reverse=True)
    # the first stage alone still gives the old answer
    assert trained.recommend("fan", k=5).ids == before.ids
    assert np.isfinite(after.scores).all()


def _changed_in_place(engine: Engine) -> None:
    """Drop the cached user states after a test changed the serving model in place.

    Serving never does that (a new model is a new version, and every cached state
    and feed is stamped with the version it came from); these tests do, to make one
    signal decide, so they drop what was computed with the model as it was.
    """
    engine._user_states.clear()


def _lift_after(rr: ShortlistRanker, target: int, source: int, *, mix: float) -> None:
    """Make the second stage's item-to-item mix the only signal: ``source`` lifts ``target``."""
    rr.co_sources.fill_(-1)
    rr.co_weights.zero_()
    rr.co_sources[target, 0] = source
    rr.co_weights[target, 0] = 1.0
    rr.co_mix.fill_(mix)
    rr.seq_mix.fill_(0.0)
    rr.enabled.fill_(False)


def test_item_to_item_mixing_follows_the_users_history(trained: Engine) -> None:
    serving = trained._serving
    assert serving is not None
    rr = serving.model.net.rerank
    trained.ingest([Event(user="fan", kind=EventKind.CLICK, item="2", ts=1e9)])
    trained.ingest([Event(user="other", kind=EventKind.CLICK, item="3", ts=1e9)])
    before = trained.recommend("fan", k=3)
    pos = serving.item_pos
    target = next(i for i in serving.model.item_ids if i not in {*before.ids, "2", "3"})
    saved = {k: v.clone() for k, v in rr.state_dict().items()}
    try:
        # The order without any item-to-item mix (the trained tables may lift items
        # for "other" too), then: having item "2" makes `target` likely; nothing
        # else carries weight.
        _lift_after(rr, pos[target], pos["2"], mix=0.0)
        _changed_in_place(trained)
        other_before = trained.recommend("other", k=10)
        _lift_after(rr, pos[target], pos["2"], mix=1.0)
        _changed_in_place(trained)
        assert serving.shortlist == serving.model.config.rerank_shortlist
        fan = trained.recommend("fan", k=3)
        other = trained.recommend("other", k=10)
    finally:
        rr.load_state_dict(saved)
        _changed_in_place(trained)
    assert fan.ids[0] == target and set(fan.sources) == {"model"}
    assert "2" not in fan.ids
    # A user without item "2" gets no lift from it: the same order as before.
    assert other.ids == other_before.ids


def test_transitions_follow_the_users_latest_items(trained: Engine) -> None:
    serving = trained._serving
    assert serving is not None
    rr = serving.model.net.rerank
    trained.ingest([Event(user="fan", kind=EventKind.CLICK, item="2", ts=1e9)])
    trained.ingest([Event(user="other", kind=EventKind.CLICK, item="3", ts=1e9)])
    before = trained.recommend("fan", k=3)
    pos = serving.item_pos
    target = next(i for i in serving.model.item_ids if i not in {*before.ids, "2", "3"})
    saved = {k: v.clone() for k, v in rr.state_dict().items()}
    try:
        # `target` is what follows item "2"; no other signal carries weight.
        rr.seq_next.fill_(-1)
        rr.seq_weights.zero_()
        rr.seq_next[pos["2"], 0] = pos[target]
        rr.seq_weights[pos["2"], 0] = 1.0
        rr.seq_last.fill_(1)
        rr.seq_mix.fill_(1.0)
        rr.co_mix.fill_(0.0)
        rr.enabled.fill_(False)
        _changed_in_place(trained)
        assert serving.shortlist == serving.model.config.rerank_shortlist
        fan = trained.recommend("fan", k=3)
        other_without = trained.recommend("other", k=10)
        rr.seq_mix.fill_(0.0)
        _changed_in_place(trained)
        other_plain = trained.recommend("other", k=10)
        # Once "2" is no longer among the latest items (seq_last = 1), it lifts nothing.
        trained.ingest([Event(user="fan", kind=EventKind.CLICK, item="3", ts=1e9 + 60)])
        later_plain = trained.recommend("fan", k=10)
        rr.seq_mix.fill_(1.0)
        _changed_in_place(trained)
        later = trained.recommend("fan", k=10)
    finally:
        rr.load_state_dict(saved)
        _changed_in_place(trained)
    assert fan.ids[0] == target and set(fan.sources) == {"model"}
    assert other_without.ids == other_plain.ids
    assert later.ids == later_plain.ids


def test_search_orders_a_users_matches_as_recommendations_serve_them(trained: Engine) -> None:
    serving = trained._serving
    assert serving is not None
    rr = serving.model.net.rerank
    trained.ingest([Event(user="fan", kind=EventKind.CLICK, item="2", ts=1e9)])
    kids = ["1", "6", "7"]  # the Animation films; the query "animation" matches each fully
    first_stage = trained.recommend("fan", k=3, category="Animation").ids
    target = first_stage[-1]
    pos = serving.item_pos
    saved = {k: v.clone() for k, v in rr.state_dict().items()}
    try:
        # The second stage lifts `target` for a user who has item "2"; the mix is
        # large because it adds per-row z-scores: outweigh retrieval's among 3 films.
        _lift_after(rr, pos[target], pos["2"], mix=10.0)
        served = trained.recommend("fan", k=3, category="Animation").ids
        found = trained.search("animation", user="fan", k=3, category="Animation",
                               exclude=["2"], personalize=0.5).ids  # fmt: skip
    finally:
        rr.load_state_dict(saved)
    assert set(served) == set(kids) and served[0] == target != first_stage[0]
    assert found == served


def test_a_query_or_filter_keeps_the_feeds_order_of_what_it_keeps(trained: Engine) -> None:
    """The second stage's mix adds z-scores; standardized over the feed, not over the
    matches, so two items keep their feed order whatever else matched."""
    serving = trained._serving
    assert serving is not None
    rr = serving.model.net.rerank
    trained.ingest([Event(user="fan", kind=EventKind.CLICK, item="2", ts=1e9)])
    pos = serving.item_pos
    saved = {k: v.clone() for k, v in rr.state_dict().items()}
    try:
        _lift_after(rr, pos["7"], pos["2"], mix=0.4)
        rr.co_sources[pos["6"], 0] = pos["2"]
        rr.co_weights[pos["6"], 0] = 0.5
        feed = trained.recommend("fan", k=10).ids
        kids = [i for i in feed if i in {"1", "6", "7"}]  # the Animation films
        filtered = trained.recommend("fan", k=3, category="Animation").ids
        found = trained.search("animation", user="fan", k=3, category="Animation",
                               exclude=["2"], personalize=0.5).ids  # fmt: skip
        # Standardized over the three matches alone, the mix would decide their order.
        vec = trained.user_vector("fan")
        state = trained._cached_user_state("fan")[0]
        assert vec is not None and state is not None
        hits = [(i, float(np.dot(np.asarray(serving.index.get(i)), vec))) for i in kids]
        alone = serving.rerank(vec, hits, state.history)
    finally:
        rr.load_state_dict(saved)
    assert list(filtered) == kids and list(found) == kids
    assert [i for i, _ in alone] != kids


def test_training_reads_the_users_searches_as_serving_does(tmp_path: Path) -> None:
    from lmrec.engine.training import training_data

    engine = Engine.open(settings=fake_settings(tmp_path))
    engine.upsert_items(MOVIES)
    searches = [
        Event(user=f"u{u}", kind=EventKind.SEARCH, ts=30.0 + u, id=f"q{u}",
              query="space rebels" if u % 2 == 0 else "toys and cartoons")
        for u in range(12)
    ]  # fmt: skip
    lone = Event(user="only-searched", kind=EventKind.SEARCH, query="space", ts=1.0, id="q-x")
    engine.ingest([*sessions(0, 12, 0.0), *searches, lone])
    asked: list[list[str]] = []

    def encode(texts: Sequence[str]) -> list[Vector]:
        asked.append(list(texts))
        return engine._text_vectors(texts)

    items = [it for i in engine._catalog.ids() if (it := engine._catalog.get(i)) is not None]
    events = [se.event for se in engine.store.iter_events()]
    data = training_data(
        items, [], events, engine._item_text_matrix(items), engine._profile_vector,
        engine.settings, query_vectors=encode,
    )  # fmt: skip
    queries = data.queries
    assert queries is not None and len(queries) == len(searches)  # a searcher with no clicks is out
    assert asked == [["space rebels", "toys and cartoons"]]  # each distinct text encoded once
    for k, e in enumerate(searches):
        assert data.train.users.ids[queries.user[k]] == e.user and queries.ts[k] == e.ts
        want = engine._query_vector(e.query or "")  # what the served user tower reads
        np.testing.assert_allclose(queries.vectors[k], want, rtol=1e-4, atol=1e-5)
    engine.train(TINY, progress=False)
    engine.ingest([Event(user="u1", kind=EventKind.SEARCH, query="space rebels", ts=1e9)])
    assert set(engine.recommend("u1", k=3).sources) == {"model"}
    engine.close()


def test_a_users_reference_shortlist_is_retrieved_once_per_state(
    trained: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Personalized search and filtered recommendations score on the scale of the
    user's own first-stage shortlist; it depends on the user's state only, so queries
    and filters after the first reuse it until an event gives the user a new state."""
    serving = trained._serving
    assert serving is not None
    rr = serving.model.net.rerank
    saved = {k: v.clone() for k, v in rr.state_dict().items()}
    calls: list[tuple[int, bool]] = []
    search = type(serving.index).search
    scaled: list[int] = []
    reference_scale = type(serving).reference_scale

    def counted(self: object, vec: object, k: int, **kwargs: object) -> object:
        if self is serving.index:
            calls.append((k, kwargs.get("allowed") is None))
        return search(self, vec, k, **kwargs)  # type: ignore[arg-type]

    def counted_scale(self: ModelServing, *args: Any) -> object:
        scaled.append(1)
        return reference_scale(self, *args)

    try:
        rr.co_mix.fill_(0.5)  # a second stage that mixes, so it needs the reference
        _changed_in_place(trained)
        assert serving.shortlist > 0
        trained.ingest([Event(user="ref", kind=EventKind.CLICK, item="2", ts=1e9)])
        queries = ("space", "love", "war")
        expected = []
        for q in queries:  # each from a fresh state: a reference retrieved per request
            _changed_in_place(trained)
            expected.append(trained.search(q, user="ref", k=5))
        _changed_in_place(trained)
        filtered = trained.recommend("ref", k=5, category="Comedy")
        _changed_in_place(trained)
        monkeypatch.setattr(type(serving.index), "search", counted)
        monkeypatch.setattr(type(serving), "reference_scale", counted_scale)
        got = [trained.search(q, user="ref", k=5) for q in queries]
        assert trained.recommend("ref", k=5, category="Comedy") == filtered
        assert got == expected  # the same answers as with a reference per request
        reference = (serving.shortlist, True)
        assert calls.count(reference) == 1
        assert len(scaled) == 1  # its mix signals are scored once too
        trained.ingest([Event(user="ref", kind=EventKind.CLICK, item="3", ts=1e9 + 1)])
        trained.search("space", user="ref", k=5)
        assert calls.count(reference) == 2  # a new state, a new reference
        assert len(scaled) == 2
    finally:
        rr.load_state_dict(saved)
        _changed_in_place(trained)
