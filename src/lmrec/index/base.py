"""The ``VectorIndex`` seam: nearest items by inner product, with adds and removes.

Vectors are L2-normalized upstream, so inner product equals cosine similarity
for the content path and equals the model's ``dot(u, i)`` score for the
trained path.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


@runtime_checkable
class VectorIndex(Protocol):
    """Maximum-inner-product search over item vectors keyed by item id."""

    @property
    def dim(self) -> int: ...

    def upsert(self, ids: Sequence[str], vectors: npt.NDArray[np.float32]) -> None:
        """Add items or replace their vectors."""
        ...

    def remove(self, ids: Collection[str]) -> None:
        """Drop items; unknown ids are ignored."""
        ...

    def get(self, item_id: str) -> Vector | None:
        """The stored vector of an item, if indexed."""
        ...

    def search(
        self,
        query: Vector,
        k: int,
        *,
        exclude: Collection[str] = (),
        allowed: Collection[str] | None = None,
    ) -> list[tuple[str, float]]:
        """Up to ``k`` ``(id, score)`` pairs, best first.

        Args:
            query: Query vector of length ``dim``.
            k: How many results.
            exclude: Ids that must not be returned.
            allowed: When given, only these ids may be returned.
        """
        ...

    def scores(self, query: Vector, ids: Sequence[str]) -> npt.NDArray[np.float32]:
        """Exact scores of the given indexed ids (for reranking a fixed list)."""
        ...

    def __len__(self) -> int: ...

    def __contains__(self, item_id: object) -> bool: ...
