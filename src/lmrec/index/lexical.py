"""Incremental BM25 lexical index with per-field weights, exact titles and typo lookup.

Kept in sync with the catalog on every upsert and delete, so a new item is
findable by the next query. Fields are combined BM25F-style: a term's
frequency is the weighted sum of its frequencies in title, text and categories,
so a title match counts more than a match in the description.

Two side structures are maintained with the postings, incrementally:

* **exact titles**: the sorted token multiset of each title (with and without
  parenthesized parts such as a year), so ``toy story`` and ``Toy Story (1995)``
  both name item ``Toy Story (1995)`` exactly, and ``empire strikes back the``
  matches ``Empire Strikes Back, The``;
* **a deletion-neighbourhood vocabulary** (SymSpell): every term's deletions
  up to ``MAX_EDIT`` characters (over its first ``PREFIX`` characters) map
  back to the term. Looking up a misspelt term costs a few dozen hash
  lookups whatever the vocabulary size, then candidates are verified with the
  optimal-string-alignment distance (a transposition counts as one edit).
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from itertools import combinations

import numpy as np

from lmrec.index.postings import Floats, IdOrder, Postings, Slots
from lmrec.text.tokenize import is_cjk, tokenize

DEFAULT_FIELD_WEIGHTS: Mapping[str, float] = {"title": 3.0, "text": 1.0, "categories": 1.0}

#: Largest edit distance the vocabulary index answers.
MAX_EDIT = 2
#: Deletions are generated over this many leading characters (bounds memory for long words).
PREFIX = 7

_PARENS = re.compile(r"\([^)]*\)|\[[^\]]*\]")

TitleKey = tuple[str, ...]


def title_keys(title: str) -> set[TitleKey]:
    """Exact-match keys of a title: sorted tokens, with and without parenthesized parts."""
    keys: set[TitleKey] = set()
    for text in (title, _PARENS.sub(" ", title)):
        toks = tokenize(text)
        if toks:
            keys.add(tuple(sorted(toks)))
    return keys


def _deletes(term: str, max_edit: int = MAX_EDIT, prefix: int = PREFIX) -> set[str]:
    """``term[:prefix]`` and every string obtained from it by deleting up to ``max_edit`` chars."""
    head = term[:prefix]
    out = {head}
    n = len(head)
    for d in range(1, min(max_edit, n - 1) + 1):
        for drop in combinations(range(n), d):
            out.add("".join(c for i, c in enumerate(head) if i not in drop))
    return out


def osa_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance, or ``limit + 1`` as soon as it exceeds ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def edit_budget(term: str) -> int:
    """Edits tolerated for a query term: none under 3 characters, 1 up to 5, then 2.

    Short words have too many neighbours for a correction to be trusted;
    numbers and Chinese words are never corrected.
    """
    if len(term) < 3 or term.isdigit() or is_cjk(term):
        return 0
    return 1 if len(term) <= 5 else MAX_EDIT


def _kth_largest(scores: Floats, k: int) -> float:
    """The ``k``-th largest score (``0 < k < len(scores)``), robust to masses of ties.

    ``np.partition`` degrades badly on the periodic, heavily tied scores a
    catalog of look-alike titles produces (tens of milliseconds at 100k
    documents). Instead: the maxima of ``k`` disjoint blocks are ``k`` distinct
    scores, so their minimum is a lower bound of the answer; two blockings
    (contiguous and strided) make the bound tight on sorted and on periodic
    data, and only the scores above it are sorted.
    """
    a = scores[: scores.size // k * k]
    low = max(float(a.reshape(k, -1).max(axis=1).min()), float(a.reshape(-1, k).max(axis=0).min()))
    top = np.sort(scores[scores >= low])
    return float(top[-k])


class LexicalIndex:
    """BM25 over documents made of named text fields.

    Postings are NumPy arrays (see :mod:`lmrec.index.postings`), so a query
    whose words occur in most documents is scored with vector operations, not
    a Python loop per posting. Scores are computed with the same formula and
    operation order as a per-document loop, so they are bit-for-bit the BM25
    scores; ties are broken by document id, as a full sort would.

    Args:
        field_weights: Multiplier per field for term frequency and length.
        k1: BM25 term-frequency saturation.
        b: BM25 length normalization.
        title_field: The field whose text is matched exactly by :meth:`exact_title`.
    """

    def __init__(
        self,
        field_weights: Mapping[str, float] = DEFAULT_FIELD_WEIGHTS,
        *,
        k1: float = 1.2,
        b: float = 0.75,
        title_field: str = "title",
    ) -> None:
        self._weights = dict(field_weights)
        self._k1 = k1
        self._b = b
        self._title_field = title_field
        self._postings: dict[str, Postings] = {}
        # Per document: term -> tf, and term -> position in that term's postings.
        self._doc_terms: dict[str, dict[str, float]] = {}
        self._doc_pos: dict[str, dict[str, int]] = {}
        self._slot: dict[str, int] = {}
        self._ids: list[str] = []
        self._free: list[int] = []
        self._len: Floats = np.zeros(16, dtype=np.float64)
        self._order = IdOrder()
        self._doc_titles: dict[str, set[TitleKey]] = {}
        self._titles: dict[TitleKey, set[str]] = defaultdict(set)
        self._neighbours: dict[str, set[str]] = defaultdict(set)
        self._total_len = 0.0
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._slot

    # -- updates -----------------------------------------------------------------
    def upsert(self, doc_id: str, fields: Mapping[str, str]) -> None:
        """Index (or re-index) a document."""
        tf: dict[str, float] = defaultdict(float)
        for name, text in fields.items():
            w = self._weights.get(name, 1.0)
            for tok in tokenize(text):
                tf[tok] += w
        keys = title_keys(fields.get(self._title_field, ""))
        with self._lock:
            slot = self._slot.get(doc_id)
            if slot is None:
                slot = self._new_slot(doc_id)
            else:
                self._unpost(doc_id)
            self._doc_terms[doc_id] = tf
            length = float(sum(tf.values()))
            self._len[slot] = length
            self._total_len += length
            pos: dict[str, int] = {}
            for term, f in tf.items():
                docs = self._postings.get(term)
                if docs is None:
                    docs = self._postings[term] = Postings()
                    self._add_term(term)
                pos[term] = docs.append(slot, f)
            self._doc_pos[doc_id] = pos
            self._doc_titles[doc_id] = keys
            for key in keys:
                self._titles[key].add(doc_id)

    def remove(self, doc_id: str) -> None:
        with self._lock:
            slot = self._slot.get(doc_id)
            if slot is None:
                return
            self._unpost(doc_id)
            del self._slot[doc_id]
            self._order.discard(doc_id, slot)
            self._ids[slot] = ""
            self._free.append(slot)

    def _new_slot(self, doc_id: str) -> int:
        if self._free:
            slot = self._free.pop()
            self._ids[slot] = doc_id
        else:
            slot = len(self._ids)
            self._ids.append(doc_id)
            if slot >= self._len.shape[0]:
                self._len = np.resize(self._len, 2 * self._len.shape[0])
        self._slot[doc_id] = slot
        self._order.add(doc_id, slot)
        return slot

    def _unpost(self, doc_id: str) -> None:
        """Take a document out of postings, lengths and titles (its slot stays)."""
        terms = self._doc_terms.pop(doc_id)
        positions = self._doc_pos.pop(doc_id)
        self._total_len -= self._len[self._slot[doc_id]]
        for term in terms:
            docs = self._postings[term]
            moved = docs.pop(positions[term])
            if moved >= 0:
                self._doc_pos[self._ids[moved]][term] = positions[term]
            if not docs:
                del self._postings[term]
                self._remove_term(term)
        for key in self._doc_titles.pop(doc_id, set()):
            ids = self._titles.get(key)
            if ids is not None:
                ids.discard(doc_id)
                if not ids:
                    del self._titles[key]

    def _add_term(self, term: str) -> None:
        if len(term) < 2 or term.isdigit() or is_cjk(term):
            return  # never a correction target
        for d in _deletes(term):
            self._neighbours[d].add(term)

    def _remove_term(self, term: str) -> None:
        for d in _deletes(term):
            terms = self._neighbours.get(d)
            if terms is not None:
                terms.discard(term)
                if not terms:
                    del self._neighbours[d]

    # -- vocabulary ----------------------------------------------------------------
    def has_term(self, term: str) -> bool:
        return term in self._postings

    def vocabulary(self) -> list[str]:
        with self._lock:
            return list(self._postings)

    def document_frequency(self, term: str) -> int:
        docs = self._postings.get(term)
        return len(docs) if docs else 0

    def suggest(self, term: str, max_edit: int | None = None) -> list[tuple[str, int]]:
        """Vocabulary terms within ``max_edit`` edits of ``term``, nearest (then commonest) first.

        Args:
            term: A folded query token (absent from the vocabulary, typically).
            max_edit: Edit budget; by default :func:`edit_budget` of the term.
        """
        budget = edit_budget(term) if max_edit is None else min(max_edit, MAX_EDIT)
        if budget <= 0:
            return []
        found: dict[str, int] = {}
        with self._lock:
            for d in _deletes(term, budget):
                for cand in self._neighbours.get(d, ()):
                    if cand != term and cand not in found:
                        dist = osa_distance(term, cand, budget)
                        if dist <= budget:
                            found[cand] = dist
            ranked = sorted(found.items(), key=lambda kv: (kv[1], -self.document_frequency(kv[0])))
        return ranked

    # -- reads -----------------------------------------------------------------------
    def coverage(self, groups: Sequence[Mapping[str, float]], ids: Sequence[str]) -> Floats:
        """How much of a query each document contains, in ``[0, 1]``.

        BM25 ranks documents against each other; coverage says whether a document
        has what the query asks for, so every document holding all query words
        scores 1 whatever its length or term counts. Personalized search uses it
        as the relevance the user's taste is mixed with: among documents that all
        match, BM25's differences are length artefacts that would only add noise.

        Args:
            groups: One mapping per query word: the word and its accepted
                alternatives (typo corrections), each with its credit in ``[0, 1]``
                (1 for the word as typed). A word counts with the best credit
                among its alternatives present in the document, weighted by the
                word's rarity (the largest IDF among its indexed alternatives).
            ids: The documents; unknown ids get 0.
        """
        out = np.zeros(len(ids), dtype=np.float64)
        with self._lock:
            n = len(self._slot)
            weighted: list[tuple[float, dict[str, float]]] = []
            for group in groups:
                known = {t: c for t, c in group.items() if c > 0.0 and t in self._postings}
                if not known:
                    continue
                df = min(len(self._postings[t]) for t in known)
                weighted.append((math.log(1.0 + (n - df + 0.5) / (df + 0.5)), known))
            total = sum(w for w, _ in weighted)
            if total <= 0.0 or not ids:
                return out
            # Vectorized over the documents: one pass over each term's postings.
            slots = np.fromiter((self._slot.get(d, -1) for d in ids), np.int64, len(ids))
            known_doc = slots >= 0
            slots = np.where(known_doc, slots, 0)
            has = np.zeros(len(self._ids), dtype=bool)
            for w, known in weighted:
                credit = np.zeros(len(ids), dtype=np.float64)
                for term, c in known.items():
                    posted = self._postings[term].view()[0]
                    has[posted] = True
                    credit = np.maximum(credit, np.where(has[slots] & known_doc, c, 0.0))
                    has[posted] = False
                out += w * credit
        return out / total

    def exact_title(self, terms: Sequence[str]) -> set[str]:
        """Documents whose title (or title without parenthesized parts) is exactly ``terms``."""
        if not terms:
            return set()
        with self._lock:
            return set(self._titles.get(tuple(sorted(terms)), ()))

    def search(
        self,
        query: str | Sequence[str] | Mapping[str, float],
        k: int,
        *,
        allowed: Collection[str] | None = None,
    ) -> list[tuple[str, float]]:
        """Top ``k`` documents by BM25 score (ties: lower document id first).

        Args:
            query: Query text, its tokens, or ``term -> weight`` (typo expansions
                carry weights below 1).
            k: How many documents.
            allowed: When given, only these documents are scored.
        """
        weights = self._query_weights(query)
        with self._lock:
            slots, scores = self._score(weights, allowed)
            return self._top(slots, scores, k)

    def scores(
        self, query: str | Sequence[str] | Mapping[str, float], ids: Iterable[str]
    ) -> list[float]:
        """BM25 scores of the given documents (0 where no term matches)."""
        weights = self._query_weights(query)
        out: list[float] = []
        with self._lock:
            idf = self._idfs(weights)
            avg = self._avg_len()
            k1, b = self._k1, self._b
            for doc_id in ids:
                terms = self._doc_terms.get(doc_id)
                score = 0.0
                if terms is not None:
                    dl = float(self._len[self._slot[doc_id]])
                    for term, (qw, w) in idf.items():
                        f = terms.get(term)
                        if f is not None:
                            norm = k1 * (1.0 - b + b * dl / avg)
                            score += qw * w * f * (k1 + 1.0) / (f + norm)
                out.append(score)
        return out

    @staticmethod
    def _query_weights(query: str | Sequence[str] | Mapping[str, float]) -> dict[str, float]:
        if isinstance(query, Mapping):
            return dict(query)
        terms = tokenize(query) if isinstance(query, str) else list(query)
        return {t: float(c) for t, c in Counter(terms).items()}

    def _avg_len(self) -> float:
        n = len(self._slot)
        return self._total_len / n if n and self._total_len > 0 else 1.0

    def _idfs(self, weights: Mapping[str, float]) -> dict[str, tuple[float, float]]:
        """``term -> (query weight, idf)`` for the query terms that can score."""
        n = len(self._slot)
        out: dict[str, tuple[float, float]] = {}
        for term, qw in weights.items():
            docs = self._postings.get(term)
            if not docs or qw <= 0.0:
                continue
            df = len(docs)
            out[term] = (qw, math.log(1.0 + (n - df + 0.5) / (df + 0.5)))
        return out

    def _score(
        self, weights: Mapping[str, float], allowed: Collection[str] | None
    ) -> tuple[Slots, Floats]:
        """Slots of the documents matching any term, and their BM25 scores.

        Contributions are added term by term in query order with the same
        expression as the scalar formula, so each score equals the one a
        per-document loop computes.
        """
        idf = self._idfs(weights)
        if not idf:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        avg = self._avg_len()
        k1, b = self._k1, self._b
        cap = len(self._ids)
        acc = np.zeros(cap, dtype=np.float64)
        hit = np.zeros(cap, dtype=bool)
        mask = None
        if allowed is not None:
            mask = np.zeros(cap, dtype=bool)
            mask[[s for d in allowed if (s := self._slot.get(d)) is not None]] = True
        for term, (qw, w) in idf.items():
            slots, f = self._postings[term].view()
            if mask is not None:
                keep = mask[slots]
                slots, f = slots[keep], f[keep]
            norm = k1 * (1.0 - b + b * self._len[slots] / avg)
            acc[slots] += qw * w * f * (k1 + 1.0) / (f + norm)
            hit[slots] = True
        found = np.flatnonzero(hit)
        return found, acc[found]

    def _top(self, slots: Slots, scores: Floats, k: int) -> list[tuple[str, float]]:
        """The ``k`` best ``(id, score)``: score descending, then id ascending."""
        if k <= 0 or slots.size == 0:
            return []
        if slots.size > k:
            kth = _kth_largest(scores, k)
            above = np.flatnonzero(scores > kth)
            tied = np.flatnonzero(scores == kth)
            need = k - above.size
            if tied.size > need:
                # Many equal scores at the cut (common words in same-length
                # titles): keep the lowest ids without sorting them all.
                rank = self._order.ranks(self._slot)[slots[tied]]
                tied = tied[np.argpartition(rank, need - 1)[:need]]
            keep = np.concatenate([above, tied])
            slots, scores = slots[keep], scores[keep]
        ids = self._ids
        rows = [(ids[s], sc) for s, sc in zip(slots.tolist(), scores.tolist(), strict=True)]
        rows.sort(key=lambda kv: (-kv[1], kv[0]))
        return rows
