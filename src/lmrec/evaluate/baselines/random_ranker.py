"""Uniform random scores: the floor every model must clear."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lmrec.evaluate.base import FitContext, FloatMatrix, Ranker
from lmrec.interactions import IntArray, Interactions


class RandomRanker:
    """Scores drawn uniformly at random, fixed per (seed, user) so reruns agree.

    Nothing to tune: it is the reference level a model with no signal reaches.
    """

    name = "random"

    def __init__(self) -> None:
        self._n_items = 0
        self._seed = 42

    def fit(self, train: Interactions, ctx: FitContext) -> None:
        self._n_items = train.n_items
        self._seed = ctx.seed

    def score(self, users: IntArray, histories: Sequence[IntArray]) -> FloatMatrix:
        out = np.empty((users.size, self._n_items), dtype=np.float32)
        for j, u in enumerate(users):
            out[j] = np.random.default_rng([self._seed, int(u)]).random(self._n_items)
        return out


def make(quick: bool = False) -> Ranker:
    """The random baseline (``quick`` changes nothing)."""
    del quick
    return RandomRanker()
