"""Glue for ``scikit-surprise`` rating models (SVD, SVD++)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from lmrec.errors import MissingExtraError
from lmrec.evaluate.base import FitContext
from lmrec.interactions import IntArray, Interactions


class SurpriseModel:
    """Wraps a surprise algorithm class; raw ids are the dense indices.

    Args:
        algo: ``"SVD"`` or ``"SVDpp"``.
        rating_scale: Lowest and highest rating (predictions are clipped to it).
        **params: Passed to the algorithm.
    """

    def __init__(self, algo: str, rating_scale: tuple[float, float] | None = None, **params: Any):
        try:
            import surprise
        except ImportError as exc:
            raise MissingExtraError("scikit-surprise", "eval") from exc
        self.name = algo.lower()
        self._cls = getattr(surprise, algo)
        self._params = params
        self._scale = rating_scale
        self._algo: Any = None

    def fit(self, train: Interactions, ctx: FitContext) -> None:
        import pandas as pd
        from surprise import Dataset, Reader

        ok = ~np.isnan(train.value)
        r = train.value[ok]
        scale = self._scale or (float(r.min()), float(r.max()))
        df = pd.DataFrame({"u": train.user[ok], "i": train.item[ok], "r": r})
        trainset = Dataset.load_from_df(df, Reader(rating_scale=scale)).build_full_trainset()
        algo = self._cls(random_state=ctx.seed, **self._params)
        algo.fit(trainset)
        self._algo = algo

    def predict(self, users: IntArray, items: IntArray) -> npt.NDArray[np.float64]:
        a = self._algo
        if a is None:
            raise RuntimeError(f"{self.name}: predict() before fit()")
        return np.fromiter(
            (a.predict(int(u), int(i)).est for u, i in zip(users, items, strict=True)),
            dtype=np.float64,
            count=len(users),
        )
