"""Approximate inner-product search with FAISS HNSW, behind the ``VectorIndex`` seam.

FAISS's HNSW graph cannot delete, so removals and replacements leave
tombstones that searches skip (over-fetching to compensate); the graph is
rebuilt from the live vectors when tombstones exceed a quarter of it.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence

import numpy as np
import numpy.typing as npt

from lmrec.index.base import Vector


class HNSWIndex:
    """FAISS ``IndexHNSWFlat`` (inner product) with id mapping and tombstones.

    Args:
        dim: Vector dimension.
        m: Graph degree (FAISS ``M``).
        ef_construction: Build-time beam width.
        ef_search: Query-time beam width (recall vs speed).
    """

    def __init__(
        self, dim: int, *, m: int = 32, ef_construction: int = 200, ef_search: int = 128
    ) -> None:
        import faiss

        self._faiss = faiss
        self._dim = dim
        self._m = m
        self._efc = ef_construction
        self._efs = ef_search
        self._lock = threading.RLock()
        self._vec: dict[str, Vector] = {}
        self._label_of: dict[str, int] = {}
        self._id_of_label: list[str | None] = []
        self._dead = 0
        self._index = self._new_graph()

    def _new_graph(self) -> object:
        faiss = self._faiss
        index = faiss.IndexHNSWFlat(self._dim, self._m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self._efc
        index.hnsw.efSearch = self._efs
        return index

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        return len(self._vec)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._vec

    def _add(self, ids: Sequence[str], vecs: npt.NDArray[np.float32]) -> None:
        start = len(self._id_of_label)
        for j, item_id in enumerate(ids):
            self._label_of[item_id] = start + j
            self._id_of_label.append(item_id)
        self._index.add(np.ascontiguousarray(vecs, dtype=np.float32))  # type: ignore[attr-defined]

    def _rebuild(self) -> None:
        ids = list(self._vec)
        self._index = self._new_graph()
        self._label_of, self._id_of_label, self._dead = {}, [], 0
        if ids:
            self._add(ids, np.stack([self._vec[i] for i in ids]))

    def upsert(self, ids: Sequence[str], vectors: npt.NDArray[np.float32]) -> None:
        vecs = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self._dim)
        with self._lock:
            latest: dict[str, Vector] = {}
            for item_id, v in zip(ids, vecs, strict=True):
                latest[item_id] = v.copy()
            for item_id in latest:
                old = self._label_of.pop(item_id, None)
                if old is not None:
                    self._id_of_label[old] = None
                    self._dead += 1
            self._vec.update(latest)
            self._add(list(latest), np.stack(list(latest.values())))
            self._maybe_rebuild()

    def remove(self, ids: Collection[str]) -> None:
        with self._lock:
            for item_id in ids:
                if self._vec.pop(item_id, None) is None:
                    continue
                label = self._label_of.pop(item_id)
                self._id_of_label[label] = None
                self._dead += 1
            self._maybe_rebuild()

    def _maybe_rebuild(self) -> None:
        if self._dead > 1000 and self._dead > len(self._id_of_label) // 4:
            self._rebuild()

    def get(self, item_id: str) -> Vector | None:
        with self._lock:
            v = self._vec.get(item_id)
            return None if v is None else v.copy()

    def scores(self, query: Vector, ids: Sequence[str]) -> npt.NDArray[np.float32]:
        with self._lock:
            mat = np.stack([self._vec[i] for i in ids]) if ids else np.zeros((0, self._dim))
            return (mat @ np.asarray(query, dtype=np.float32)).astype(np.float32)

    def search(
        self,
        query: Vector,
        k: int,
        *,
        exclude: Collection[str] = (),
        allowed: Collection[str] | None = None,
    ) -> list[tuple[str, float]]:
        with self._lock:
            if k <= 0 or not self._vec:
                return []
            if allowed is not None and len(allowed) <= 4 * k + 64:
                # A small allowed set is scored exactly: cheaper and exact.
                cand = [i for i in allowed if i in self._vec and i not in exclude]
                if not cand:
                    return []
                s = self.scores(query, cand)
                order = np.argsort(-s, kind="stable")[:k]
                return [(cand[j], float(s[j])) for j in order]
            q = np.asarray(query, dtype=np.float32).reshape(1, -1)
            fetch = k + len(exclude) + self._dead + 16
            total = len(self._id_of_label)
            while True:
                n = min(fetch, total)
                scores, labels = self._index.search(q, n)  # type: ignore[attr-defined]
                out: list[tuple[str, float]] = []
                for s, lab in zip(scores[0], labels[0], strict=True):
                    if lab < 0:
                        continue
                    item_id = self._id_of_label[lab]
                    if item_id is None or item_id in exclude:
                        continue
                    if allowed is not None and item_id not in allowed:
                        continue
                    out.append((item_id, float(s)))
                    if len(out) == k:
                        return out
                if n >= total:
                    return out
                fetch *= 4
