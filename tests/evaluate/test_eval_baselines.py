"""Every baseline fits and scores on synthetic data; the informed ones beat random."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from lmrec.errors import InvalidInputError
from lmrec.evaluate.base import FitContext, Ranker, RatingModel
from lmrec.evaluate.baselines import RANKERS, RATING_MODELS
from lmrec.evaluate.baselines._common import RankerSearch, merge_validation
from lmrec.evaluate.baselines.ease import EASE
from lmrec.evaluate.protocols import (
    RankingTest,
    evaluate_cold_items,
    evaluate_next_item,
    evaluate_rating,
    split_cold_items,
    split_next_item,
    split_rating,
)
from lmrec.interactions import Interactions
from lmrec.text import load_encoder


def _ctx(data: Interactions, fold_valid: object, cold: object = None) -> FitContext:
    enc = load_encoder("fake")
    return FitContext(
        item_vectors=enc.encode(list(data.item_texts)),
        user_vectors=enc.encode(list(data.user_texts)),
        valid=fold_valid,  # type: ignore[arg-type]
        seed=42,
        cold_items=cold,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def p1_results(synth: Interactions) -> dict[str, dict[str, float]]:
    (fold,) = split_next_item(synth)
    ctx = _ctx(synth, fold.valid)
    out = {}
    for name, make in RANKERS.items():
        model = make(True)
        assert isinstance(model, Ranker)
        model.fit(fold.train, ctx)
        scores = model.score(fold.test.users[:3], fold.test.histories[:3])  # type: ignore[union-attr]
        assert scores.shape == (3, synth.n_items) and scores.dtype == np.float32
        assert np.isfinite(scores).all()
        out[name] = evaluate_next_item(model, fold)
    return out


def test_every_ranker_reports_p1_metrics(p1_results: dict[str, dict[str, float]]) -> None:
    for name, m in p1_results.items():
        assert set(m) == {"HR@10", "NDCG@10", "MRR"}, name
        assert all(0.0 <= v <= 1.0 for v in m.values()), name


@pytest.mark.parametrize("name", ["popularity", "ease", "itemknn", "als", "content_knn"])
def test_informed_rankers_beat_random_on_p1(
    p1_results: dict[str, dict[str, float]], name: str
) -> None:
    assert p1_results[name]["NDCG@10"] > p1_results["random"]["NDCG@10"]


def test_content_knn_beats_collaborative_models_on_cold_items(synth: Interactions) -> None:
    (fold,) = split_cold_items(synth)
    ctx = _ctx(synth, fold.valid, fold.cold_items)
    res = {}
    for name in ["random", "popularity", "ease", "content_knn"]:
        model = RANKERS[name](True)
        model.fit(fold.train, ctx)
        res[name] = evaluate_cold_items(model, fold)
    # popularity and EASE score every cold item the same: ties broken at random give
    # exactly the chance level, each relevant item's rank uniform on 1..n_cold
    test = fold.test
    assert isinstance(test, RankingTest) and test.candidates is not None
    n = int(test.candidates.sum())
    mean_gain = sum(1 / math.log2(r + 1) for r in range(1, min(n, 10) + 1)) / n
    chance = np.mean(
        [
            len(rel)
            * mean_gain
            / sum(1 / math.log2(j + 1) for j in range(1, min(10, len(rel)) + 1))
            for rel in test.relevant
        ]
    )
    assert res["popularity"]["NDCG@10"] == pytest.approx(chance)
    assert res["ease"]["NDCG@10"] == pytest.approx(chance)
    assert res["popularity"]["Recall@10"] == pytest.approx(min(10, n) / n)
    assert res["content_knn"]["NDCG@10"] > res["random"]["NDCG@10"]


def test_rating_models_fit_predict_and_beat_the_global_mean(synth: Interactions) -> None:
    fold = split_rating(synth)[0]
    ctx = _ctx(synth, fold.valid)
    res = {}
    for name, make in RATING_MODELS.items():
        model = make(True)
        assert isinstance(model, RatingModel)
        model.fit(fold.train, ctx)
        res[name] = evaluate_rating(model, fold)
        assert res[name]["RMSE"] >= res[name]["MAE"] > 0
    assert res["biased"]["RMSE"] < res["global_mean"]["RMSE"]


def test_grid_search_keeps_the_best_validation_point(synth: Interactions) -> None:
    (fold,) = split_next_item(synth)
    ctx = _ctx(synth, fold.valid)
    search = RankerSearch("ease", EASE, {"l2": [1.0, 1e6]})
    search.fit(fold.train, ctx)
    from lmrec.evaluate.protocols import validation_ndcg

    scores = {}
    for l2 in (1.0, 1e6):
        m = EASE(l2)
        m.fit(fold.train, ctx)
        assert fold.valid is not None
        scores[l2] = validation_ndcg(m, fold.valid, synth.n_items)
    assert search.params == {"l2": max(scores, key=lambda k: scores[k])}
    assert search.valid_score == pytest.approx(max(scores.values()))


def test_merge_validation_appends_the_held_out_ratings(synth: Interactions) -> None:
    fold = split_rating(synth)[0]
    ctx = _ctx(synth, fold.valid)
    merged = merge_validation(fold.train, ctx)
    assert fold.valid is not None
    assert len(merged) == len(fold.train) + fold.valid.users.size
    assert np.array_equal(merged.value[len(fold.train) :], fold.valid.values)


def test_sasrec_windows_cover_every_transition_once() -> None:
    from lmrec.evaluate.baselines.sasrec import _windows

    seq = np.arange(7, dtype=np.int64)  # items 0..6 -> tokens 1..7
    w = _windows([seq, np.array([3], dtype=np.int64)], maxlen=3)
    pairs = [(int(a), int(b)) for row in w for a, b in itertools.pairwise(row) if a]
    assert sorted(pairs) == [(t, t + 1) for t in range(1, 7)]
    assert w.shape == (2, 4)  # a one-event user has no transition, hence no window


def test_sasrec_stops_on_validation_and_trains_fixed_epochs_without(synth: Interactions) -> None:
    """With validation, early stopping ends training (the cap, ``epochs``, only bounds
    it); without a validation split, ``fixed_epochs`` are run."""
    from lmrec.evaluate.baselines.sasrec import SASRec

    (fold,) = split_next_item(synth)
    small = {"dim": 8, "blocks": 1, "maxlen": 10, "eval_every": 1, "patience": 2}
    steps: list[int] = []

    class Counting(SASRec):
        """One training batch per epoch, so training forwards count epochs (scoring
        for validation runs under no_grad and is not counted)."""

        def _build(self, n_items: int) -> object:
            import torch

            net = super()._build(n_items)

            def count(*_: object) -> None:
                if torch.is_grad_enabled():
                    steps.append(1)

            net.register_forward_hook(count)  # type: ignore[attr-defined]
            return net

    stopped = Counting(epochs=60, batch_size=10**6, **small)
    stopped.fit(fold.train, _ctx(synth, fold.valid))
    assert 1 <= stopped.best_epoch < len(steps) < 60  # stopped patience checks after its best
    assert len(steps) == stopped.best_epoch + 2
    steps.clear()
    Counting(epochs=60, fixed_epochs=3, batch_size=10**6, **small).fit(
        fold.train, _ctx(synth, None)
    )
    assert len(steps) == 3


class _FixedScores:
    """A ranker whose scores are the same row for every user."""

    name = "fixed"

    def __init__(self, row: list[float]) -> None:
        self.row = np.asarray(row, dtype=np.float32)

    def fit(self, train: Interactions, ctx: FitContext) -> None:
        pass

    def score(self, users: np.ndarray, histories: object) -> np.ndarray:
        return np.tile(self.row, (len(users), 1))


def test_validation_among_the_cold_items_ranks_only_them() -> None:
    from lmrec.evaluate.base import ValidationSplit
    from lmrec.evaluate.protocols import validation_ndcg

    # Item 4 is the target; items 0-3 score higher, but only 1 and 3 are cold (with 4).
    model = _FixedScores([0.9, 0.8, 0.7, 0.6, 0.5, 0.1])
    valid = ValidationSplit(
        users=np.array([0]),
        items=np.array([4]),
        histories=[np.array([0], dtype=np.int64)],  # the history is never a candidate
        values=np.array([np.nan]),
    )
    assert validation_ndcg(model, valid, 6) == pytest.approx(1 / math.log2(3 + 2))  # rank 4
    cold = replace(valid, among=np.array([1, 3, 4]))
    assert validation_ndcg(model, cold, 6) == pytest.approx(1 / math.log2(2 + 2))


def test_per_user_validation_pools_a_users_cases_into_one_question() -> None:
    """P3's form: one question per user, its held-out items all relevant, each user once."""
    from lmrec.evaluate.base import ValidationSplit
    from lmrec.evaluate.protocols import validation_ndcg

    model = _FixedScores([0.9, 0.8, 0.7, 0.6, 0.5, 0.1])
    h0, h1 = np.array([0], dtype=np.int64), np.array([2], dtype=np.int64)
    valid = ValidationSplit(
        users=np.array([0, 0, 1]),
        items=np.array([3, 4, 5]),
        histories=[h0, h0, h1],
        values=np.full(3, np.nan),
        among=np.array([1, 3, 4, 5]),
        per_user=True,
    )
    # User 0 ranks 1, 3, 4, 5: its relevant 3 and 4 land 2nd and 3rd; user 1's 5 lands 4th.
    user0 = (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    user1 = 1 / math.log2(5)
    assert validation_ndcg(model, valid, 6) == pytest.approx((user0 + user1) / 2)
    # One question per case instead: 3 is 2nd, 4 is 3rd (3 is not relevant to it), 5 is 4th.
    per_case = (1 / math.log2(3) + 1 / math.log2(4) + 1 / math.log2(5)) / 3
    assert validation_ndcg(model, replace(valid, per_user=False), 6) == pytest.approx(per_case)
    with pytest.raises(InvalidInputError, match="different histories"):
        replace(valid, histories=[h0, h1, h1]).user_cases()


def test_p3_tuning_asks_the_tests_question_of_the_validation_items(synth: Interactions) -> None:
    """The baselines tune on the question P3's test asks (and lmrec's early stopping
    does): per user, their validation items among the validation items only."""
    from lmrec.evaluate.baselines.content_knn import ContentKNN
    from lmrec.evaluate.metrics import multi_relevant_values
    from lmrec.evaluate.protocols import validation_ndcg

    (fold,) = split_cold_items(synth)
    valid, test = fold.valid, fold.test
    assert valid is not None and fold.cold_items is not None and valid.among is not None
    assert isinstance(test, RankingTest) and test.candidates is not None
    assert valid.per_user
    assert set(valid.items.tolist()) <= set(valid.among.tolist())
    assert set(valid.among.tolist()) <= set(fold.cold_items.tolist())
    assert not test.candidates[valid.among].any()  # no test item is a validation candidate
    ctx = _ctx(synth, valid, fold.cold_items)
    search = RankerSearch("content_knn", ContentKNN, {"recent": [None, 2]})
    search.fit(fold.train, ctx)
    scores = {}
    users = sorted(set(valid.users.tolist()))
    for recent in (None, 2):
        m = ContentKNN(recent)
        m.fit(fold.train, ctx)
        scores[recent] = validation_ndcg(m, valid, synth.n_items)
        # by hand: one row per user, relevant = all their validation items
        rows, relevant, cand = [], [], np.zeros((len(users), synth.n_items), dtype=bool)
        for r, u in enumerate(users):
            mine = np.flatnonzero(valid.users == u)
            rows.append(mine[0])
            relevant.append(np.unique(valid.items[mine]))
            cand[r, valid.among] = True
            cand[r, valid.histories[mine[0]]] = False
        got = m.score(np.asarray(users), [valid.histories[j] for j in rows])
        by_hand = multi_relevant_values(got, relevant, 10, cand)["NDCG@10"].mean()
        assert scores[recent] == pytest.approx(by_hand)
        everything = validation_ndcg(m, replace(valid, among=None), synth.n_items)
        assert scores[recent] > everything  # fewer competitors than all items
    assert search.valid_score == pytest.approx(max(scores.values()))
