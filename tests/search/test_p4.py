"""Protocol P4 on a tiny synthetic log: registry path (baselines) and engine path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lmrec.engine import Engine
from lmrec.evaluate.base import FitContext, Ranker
from lmrec.evaluate.baselines import RANKERS
from lmrec.evaluate.protocols import Fold, Protocol, RankingTest, get_protocol
from lmrec.evaluate.search_protocol import (
    candidate_mask,
    genre_masks,
    run_engine_p4,
    search_cases,
)
from lmrec.interactions import Interactions
from lmrec.schema import Event, EventKind, Item, User

from ..conftest import fake_settings, tiny_model_config  # type: ignore[import-not-found]

GENRES = ("Action", "Comedy", "Drama")


def catalog() -> list[Item]:
    return [
        Item(str(i), f"Film {i} {GENRES[i % 3].lower()} story", categories=(GENRES[i % 3],))
        for i in range(30)
    ]


def log() -> list[Event]:
    """Each user watches items of one genre, in id order; popular items come first."""
    rng = np.random.default_rng(0)
    events = []
    for u in range(12):
        g = u % 3
        items = [i for i in range(30) if i % 3 == g][: 4 + int(rng.integers(0, 4))]
        for t, i in enumerate(items):
            events.append(Event(f"u{u}", EventKind.CLICK, float(100 * u + t), item=str(i)))
    return events


def test_cases_and_candidates() -> None:
    data = Interactions.from_records(catalog(), log())
    p4 = get_protocol("P4")
    fold = p4.split(data, 42)[0]
    targets = np.asarray([r[0] for r in fold.test.relevant])  # type: ignore[union-attr]
    cases = search_cases(data, fold.test.users, targets, fold.test.histories)  # type: ignore[union-attr]
    assert len(cases) == 12
    masks = genre_masks(data)
    cand = candidate_mask(cases, masks, data.n_items)
    for j, c in enumerate(cases):
        assert c.query == data.item_categories[c.target][0]
        assert cand[j, c.target] and not cand[j, c.history].any()
        assert cand[j].sum() == 10 - c.history.size


def _fitted_popularity() -> tuple[Protocol, Fold, Ranker]:
    """P4, its fold of the tiny catalog, and the popularity baseline fitted on it."""
    data = Interactions.from_records(catalog(), log())
    p4 = get_protocol("P4")
    fold = p4.split(data, 42)[0]
    model = RANKERS["popularity"](True)
    ctx = FitContext(np.zeros((30, 4), np.float32), np.zeros((12, 4), np.float32), fold.valid)
    model.fit(fold.train, ctx)
    return p4, fold, model


def test_registry_runs_a_baseline_restricted() -> None:
    p4, fold, model = _fitted_popularity()
    metrics = p4.evaluate(model, fold)
    assert set(metrics) >= {"NDCG@10", "MRR"}
    # Every candidate set has at most 10 items: NDCG@10 counts every case.
    assert 0.0 < metrics["NDCG@10"] <= 1.0


def test_outcome_gives_each_case_and_the_same_metrics() -> None:
    p4, fold, model = _fitted_popularity()
    outcome = p4.run(model, fold)
    assert outcome.metrics == p4.evaluate(model, fold)
    test = fold.test
    assert isinstance(test, RankingTest)
    for name in ("NDCG@10", "MRR"):
        assert outcome.cases[name].shape == (test.users.size,)
        assert outcome.cases[name].mean() == pytest.approx(outcome.metrics[name])
    assert outcome.history_lengths is not None
    assert outcome.history_lengths.tolist() == [len(h) for h in test.histories]


def test_engine_path_all_weights(tmp_path: Path) -> None:
    res = run_engine_p4(
        catalog(),
        log(),
        lambda: Engine.open(settings=fake_settings(tmp_path, store="memory")),
        weights=(0.0, 1.0),
    )
    assert set(res.test) == {0.0, 1.0}
    assert res.relevance_only == res.test[0.0]
    assert res.test[0.0]["cases"] == 12
    assert res.best_weight in (0.0, 1.0)
    for m in (*res.test.values(), *res.valid.values()):
        assert 0.0 < m["NDCG@10"] <= 1.0 and 0.0 < m["MRR"] <= 1.0


def test_rejects_a_rating_model() -> None:
    data = Interactions.from_records(catalog(), log())
    p4 = get_protocol("P4")
    with pytest.raises(Exception, match="Ranker"):
        p4.evaluate(object(), p4.split(data, 42)[0])  # type: ignore[arg-type]


def test_engine_path_with_a_trained_model(tmp_path: Path) -> None:
    seen: list[tuple[int, str | None, list[User]]] = []

    def train(engine: object) -> None:
        assert isinstance(engine, Engine)
        users = sorted(engine.store.iter_users(), key=lambda u: int(u.id[1:]))
        seen.append((engine.stats().events, engine.model_version, users))
        engine.train(tiny_model_config(4), progress=False)

    profiles = [User(f"u{u}", {"age": 20 + u}) for u in range(12)]
    res = run_engine_p4(
        catalog(),
        log(),
        lambda: Engine.open(settings=fake_settings(tmp_path, store="memory")),
        weights=(0.0, 1.0),
        prepare=train,
        users=profiles,
    )
    # Called once, after the profiles and the training events (every event but
    # each user's last two): the engine trains on what the harness's models get.
    assert seen == [(len(log()) - 2 * 12, None, profiles)]
    assert res.test[1.0]["cases"] == 12 and 0.0 < res.test[1.0]["NDCG@10"] <= 1.0
