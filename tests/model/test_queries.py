"""Search queries in training: woven into histories by time, read as text, never targets.

The synthetic world here makes queries the only clue: each user searches a
topic, then picks a random item of that topic, and topics change at random, so
the items a user had say nothing about the next one. A user tower trained
with the queries in its histories must use the latest query; one trained
without them reads the same query at serving time but never learned what it means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from lmrec.errors import InvalidInputError
from lmrec.interactions import IdMap, Interactions
from lmrec.model import ModelConfig, TrainedModel, train_model
from lmrec.model.history import QueryLog, UserSequences

from .conftest import _unit  # type: ignore[import-not-found]

N_TOPICS = 6
PER_TOPIC = 12
TEXT_DIM = 24
N_USERS = 120
STEPS = 10


@dataclass(frozen=True)
class SearchWorld:
    data: Interactions
    item_vectors: npt.NDArray[np.float32]
    user_vectors: npt.NDArray[np.float32]
    queries: QueryLog
    topic_vectors: npt.NDArray[np.float32]
    topic: npt.NDArray[np.int64]


def make_world(seed: int = 3) -> SearchWorld:
    rng = np.random.default_rng(seed)
    n_items = N_TOPICS * PER_TOPIC
    topic = np.repeat(np.arange(N_TOPICS), PER_TOPIC)
    centres = rng.standard_normal((N_TOPICS, TEXT_DIM))
    item_vectors = _unit(centres[topic] + 0.6 * rng.standard_normal((n_items, TEXT_DIM)))
    topic_vectors = _unit(centres + 0.3 * rng.standard_normal(centres.shape))
    users, items, ts = [], [], []
    q_user, q_ts, q_vec = [], [], []
    for u in range(N_USERS):
        for k in range(STEPS):
            t = int(rng.integers(0, N_TOPICS))
            when = 1_000_000.0 + 3600.0 * k + u
            q_user.append(u)
            q_ts.append(when)  # the same second as the click: the query must come first
            q_vec.append(topic_vectors[t])
            users.append(u)
            items.append(t * PER_TOPIC + int(rng.integers(0, PER_TOPIC)))
            ts.append(when)
    n = len(users)
    data = Interactions(
        users=IdMap.of(f"u{u}" for u in range(N_USERS)),
        items=IdMap.of(f"i{i}" for i in range(n_items)),
        user=np.asarray(users, dtype=np.int64),
        item=np.asarray(items, dtype=np.int64),
        value=np.full(n, np.nan),
        weight=np.ones(n),
        ts=np.asarray(ts, dtype=np.float64),
        item_texts=tuple(f"item {i}" for i in range(n_items)),
        item_categories=tuple(() for _ in range(n_items)),
        user_texts=tuple("" for _ in range(N_USERS)),
    )
    queries = QueryLog(
        user=np.asarray(q_user, dtype=np.int64),
        ts=np.asarray(q_ts, dtype=np.float64),
        vectors=np.stack(q_vec).astype(np.float32),
    )
    return SearchWorld(
        data,
        item_vectors,
        np.zeros((N_USERS, TEXT_DIM), dtype=np.float32),
        queries,
        topic_vectors,
        topic,
    )


CFG = ModelConfig(
    dim=16,
    text_hidden=32,
    max_len=24,
    n_layers=1,
    n_heads=2,
    batch_size=16,
    max_epochs=25,
    patience=25,
    lr=5e-3,
    rerank_shortlist=0,
    device="cpu",
    seed=5,
)


@pytest.fixture(scope="module")
def world() -> SearchWorld:
    return make_world()


def _topic_share_after_query(model: TrainedModel, w: SearchWorld, rng_seed: int = 0) -> float:
    """Share of the top 10 that is in the topic of a fresh query, read as serving reads it.

    Each user's history is their items and queries; a new query of a random topic
    is appended as a text-only entry (index -1 with its vector), as the engine does.
    """
    rng = np.random.default_rng(rng_seed)
    seqs = UserSequences.of(w.data)
    users = np.arange(N_USERS, dtype=np.int64)
    wanted = rng.integers(0, N_TOPICS, N_USERS)
    histories, texts = [], []
    for u in users:
        h = seqs.items_of(int(u))
        histories.append(np.r_[h, -1])
        text = np.zeros((len(h) + 1, TEXT_DIM), dtype=np.float32)
        text[-1] = w.topic_vectors[wanted[u]]
        texts.append(text)
    scores = model.score_vectors(model.user_vectors(users, histories, history_text=texts))
    top = np.argsort(-scores, axis=1)[:, :10]
    return float((w.topic[top] == wanted[:, None]).mean())


def test_queries_are_woven_in_by_time_before_a_click_at_the_same_second() -> None:
    w = make_world()
    n_items = w.data.n_items
    merged = UserSequences.of(w.data).with_queries(w.queries, n_items)
    assert len(merged.item) == len(w.data) + len(w.queries)
    first = merged.item[merged.indptr[0] : merged.indptr[1]]
    # Query, click, query, click...: every query entry points past the catalog.
    assert (first[0::2] >= n_items).all() and (first[1::2] < n_items).all()
    q = first[0::2] - n_items
    np.testing.assert_array_equal(w.queries.user[q], 0)
    is_query = merged.item >= n_items
    assert (merged.weight[is_query] == 0).all() and np.isnan(merged.value[is_query]).all()
    assert (merged.weight[~is_query] == 1).all()
    assert (np.diff(merged.ts[merged.indptr[5] : merged.indptr[6]]) >= 0).all()


def test_a_query_must_name_a_known_user() -> None:
    w = make_world()
    bad = QueryLog(np.asarray([N_USERS]), np.asarray([1.0]), w.queries.vectors[:1])
    with pytest.raises(ValueError, match="outside"):
        UserSequences.of(w.data).with_queries(bad, w.data.n_items)
    with pytest.raises(ValueError, match="one user"):
        QueryLog(np.asarray([0, 1]), np.asarray([1.0]), w.queries.vectors[:1])


def test_query_vectors_must_match_the_item_vectors(world: SearchWorld) -> None:
    w = world
    short = QueryLog(w.queries.user, w.queries.ts, w.queries.vectors[:, :-1])
    with pytest.raises(InvalidInputError, match="dimension"):
        train_model(w.data, w.item_vectors, w.user_vectors, CFG, progress=False, queries=short)


def test_training_on_queries_teaches_the_tower_what_a_query_means(world: SearchWorld) -> None:
    w = world
    without = train_model(w.data, w.item_vectors, w.user_vectors, CFG, progress=False)
    with_q = train_model(
        w.data, w.item_vectors, w.user_vectors, CFG, progress=False, queries=w.queries
    )
    chance = 1.0 / N_TOPICS
    share_with = _topic_share_after_query(with_q, w)
    share_without = _topic_share_after_query(without, w)
    assert share_with > 0.8
    assert share_with > share_without + 0.2
    assert share_without < 2 * chance + 0.2  # it has nothing to go on but a vague text match
