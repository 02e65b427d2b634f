"""Content kNN over language-model item vectors: needs no interactions on the item."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lmrec.evaluate.base import FitContext, FloatMatrix, Ranker
from lmrec.evaluate.baselines._common import RankerSearch
from lmrec.interactions import IntArray, Interactions


class ContentKNN:
    """Score = cosine(mean of the user's history item vectors, item vector).

    This is the baseline for cold items (P3): a held-out item is scored from
    its text alone, like any other.

    Args:
        recent: Use only the last ``recent`` history items (None: all).
    """

    name = "content_knn"

    def __init__(self, recent: int | None = None) -> None:
        self.recent = recent
        self._vecs = np.zeros((0, 0), dtype=np.float32)

    def fit(self, train: Interactions, ctx: FitContext) -> None:
        v = np.asarray(ctx.item_vectors, dtype=np.float32)
        norm = np.linalg.norm(v, axis=1, keepdims=True)
        self._vecs = v / np.maximum(norm, 1e-12)

    def score(self, users: IntArray, histories: Sequence[IntArray]) -> FloatMatrix:
        prof = np.zeros((len(histories), self._vecs.shape[1]), dtype=np.float32)
        for j, h in enumerate(histories):
            if h.size:
                hh = h if self.recent is None else h[-self.recent :]
                prof[j] = self._vecs[hh].mean(axis=0)
        prof /= np.maximum(np.linalg.norm(prof, axis=1, keepdims=True), 1e-12)
        return np.asarray(prof @ self._vecs.T, dtype=np.float32)


def make(quick: bool = False) -> Ranker:
    """Content kNN tuned over the profile window."""
    space = {"recent": [None] if quick else [None, 10, 50]}
    return RankerSearch("content_knn", ContentKNN, space)
