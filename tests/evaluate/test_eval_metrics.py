"""Metrics against hand-computed cases, including ties and several relevant items."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lmrec.errors import InvalidInputError
from lmrec.evaluate.metrics import (
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


def test_rank_counts_strictly_higher_plus_one() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.3], [4.0, 3.0, 2.0, 1.0]])
    assert target_ranks(scores, [2, 3]).tolist() == [2, 4]


def test_ties_are_broken_against_the_target() -> None:
    # target 0 ties with items 1 and 2; one item scores higher -> rank 4, not 2
    scores = np.array([[0.5, 0.5, 0.5, 0.9, 0.1]])
    assert target_ranks(scores, [0]).tolist() == [4]
    # all-equal scores give the worst rank
    assert target_ranks(np.zeros((1, 5)), [3]).tolist() == [5]


def test_nan_scores_rank_last_and_candidates_limit_the_ranking() -> None:
    scores = np.array([[np.nan, 0.9, 0.8, 0.7]])
    assert target_ranks(scores, [0]).tolist() == [4]
    cand = np.array([[True, False, True, True]])  # item 1 is history: not ranked
    assert target_ranks(np.array([[0.1, 0.9, 0.8, 0.7]]), [3], cand).tolist() == [2]
    # the target is ranked even when the mask omits it
    cand = np.array([[False, False, True, True]])
    assert target_ranks(np.array([[0.1, 0.9, 0.8, 0.7]]), [0], cand).tolist() == [3]


def test_single_target_metrics_by_hand() -> None:
    ranks = np.array([1, 3, 11])
    assert hit_rate(ranks, 10) == pytest.approx(2 / 3)
    assert ndcg_single(ranks, 10) == pytest.approx((1.0 + 1.0 / math.log2(4)) / 3)
    assert mrr(ranks) == pytest.approx((1 + 1 / 3 + 1 / 11) / 3)


def test_multi_relevant_ranks_ties_go_after_non_relevant() -> None:
    # items: 0(0.9) 1(0.5, rel) 2(0.5) 3(0.7, rel) 4(0.1)
    # order: 0, 3, 2, 1, 4  (item 2 before tied relevant item 1)
    scores = np.array([0.9, 0.5, 0.5, 0.7, 0.1])
    assert relevant_ranks(scores, [1, 3]).tolist() == [4, 2]


def test_recall_and_ndcg_with_several_relevant_items_by_hand() -> None:
    ranks = np.array([4, 2])  # from the test above
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
    # case 1: order 2,3,1 -> item 3 at rank 2, recall@1 = 0, ndcg@1 = 0
    # case 2: all tied: non-relevant item 3 first, then 1, 2 -> ranks 2, 3 -> recall@1 = 0
    assert out == {"Recall@1": 0.0, "NDCG@1": 0.0}
    out = multi_relevant_metrics(scores, [np.array([2]), np.array([1, 2])], 2, cand)
    assert out["Recall@2"] == pytest.approx((1.0 + 0.5) / 2)
    assert out["NDCG@2"] == pytest.approx((1.0 + (1 / math.log2(3)) / (1 + 1 / math.log2(3))) / 2)


def test_rmse_and_mae_by_hand() -> None:
    assert rmse([3, 4, 5], [4, 4, 3]) == pytest.approx(math.sqrt(5 / 3))
    assert mae([3, 4, 5], [4, 4, 3]) == pytest.approx(1.0)


def test_shape_errors_are_invalid_input() -> None:
    with pytest.raises(InvalidInputError):
        target_ranks(np.zeros(3), [0])
    with pytest.raises(InvalidInputError):
        target_ranks(np.zeros((2, 3)), [0])
