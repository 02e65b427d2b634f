"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008) via the ``implicit`` library."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lmrec.evaluate.base import FitContext, FloatMatrix, Ranker
from lmrec.evaluate.baselines._common import RankerSearch, history_matrix, user_item_matrix
from lmrec.evaluate.baselines._implicit import THREADS, require_implicit, single_threaded_blas
from lmrec.interactions import IntArray, Interactions


class ALS:
    """Weighted matrix factorization; user factors are re-solved from the given history.

    Re-solving (one least-squares step against the fixed item factors) lets the
    model use events revealed after training, such as P1's validation item,
    exactly as the history-based baselines do.

    Args:
        factors: Latent dimension.
        regularization: L2 penalty.
        alpha: Confidence scaling of observed events.
        iterations: Alternating sweeps.
    """

    name = "als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 1.0,
        iterations: int = 15,
    ) -> None:
        require_implicit()
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self._model: object = None
        self._n_items = 0

    def fit(self, train: Interactions, ctx: FitContext) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        with single_threaded_blas():
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                num_threads=THREADS,
                random_state=ctx.seed,
            )
            model.fit(user_item_matrix(train), show_progress=False)
        self._model = model
        self._n_items = train.n_items

    def score(self, users: IntArray, histories: Sequence[IntArray]) -> FloatMatrix:
        m = self._model
        if m is None:
            raise RuntimeError("als: score() before fit()")
        h = history_matrix(histories, self._n_items)
        uf = m.recalculate_user(np.arange(len(histories)), h)  # type: ignore[attr-defined]
        return np.asarray(uf @ m.item_factors.T, dtype=np.float32)  # type: ignore[attr-defined]


def make(quick: bool = False) -> Ranker:
    """ALS tuned over factors, regularization and confidence."""
    if quick:
        space: dict[str, list[float]] = {"factors": [16], "iterations": [3]}
    else:
        space = {"factors": [32, 64], "regularization": [0.01, 0.1], "alpha": [1.0, 5.0]}
    return RankerSearch("als", ALS, space)
