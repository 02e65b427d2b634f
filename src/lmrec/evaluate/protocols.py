"""Evaluation protocols: how data is split and how a fitted model is scored.

A :class:`Protocol` is a name, a ``split`` function (data -> folds) and an
``evaluate`` function (fitted model, fold -> metrics). The runner knows
nothing else about a protocol, so a new one (P4 personalized search, P5
streaming replay) is one more entry in :data:`PROTOCOLS` via
:func:`register_protocol`. The exact definitions live in ``docs/protocols.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from lmrec.errors import InvalidInputError, NotFoundError
from lmrec.evaluate.base import FloatMatrix, Ranker, RatingModel, ValidationSplit
from lmrec.evaluate.metrics import (
    FloatVector,
    hit_values,
    mae,
    multi_relevant_values,
    ndcg_values,
    rmse,
    rr_values,
    target_ranks,
)
from lmrec.interactions import IntArray, Interactions

ModelKind = Literal["ranker", "rating"]
Metrics = dict[str, float]

#: Users scored per ``Ranker.score`` call; bounds memory at batch x n_items floats.
SCORE_BATCH = 256


@dataclass(frozen=True)
class RankingTest:
    """Ranking test cases.

    Attributes:
        users: User index of each case.
        histories: Items the user interacted with before the prediction, oldest first.
        relevant: The relevant item(s) of each case.
        candidates: ``(n_items,)`` mask of items ranked for every case, or None to
            rank every item except the case's history (the relevant items are
            always ranked).
    """

    users: IntArray
    histories: Sequence[IntArray]
    relevant: Sequence[IntArray]
    candidates: npt.NDArray[np.bool_] | None = None


@dataclass(frozen=True)
class RatingTest:
    """Rating test cases: predict ``values`` for the (user, item) pairs."""

    users: IntArray
    items: IntArray
    values: npt.NDArray[np.float64]


@dataclass(frozen=True)
class Fold:
    """One train/validation/test split of a protocol."""

    index: int
    train: Interactions
    valid: ValidationSplit | None
    test: RankingTest | RatingTest
    cold_items: IntArray | None = None


@dataclass(frozen=True)
class FoldOutcome:
    """What scoring one fold produced: the metrics, plus per-case detail for the charts.

    Attributes:
        metrics: The fold's metric values (means over its cases).
        cases: Per-case values of ranking metrics (``NDCG@10`` -> one value per test case).
        history_lengths: Per-case length of the history the model was given.
        predictions: Rating protocols: the predicted rating of each test pair.
    """

    metrics: Metrics
    cases: dict[str, FloatVector] = field(default_factory=dict)
    history_lengths: IntArray | None = None
    predictions: FloatVector | None = None


@dataclass(frozen=True)
class Protocol:
    """A named, reproducible way to split data and score a model.

    Attributes:
        name: Short id used on the command line and in reports (``P1``).
        title: One line saying what it measures.
        kind: Which model seam it runs (``ranker`` or ``rating``).
        metrics: Metric names it reports, the headline metric first.
        lower_is_better: Metrics where smaller wins (RMSE, MAE).
        split: ``(data, seed) -> folds``.
        evaluate: ``(fitted model, fold) -> metrics``.
        outcome: Optional ``(fitted model, fold) -> FoldOutcome`` giving the same
            metrics plus per-case detail; the runner prefers it when present.
    """

    name: str
    title: str
    kind: ModelKind
    metrics: tuple[str, ...]
    split: Callable[[Interactions, int], list[Fold]]
    evaluate: Callable[[Ranker | RatingModel, Fold], Metrics]
    lower_is_better: frozenset[str] = frozenset()
    outcome: Callable[[Ranker | RatingModel, Fold], FoldOutcome] | None = None

    def run(self, model: Ranker | RatingModel, fold: Fold) -> FoldOutcome:
        """Score ``model`` on ``fold``, with per-case detail when the protocol gives it."""
        if self.outcome is not None:
            return self.outcome(model, fold)
        return FoldOutcome(self.evaluate(model, fold))


# --------------------------------------------------------------------------- helpers


def user_sequences(data: Interactions, rows: IntArray | None = None) -> list[IntArray]:
    """Row indices of each user's events in time order (stable; ties in log order)."""
    order = data.time_order()
    if rows is not None:
        keep = np.zeros(len(data), dtype=bool)
        keep[rows] = True
        order = order[keep[order]]
    bounds = np.searchsorted(data.user[order], np.arange(data.n_users + 1))
    return [order[bounds[u] : bounds[u + 1]] for u in range(data.n_users)]


