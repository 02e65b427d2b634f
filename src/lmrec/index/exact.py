"""Exact inner-product search over a dense matrix (NumPy).

Fine up to tens of thousands of items (a 100k x 384 matrix-vector product is
tens of milliseconds on one core); above ``Settings.ann_min_items`` the engine
switches to :class:`lmrec.index.hnsw.HNSWIndex`.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence

import numpy as np
import numpy.typing as npt

from lmrec.index.base import Vector


class ExactIndex:
    """A growable matrix of vectors with an id -> row map and a free list."""

    def __init__(self, dim: int, capacity: int = 1024) -> None:
        self._dim = dim
        self._mat = np.zeros((max(capacity, 1), dim), dtype=np.float32)
        self._live = np.zeros(self._mat.shape[0], dtype=bool)
        self._row: dict[str, int] = {}
        self._ids: list[str | None] = [None] * self._mat.shape[0]
        self._free: list[int] = list(range(self._mat.shape[0] - 1, -1, -1))
        self._lock = threading.RLock()

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._row

    def _grow(self, need: int) -> None:
        old = self._mat.shape[0]
        new = max(old * 2, old + need)
        mat = np.zeros((new, self._dim), dtype=np.float32)
        mat[:old] = self._mat
        live = np.zeros(new, dtype=bool)
        live[:old] = self._live
        self._mat, self._live = mat, live
        self._ids.extend([None] * (new - old))
        self._free = list(range(new - 1, old - 1, -1)) + self._free

    def upsert(self, ids: Sequence[str], vectors: npt.NDArray[np.float32]) -> None:
        vecs = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self._dim)
        with self._lock:
            fresh = sum(1 for i in ids if i not in self._row)
            if fresh > len(self._free):
                self._grow(fresh - len(self._free))
            for item_id, v in zip(ids, vecs, strict=True):
                row = self._row.get(item_id)
                if row is None:
                    row = self._free.pop()
                    self._row[item_id] = row
                    self._ids[row] = item_id
                    self._live[row] = True
                self._mat[row] = v

    def remove(self, ids: Collection[str]) -> None:
        with self._lock:
            for item_id in ids:
                row = self._row.pop(item_id, None)
                if row is not None:
                    self._live[row] = False
                    self._ids[row] = None
                    self._mat[row] = 0.0
                    self._free.append(row)

    def get(self, item_id: str) -> Vector | None:
        with self._lock:
            row = self._row.get(item_id)
            return None if row is None else self._mat[row].copy()

    def scores(self, query: Vector, ids: Sequence[str]) -> npt.NDArray[np.float32]:
        with self._lock:
            rows = [self._row[i] for i in ids]
            return self._mat[rows] @ np.asarray(query, dtype=np.float32)

    def search(
        self,
        query: Vector,
        k: int,
        *,
        exclude: Collection[str] = (),
        allowed: Collection[str] | None = None,
    ) -> list[tuple[str, float]]:
        with self._lock:
            if k <= 0 or not self._row:
                return []
            scores = self._mat @ np.asarray(query, dtype=np.float32)
            if allowed is not None:
                mask = np.zeros_like(self._live)
                rows = [r for i in allowed if (r := self._row.get(i)) is not None]
                mask[rows] = True
                mask &= self._live
            else:
                mask = self._live.copy()
            ex = [r for i in exclude if (r := self._row.get(i)) is not None]
            mask[ex] = False
            cand = np.flatnonzero(mask)
            if cand.size == 0:
                return []
            sub = scores[cand]
            part = np.argpartition(-sub, k - 1)[:k] if cand.size > k else np.arange(cand.size)
            # Stable order: score descending, then row (insertion) ascending.
            order = part[np.lexsort((cand[part], -sub[part]))]
            ids = self._ids
            return [(ids[cand[j]] or "", float(sub[j])) for j in order]
