"""Biased baseline: global mean + user bias + item bias, L2-regularized."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lmrec.evaluate.base import FitContext, RatingModel
from lmrec.evaluate.baselines._common import RatingSearch
from lmrec.interactions import IntArray, Interactions


class BiasedBaseline:
    """``r = mu + b_u + b_i``, fitted by alternating ridge updates.

    Each sweep sets ``b_i = sum(r - mu - b_u) / (reg_item + n_i)`` then
    ``b_u = sum(r - mu - b_i) / (reg_user + n_u)``; unknown users or items get 0.

    Args:
        reg_user: Shrinkage of user biases toward 0.
        reg_item: Shrinkage of item biases toward 0.
        sweeps: Alternating updates.
    """

    name = "biased"

    def __init__(self, reg_user: float = 10.0, reg_item: float = 10.0, sweeps: int = 10) -> None:
        self.reg_user, self.reg_item, self.sweeps = reg_user, reg_item, sweeps
        self._mu = 0.0
        self._bu = np.zeros(0)
        self._bi = np.zeros(0)

    def fit(self, train: Interactions, ctx: FitContext) -> None:
        ok = ~np.isnan(train.value)
        u, i, r = train.user[ok], train.item[ok], train.value[ok]
        self._mu = float(r.mean()) if r.size else 0.0
        nu = np.bincount(u, minlength=train.n_users)
        ni = np.bincount(i, minlength=train.n_items)
        bu, bi = np.zeros(train.n_users), np.zeros(train.n_items)
        for _ in range(self.sweeps):
            bi = np.bincount(i, r - self._mu - bu[u], train.n_items) / (self.reg_item + ni)
            bu = np.bincount(u, r - self._mu - bi[i], train.n_users) / (self.reg_user + nu)
        self._bu, self._bi = bu, bi

    def predict(self, users: IntArray, items: IntArray) -> npt.NDArray[np.float64]:
        return np.asarray(self._mu + self._bu[users] + self._bi[items], dtype=np.float64)


def make(quick: bool = False) -> RatingModel:
    """Biased baseline tuned over the two shrinkage strengths."""
    space = (
        {"reg_user": [10.0]}
        if quick
        else {"reg_user": [2.0, 5.0, 10.0, 20.0], "reg_item": [2.0, 5.0, 10.0, 20.0]}
    )
    return RatingSearch("biased", BiasedBaseline, space)
