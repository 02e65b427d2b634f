"""Exact full-ranking and rating metrics with one documented tie rule.

Ties are broken **uniformly at random**, and every metric is the exact
expectation over that draw (no sampling, so results are deterministic). A
relevant item with ``h`` candidates scoring strictly higher and ``t`` other
candidates scoring the same has a rank uniform on ``h+1 .. h+t+1``; its
expected gain is the mean of the gain over that range. A model that scores all
candidates equally therefore gets the chance level, not zero and not a
perfect score. Scores that are NaN count as ``-inf``. Items outside the
candidate set (a user's history, for example) are not ranked at all, so they
neither help nor hurt.

The formulas (``rank`` starts at 1; ``R`` is the set of relevant items):

* ``HR@K`` = 1 if the target's rank <= K else 0 (one target per case).
* ``MRR`` = 1 / rank of the target (full ranking, no cut-off).
* ``NDCG@K`` = ``sum_{r in R, rank(r) <= K} 1/log2(rank(r)+1)`` divided by
  ``sum_{j=1..min(K,|R|)} 1/log2(j+1)``; with one target this is
  ``1/log2(rank+1)`` when rank <= K.
* ``Recall@K`` = ``|{r in R : rank(r) <= K}| / |R|``.

With several relevant items, each one's rank range is taken among all
candidates, the other relevant items included (they are candidates too).
Recall and DCG are sums over the relevant items and the ideal DCG does not
depend on the draw, so by linearity of expectation the expected Recall@K and
NDCG@K are the sums of each relevant item's expected gain: exactly the
expectation under a uniformly random order of every group of tied candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lmrec.errors import InvalidInputError

FloatVector = npt.NDArray[np.float64]
IntVector = npt.NDArray[np.int64]
BoolMatrix = npt.NDArray[np.bool_]
Gain = Callable[[IntVector], FloatVector]


@dataclass(frozen=True)
class RankRange:
    """Where each relevant item may land when ties are broken at random.

    Attributes:
        best: ``h + 1``: 1 + the number of candidates scoring strictly higher.
        worst: ``h + t + 1``: ``best`` + the number of other candidates tied with it.
    """

    best: IntVector
    worst: IntVector

    @classmethod
    def exact(cls, ranks: npt.ArrayLike) -> RankRange:
        """Ranks without ties (``best == worst``), e.g. positions in a returned list."""
        r = np.asarray(ranks, dtype=np.int64)
        return cls(r, r.copy())

    @property
    def size(self) -> int:
        return int(self.best.size)

    def expected(self, gain: Gain) -> FloatVector:
        """Mean of ``gain(rank)`` over each item's range (exact, via prefix sums)."""
        if not self.best.size:
            return np.zeros(0, dtype=np.float64)
        top = int(self.worst.max())
        cum = np.concatenate([[0.0], np.cumsum(gain(np.arange(1, top + 1, dtype=np.int64)))])
        width = (self.worst - self.best + 1).astype(np.float64)
        out: FloatVector = (cum[self.worst] - cum[self.best - 1]) / width
        return out


Ranks = RankRange | IntVector


def _range(ranks: Ranks) -> RankRange:
    return ranks if isinstance(ranks, RankRange) else RankRange.exact(ranks)


def hit_gain(k: int) -> Gain:
    """1 inside the top ``k``, else 0."""
    return lambda r: (r <= k).astype(np.float64)


def dcg_gain(k: int) -> Gain:
    """``1/log2(rank+1)`` inside the top ``k``, else 0."""
    return lambda r: np.where(r <= k, 1.0 / np.log2(r + 1.0), 0.0)


def reciprocal_gain(r: IntVector) -> FloatVector:
    """``1/rank`` (no cut-off)."""
    return 1.0 / r.astype(np.float64)


def _clean(scores: npt.NDArray[np.floating]) -> FloatVector:
    """Scores as float64 with NaN replaced by ``-inf``."""
    out = np.asarray(scores, dtype=np.float64).copy()
    out[np.isnan(out)] = -np.inf
    return out


def target_ranks(
    scores: npt.NDArray[np.floating],
    targets: npt.ArrayLike,
    candidates: BoolMatrix | None = None,
) -> RankRange:
    """Rank range of one target item per row.

    Args:
        scores: ``(n_cases, n_items)`` model scores, higher is better.
        targets: ``(n_cases,)`` the relevant item of each case.
        candidates: ``(n_cases, n_items)`` which items are ranked (the target
            is always treated as a candidate); all items when omitted.

    Returns:
        Per row, ``best`` = 1 + #(candidates scoring higher) and ``worst`` =
        ``best`` + #(other candidates scoring the same).
    """
    s = _clean(scores)
    if s.ndim != 2:
        raise InvalidInputError("scores must be a 2-D array (cases x items)")
    t = np.asarray(targets, dtype=np.int64)
    if t.shape != (s.shape[0],):
        raise InvalidInputError("targets must hold one item per row of scores")
    rows = np.arange(s.shape[0])
    target_score = s[rows, t][:, None]
    higher = s > target_score
    tied = s == target_score
    if candidates is not None:
        if candidates.shape != s.shape:
            raise InvalidInputError("candidates must have the shape of scores")
        higher &= candidates
        tied &= candidates
    tied[rows, t] = False
    best = (higher.sum(axis=1) + 1).astype(np.int64)
    return RankRange(best, best + tied.sum(axis=1).astype(np.int64))