def _validation(
    data: Interactions, users: list[int], rows: list[int], hist: list[IntArray]
) -> ValidationSplit:
    r = np.asarray(rows, dtype=np.int64)
    return ValidationSplit(
        users=np.asarray(users, dtype=np.int64),
        items=data.item[r],
        histories=hist,
        values=data.value[r].astype(np.float64),
    )


def _hold_last(
    data: Interactions, seqs: Sequence[IntArray], min_events: int
) -> tuple[list[int], list[int], list[IntArray], list[IntArray]]:
    """Hold out the last event of every user with at least ``min_events`` events.

    Returns, per such user: the user, the held-out row, the history before it
    (item indices, oldest first), and the user's remaining rows.
    """
    users: list[int] = []
    rows: list[int] = []
    hist: list[IntArray] = []
    rest: list[IntArray] = []
    for u, seq in enumerate(seqs):
        if seq.size >= min_events:
            users.append(u)
            rows.append(int(seq[-1]))
            hist.append(data.item[seq[:-1]])
            rest.append(seq[:-1])
        else:
            rest.append(seq)
    return users, rows, hist, rest


def score_in_batches(model: Ranker, users: IntArray, histories: Sequence[IntArray]) -> FloatMatrix:
    """``model.score`` over all cases, ``SCORE_BATCH`` users at a time."""
    parts = [
        np.asarray(
            model.score(users[i : i + SCORE_BATCH], histories[i : i + SCORE_BATCH]),
            dtype=np.float32,
        )
        for i in range(0, users.size, SCORE_BATCH)
    ]
    return np.concatenate(parts, axis=0)


def history_mask(n_items: int, histories: Sequence[IntArray]) -> npt.NDArray[np.bool_]:
    """``(len(histories), n_items)`` True where the item is in that case's history."""
    mask = np.zeros((len(histories), n_items), dtype=bool)
    for j, h in enumerate(histories):
        mask[j, h] = True
    return mask


def single_target_values(
    model: Ranker,
    users: IntArray,
    histories: Sequence[IntArray],
    targets: IntArray,
    n_items: int,
    k: int = 10,
    among: IntArray | None = None,
) -> dict[str, FloatVector]:
    """Per-case expected HR@k, NDCG@k and reciprocal rank, ranking all items but the
    history (or, given a non-empty ``among``, only those items but the history; an empty
    one, a context without cold items, restricts nothing)."""
    out = {f"HR@{k}": np.empty(users.size), f"NDCG@{k}": np.empty(users.size)}
    out["MRR"] = np.empty(users.size)
    allowed = None
    if among is not None and len(among):
        allowed = np.zeros(n_items, dtype=bool)
        allowed[np.asarray(among, dtype=np.int64)] = True
    for i in range(0, users.size, SCORE_BATCH):
        sl = slice(i, i + SCORE_BATCH)
        scores = score_in_batches(model, users[sl], histories[sl])
        cand = ~history_mask(n_items, histories[sl])
        if allowed is not None:
            cand &= allowed
        ranks = target_ranks(scores, targets[sl], cand)
        out[f"HR@{k}"][sl] = hit_values(ranks, k)
        out[f"NDCG@{k}"][sl] = ndcg_values(ranks, k)
        out["MRR"][sl] = rr_values(ranks)
    return out


def _means(values: dict[str, FloatVector]) -> Metrics:
    return {name: float(np.mean(v)) if v.size else float("nan") for name, v in values.items()}


def single_target_metrics(
    model: Ranker,
    users: IntArray,
    histories: Sequence[IntArray],
    targets: IntArray,
    n_items: int,
    k: int = 10,
) -> Metrics:
    """HR@k, NDCG@k and MRR, ranking all items except each case's history."""
    return _means(single_target_values(model, users, histories, targets, n_items, k))


