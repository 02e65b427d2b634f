"""Metrics against hand-computed cases: ties broken at random in expectation, several relevant."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from lmrec.errors import InvalidInputError
from lmrec.evaluate.metrics import (
    RankRange,
    hit_rate,
    mae,
    mrr,
    multi_relevant_metrics,
    ndcg_at,
    ndcg_single,
    recall_at,
    relevant_ranks,
    rmse,
    target_ranks,
)


def H(n: int) -> float:  # noqa: N802  (harmonic number)
    return sum(1 / r for r in range(1, n + 1))


def test_rank_range_counts_strictly_higher_plus_one() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.3], [4.0, 3.0, 2.0, 1.0]])
    r = target_ranks(scores, [2, 3])
    assert r.best.tolist() == [2, 4] and r.worst.tolist() == [2, 4]


def test_ties_are_broken_at_random_in_expectation() -> None:
    # target 0 ties with items 1 and 2; one item scores higher -> rank uniform on 2..4
    scores = np.array([[0.5, 0.5, 0.5, 0.9, 0.1]])
    r = target_ranks(scores, [0])
    assert (r.best.tolist(), r.worst.tolist()) == ([2], [4])
    assert hit_rate(r, 2) == pytest.approx(1 / 3)
    assert hit_rate(r, 10) == 1.0
    assert ndcg_single(r, 10) == pytest.approx((1 / math.log2(3) + 0.5 + 1 / math.log2(5)) / 3)
    assert ndcg_single(r, 3) == pytest.approx((1 / math.log2(3) + 0.5) / 3)
    assert mrr(r) == pytest.approx((1 / 2 + 1 / 3 + 1 / 4) / 3)
    # all-equal scores give the chance level, not the worst rank
    r = target_ranks(np.zeros((1, 5)), [3])
    assert (r.best.tolist(), r.worst.tolist()) == ([1], [5])
    assert hit_rate(r, 1) == pytest.approx(0.2)
    assert mrr(r) == pytest.approx(H(5) / 5)


def test_nan_scores_rank_last_and_candidates_limit_the_ranking() -> None:
    scores = np.array([[np.nan, 0.9, 0.8, 0.7]])
    assert target_ranks(scores, [0]).best.tolist() == [4]
    # two NaNs tie with each other (both count as -inf)
    r = target_ranks(np.array([[np.nan, np.nan, 0.5]]), [0])
    assert (r.best.tolist(), r.worst.tolist()) == ([2], [3])
    cand = np.array([[True, False, True, True]])  # item 1 is history: not ranked
    assert target_ranks(np.array([[0.1, 0.9, 0.8, 0.7]]), [3], cand).best.tolist() == [2]
    # the target is ranked even when the mask omits it
    cand = np.array([[False, False, True, True]])
    assert target_ranks(np.array([[0.1, 0.9, 0.8, 0.7]]), [0], cand).worst.tolist() == [3]
    # ties outside the candidates do not count
    cand = np.array([[True, False, True, True]])
    r = target_ranks(np.array([[0.5, 0.5, 0.5, 0.1]]), [0], cand)
    assert (r.best.tolist(), r.worst.tolist()) == ([1], [2])


def test_single_target_metrics_by_hand() -> None:
    ranks = np.array([1, 3, 11])  # exact ranks (no ties)
    assert hit_rate(ranks, 10) == pytest.approx(2 / 3)
    assert ndcg_single(ranks, 10) == pytest.approx((1.0 + 1.0 / math.log2(4)) / 3)
    assert mrr(ranks) == pytest.approx((1 + 1 / 3 + 1 / 11) / 3)
    assert RankRange.exact(ranks).expected(lambda r: r * 1.0).tolist() == [1, 3, 11]


def test_multi_relevant_ranks_count_other_relevant_items_as_candidates() -> None:
    # items: 0(0.9) 1(0.5, rel) 2(0.5) 3(0.7, rel) 4(0.1)
    scores = np.array([0.9, 0.5, 0.5, 0.7, 0.1])
    r = relevant_ranks(scores, [1, 3])
    assert r.best.tolist() == [3, 2] and r.worst.tolist() == [4, 2]
    assert recall_at(r, 3) == pytest.approx((0.5 + 1.0) / 2)
    dcg = (1 / math.log2(4) + 1 / math.log2(5)) / 2 + 1 / math.log2(3)
    assert ndcg_at(r, 10) == pytest.approx(dcg / (1 + 1 / math.log2(3)))


def test_relevant_items_tied_with_each_other_are_a_perfect_ranking() -> None:
    # whichever of the two tied relevant items comes first, the top 2 are both relevant
    r = relevant_ranks(np.array([0.5, 0.5, 0.1]), [0, 1])
    assert (r.best.tolist(), r.worst.tolist()) == ([1, 1], [2, 2])
    assert ndcg_at(r, 1) == pytest.approx(1.0)
    assert ndcg_at(r, 2) == pytest.approx(1.0)
    assert recall_at(r, 1) == pytest.approx(0.5)


def test_recall_and_ndcg_with_several_relevant_items_by_hand() -> None:
    ranks = np.array([4, 2])
    assert recall_at(ranks, 2) == pytest.approx(0.5)
    assert recall_at(ranks, 4) == pytest.approx(1.0)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3)
    assert ndcg_at(ranks, 10) == pytest.approx(dcg / idcg)
    # cut-off below |R|: ideal counts only k positions
    assert ndcg_at(np.array([1, 7, 9]), 2) == pytest.approx(1.0 / (1 + 1 / math.log2(3)))


def test_multi_relevant_metrics_use_candidate_mask() -> None:
    scores = np.array([[0.9, 0.5, 0.8, 0.7], [0.0, 0.0, 0.0, 0.0]])
    cand = np.array([False, True, True, True])  # item 0 is not a candidate
    out = multi_relevant_metrics(scores, [np.array([3]), np.array([1, 2])], 1, cand)
    # case 1: order 2,3,1 -> item 3 at rank 2: recall@1 = ndcg@1 = 0
    # case 2: items 1,2,3 all tied -> each relevant item on top with chance 1/3:
    #   recall@1 = 1/3, DCG@1 = 2/3, ideal DCG@1 = 1
    assert out["Recall@1"] == pytest.approx((0 + 1 / 3) / 2)
    assert out["NDCG@1"] == pytest.approx((0 + 2 / 3) / 2)
    out = multi_relevant_metrics(scores, [np.array([2]), np.array([1, 2])], 2, cand)
    # case 2: each relevant item in the top 2 with chance 2/3; E[DCG@2] = 2/3 * ideal
    assert out["Recall@2"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert out["NDCG@2"] == pytest.approx((1.0 + 2 / 3) / 2)


def _brute_force(scores: np.ndarray, relevant: list[int], k: int) -> tuple[float, float]:
    """Mean Recall@k and NDCG@k over every ordering consistent with the scores."""
    n = scores.size
    recalls, ndcgs = [], []
    idcg = sum(1 / math.log2(j + 1) for j in range(1, min(k, len(relevant)) + 1))
    for perm in itertools.permutations(range(n)):
        if any(scores[perm[j]] < scores[perm[j + 1]] for j in range(n - 1)):
            continue  # not a valid tie-breaking of the score order
        rank = {item: pos + 1 for pos, item in enumerate(perm)}
        recalls.append(sum(rank[r] <= k for r in relevant) / len(relevant))
        ndcgs.append(sum(1 / math.log2(rank[r] + 1) for r in relevant if rank[r] <= k) / idcg)
    return float(np.mean(recalls)), float(np.mean(ndcgs))


def test_expectation_matches_enumerating_every_tie_breaking() -> None:
    rng = np.random.default_rng(7)
    for _ in range(40):
        scores = rng.integers(0, 3, size=6).astype(np.float64)  # many ties
        rel = sorted(rng.choice(6, size=int(rng.integers(1, 4)), replace=False).tolist())
        k = int(rng.integers(1, 5))
        recall, ndcg = _brute_force(scores, rel, k)
        ranks = relevant_ranks(scores, rel)
        assert recall_at(ranks, k) == pytest.approx(recall)
        assert ndcg_at(ranks, k) == pytest.approx(ndcg)
        if len(rel) == 1:
            single = target_ranks(scores[None, :], rel)
            assert ndcg_single(single, k) == pytest.approx(ndcg)
            assert hit_rate(single, k) == pytest.approx(recall)


def test_rmse_and_mae_by_hand() -> None:
    assert rmse([3, 4, 5], [4, 4, 3]) == pytest.approx(math.sqrt(5 / 3))
    assert mae([3, 4, 5], [4, 4, 3]) == pytest.approx(1.0)


def test_shape_errors_are_invalid_input() -> None:
    with pytest.raises(InvalidInputError):
        target_ranks(np.zeros(3), [0])
    with pytest.raises(InvalidInputError):
        target_ranks(np.zeros((2, 3)), [0])
