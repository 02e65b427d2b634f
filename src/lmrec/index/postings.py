"""Array-backed building blocks of the lexical index: postings lists and id order.

BM25 over a large catalog spends its time walking the postings of common
words (``film`` is in most titles of a 100k-film catalog). Walking them in
Python costs about a microsecond per posting; as NumPy arrays the same work is
a few vector operations. These structures keep postings as arrays *and* keep
them cheap to update one document at a time, so the index stays incremental:

* :class:`Postings` holds one term's ``(slot, tf)`` pairs in growable arrays;
  a document is removed by moving the last pair into its place (O(1)), so
  order inside a list carries no meaning;
* :class:`IdOrder` gives every document slot its rank in the lexicographic
  order of document ids, which is how tied scores are broken. Ranks are
  brought up to date lazily (on the first read after changes), in one
  vectorized pass for a few changes or one sort for many.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

Slots = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


class Postings:
    """The documents containing one term, as parallel growable arrays.

    ``slots[:size]`` are document slots and ``tfs[:size]`` their (field-weighted)
    term frequencies.
    """

    __slots__ = ("size", "slots", "tfs")

    def __init__(self) -> None:
        self.slots: Slots = np.empty(2, dtype=np.int64)
        self.tfs: Floats = np.empty(2, dtype=np.float64)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def append(self, slot: int, tf: float) -> int:
        """Add a posting; returns its position in the arrays."""
        if self.size == self.slots.shape[0]:
            cap = 2 * self.size
            self.slots = np.resize(self.slots, cap)
            self.tfs = np.resize(self.tfs, cap)
        pos = self.size
        self.slots[pos] = slot
        self.tfs[pos] = tf
        self.size = pos + 1
        return pos

    def pop(self, pos: int) -> int:
        """Remove the posting at ``pos``; returns the slot moved into ``pos``, or -1."""
        last = self.size - 1
        moved = -1
        if pos != last:
            moved = int(self.slots[last])
            self.slots[pos] = moved
            self.tfs[pos] = self.tfs[last]
        self.size = last
        return moved

    def view(self) -> tuple[Slots, Floats]:
        """The live slots and term frequencies (views: read them under the index lock)."""
        return self.slots[: self.size], self.tfs[: self.size]


class IdOrder:
    """Rank of each document slot in the sorted order of document ids, kept lazily.

    Adds and removals are only recorded; :meth:`ranks` applies them. A handful
    of changes is applied by shifting the existing ranks (one vectorized pass
    over all slots plus a binary search per new id), so adding one item to a
    100k catalog and searching right away stays cheap; many changes at once
    (a bulk load) trigger one full sort instead.
    """

    #: Changes above this share of the catalog (or 64) are applied by a full re-sort.
    RESORT_SHARE = 16

    def __init__(self) -> None:
        self._order: list[str] = []
        self._rank: Slots = np.full(0, -1, dtype=np.int64)
        self._pending: dict[str, int] = {}
        self._removed: list[int] = []

    def add(self, doc_id: str, slot: int) -> None:
        """Record a new document in ``slot``."""
        if slot >= self._rank.shape[0]:
            grown = np.full(max(2 * self._rank.shape[0], slot + 1, 16), -1, dtype=np.int64)
            grown[: self._rank.shape[0]] = self._rank
            self._rank = grown
        self._rank[slot] = -1
        self._pending[doc_id] = slot

    def discard(self, doc_id: str, slot: int) -> None:
        """Record that the document in ``slot`` is gone (its slot may be reused at once)."""
        if self._pending.pop(doc_id, None) is not None:
            return
        rank = int(self._rank[slot])
        if rank >= 0:
            self._removed.append(rank)
            self._rank[slot] = -1

    def ranks(self, slot_of: Mapping[str, int]) -> Slots:
        """Rank per slot (-1 for free slots), after applying recorded changes.

        Args:
            slot_of: Every live document id and its slot (the index's own map).
        """
        changes = len(self._pending) + len(self._removed)
        if changes == 0:
            return self._rank
        if changes > max(64, len(slot_of) // self.RESORT_SHARE):
            self._resort(slot_of)
        else:
            self._shift()
        self._pending.clear()
        self._removed.clear()
        return self._rank

    def _resort(self, slot_of: Mapping[str, int]) -> None:
        self._order = sorted(slot_of)
        self._rank[:] = -1
        slots = np.fromiter((slot_of[i] for i in self._order), np.int64, len(self._order))
        self._rank[slots] = np.arange(len(self._order), dtype=np.int64)

    def _shift(self) -> None:
        rank = self._rank
        if self._removed:
            gone = sorted(self._removed)
            live = rank >= 0
            # Each live rank drops by the number of removed ranks below it.
            rank[live] -= np.searchsorted(np.asarray(gone, dtype=np.int64), rank[live])
            for r in reversed(gone):
                del self._order[r]
        if self._pending:
            new = sorted(self._pending)
            at = [bisect_left(self._order, x) for x in new]
            live = rank >= 0
            # Each live rank rises by the number of new ids inserted at or before it.
            rank[live] += np.searchsorted(np.asarray(at, dtype=np.int64), rank[live], "right")
            for j, (x, p) in enumerate(zip(new, at, strict=True)):
                self._order.insert(p + j, x)
                rank[self._pending[x]] = p + j
