"""A 2-D map of the item space: PCA of the item vectors, cached until the catalog changes.

The console draws it so a person can see what the language model put close
together, where a user's profile sits and what their history was. PCA (not
t-SNE/UMAP) because it is deterministic, cheap, and projects new points (the
user's vector) with the same linear map.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lmrec.engine import Engine

Matrix = npt.NDArray[np.float32]

#: Items beyond this many are thinned (evenly, deterministically) before drawing.
MAX_POINTS = 5000
#: Colours are given to this many most common primary categories; the rest are "Other".
MAX_CATEGORIES = 10
OTHER = "Other"
NONE = "(none)"


@dataclass(frozen=True)
class _Basis:
    """The fitted projection and the item points it produced."""

    key: str
    mean: Matrix
    components: Matrix  # (2, dim)
    explained: tuple[float, float]
    ids: tuple[str, ...]
    xy: Matrix  # (n, 2)
    total: int


def _thin(n: int, limit: int) -> npt.NDArray[np.int64]:
    """Evenly spaced positions keeping at most ``limit`` of ``n`` (deterministic)."""
    if n <= limit:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


def fit_pca(vectors: Matrix) -> tuple[Matrix, Matrix, tuple[float, float]]:
    """Mean, the two principal directions, and the share of variance each explains.

    Directions are sign-fixed (largest loading positive) so the map does not flip
    between refits of the same data.
    """
    dim = vectors.shape[1]
    if len(vectors) == 0:
        return np.zeros(dim, np.float32), np.zeros((2, dim), np.float32), (0.0, 0.0)
    mean = vectors.mean(axis=0)
    centred = (vectors - mean).astype(np.float64)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    comps = np.zeros((2, dim))
    comps[: min(2, len(vt))] = vt[:2]
    for row in comps:
        j = int(np.argmax(np.abs(row)))
        if row[j] < 0:
            row *= -1
    var = s**2
    total = float(var.sum())
    shares = [float(v / total) if total > 0 else 0.0 for v in var[:2]] + [0.0, 0.0]
    return mean.astype(np.float32), comps.astype(np.float32), (shares[0], shares[1])


def _primary(categories: tuple[str, ...]) -> str:
    return categories[0] if categories else NONE


class ItemMap:
    """Builds map payloads for the console, refitting only when the catalog changed."""

    def __init__(self, max_points: int = MAX_POINTS) -> None:
        self.max_points = max_points
        self._basis: _Basis | None = None
        self._lock = threading.Lock()

    def _current(self, engine: Engine) -> _Basis:
        active = engine.text_vectors()
        ids, vectors, key = list(active.ids), active.matrix, active.key
        with self._lock:
            if self._basis is not None and self._basis.key == key:
                return self._basis
            keep = _thin(len(ids), self.max_points)
            mean, comps, explained = fit_pca(vectors[keep])
            xy = ((vectors[keep] - mean) @ comps.T).astype(np.float32)
            self._basis = _Basis(
                key, mean, comps, explained, tuple(ids[i] for i in keep), xy, len(ids)
            )
            return self._basis

    def build(self, engine: Engine, user: str | None = None) -> dict[str, Any]:
        """The map as JSON-ready data: items, category legend, and the user's marks."""
        basis = self._current(engine)
        primary = {}
        for item_id in basis.ids:
            item = engine.get_item(item_id)
            primary[item_id] = (item.title, _primary(item.categories))
        counts = Counter(cat for _, cat in primary.values())
        named = [c for c, _ in counts.most_common(MAX_CATEGORIES)]
        legend = named + ([OTHER] if len(counts) > len(named) else [])
        items = []
        for item_id, (x, y) in zip(basis.ids, basis.xy.tolist(), strict=True):
            title, cat = primary[item_id]
            items.append(
                {
                    "id": item_id,
                    "title": title,
                    "category": cat if cat in named else OTHER,
                    "x": round(x, 5),
                    "y": round(y, 5),
                }
            )
        out: dict[str, Any] = {
            "items": items,
            "categories": legend,
            "total": basis.total,
            "explained_variance": [round(v, 5) for v in basis.explained],
            "user": None,
            "history": [],
        }
        if user is None:
            return out
        vec = engine.user_vector(user)
        if vec is not None:
            ux, uy = self._project(basis, vec[None, :])[0]
            out["user"] = {"id": user, "x": round(ux, 5), "y": round(uy, 5)}
        seen: set[str] = set()
        for se in reversed(engine.history(user, limit=50)):
            hid = se.event.item
            if hid is None or hid in seen:
                continue
            v = engine.text_vector(hid)
            if v is None:
                continue
            seen.add(hid)
            hx, hy = self._project(basis, v[None, :])[0]
            out["history"].append(
                {
                    "id": hid,
                    "title": engine.get_item(hid).title,
                    "kind": str(se.event.kind),
                    "x": round(hx, 5),
                    "y": round(hy, 5),
                }
            )
        return out

    @staticmethod
    def _project(basis: _Basis, vectors: Matrix) -> list[tuple[float, float]]:
        xy = (vectors.astype(np.float32) - basis.mean) @ basis.components.T
        return [(float(a), float(b)) for a, b in xy.tolist()]
