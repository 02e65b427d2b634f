"""Candidate retrieval: vector indexes (exact, HNSW) and the lexical BM25 index."""

from lmrec.index.base import VectorIndex
from lmrec.index.exact import ExactIndex
from lmrec.index.lexical import LexicalIndex

__all__ = ["ExactIndex", "LexicalIndex", "VectorIndex", "make_vector_index"]


def make_vector_index(dim: int, expected_items: int, ann_min_items: int) -> VectorIndex:
    """Exact search for small catalogs, HNSW from ``ann_min_items`` items on."""
    if expected_items >= ann_min_items:
        from lmrec.index.hnsw import HNSWIndex

        return HNSWIndex(dim)
    return ExactIndex(dim, capacity=max(1024, expected_items))