def validation_ndcg(model: Ranker, valid: ValidationSplit, n_items: int, k: int = 10) -> float:
    """NDCG@k on a validation split, the tuning objective, asking the question the
    protocol's test asks (as lmrec's own early stopping does): ranked like P1
    (history excluded, one relevant item a case), or with P3's split one question
    per user, its validation items relevant, ranked among the validation items
    (``valid.among``, ``valid.per_user``)."""
    if not valid.per_user:
        values = single_target_values(
            model, valid.users, valid.histories, valid.items, n_items, k, valid.among
        )
        return _means(values)[f"NDCG@{k}"]
    first, relevant = valid.user_cases()
    ndcg: list[FloatVector] = []
    for i in range(0, first.size, SCORE_BATCH):
        rows = first[i : i + SCORE_BATCH]
        scores = score_in_batches(model, valid.users[rows], [valid.histories[j] for j in rows])
        got = multi_relevant_values(
            scores, relevant[i : i + SCORE_BATCH], k, valid.candidate_mask(n_items, rows)
        )
        ndcg.append(got[f"NDCG@{k}"])
    return float(np.mean(np.concatenate(ndcg))) if ndcg else float("nan")


def _require(model: object, kind: type) -> None:
    if not isinstance(model, kind):
        raise InvalidInputError(f"model {model!r} does not implement {kind.__name__}")


# --------------------------------------------------------------------------- P1


def split_next_item(data: Interactions, seed: int = 42) -> list[Fold]:
    """P1: per user, last event = test, second-last = validation, the rest = train.

    Users with fewer than 3 events keep all their events in training and are
    not evaluated. ``seed`` is unused (the split is fully determined by time).
    """
    del seed
    seqs = user_sequences(data)
    users, test_rows, test_hist, rest = _hold_last(data, seqs, 3)
    # Only users with a test event get a validation event, so every evaluated
    # user keeps at least one training event.
    eligible = np.zeros(data.n_users, dtype=bool)
    eligible[users] = True
    v_users, v_rows, v_hist, train_seqs = _hold_last(
        data, [r if eligible[u] else r[:0] for u, r in enumerate(rest)], 2
    )
    train = np.concatenate([*train_seqs, *(r for u, r in enumerate(rest) if not eligible[u])])
    valid = _validation(data, v_users, v_rows, v_hist)
    test = RankingTest(
        users=np.asarray(users, dtype=np.int64),
        histories=test_hist,
        relevant=[data.item[[r]] for r in test_rows],
    )
    return [Fold(0, data.subset(np.sort(train)), valid, test)]


def split_nested_next_item(data: Interactions, seed: int = 42) -> list[Fold]:
    """P1 one event earlier, for deciding changes without reading P1's test events.

    Every user's P1 test event is removed, then P1's split is applied to what is
    left: its test cases are P1's validation events (scored with the training
    events as history, one of them never trained on, as P1's test cases are)
    and its validation events are each user's third-last. A change chosen on
    this split has not seen P1's test cases, which a change chosen by them
    would have (on ~940 cases, a few thousandths of NDCG@10 is case noise).
    """
    _, test_rows, _, _ = _hold_last(data, user_sequences(data), 3)
    keep = np.ones(len(data), dtype=bool)
    keep[np.asarray(test_rows, dtype=np.int64)] = False
    return split_next_item(data.subset(keep), seed)


def next_item_outcome(model: Ranker | RatingModel, fold: Fold) -> FoldOutcome:
    """P1 metrics with per-case values and history lengths (for the history-length chart)."""
    _require(model, Ranker)
    test = fold.test
    if not isinstance(test, RankingTest):
        raise InvalidInputError("P1 folds carry ranking tests")
    targets = np.asarray([r[0] for r in test.relevant], dtype=np.int64)
    values = single_target_values(
        model,  # type: ignore[arg-type]
        test.users,
        test.histories,
        targets,
        fold.train.n_items,
    )
    lengths = np.asarray([h.size for h in test.histories], dtype=np.int64)
    return FoldOutcome(_means(values), values, lengths)


def evaluate_next_item(model: Ranker | RatingModel, fold: Fold) -> Metrics:
    """P1 metrics: HR@10, NDCG@10, MRR over all items except the user's history."""
    return next_item_outcome(model, fold).metrics


# --------------------------------------------------------------------------- P2

N_FOLDS = 5
VALID_SHARE = 0.1


