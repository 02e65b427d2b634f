"""Shared pieces of the baselines: sparse matrices, grid search, validation merge.

Every baseline is tuned the same way: fit one model per configuration of a
small grid on the training rows, score the validation split, keep the best.
Keeping this in one place keeps the comparison fair.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lmrec.evaluate.base import FitContext, FloatMatrix, Ranker, RatingModel
from lmrec.evaluate.metrics import rmse
from lmrec.interactions import IntArray, Interactions

if TYPE_CHECKING:  # scipy comes with the ``eval`` extra; imported where used
    import scipy.sparse as sp

log = logging.getLogger(__name__)

Params = dict[str, Any]


def grid(space: Mapping[str, Sequence[Any]]) -> list[Params]:
    """Every combination of the values in ``space`` (in a fixed order)."""
    keys = list(space)
    return [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*space.values())]


def user_item_matrix(data: Interactions, binary: bool = True) -> sp.csr_matrix:
    """``(n_users, n_items)`` CSR of the training events (1 per distinct pair if binary)."""
    import scipy.sparse as sp

    vals = np.ones(len(data), dtype=np.float32)
    m = sp.csr_matrix((vals, (data.user, data.item)), shape=(data.n_users, data.n_items))
    m.sum_duplicates()
    if binary:
        m.data[:] = 1.0
    return m


def history_matrix(histories: Sequence[IntArray], n_items: int) -> sp.csr_matrix:
    """``(len(histories), n_items)`` binary CSR with one row per history."""
    import scipy.sparse as sp

    indptr = np.zeros(len(histories) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([h.size for h in histories])
    idx = np.concatenate(histories) if histories else np.zeros(0, dtype=np.int64)
    m = sp.csr_matrix(
        (np.ones(idx.size, dtype=np.float32), idx, indptr), shape=(len(histories), n_items)
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


class RankerSearch:
    """A ``Ranker`` that fits one model per grid point and keeps the best on validation.

    The objective is NDCG@10 on ``ctx.valid`` asking the protocol's question
    (:func:`~lmrec.evaluate.protocols.validation_ndcg`): ranked like P1 (all items
    except the history), or like P3's test, per user among the validation items.
    Without a validation split the first grid point is used.

    Args:
        name: Name shown in reports.
        build: Makes an unfitted model from one grid point.
        space: Values to try per hyper-parameter.
    """

    def __init__(
        self, name: str, build: Callable[..., Ranker], space: Mapping[str, Sequence[Any]]
    ) -> None:
        self.name = name
        self._build = build
        self._grid = grid(space)
        self._best: Ranker | None = None
        self.params: Params = {}
        self.valid_score: float = float("nan")

    def fit(self, train: Interactions, ctx: FitContext) -> None:
        from lmrec.evaluate.protocols import validation_ndcg

        best: tuple[float, Ranker, Params] | None = None
        for params in self._grid if ctx.valid is not None else self._grid[:1]:
            model = self._build(**params)
            model.fit(train, ctx)
            if ctx.valid is None or len(self._grid) == 1:
                score = (
                    float("nan")
                    if ctx.valid is None
                    else validation_ndcg(model, ctx.valid, train.n_items)
                )
                best = (score, model, params)
                break
            score = validation_ndcg(model, ctx.valid, train.n_items)
            log.info("%s %s valid NDCG@10 %.4f", self.name, params, score)
            if best is None or score > best[0]:
                best = (score, model, params)
        if best is None:  # empty grid
            raise ValueError(f"{self.name}: empty hyper-parameter grid")
        self.valid_score, self._best, self.params = best

    def score(self, users: IntArray, histories: Sequence[IntArray]) -> FloatMatrix:
        if self._best is None:
            raise RuntimeError(f"{self.name}: score() before fit()")
        return self._best.score(users, histories)


def merge_validation(train: Interactions, ctx: FitContext) -> Interactions:
    """Training rows plus the validation cases as extra rows (ratings kept).

    Rating models tune on the validation split, then refit on both so the
    final model sees as much data as any other protocol implementation would.
    """
    v = ctx.valid
    if v is None or v.users.size == 0:
        return train
    n = v.users.size
    last = float(np.nanmax(train.ts)) if len(train) else 0.0
    return Interactions(
        train.users,
        train.items,
        np.concatenate([train.user, v.users]),
        np.concatenate([train.item, v.items]),
        np.concatenate([train.value, v.values]),
        np.concatenate([train.weight, np.ones(n)]),
        np.concatenate([train.ts, np.full(n, last)]),
        train.item_texts,
        train.item_categories,
        train.user_texts,
    )


class RatingSearch:
    """A ``RatingModel`` tuned by validation RMSE, then refit on train + validation.

    Args:
        name: Name shown in reports.
        build: Makes an unfitted model from one grid point.
        space: Values to try per hyper-parameter.
    """

    def __init__(
        self, name: str, build: Callable[..., RatingModel], space: Mapping[str, Sequence[Any]]
    ) -> None:
        self.name = name
        self._build = build
        self._grid = grid(space)
        self._best: RatingModel | None = None
        self.params: Params = {}
        self.valid_score: float = float("nan")

    def fit(self, train: Interactions, ctx: FitContext) -> None:
        v = ctx.valid
        if v is None or len(self._grid) == 1:
            self.params = self._grid[0]
        else:
            scored = []
            for params in self._grid:
                model = self._build(**params)
                model.fit(train, ctx)
                err = rmse(model.predict(v.users, v.items), v.values)
                log.info("%s %s valid RMSE %.4f", self.name, params, err)
                scored.append((err, params))
            self.valid_score, self.params = min(scored, key=lambda t: t[0])
        final = self._build(**self.params)
        final.fit(merge_validation(train, ctx), ctx)
        self._best = final

    def predict(self, users: IntArray, items: IntArray) -> npt.NDArray[np.float64]:
        if self._best is None:
            raise RuntimeError(f"{self.name}: predict() before fit()")
        return self._best.predict(users, items)


def rng_for(ctx: FitContext, *salt: int) -> np.random.Generator:
    """A generator derived from the run seed (and a per-use salt)."""
    return np.random.default_rng([ctx.seed, *salt])


__all__ = [
    "Params",
    "RankerSearch",
    "RatingSearch",
    "grid",
    "history_matrix",
    "merge_validation",
    "rng_for",
    "user_item_matrix",
]
