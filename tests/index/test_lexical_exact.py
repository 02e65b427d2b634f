"""The array-backed BM25 index returns exactly what a plain per-document loop returns.

The reference below is the straightforward dictionary implementation the index
used before postings became arrays; scores must match bit for bit and ties must
be broken by document id, through any sequence of adds, re-indexing and removals.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Collection, Mapping

import numpy as np
import pytest

from lmrec.index import LexicalIndex
from lmrec.index.lexical import DEFAULT_FIELD_WEIGHTS
from lmrec.index.postings import IdOrder
from lmrec.text.tokenize import tokenize

WORDS = "film story night love war city dark blue man king girl day".split()  # noqa: SIM905


class ReferenceBM25:
    """BM25F exactly as a per-document Python loop computes it."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.docs: dict[str, dict[str, float]] = {}

    def upsert(self, doc_id: str, fields: Mapping[str, str]) -> None:
        tf: dict[str, float] = defaultdict(float)
        for name, text in fields.items():
            for tok in tokenize(text):
                tf[tok] += DEFAULT_FIELD_WEIGHTS.get(name, 1.0)
        self.docs[doc_id] = tf

    def remove(self, doc_id: str) -> None:
        self.docs.pop(doc_id, None)

    def search(
        self, weights: Mapping[str, float], k: int, allowed: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        n = len(self.docs)
        lengths = {d: float(sum(tf.values())) for d, tf in self.docs.items()}
        total = 0.0
        for d in self.docs:  # same summation order as the index's running total
            total += lengths[d]
        avg = total / n if n and total > 0 else 1.0
        scores: dict[str, float] = defaultdict(float)
        for term, qw in weights.items():
            docs = {d: tf[term] for d, tf in self.docs.items() if term in tf}
            if not docs or qw <= 0.0:
                continue
            idf = math.log(1.0 + (n - len(docs) + 0.5) / (len(docs) + 0.5))
            for d, f in docs.items():
                if allowed is not None and d not in allowed:
                    continue
                norm = self.k1 * (1.0 - self.b + self.b * lengths[d] / avg)
                scores[d] += qw * idf * f * (self.k1 + 1.0) / (f + norm)
        return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def _doc(rng: random.Random) -> dict[str, str]:
    title = " ".join(rng.choices(WORDS, k=rng.randint(1, 3)))
    return {"title": title, "text": " ".join(rng.choices(WORDS, k=rng.randint(0, 4)))}


def test_scores_and_ties_match_reference_through_updates() -> None:
    rng = random.Random(7)
    idx, ref = LexicalIndex(), ReferenceBM25()
    # Integer-valued field weights keep document lengths exact, so the running
    # total of the index and the reference's fresh sum agree to the bit.
    for step in range(600):
        doc_id = f"d{rng.randrange(300)}"
        if rng.random() < 0.2:
            idx.remove(doc_id)
            ref.remove(doc_id)
        else:
            fields = _doc(rng)
            idx.upsert(doc_id, fields)
            ref.upsert(doc_id, fields)
        if step % 25 == 0:
            for _ in range(4):
                q = {w: rng.choice([1.0, 0.8, 2.0]) for w in rng.sample(WORDS, rng.randint(1, 3))}
                for k in (1, 5, 40, 1000):
                    assert idx.search(q, k) == ref.search(q, k)
                allowed = {f"d{i}" for i in rng.sample(range(300), 60)}
                assert idx.search(q, 10, allowed=allowed) == ref.search(q, 10, allowed)
                ids = [f"d{i}" for i in range(0, 300, 7)]
                want = dict(ref.search(q, 1000))
                assert idx.scores(q, ids) == [want.get(i, 0.0) for i in ids]
    assert len(idx) == len(ref.docs)


def test_many_equal_scores_are_cut_by_lowest_id() -> None:
    idx = LexicalIndex()
    ids = [f"item-{n}" for n in range(500)]
    random.Random(1).shuffle(ids)
    for i in ids:
        idx.upsert(i, {"title": "synthetic film"})
    hits = idx.search("film", 5)
    assert [h[0] for h in hits] == sorted(ids)[:5]
    assert len({h[1] for h in hits}) == 1
    idx.remove("item-0")
    idx.upsert("item-00", {"title": "synthetic film"})
    assert [h[0] for h in idx.search("film", 3)] == ["item-00", "item-1", "item-10"]


def test_postings_survive_slot_reuse_and_reindexing() -> None:
    idx = LexicalIndex()
    for n in range(50):
        idx.upsert(f"x{n}", {"title": "red apple" if n % 2 else "green apple"})
    for n in range(0, 50, 3):
        idx.remove(f"x{n}")
    idx.upsert("new", {"title": "red pear"})  # reuses a freed slot
    idx.upsert("x1", {"title": "pear"})  # re-index moves postings of other docs
    assert idx.document_frequency("apple") == 50 - 17 - 1
    assert {h[0] for h in idx.search("pear", 10)} == {"new", "x1"}
    assert "x1" not in {h[0] for h in idx.search("red", 100)}
    assert [h[0] for h in idx.search("apple", 1000, allowed={"x3", "x4"})] == ["x4"]  # x3 gone


@pytest.mark.parametrize("changes", [3, 500])
def test_id_order_ranks_follow_sorted_ids(changes: int) -> None:
    rng = np.random.default_rng(changes)
    order = IdOrder()
    slot_of: dict[str, int] = {}
    free: list[int] = []

    def add(doc_id: str) -> None:
        slot = free.pop() if free else len(slot_of)
        slot_of[doc_id] = slot
        order.add(doc_id, slot)

    for n in range(1000):
        add(f"id{n}")
    order.ranks(slot_of)
    for _ in range(changes):
        victim = sorted(slot_of)[int(rng.integers(len(slot_of)))]
        slot = slot_of.pop(victim)
        order.discard(victim, slot)
        free.append(slot)  # the next id takes it over before ranks are read
        add(f"new{int(rng.integers(10**6))}")
    ranks = order.ranks(slot_of)
    by_rank = sorted(slot_of, key=lambda i: int(ranks[slot_of[i]]))
    assert by_rank == sorted(slot_of)
    assert sorted(int(ranks[s]) for s in slot_of.values()) == list(range(len(slot_of)))
