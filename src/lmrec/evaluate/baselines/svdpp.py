"""SVD++ (Koren 2008): factorization with implicit feedback, via ``scikit-surprise``."""

from __future__ import annotations

from typing import Any

from lmrec.evaluate.base import RatingModel
from lmrec.evaluate.baselines._common import RatingSearch
from lmrec.evaluate.baselines._surprise import SurpriseModel


def build(**params: Any) -> RatingModel:
    """An unfitted ``surprise.SVDpp`` with these hyper-parameters (ratings cached for speed)."""
    return SurpriseModel("SVDpp", cache_ratings=True, **params)


def make(quick: bool = False) -> RatingModel:
    """SVD++ tuned over regularization (it is slow: about 10 s a fit on ML-100K)."""
    if quick:
        space: dict[str, list[Any]] = {"n_factors": [4], "n_epochs": [3]}
    else:
        space = {"reg_all": [0.02, 0.05]}
    return RatingSearch("svd++", build, space)
