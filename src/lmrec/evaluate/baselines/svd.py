"""Biased matrix factorization (Funk SVD) via ``scikit-surprise``."""

from __future__ import annotations

from typing import Any

from lmrec.evaluate.base import RatingModel
from lmrec.evaluate.baselines._common import RatingSearch
from lmrec.evaluate.baselines._surprise import SurpriseModel


def build(**params: Any) -> RatingModel:
    """An unfitted ``surprise.SVD`` with these hyper-parameters."""
    return SurpriseModel("SVD", **params)


def make(quick: bool = False) -> RatingModel:
    """SVD tuned over factors, regularization and epochs."""
    if quick:
        space: dict[str, list[Any]] = {"n_factors": [8], "n_epochs": [5]}
    else:
        space = {"n_factors": [50, 100], "reg_all": [0.02, 0.05, 0.1], "n_epochs": [20, 40]}
    return RatingSearch("svd", build, space)
