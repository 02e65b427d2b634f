"""Most-popular items, optionally with recent events counting more."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lmrec.evaluate.base import FitContext, FloatMatrix, Ranker
from lmrec.evaluate.baselines._common import RankerSearch
from lmrec.interactions import IntArray, Interactions

DAY = 86_400.0


class Popularity:
    """Score = number of training events on the item, each decayed by its age.

    Args:
        half_life_days: An event this many days older than the newest training
            event counts half; None counts all events equally.
    """

    name = "popularity"

    def __init__(self, half_life_days: float | None = None) -> None:
        self.half_life_days = half_life_days
        self._scores = np.zeros(0, dtype=np.float32)

    def fit(self, train: Interactions, ctx: FitContext) -> None:
        w = np.ones(len(train))
        if self.half_life_days is not None and len(train):
            age = (float(train.ts.max()) - train.ts) / DAY
            w = 0.5 ** (age / self.half_life_days)
        self._scores = np.bincount(train.item, weights=w, minlength=train.n_items).astype(
            np.float32
        )

    def score(self, users: IntArray, histories: Sequence[IntArray]) -> FloatMatrix:
        return np.broadcast_to(self._scores, (users.size, self._scores.size)).copy()


def make(quick: bool = False) -> Ranker:
    """Popularity tuned over the recency half-life."""
    space = {"half_life_days": [None] if quick else [None, 30.0, 180.0]}
    return RankerSearch("popularity", Popularity, space)
