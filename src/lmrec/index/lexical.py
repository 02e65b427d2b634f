"""Incremental BM25 lexical index with per-field weights.

Kept in sync with the catalog on every upsert and delete, so a new item is
findable by the next query. Fields are combined BM25F-style: a term's
frequency is the weighted sum of its frequencies in title, text and categories,
so a title match counts more than a match in the description.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping

from lmrec.text.tokenize import tokenize

DEFAULT_FIELD_WEIGHTS: Mapping[str, float] = {"title": 3.0, "text": 1.0, "categories": 1.0}


class LexicalIndex:
    """BM25 over documents made of named text fields.

    Args:
        field_weights: Multiplier per field for term frequency and length.
        k1: BM25 term-frequency saturation.
        b: BM25 length normalization.
    """

    def __init__(
        self,
        field_weights: Mapping[str, float] = DEFAULT_FIELD_WEIGHTS,
        *,
        k1: float = 1.2,
        b: float = 0.75,
    ) -> None:
        self._weights = dict(field_weights)
        self._k1 = k1
        self._b = b
        self._postings: dict[str, dict[str, float]] = defaultdict(dict)
        self._doc_terms: dict[str, dict[str, float]] = {}
        self._doc_len: dict[str, float] = {}
        self._total_len = 0.0
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._doc_len)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._doc_len

    def upsert(self, doc_id: str, fields: Mapping[str, str]) -> None:
        """Index (or re-index) a document."""
        tf: dict[str, float] = defaultdict(float)
        for name, text in fields.items():
            w = self._weights.get(name, 1.0)
            for tok in tokenize(text):
                tf[tok] += w
        with self._lock:
            self._drop(doc_id)
            self._doc_terms[doc_id] = tf
            length = float(sum(tf.values()))
            self._doc_len[doc_id] = length
            self._total_len += length
            for term, f in tf.items():
                self._postings[term][doc_id] = f

    def remove(self, doc_id: str) -> None:
        with self._lock:
            self._drop(doc_id)

    def _drop(self, doc_id: str) -> None:
        terms = self._doc_terms.pop(doc_id, None)
        if terms is None:
            return
        self._total_len -= self._doc_len.pop(doc_id)
        for term in terms:
            docs = self._postings.get(term)
            if docs is not None:
                docs.pop(doc_id, None)
                if not docs:
                    del self._postings[term]

    def has_term(self, term: str) -> bool:
        return term in self._postings

    def vocabulary(self) -> list[str]:
        with self._lock:
            return list(self._postings)

    def search(
        self,
        query: str | list[str],
        k: int,
        *,
        allowed: Collection[str] | None = None,
    ) -> list[tuple[str, float]]:
        """Top ``k`` documents by BM25 score for the query's tokens."""
        terms = tokenize(query) if isinstance(query, str) else query
        with self._lock:
            n = len(self._doc_len)
            if n == 0 or not terms:
                return []
            avg = self._total_len / n if self._total_len > 0 else 1.0
            scores: dict[str, float] = defaultdict(float)
            for term, qtf in Counter(terms).items():
                docs = self._postings.get(term)
                if not docs:
                    continue
                idf = math.log(1.0 + (n - len(docs) + 0.5) / (len(docs) + 0.5))
                for doc_id, f in docs.items():
                    if allowed is not None and doc_id not in allowed:
                        continue
                    norm = self._k1 * (1.0 - self._b + self._b * self._doc_len[doc_id] / avg)
                    scores[doc_id] += qtf * idf * f * (self._k1 + 1.0) / (f + norm)
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        return ranked[:k]
