"""EASE: a closed-form linear item-item autoencoder (Steck, WWW 2019)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lmrec.evaluate.base import FitContext, FloatMatrix, Ranker
from lmrec.evaluate.baselines._common import RankerSearch, history_matrix, user_item_matrix
from lmrec.interactions import IntArray, Interactions


class EASE:
    """``B = I - P diag(1/diag(P))`` with ``P = (X^T X + lambda I)^-1``, zero diagonal.

    Args:
        l2: The ridge penalty ``lambda``.
    """

    name = "ease"

    def __init__(self, l2: float = 500.0) -> None:
        self.l2 = l2
        self._b = np.zeros((0, 0), dtype=np.float32)

    def fit(self, train: Interactions, ctx: FitContext) -> None:
        x = user_item_matrix(train)
        g = np.asarray((x.T @ x).todense(), dtype=np.float64)
        g[np.diag_indices_from(g)] += self.l2
        p = np.linalg.inv(g)
        b = -p / np.diag(p)
        np.fill_diagonal(b, 0.0)
        self._b = b.astype(np.float32)

    def score(self, users: IntArray, histories: Sequence[IntArray]) -> FloatMatrix:
        h = history_matrix(histories, self._b.shape[0])
        return np.asarray(h @ self._b, dtype=np.float32)


def make(quick: bool = False) -> Ranker:
    """EASE tuned over the L2 penalty."""
    space = {"l2": [100.0] if quick else [10.0, 30.0, 100.0, 300.0, 1000.0]}
    return RankerSearch("ease", EASE, space)
