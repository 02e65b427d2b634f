"""Item popularity from the event log: the fallback for users without usable history.

Counts positive interest (events whose weight is > 0) per item, kept current
by folding in new events by sequence number, so every process sharing a store
converges on the same counts.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator

from lmrec.engine.profile import event_weight
from lmrec.schema import Event
from lmrec.settings import Settings


class Popularity:
    """Weighted positive-event counts per item, with a cached ranking."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._counts: dict[str, float] = defaultdict(float)
        self._ranked: list[str] | None = None
        self._lock = threading.Lock()

    def add(self, events: Iterable[Event]) -> None:
        with self._lock:
            for e in events:
                if e.item is None:
                    continue
                w = event_weight(e, self._settings)
                if w > 0:
                    self._counts[e.item] += 1.0
                    self._ranked = None

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._ranked = None

    def count(self, item_id: str) -> float:
        return float(self._counts.get(item_id, 0.0))

    def top(
        self,
        k: int,
        *,
        is_candidate: Callable[[str], bool],
        exclude: Collection[str] = (),
        allowed: Collection[str] | None = None,
        rest: Callable[[], Iterable[str]] = tuple,
    ) -> list[tuple[str, float]]:
        """The ``k`` most popular candidates, then never-used items from ``rest()`` by id."""
        with self._lock:
            if self._ranked is None:
                self._ranked = sorted(self._counts, key=lambda i: (-self._counts[i], i))
            ranked = self._ranked
            counts = dict(self._counts)
        out: list[tuple[str, float]] = []
        seen: set[str] = set()

        def order() -> Iterator[str]:
            yield from ranked
            yield from sorted(rest())  # reached only when popular items run out

        for item_id in order():
            if item_id in seen:
                continue
            seen.add(item_id)
            if item_id in exclude or not is_candidate(item_id):
                continue
            if allowed is not None and item_id not in allowed:
                continue
            out.append((item_id, float(counts.get(item_id, 0.0))))
            if len(out) == k:
                break
        return out
