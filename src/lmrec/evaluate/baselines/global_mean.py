"""Predict the mean training rating for every pair: the rating floor."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lmrec.evaluate.base import FitContext, RatingModel
from lmrec.evaluate.baselines._common import merge_validation
from lmrec.interactions import IntArray, Interactions


class GlobalMean:
    """One number for everyone; trained on train + validation (nothing to tune)."""

    name = "global_mean"

    def __init__(self) -> None:
        self._mu = 0.0

    def fit(self, train: Interactions, ctx: FitContext) -> None:
        v = merge_validation(train, ctx).value
        self._mu = float(np.nanmean(v)) if np.any(~np.isnan(v)) else 0.0

    def predict(self, users: IntArray, items: IntArray) -> npt.NDArray[np.float64]:
        return np.full(users.shape, self._mu, dtype=np.float64)


def make(quick: bool = False) -> RatingModel:
    """The global-mean baseline."""
    del quick
    return GlobalMean()
