"""What users chose after a query: the search log as a training signal for search.

A positive event (click, cart, purchase, like, a good rating) on an item that a
user makes within :data:`CLICK_WINDOW` seconds of their own search counts as
one vote that the item answers that query. Search adds voted items as
candidates even when neither BM25 nor the dense retriever found them, and
(see :meth:`HybridSearch.search`) anonymous search moves relevance towards
the items' vote shares: the classic click-through signal of web search, learnt
from the event log and current as soon as an event is folded in. Personalized
search only lifts a voted item's relevance to its vote level: crowd choices
are a popularity prior, and re-ranking by them cut protocol P4 through a
trained engine from 0.266 to 0.174 with a simulated search log
(``benchmarks/search.py --only p4``), where vouching alone keeps 0.266.

Votes are counted from the store's event stream in append order, like
popularity, so every process sharing a store converges on the same counts and
erasing a user removes their votes when the aggregates are rebuilt. A click
stored before the search it followed (out-of-order ingestion) does not count.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from lmrec.engine.lru import LruCache
from lmrec.engine.profile import event_weight
from lmrec.schema import Event, EventKind
from lmrec.settings import Settings
from lmrec.text.tokenize import tokenize

#: Seconds after a search during which the user's positive events count as its answers.
CLICK_WINDOW = 1800.0
#: Votes for a query at which they weigh as much as retrieval's relevance.
CLICK_HALF = 5.0
#: Most distinct queries remembered (least recently voted are forgotten first).
MAX_QUERIES = 100_000
#: Most users whose latest search is remembered while waiting for their clicks.
MAX_PENDING = 100_000
#: Most items remembered per query (the most voted are kept).
MAX_ITEMS_PER_QUERY = 100


@dataclass(frozen=True, slots=True)
class QueryClicks:
    """One query's votes, as search mixes them into relevance.

    Attributes:
        confidence: How far to trust the votes over retrieval, ``total / (total +
            CLICK_HALF)`` in ``(0, 1)``: one vote moves little, many decide.
        shares: Item -> its votes over the most voted item's, in ``(0, 1]``.
    """

    confidence: float
    shares: dict[str, float]


def query_key(query: str) -> str:
    """The form votes are counted under: folded tokens (case and accents do not split them)."""
    return " ".join(tokenize(query))


class SearchClicks:
    """Votes per (query, item) from searches followed by positive events.

    Args:
        settings: Event weights decide which events are positive.
        window: Seconds after a search during which events count.
    """

    def __init__(self, settings: Settings, window: float = CLICK_WINDOW) -> None:
        self._settings = settings
        self._window = window
        self._pending: LruCache[str, tuple[str, float, set[str]]] = LruCache(MAX_PENDING)
        self._votes: LruCache[str, dict[str, float]] = LruCache(MAX_QUERIES)
        self._lock = threading.Lock()

    def add(self, events: Iterable[Event]) -> None:
        """Fold events in (in the order they were stored)."""
        with self._lock:
            for e in events:
                if e.kind is EventKind.SEARCH:
                    key = query_key(e.query or "")
                    if key:
                        self._pending.put(e.user, (key, e.ts, set()))
                    continue
                if e.item is None or event_weight(e, self._settings) <= 0:
                    continue
                pending = self._pending.get(e.user)
                if pending is None:
                    continue
                key, ts, voted = pending
                if not 0.0 <= e.ts - ts <= self._window or e.item in voted:
                    continue
                voted.add(e.item)  # one vote per item and search
                votes = self._votes.get(key) or {}
                votes[e.item] = votes.get(e.item, 0.0) + 1.0
                if len(votes) > MAX_ITEMS_PER_QUERY:
                    weakest = min(votes, key=lambda i: votes[i])
                    del votes[weakest]
                self._votes.put(key, votes)

    def reset(self) -> None:
        with self._lock:
            self._pending.clear()
            self._votes.clear()

    def votes(self, query: str) -> dict[str, float]:
        """Item -> votes for ``query`` (empty when nobody chose anything after it)."""
        with self._lock:
            return dict(self._votes.get(query_key(query)) or {})

    def evidence(self, query: str) -> QueryClicks | None:
        """The votes for ``query`` as search uses them; None when there are none."""
        votes = self.votes(query)
        if not votes:
            return None
        total = sum(votes.values())
        top = max(votes.values())
        return QueryClicks(
            confidence=total / (total + CLICK_HALF),
            shares={i: v / top for i, v in votes.items()},
        )
