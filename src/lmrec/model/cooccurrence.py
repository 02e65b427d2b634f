"""Item-to-item weights for the second stage: what goes with what the user just had.

The user tower summarises a history into one vector, and a dot product with
one item vector cannot say "people who had *these* items also had *that*
one" for every combination. An item-to-item model says exactly that, and
the two make different errors: on MovieLens-100K (protocol P1, two training
seeds), mixing the tower's shortlist scores with these weights raised test
NDCG@10 from 0.1077 / 0.1127 to 0.1244 / 0.1282, although the item-to-item
model alone (EASE) scores 0.071.

The weights are EASE's (Steck, "Embarrassingly Shallow Autoencoders for
Sparse Data", WWW 2019): the closed-form ridge regression of each item's
column on all the others, ``B = I - P / diag(P)`` with ``P = (XᵀX + λI)⁻¹``.
Only the ``neighbours`` largest weights (by magnitude) into each item are
kept, which keeps the model small (``n_items x neighbours``) and the score of
a candidate a gather of that many numbers. A user's history enters with
recency weights ``decay ** age`` (the latest event has age 0), since the last
few items say the most about the next one.

Scores from the two stages live on different scales, so each row's shortlist
is standardised per source before mixing: ``z(stage two) + mix * z(items)``.
``mix`` is chosen on validation cases and switched on only when it helps
cases it was not chosen on (cross-fitted; see :func:`lmrec.model.rerank.choose_mix`).

EASE sees each history as a set. The order of events carries a second
signal, what tends to come *next*: :func:`fit_transitions` counts each
user's consecutive (and nearly consecutive) pairs, and
:func:`transition_scores` scores a candidate from the user's last few items.
On MovieLens-100K (P1, training seeds 42 and 7) mixing both instead of EASE
alone took test NDCG@10 / HR@10 from 0.1237 / 0.2206 and 0.1291 / 0.2280 to
0.1283 / 0.2301 and 0.1305 / 0.2354 (window 3, last 5 items, 50 successors
per item, chosen by validation; neighbouring settings were equal within noise).

The inverse of an ``n_items x n_items`` matrix limits this to catalogs of a
few thousand items on a CPU (:data:`MAX_ITEMS`); larger catalogs train without
it, and without transitions (their dense count matrix is also n²).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatMatrix = npt.NDArray[np.float32]

#: Largest catalog the closed form is computed for (its inverse is n² float64s:
#: 200 MB and a few seconds at 5,000 items).
MAX_ITEMS = 5_000


def fit_item_item(
    users: IntArray, items: IntArray, n_items: int, *, l2: float, neighbours: int
) -> tuple[IntArray, FloatMatrix]:
    """The strongest EASE weights into each item.

    Args:
        users: User of each training event.
        items: Item of each training event (repeats count once per user).
        n_items: Catalog size (items without events get no neighbours).
        l2: Ridge penalty λ.
        neighbours: Weights kept per item.

    Returns:
        ``(sources, weights)``, each ``(n_items, neighbours)``: the items whose
        presence in a history raises (or lowers) each item's score, and by how
        much; ``-1`` and 0 where an item has fewer.
    """
    if n_items > MAX_ITEMS:
        raise ValueError(f"{n_items} items is over the item-to-item limit of {MAX_ITEMS}")
    pairs = np.unique(np.stack([np.asarray(users), np.asarray(items)], axis=1), axis=0)
    gram = np.zeros((n_items, n_items), dtype=np.float64)
    order = np.argsort(pairs[:, 0], kind="stable")
    u_sorted, i_sorted = pairs[order, 0], pairs[order, 1]
    bounds = np.flatnonzero(np.diff(u_sorted)) + 1
    for row in np.split(i_sorted, bounds):  # one user's distinct items
        gram[np.ix_(row, row)] += 1.0
    gram[np.diag_indices(n_items)] += l2
    prec = np.linalg.inv(gram)
    weights = -prec / np.diag(prec)[None, :]
    np.fill_diagonal(weights, 0.0)
    k = min(neighbours, n_items - 1)
    sources = np.full((n_items, neighbours), -1, dtype=np.int64)
    kept = np.zeros((n_items, neighbours), dtype=np.float32)
    if k <= 0:
        return sources, kept
    # Column j holds the weights into item j; keep its k largest by magnitude.
    top = np.argpartition(-np.abs(weights), k - 1, axis=0)[:k].T  # (n_items, k)
    vals = np.take_along_axis(weights.T, top, axis=1)
    nonzero = vals != 0.0
    sources[:, :k] = np.where(nonzero, top, -1)
    kept[:, :k] = np.where(nonzero, vals, 0.0)
    return sources, kept


def item_item_scores(
    sources: IntArray,
    weights: FloatMatrix,
    decay: float,
    histories: Sequence[IntArray],
    candidates: IntArray,
) -> FloatMatrix:
    """Item-to-item score of each candidate ``(n, S)`` given each row's history.

    Args:
        sources: ``(n_items, K)`` from :func:`fit_item_item`.
        weights: ``(n_items, K)`` from :func:`fit_item_item`.
        decay: Recency weight per step back in the history.
        histories: Model item indices, oldest first (``-1`` = unknown, ignored).
        candidates: Model item index of each candidate ``(n, S)``; ``-1`` = unknown
            (scores 0).
    """
    n_items = sources.shape[0]
    cands = np.asarray(candidates, dtype=np.int64)
    out = np.zeros(cands.shape, dtype=np.float32)
    # One slot past the catalog holds 0, where "no source" and unknown items point.
    # Pointing the whole table there costs more than a request's scoring, so a call
    # that gathers fewer rows than the table has (one user's candidates) points
    # only the rows it gathers.
    src = None if cands.size < n_items else _past_end(sources, n_items)
    for r, hist in enumerate(histories):
        h = np.asarray(hist, dtype=np.int64)
        known = h >= 0
        if not known.any():
            continue
        age = (len(h) - 1 - np.arange(len(h)))[known]
        have = np.zeros(n_items + 1, dtype=np.float32)
        np.add.at(have, h[known], np.power(decay, age, dtype=np.float64).astype(np.float32))
        c = cands[r]
        ok = c >= 0
        cc = np.where(ok, c, 0)
        rows = src[cc] if src is not None else _past_end(sources[cc], n_items)
        out[r] = np.where(ok, (have[rows] * weights[cc]).sum(axis=1), 0.0)
    return out


def _past_end(table: IntArray, n_items: int) -> IntArray:
    """``table`` with its ``-1`` entries pointed one slot past the catalog."""
    return np.where(table >= 0, table, n_items)


#: Weight of a pair ``g`` events apart in :func:`fit_transitions`: ``GAP_WEIGHT ** (g - 1)``.
GAP_WEIGHT = 0.5


def fit_transitions(
    sequences: Sequence[IntArray], n_items: int, *, window: int, successors: int
) -> tuple[IntArray, FloatMatrix]:
    """The likeliest next items of each item, from the order of each user's events.

    EASE sees each history as a set; the order says more about what comes
    next. Each pair of events up to ``window`` apart in a user's sequence
    counts ``GAP_WEIGHT ** (gap - 1)``; each item's counts are divided by its
    total plus one (so a rare item's few successors do not read as certain),
    and the ``successors`` largest are kept.

    Args:
        sequences: Each user's item indices in time order.
        n_items: Catalog size.
        window: Largest gap between two events that still counts as a transition.
        successors: Next items kept per item.

    Returns:
        ``(next_items, weights)``, each ``(n_items, successors)``; ``-1`` and 0
        where an item has fewer.
    """
    if n_items > MAX_ITEMS:
        raise ValueError(f"{n_items} items is over the item-to-item limit of {MAX_ITEMS}")
    counts = np.zeros((n_items, n_items), dtype=np.float32)
    for seq in sequences:
        s = np.asarray(seq, dtype=np.int64)
        for gap in range(1, min(window, len(s) - 1) + 1):
            np.add.at(counts, (s[:-gap], s[gap:]), GAP_WEIGHT ** (gap - 1))
    np.fill_diagonal(counts, 0.0)  # a repeat is not a step to a new item
    probs = counts / (counts.sum(axis=1, keepdims=True) + 1.0)
    next_items = np.full((n_items, successors), -1, dtype=np.int64)
    kept = np.zeros((n_items, successors), dtype=np.float32)
    k = min(successors, n_items)
    if k <= 0:
        return next_items, kept
    top = np.argpartition(-probs, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(probs, top, axis=1)
    positive = vals > 0
    next_items[:, :k] = np.where(positive, top, -1)
    kept[:, :k] = np.where(positive, vals, 0.0)
    return next_items, kept


def transition_scores(
    next_items: IntArray,
    weights: FloatMatrix,
    decay: float,
    last: int,
    histories: Sequence[IntArray],
    candidates: IntArray,
) -> FloatMatrix:
    """Transition score of each candidate ``(n, S)``: how likely it follows the
    last ``last`` items of each row's history, weighted ``decay ** age``.

    Args:
        next_items: ``(n_items, K)`` from :func:`fit_transitions`.
        weights: ``(n_items, K)`` from :func:`fit_transitions`.
        decay: Recency weight per step back in the history.
        last: How many of the latest history items count.
        histories: Model item indices, oldest first (``-1`` = unknown, ignored).
        candidates: Model item index of each candidate ``(n, S)``; ``-1`` = unknown
            (scores 0).
    """
    n_items = next_items.shape[0]
    cands = np.asarray(candidates, dtype=np.int64)
    cands = np.where(cands >= 0, cands, n_items)
    out = np.zeros(cands.shape, dtype=np.float32)
    # As in item_item_scores: a few users' last items need a few rows, not the table.
    targets = None if len(histories) * max(last, 0) < n_items else _past_end(next_items, n_items)
    for r, hist in enumerate(histories):
        h = np.asarray(hist, dtype=np.int64)[-last:] if last > 0 else np.empty(0, np.int64)
        age = len(h) - 1 - np.arange(len(h))
        known = h >= 0
        if not known.any():
            continue
        follows = np.zeros(n_items + 1, dtype=np.float32)
        step = np.power(decay, age[known], dtype=np.float64).astype(np.float32)
        hk = h[known]
        rows = targets[hk] if targets is not None else _past_end(next_items[hk], n_items)
        np.add.at(follows, rows, weights[hk] * step[:, None])
        follows[n_items] = 0.0
        out[r] = follows[cands[r]]
    return out


def standardize(scores: FloatMatrix, reference: FloatMatrix | None = None) -> FloatMatrix:
    """Each row minus its mean, over its standard deviation (0 where a row is constant).

    With ``reference`` (same rows, any width), the mean and deviation are the
    reference row's: scores of any candidate set then sit on the same scale as the
    reference's, so an item's standardized score does not depend on its company.
    """
    s = np.asarray(scores, dtype=np.float32)
    r = s if reference is None else np.asarray(reference, dtype=np.float32)
    return _standardize(s, r.mean(axis=1, keepdims=True), r.std(axis=1, keepdims=True))


def _standardize(s: FloatMatrix, mean: FloatMatrix, sd: FloatMatrix) -> FloatMatrix:
    return np.where(sd > 0, (s - mean) / np.where(sd > 0, sd, 1.0), 0.0)


@dataclass(frozen=True)
class MixScale:
    """Each row's mean and standard deviation of the stage-two scores and of every
    mix signal over a reference candidate set (see :func:`mix_scores`).

    They depend on the reference only, so a caller scoring many candidate sets
    against one reference (a user's searches against the user's feed) computes
    them once.
    """

    means: FloatMatrix
    """``(n, 1 + n_signals)``: stage two first, then each signal."""
    sds: FloatMatrix
    """Same shape: the standard deviations."""

    @classmethod
    def of(cls, stage_two: FloatMatrix, signals: Sequence[FloatMatrix]) -> MixScale:
        """The scale of a reference's stage-two scores and signals (each ``(n, R)``)."""
        parts = [np.asarray(p, dtype=np.float32) for p in (stage_two, *signals)]
        return cls(
            np.concatenate([p.mean(axis=1, keepdims=True) for p in parts], axis=1),
            np.concatenate([p.std(axis=1, keepdims=True) for p in parts], axis=1),
        )

    def z(self, scores: FloatMatrix, part: int) -> FloatMatrix:
        """``scores`` standardized by component ``part`` (0 = stage two, k = signal k)."""
        s = np.asarray(scores, dtype=np.float32)
        return _standardize(s, self.means[:, part : part + 1], self.sds[:, part : part + 1])


def mix_scores(
    stage_two: FloatMatrix,
    signals: Sequence[FloatMatrix],
    mixes: Sequence[float],
    reference: MixScale | None = None,
) -> FloatMatrix:
    """``z(stage_two) + Σ mix_k * z(signal_k)`` per row (``stage_two`` unchanged when
    every ``mix`` is 0).

    ``reference`` (the :class:`MixScale` of a reference candidate set's stage-two
    scores and signals, same rows) supplies each ``z``'s mean and deviation instead
    of the row itself; see :func:`standardize`.
    """
    if all(m <= 0 for m in mixes):
        return stage_two
    scale = reference if reference is not None else MixScale.of(stage_two, signals)
    out = scale.z(stage_two, 0)
    for k, (signal, mix) in enumerate(zip(signals, mixes, strict=True)):
        if mix > 0:
            out = out + mix * scale.z(signal, k + 1)
    return out.astype(np.float32)
