"""What one user's next request needs, computed once and reused until something it read changes.

A recommendation reads the user's whole event list (for exclusions and
negative feedback) and runs the user tower over the recent part of it: most
of a request's CPU time. Between two events of the same user the answer to
both is the same, so the engine keeps a :class:`UserState` per user and reuses
it while its :class:`Stamp` still matches what the store says now.

The stamp holds only things read from the store (or derived from it) at
request time: the user's newest event sequence number, their profile text,
the catalog version and the model version. Nothing expires by time, and a
process never trusts another process's cache: every worker re-reads the stamp
from the shared store on every request, so an event acknowledged by any
worker changes the stamp and is reflected by the very next request anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from lmrec.engine.lru import LruCache
from lmrec.index import VectorIndex
from lmrec.model.cooccurrence import MixScale

Vector = npt.NDArray[np.float32]

#: Users whose state is kept per process (least recently used ones are dropped).
DEFAULT_CAPACITY = 10_000


@dataclass(frozen=True, slots=True)
class Stamp:
    """The versions of everything a :class:`UserState` was computed from.

    Sequence numbers are never reused (deleting a user's events leaves the
    high-water mark in place), so an equal ``last_seq`` means the same events.
    """

    model: str | None
    """Model version that computed the vector (None: the content profile)."""
    catalog: int
    """Catalog version the item vectors were read at."""
    last_seq: int
    """Sequence number of the user's newest event (0: none)."""
    profile: str
    """The user's profile text (empty: none)."""


@dataclass(frozen=True, slots=True)
class UserState:
    """One user's serving inputs, derived from their events at one stamp."""

    stamp: Stamp
    consumed: frozenset[str]
    """Items never to recommend back (empty unless ``exclude_consumed``)."""
    negatives: tuple[str, ...]
    """Items recently disliked or skipped, most recent last."""
    personal: tuple[VectorIndex, Vector] | None
    """The index to score against and the user's vector in its space (None: cold start)."""
    history: npt.NDArray[np.int64] | None = None
    """The events the model read, as its item indices, oldest first (``-1``: an item
    it does not know); the second stage scores candidates against them. None
    without a trained model."""
    feed: dict[int, tuple[tuple[str, ...], npt.NDArray[np.float64]]] = field(
        default_factory=dict, compare=False, repr=False
    )
    """The user's personal hits for an unfiltered request, by how many were fetched:
    ids and scores after the second stage and negative feedback. Everything they
    come from is in the stamp (the user's events and profile, the catalog, the
    model), so they hold as long as the state does, and a repeated request skips
    retrieval and the second stage (about two thirds of its CPU time on
    MovieLens-100K). Kept as a tuple and an array rather than pairs: about 2 kB
    per user for 100 hits (20 MB for the default 10,000 cached users)."""
    reference: dict[int, list[tuple[str, float]]] = field(
        default_factory=dict, compare=False, repr=False
    )
    """The user's first-stage shortlist by its size (retrieval hits before the second
    stage, consumed items left out): the scale on which the second stage scores a
    filtered request's hits and a query's matches. It depends on the stamp only, not
    on the filter or the query, so it is retrieved once per state rather than on
    every search (about 2 kB per user for 100 hits)."""
    scales: dict[int, MixScale | None] = field(default_factory=dict, compare=False, repr=False)
    """The mean and deviation of each second-stage signal over the reference, by its
    size: what a query's matches are standardized with. Scoring the reference's
    item-to-item and transition signals was about a sixth of a personalized
    search; like the reference they depend on the stamp only (a few dozen bytes)."""

    def reference_hits(self, size: int) -> list[tuple[str, float]] | None:
        """The user's ``size`` best first-stage hits (see :attr:`reference`), retrieved
        on first use; None without a personal vector or without hits."""
        if self.personal is None:
            return None
        hits = self.reference.get(size)
        if hits is None:
            index, vec = self.personal
            hits = index.search(vec, size, exclude=self.consumed)
            self.reference[size] = hits
        return hits or None

    def reference_scale(
        self,
        size: int,
        compute: Callable[[list[tuple[str, float]] | None], MixScale | None],
    ) -> MixScale | None:
        """The second stage's scale over the user's ``size`` reference hits (see
        :attr:`scales`): ``compute(reference_hits(size))`` on first use."""
        if size not in self.scales:
            self.scales[size] = compute(self.reference_hits(size))
        return self.scales[size]


class UserStateCache:
    """A thread-safe, size-bounded LRU map from user id to :class:`UserState`.

    Args:
        capacity: Most users kept; 0 disables caching.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._states: LruCache[str, UserState] = LruCache(capacity)

    def __len__(self) -> int:
        return len(self._states)

    def get(self, user: str, stamp: Stamp) -> UserState | None:
        """The cached state of ``user`` if it was computed at exactly ``stamp``."""
        state = self._states.get(user)
        return state if state is not None and state.stamp == stamp else None

    def put(self, user: str, state: UserState) -> None:
        self._states.put(user, state)

    def clear(self) -> None:
        self._states.clear()
