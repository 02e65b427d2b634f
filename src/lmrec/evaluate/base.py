"""What the evaluation harness asks of a model: the ``Ranker`` and ``RatingModel`` seams.

Baselines and lmrec's own model implement these so every protocol can run
every model the same way. Models see dense indices only (see
:mod:`lmrec.interactions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from lmrec.errors import InvalidInputError
from lmrec.interactions import IntArray, Interactions

FloatMatrix = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ValidationSplit:
    """Held-out events a model may use for tuning and early stopping.

    Attributes:
        users: User index of each validation case.
        items: The held-out item of each case (the one to rank high).
        histories: For each case, the user's item indices known before it, oldest first.
        values: The held-out rating of each case (NaN where the protocol has none).
        among: The only items a case is ranked among (besides its history, which never
            is), where the protocol ranks its test cases among a set too: P3 ranks its
            test items among themselves, so its validation cases rank among the
            validation items. ``None``: all items.
        per_user: Score the cases of one user as one case with several relevant items,
            each user counting once, as P3's test does (:meth:`user_cases`). The
            cases of one user must share one history. ``False``: every case is one
            question with one relevant item, as P1's are.
    """

    users: IntArray
    items: IntArray
    histories: Sequence[IntArray]
    values: npt.NDArray[np.float64]
    among: IntArray | None = None
    per_user: bool = False

    def user_cases(self) -> tuple[IntArray, list[IntArray]]:
        """The questions the metric asks: for each, the index of its first case (whose
        user and history it has) and its relevant items. One per case, or with
        :attr:`per_user` one per user, its relevant items all of that user's held-out
        items."""
        if not self.per_user:
            return np.arange(len(self.users), dtype=np.int64), [
                np.asarray([it], dtype=np.int64) for it in self.items
            ]
        first: dict[int, int] = {}
        relevant: dict[int, list[int]] = {}
        for j, (u, it) in enumerate(zip(self.users.tolist(), self.items.tolist(), strict=True)):
            if u not in first:
                first[u], relevant[u] = j, []
            elif not np.array_equal(self.histories[j], self.histories[first[u]]):
                raise InvalidInputError(
                    f"per-user validation: user {u}'s cases have different histories"
                )
            relevant[u].append(it)
        return np.asarray(list(first.values()), dtype=np.int64), [
            np.unique(np.asarray(relevant[u], dtype=np.int64)) for u in first
        ]

    def candidate_mask(self, n_items: int, rows: IntArray) -> npt.NDArray[np.bool_]:
        """``(len(rows), n_items)``: the items each of these cases is ranked among
        (:attr:`among`, or all items), less its history."""
        mask = np.ones((len(rows), n_items), dtype=bool)
        if self.among is not None and len(self.among):
            mask[:] = False
            mask[:, np.asarray(self.among, dtype=np.int64)] = True
        for r, j in enumerate(np.asarray(rows, dtype=np.int64)):
            mask[r, np.asarray(self.histories[j], dtype=np.int64)] = False
        return mask


@dataclass(frozen=True)
class FitContext:
    """What a model may use besides the training rows.

    Attributes:
        item_vectors: Language-model vector of each item's text, ``(n_items, d)``, L2-normalized.
        user_vectors: Language-model vector of each user's profile text, ``(n_users, d)``
            (zero rows for users without profile text).
        valid: Held-out cases for tuning (never test cases).
        seed: Seed every random choice must derive from.
        cold_items: Item indices that have no training events by design (protocol P3);
            a model must not learn ID parameters for them.
    """

    item_vectors: FloatMatrix
    user_vectors: FloatMatrix
    valid: ValidationSplit | None
    seed: int = 42
    cold_items: IntArray | None = None


@runtime_checkable
class Ranker(Protocol):
    """A top-N recommender scored by full ranking over all items."""

    name: str

    def fit(self, train: Interactions, ctx: FitContext) -> None:
        """Learn from ``train``; tune hyper-parameters on ``ctx.valid`` only."""
        ...

    def score(self, users: IntArray, histories: Sequence[IntArray]) -> FloatMatrix:
        """Scores ``(len(users), n_items)``, higher is better.

        ``histories[j]`` holds the item indices user ``users[j]`` interacted with
        before the moment of prediction, oldest first (for a sequential model this
        can include events revealed after training, e.g. the validation item).
        """
        ...


@runtime_checkable
class CandidateRanker(Protocol):
    """A ranker that orders a given candidate set its own way (a two-stage model
    re-ranks its best candidates within the set, as its search does).

    Protocols that rank within a candidate set (P4) use :meth:`score_among` when a
    model has it and :meth:`Ranker.score` restricted to the set otherwise.
    """

    def score_among(
        self,
        users: IntArray,
        histories: Sequence[IntArray],
        candidates: npt.NDArray[np.bool_],
    ) -> FloatMatrix:
        """Scores ``(len(users), n_items)``; only the ``candidates`` columns are read."""
        ...


@runtime_checkable
class RatingModel(Protocol):
    """An explicit-rating predictor."""

    name: str

    def fit(self, train: Interactions, ctx: FitContext) -> None: ...

    def predict(self, users: IntArray, items: IntArray) -> npt.NDArray[np.float64]:
        """Predicted rating for each (user, item) pair."""
        ...
