"""Item-item collaborative filtering with cosine similarity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lmrec.evaluate.base import FitContext, FloatMatrix, Ranker
from lmrec.evaluate.baselines._common import RankerSearch, history_matrix, user_item_matrix
from lmrec.interactions import IntArray, Interactions


class ItemKNN:
    """Score(i) = sum over history items j of sim(j, i), keeping each item's ``k`` nearest.

    Args:
        k: Neighbours kept per item (None keeps all).
        shrink: Added to the cosine denominator; damps similarities built on few users.
    """

    name = "itemknn"

    def __init__(self, k: int | None = 100, shrink: float = 0.0) -> None:
        self.k = k
        self.shrink = shrink
        self._sim = np.zeros((0, 0), dtype=np.float32)

    def fit(self, train: Interactions, ctx: FitContext) -> None:
        x = user_item_matrix(train)
        co = np.asarray((x.T @ x).todense(), dtype=np.float32)
        norm = np.sqrt(np.diag(co))
        sim = co / (np.outer(norm, norm) + self.shrink + 1e-9)
        np.fill_diagonal(sim, 0.0)
        if self.k is not None and self.k < sim.shape[0]:
            # keep, for each source item (row), its k most similar targets
            drop = np.argpartition(-sim, self.k, axis=1)[:, self.k :]
            np.put_along_axis(sim, drop, 0.0, axis=1)
        self._sim = sim.astype(np.float32)

    def score(self, users: IntArray, histories: Sequence[IntArray]) -> FloatMatrix:
        h = history_matrix(histories, self._sim.shape[0])
        return np.asarray(h @ self._sim, dtype=np.float32)


def make(quick: bool = False) -> Ranker:
    """ItemKNN tuned over neighbourhood size and shrinkage."""
    space: dict[str, list[Any]] = (
        {"k": [50]} if quick else {"k": [20, 50, 200], "shrink": [0.0, 10.0]}
    )
    return RankerSearch("itemknn", ItemKNN, space)
