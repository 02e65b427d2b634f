"""Bayesian personalized ranking (Rendle et al. 2009) via the ``implicit`` library."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lmrec.evaluate.base import FitContext, FloatMatrix, Ranker
from lmrec.evaluate.baselines._common import RankerSearch, user_item_matrix
from lmrec.evaluate.baselines._implicit import THREADS, require_implicit, single_threaded_blas
from lmrec.interactions import IntArray, Interactions


class BPR:
    """Pairwise matrix factorization scored with the learned user factors.

    BPR has no closed-form user update, so events revealed after training
    (P1's validation item) only act through history exclusion.

    Args:
        factors: Latent dimension.
        learning_rate: SGD step.
        regularization: L2 penalty.
        iterations: Epochs.
    """

    name = "bpr"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
    ) -> None:
        require_implicit()
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self._uf = np.zeros((0, 0), dtype=np.float32)
        self._if = np.zeros((0, 0), dtype=np.float32)

    def fit(self, train: Interactions, ctx: FitContext) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        with single_threaded_blas():
            model = BayesianPersonalizedRanking(
                factors=self.factors,
                learning_rate=self.learning_rate,
                regularization=self.regularization,
                iterations=self.iterations,
                num_threads=THREADS,
                random_state=ctx.seed,
            )
            model.fit(user_item_matrix(train), show_progress=False)
        self._uf = np.asarray(model.user_factors, dtype=np.float32)
        self._if = np.asarray(model.item_factors, dtype=np.float32)

    def score(self, users: IntArray, histories: Sequence[IntArray]) -> FloatMatrix:
        return np.asarray(self._uf[users] @ self._if.T, dtype=np.float32)


def make(quick: bool = False) -> Ranker:
    """BPR tuned over factors, learning rate and regularization."""
    if quick:
        space: dict[str, list[float]] = {"factors": [16], "iterations": [5]}
    else:
        space = {
            "factors": [64],
            "learning_rate": [0.01, 0.05],
            "regularization": [0.001, 0.01],
            "iterations": [200],
        }
    return RankerSearch("bpr", BPR, space)