def hit_values(ranks: Ranks, k: int) -> FloatVector:
    """Per-case expected HR@k."""
    return _range(ranks).expected(hit_gain(k))


def ndcg_values(ranks: Ranks, k: int) -> FloatVector:
    """Per-case expected NDCG@k with one relevant item per case (its ideal DCG is 1)."""
    return _range(ranks).expected(dcg_gain(k))


def rr_values(ranks: Ranks) -> FloatVector:
    """Per-case expected reciprocal rank."""
    return _range(ranks).expected(reciprocal_gain)


def _mean(values: FloatVector) -> float:
    return float(np.mean(values)) if values.size else float("nan")


def hit_rate(ranks: Ranks, k: int) -> float:
    """Share of cases whose target ranks within the top ``k`` (expected over ties)."""
    return _mean(hit_values(ranks, k))


def ndcg_single(ranks: Ranks, k: int) -> float:
    """Mean NDCG@k with one relevant item per case (expected over ties)."""
    return _mean(ndcg_values(ranks, k))


def mrr(ranks: Ranks) -> float:
    """Mean reciprocal rank over the full ranking, no cut-off (expected over ties)."""
    return _mean(rr_values(ranks))


def relevant_ranks(
    scores: npt.NDArray[np.floating],
    relevant: npt.ArrayLike,
    candidates: npt.NDArray[np.bool_] | None = None,
) -> RankRange:
    """Rank ranges of several relevant items of one case.

    Each relevant item is compared with every candidate, the other relevant
    items included.

    Args:
        scores: ``(n_items,)`` scores of one case.
        relevant: Item indices that are relevant (always ranked).
        candidates: ``(n_items,)`` mask of the items that are ranked; all when omitted.

    Returns:
        The range of each relevant item, in the order given.
    """
    s = _clean(scores)
    rel = np.asarray(relevant, dtype=np.int64)
    mask = np.ones(s.shape[0], dtype=bool) if candidates is None else candidates.copy()
    mask[rel] = True
    ranked = np.sort(s[mask])
    mine = s[rel]
    n = ranked.size
    higher = n - np.searchsorted(ranked, mine, side="right")
    ties = np.searchsorted(ranked, mine, side="right") - np.searchsorted(ranked, mine, side="left")
    best = (higher + 1).astype(np.int64)
    return RankRange(best, best + (ties - 1).astype(np.int64))


def recall_at(ranks: Ranks, k: int) -> float:
    """Expected Recall@k of one case from its relevant items' ranks."""
    r = _range(ranks)
    return float(np.mean(r.expected(hit_gain(k)))) if r.size else float("nan")


def ideal_dcg(n_relevant: int, k: int) -> float:
    """DCG@k of a perfect ranking of ``n_relevant`` items."""
    return float(np.sum(1.0 / np.log2(np.arange(1, min(k, n_relevant) + 1) + 1.0)))


def ndcg_at(ranks: Ranks, k: int) -> float:
    """Expected NDCG@k of one case with binary relevance, from its relevant items' ranks."""
    r = _range(ranks)
    if not r.size:
        return float("nan")
    return float(np.sum(r.expected(dcg_gain(k)))) / ideal_dcg(r.size, k)


def multi_relevant_values(
    scores: npt.NDArray[np.floating],
    relevant: Sequence[npt.ArrayLike],
    k: int,
    candidates: npt.NDArray[np.bool_] | None = None,
) -> dict[str, FloatVector]:
    """Per-case expected Recall@k and NDCG@k, cases having several relevant items each.

    Args:
        scores: ``(n_cases, n_items)``.
        relevant: For each case, its relevant item indices (non-empty).
        k: Cut-off.
        candidates: ``(n_items,)`` mask shared by all cases, or ``(n_cases, n_items)``
            one per case (a history to leave out, say); all items when omitted.
    """
    if candidates is not None and candidates.ndim == 2 and candidates.shape != scores.shape:
        raise InvalidInputError("per-case candidates must have the shape of scores")
    recalls, ndcgs = [], []
    for j, (row, rel) in enumerate(zip(scores, relevant, strict=True)):
        mask = candidates[j] if candidates is not None and candidates.ndim == 2 else candidates
        r = relevant_ranks(row, rel, mask)
        recalls.append(recall_at(r, k))
        ndcgs.append(ndcg_at(r, k))
    return {
        f"Recall@{k}": np.asarray(recalls, dtype=np.float64),
        f"NDCG@{k}": np.asarray(ndcgs, dtype=np.float64),
    }


def multi_relevant_metrics(
    scores: npt.NDArray[np.floating],
    relevant: Sequence[npt.ArrayLike],
    k: int,
    candidates: npt.NDArray[np.bool_] | None = None,
) -> dict[str, float]:
    """Mean expected Recall@k and NDCG@k (see :func:`multi_relevant_values`)."""
    return {
        name: _mean(v) for name, v in multi_relevant_values(scores, relevant, k, candidates).items()
    }


def rmse(pred: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """Root mean squared error."""
    p, t = np.asarray(pred, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def mae(pred: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """Mean absolute error."""
    p, t = np.asarray(pred, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    return float(np.mean(np.abs(p - t)))
