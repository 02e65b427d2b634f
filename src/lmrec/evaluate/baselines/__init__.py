"""Built-in baselines, one module each; ``make(quick)`` builds a tuned model.

Rankers (protocols P1, P3): ``random``, ``popularity``, ``itemknn``, ``ease``,
``als``, ``bpr``, ``sasrec``, ``content_knn``. Rating models (P2):
``global_mean``, ``biased``, ``svd``, ``svd++``.
"""

from __future__ import annotations

from collections.abc import Callable

from lmrec.evaluate.base import Ranker, RatingModel
from lmrec.evaluate.baselines import (
    als,
    biased,
    bpr,
    content_knn,
    ease,
    global_mean,
    itemknn,
    popularity,
    random_ranker,
    sasrec,
    svd,
    svdpp,
)

RANKERS: dict[str, Callable[[bool], Ranker]] = {
    "random": random_ranker.make,
    "popularity": popularity.make,
    "itemknn": itemknn.make,
    "ease": ease.make,
    "als": als.make,
    "bpr": bpr.make,
    "sasrec": sasrec.make,
    "content_knn": content_knn.make,
}

RATING_MODELS: dict[str, Callable[[bool], RatingModel]] = {
    "global_mean": global_mean.make,
    "biased": biased.make,
    "svd": svd.make,
    "svd++": svdpp.make,
}

__all__ = ["RANKERS", "RATING_MODELS"]