def split_rating(data: Interactions, seed: int = 42) -> list[Fold]:
    """P2: 5-fold random split of the rated events; 10% of each training part is validation.

    Rows are the events with a rating (``value`` not NaN). A permutation drawn
    with ``default_rng(seed)`` is cut into 5 near-equal folds
    (``np.array_split``). For fold ``f`` the test set is fold ``f``; from the
    other rows a share of ``VALID_SHARE`` drawn with ``default_rng([seed, f])``
    is the validation set, the rest is training.
    """
    rated = np.flatnonzero(~np.isnan(data.value))
    if rated.size < N_FOLDS:
        raise InvalidInputError("P2 needs at least 5 rated events")
    parts = np.array_split(np.random.default_rng(seed).permutation(rated), N_FOLDS)
    folds = []
    for f in range(N_FOLDS):
        rest = np.sort(np.concatenate([p for g, p in enumerate(parts) if g != f]))
        rng = np.random.default_rng([seed, f])
        n_valid = round(VALID_SHARE * rest.size)
        is_valid = np.zeros(rest.size, dtype=bool)
        is_valid[rng.choice(rest.size, size=n_valid, replace=False)] = True
        train_rows, valid_rows = rest[~is_valid], rest[is_valid]
        train = data.subset(train_rows)
        known = [train.item[train.user == u] for u in range(data.n_users)]
        vu = data.user[valid_rows]
        valid = ValidationSplit(
            users=vu,
            items=data.item[valid_rows],
            histories=[known[u] for u in vu],
            values=data.value[valid_rows].astype(np.float64),
        )
        test_rows = np.sort(parts[f])
        test = RatingTest(data.user[test_rows], data.item[test_rows], data.value[test_rows])
        folds.append(Fold(f, train, valid, test))
    return folds


def rating_outcome(model: Ranker | RatingModel, fold: Fold) -> FoldOutcome:
    """P2 metrics plus the predictions themselves (for the predicted-vs-actual chart)."""
    _require(model, RatingModel)
    test = fold.test
    if not isinstance(test, RatingTest):
        raise InvalidInputError("P2 folds carry rating tests")
    pred = np.asarray(model.predict(test.users, test.items), dtype=np.float64)  # type: ignore[union-attr]
    metrics = {"RMSE": rmse(pred, test.values), "MAE": mae(pred, test.values)}
    return FoldOutcome(metrics, predictions=pred)


def evaluate_rating(model: Ranker | RatingModel, fold: Fold) -> Metrics:
    """P2 metrics: RMSE and MAE of the predicted ratings on the test fold."""
    return rating_outcome(model, fold).metrics


# --------------------------------------------------------------------------- P3

COLD_SHARE = 0.2
COLD_MIN_EVENTS = 5


def choose_cold_items(data: Interactions, seed: int = 42) -> IntArray:
    """P3's held-out items: ``round(20%)`` of the items with >= 5 events, drawn with ``seed``."""
    counts = np.bincount(data.item, minlength=data.n_items)
    eligible = np.flatnonzero(counts >= COLD_MIN_EVENTS)
    n = round(COLD_SHARE * eligible.size)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(eligible, size=n, replace=False)).astype(np.int64)


