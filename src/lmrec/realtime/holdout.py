"""Judging a candidate model against the serving one on recent behaviour.

The holdout is each recently active user's latest event: both models see the
user's events before it (as they would when serving) and rank the whole active
catalog except what the user already had; the better NDCG@10 wins. Both are
scored through :class:`lmrec.engine.serving.ModelServing`, the exact code that
serves requests, so new items and new users are judged as they will be served.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lmrec.engine.serving import ModelServing
from lmrec.schema import Event

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class HoldoutCase:
    """One user's latest event (the target) and everything they did before it."""

    user: str
    before: Sequence[Event]
    target: str


def ndcg_at_10(
    serving: ModelServing,
    cases: Sequence[HoldoutCase],
    text_vector_of: Callable[[Event], Vector | None],
    profile_of: Callable[[str], Vector | None],
) -> float:
    """Mean NDCG@10 of the held-out item over ``cases`` (0 for an unranked target)."""
    if not cases:
        return 0.0
    total = 0.0
    for case in cases:
        history = serving.history(case.before, text_vector_of)
        vec = serving.user_vector(case.user, history, profile_of(case.user))
        if vec is None or case.target not in serving.index:
            continue
        seen = {e.item for e in case.before if e.item is not None}
        seen.discard(case.target)
        hits = serving.index.search(vec, 10, exclude=seen)
        for rank, (item_id, _) in enumerate(hits):
            if item_id == case.target:
                total += 1.0 / math.log2(rank + 2)
                break
    return total / len(cases)
