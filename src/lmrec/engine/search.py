"""Hybrid search: lexical BM25 and dense query–item similarity, fused, then personalized.

Kept apart from the Engine so retrieval and fusion can evolve (learned fusion,
typo tolerance, filters) without touching recommendation code. The Engine
passes in what a query needs: the allowed ids (filters) and the user's vector.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np
import numpy.typing as npt

from lmrec.index import LexicalIndex, VectorIndex
from lmrec.text.tokenize import tokenize

Vector = npt.NDArray[np.float32]

#: Reciprocal-rank-fusion constant (the usual 60).
RRF_K = 60.0
#: Candidates taken from each retriever before fusion.
CANDIDATES = 200
#: Default weight of the user's affinity when a user is given.
DEFAULT_PERSONALIZATION = 0.1


class HybridSearch:
    """Reciprocal-rank fusion of BM25 and dense retrieval, mixed with user affinity.

    Args:
        lexical: The BM25 index over item fields.
        vectors: The item vector index (text vectors on the content path).
        encode_query: Query text -> vector in the item space (cached by the caller).
    """

    def __init__(
        self,
        lexical: LexicalIndex,
        vectors: VectorIndex,
        encode_query: Callable[[str], Vector],
    ) -> None:
        self._lexical = lexical
        self._vectors = vectors
        self._encode = encode_query

    def search(
        self,
        query: str,
        *,
        k: int,
        allowed: Collection[str] | None = None,
        user_vector: Vector | None = None,
        personalize: float | None = None,
    ) -> list[tuple[str, float]]:
        """Top ``k`` ``(item id, score)`` pairs; scores are in ``[0, 1]``, best first."""
        n = max(CANDIDATES, k)
        lexical = self._lexical.search(tokenize(query), n, allowed=allowed)
        dense = self._vectors.search(self._encode(query), n, allowed=allowed)
        fused: dict[str, float] = {}
        for ranked in (lexical, dense):
            for r, (item_id, _) in enumerate(ranked):
                if item_id in self._vectors:
                    fused[item_id] = fused.get(item_id, 0.0) + 1.0 / (RRF_K + r + 1)
        if not fused:
            return []
        ids = list(fused)
        rel = np.array([fused[i] for i in ids], dtype=np.float64)
        rel /= rel.max()
        p = DEFAULT_PERSONALIZATION if personalize is None else personalize
        if user_vector is not None and p > 0.0:
            affinity = (self._vectors.scores(user_vector, ids).astype(np.float64) + 1.0) / 2.0
            rel = (1.0 - p) * rel + p * affinity
        order = np.argsort(-rel, kind="stable")[:k]
        return [(ids[j], float(rel[j])) for j in order]