def split_cold_items(data: Interactions, seed: int = 42) -> list[Fold]:
    """P3: hold out 20% of the items with >= 5 events and every event on them.

    Validation mimics the test: another ``round(20%)`` of the remaining items
    with >= 5 events, drawn with ``default_rng([seed, 1])``, also lose all their
    training events, and each (user, such item) pair is a validation case
    whose history is the user's training events. Training is every event on
    the other items. ``cold_items`` lists both sets (neither has training
    events). The test case of a user who interacted with held-out items ranks
    all held-out test items; relevant = the held-out items they interacted
    with; the history is all of the user's events on the other items (the
    validation items included), oldest first. Validation asks the same question
    of the validation items (``among`` = them, ``per_user``): one per user who
    had any, those relevant, ranked among the validation items only.
    """
    cold = choose_cold_items(data, seed)
    is_cold = np.zeros(data.n_items, dtype=bool)
    is_cold[cold] = True
    counts = np.bincount(data.item, minlength=data.n_items)
    rest = np.flatnonzero((counts >= COLD_MIN_EVENTS) & ~is_cold)
    vcold = np.sort(
        np.random.default_rng([seed, 1]).choice(
            rest, size=round(COLD_SHARE * rest.size), replace=False
        )
    ).astype(np.int64)
    is_vcold = np.zeros(data.n_items, dtype=bool)
    is_vcold[vcold] = True
    seen_rows = np.flatnonzero(~is_cold[data.item])
    train_rows = np.flatnonzero(~is_cold[data.item] & ~is_vcold[data.item])
    seen_seqs = user_sequences(data, seen_rows)
    train_seqs = user_sequences(data, train_rows)
    v_users: list[int] = []
    v_items: list[IntArray] = []
    v_hist: list[IntArray] = []
    users: list[int] = []
    relevant: list[IntArray] = []
    histories: list[IntArray] = []
    cold_rows = np.flatnonzero(is_cold[data.item])
    cold_by_user = [
        np.unique(data.item[cold_rows[data.user[cold_rows] == u]]) for u in range(data.n_users)
    ]
    for u in range(data.n_users):
        seen = data.item[seen_seqs[u]]
        hist = data.item[train_seqs[u]]
        for it in np.unique(seen[is_vcold[seen]]):
            v_users.append(u)
            v_items.append(np.asarray([it], dtype=np.int64))
            v_hist.append(hist)
        if cold_by_user[u].size:
            users.append(u)
            relevant.append(cold_by_user[u].astype(np.int64))
            histories.append(seen)
    vi = np.concatenate(v_items) if v_items else np.zeros(0, dtype=np.int64)
    all_cold = np.union1d(cold, vcold).astype(np.int64)
    valid = ValidationSplit(
        users=np.asarray(v_users, dtype=np.int64),
        items=vi,
        histories=v_hist,
        values=np.full(vi.size, np.nan),
        among=vcold,
        per_user=True,
    )
    test = RankingTest(np.asarray(users, dtype=np.int64), histories, relevant, is_cold)
    return [Fold(0, data.subset(train_rows), valid, test, cold_items=all_cold)]


def cold_items_outcome(model: Ranker | RatingModel, fold: Fold) -> FoldOutcome:
    """P3 metrics with per-case values."""
    _require(model, Ranker)
    test = fold.test
    if not isinstance(test, RankingTest) or test.candidates is None:
        raise InvalidInputError("P3 folds carry ranking tests with a candidate mask")
    scores = score_in_batches(model, test.users, test.histories)  # type: ignore[arg-type]
    values = multi_relevant_values(scores, test.relevant, 10, test.candidates)
    lengths = np.asarray([h.size for h in test.histories], dtype=np.int64)
    return FoldOutcome(_means(values), values, lengths)


def evaluate_cold_items(model: Ranker | RatingModel, fold: Fold) -> Metrics:
    """P3 metrics: Recall@10 and NDCG@10, ranking the held-out items only."""
    return cold_items_outcome(model, fold).metrics


# --------------------------------------------------------------------------- registry

PROTOCOLS: dict[str, Protocol] = {}


def register_protocol(protocol: Protocol) -> None:
    """Add (or replace) a protocol under its name."""
    PROTOCOLS[protocol.name] = protocol


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; raises NotFoundError listing the known ones."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise NotFoundError(
            f"unknown protocol {name!r}; known: {', '.join(sorted(PROTOCOLS))}"
        ) from None


register_protocol(
    Protocol(
        "P1",
        "next-item: leave-last-out, full ranking of unseen items",
        "ranker",
        ("NDCG@10", "HR@10", "MRR"),
        split_next_item,
        evaluate_next_item,
        outcome=next_item_outcome,
    )
)
register_protocol(
    Protocol(
        "P1-nested",
        "development split: P1 one event earlier, P1's test events never read",
        "ranker",
        ("NDCG@10", "HR@10", "MRR"),
        split_nested_next_item,
        evaluate_next_item,
        outcome=next_item_outcome,
    )
)
register_protocol(
    Protocol(
        "P2",
        "rating prediction: 5-fold random split of ratings",
        "rating",
        ("RMSE", "MAE"),
        split_rating,
        evaluate_rating,
        lower_is_better=frozenset({"RMSE", "MAE"}),
        outcome=rating_outcome,
    )
)
register_protocol(
    Protocol(
        "P3",
        "cold-start items: rank 20% held-out items never seen in training",
        "ranker",
        ("NDCG@10", "Recall@10"),
        split_cold_items,
        evaluate_cold_items,
        outcome=cold_items_outcome,
    )
)
