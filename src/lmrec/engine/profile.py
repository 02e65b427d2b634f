"""The content-path user profile: a recency-weighted mean of the vectors of items they touched.

Used until a trained model exists (and as the cold-start fallback after). Each
event contributes its item's vector times the event kind's weight (negative for
``dislike`` and ``skip``; ``rate`` scaled by how far the rating is from the
midpoint) times a recency decay that halves every ``recency_half_life`` events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from lmrec.schema import Event, EventKind
from lmrec.settings import Settings

Vector = npt.NDArray[np.float32]


def event_weight(event: Event, settings: Settings) -> float:
    """Signed interest an event expresses about its item (or query)."""
    w = settings.event_weights.get(event.kind.value, 0.0)
    if event.kind is EventKind.RATE and event.value is not None:
        span = max(settings.rating_max - settings.rating_midpoint, 1e-9)
        return w * (event.value - settings.rating_midpoint) / span
    return w


def profile_vector(
    events: Sequence[Event],
    vector_of: Callable[[Event], Vector | None],
    settings: Settings,
) -> Vector | None:
    """Weighted, recency-decayed mean of event vectors; None if nothing usable.

    Args:
        events: The user's events, oldest first.
        vector_of: Vector for an event (its item's vector, or its query's), None to skip.
        settings: Event weights and the recency half-life.
    """
    acc: Vector | None = None
    decay = 0.5 ** (1.0 / settings.recency_half_life)
    usable = [(e, v) for e in events if (v := vector_of(e)) is not None]
    n = len(usable)
    for age, (e, v) in enumerate(reversed(usable)):
        w = event_weight(e, settings) * decay**age
        if w == 0.0:
            continue
        acc = v * w if acc is None else acc + v * w
    if acc is None or n == 0:
        return None
    norm = float(np.linalg.norm(acc))
    if norm < 1e-6:
        return None
    return (acc / norm).astype(np.float32)
