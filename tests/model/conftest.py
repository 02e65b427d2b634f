"""Synthetic data with structure, and one small trained model shared by the model tests.

Items fall into topics; an item's "language-model" vector is its topic's
direction plus noise, so text alone says which items are alike. Each user
prefers one topic (stated in the profile vector) and walks through it in a fixed
order, so the next item is predictable from the last one.

The small model trains on the CPU unless ``LMREC_TEST_DEVICE`` names another
device: ``benchmarks/device/train_gpu.sh`` runs these tests with ``cuda`` on a
lent GPU machine, the only place the training code's CUDA paths are exercised.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from lmrec.evaluate.base import ValidationSplit
from lmrec.interactions import IdMap, Interactions
from lmrec.model import ModelConfig, TrainedModel, train_model

N_TOPICS = 5
PER_TOPIC = 16
TEXT_DIM = 24
N_USERS = 80
SEQ_LEN = 12

SMALL = ModelConfig(
    dim=16,
    text_hidden=32,
    max_len=16,
    n_layers=1,
    n_heads=2,
    batch_size=16,
    max_epochs=20,
    patience=20,
    lr=5e-3,
    device=os.environ.get("LMREC_TEST_DEVICE", "cpu"),
    seed=7,
)


@dataclass(frozen=True)
class Synthetic:
    """A leave-one-out split of the synthetic data (last event = test)."""

    data: Interactions
    item_vectors: npt.NDArray[np.float32]
    user_vectors: npt.NDArray[np.float32]
    topic: npt.NDArray[np.int64]  # topic of each item
    train: Interactions
    valid: ValidationSplit
    test_users: npt.NDArray[np.int64]
    test_items: npt.NDArray[np.int64]
    test_histories: list[npt.NDArray[np.int64]]
    per_topic: int = PER_TOPIC


def _unit(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def make_synthetic(seed: int = 0) -> Synthetic:
    rng = np.random.default_rng(seed)
    n_items = N_TOPICS * PER_TOPIC
    topic = np.repeat(np.arange(N_TOPICS), PER_TOPIC)
    centres = rng.standard_normal((N_TOPICS, TEXT_DIM))
    item_vectors = _unit(centres[topic] + 0.6 * rng.standard_normal((n_items, TEXT_DIM)))
    user_topic = rng.integers(0, N_TOPICS, N_USERS)
    user_vectors = _unit(centres[user_topic] + 0.8 * rng.standard_normal((N_USERS, TEXT_DIM)))
    users, items, ts, values = [], [], [], []
    for u in range(N_USERS):
        start = int(rng.integers(0, PER_TOPIC))
        for k in range(SEQ_LEN):
            if rng.random() < 0.85:
                it = user_topic[u] * PER_TOPIC + (start + k) % PER_TOPIC
                v = 4.0 + float(rng.random() < 0.5)
            else:
                it = int(rng.integers(0, n_items))
                v = 2.0
            users.append(u)
            items.append(it)
            ts.append(1_000_000.0 + 3600.0 * k + u)
            values.append(v)
    n = len(users)
    data = Interactions(
        users=IdMap.of(f"u{u}" for u in range(N_USERS)),
        items=IdMap.of(f"i{i}" for i in range(n_items)),
        user=np.asarray(users, dtype=np.int64),
        item=np.asarray(items, dtype=np.int64),
        value=np.asarray(values, dtype=np.float64),
        weight=np.ones(n),
        ts=np.asarray(ts, dtype=np.float64),
        item_texts=tuple(f"item {i}" for i in range(n_items)),
        item_categories=tuple(() for _ in range(n_items)),
        user_texts=tuple("" for _ in range(N_USERS)),
    )
    # Leave-one-out: last event = test, second-last = validation.
    order = data.time_order()
    last = np.r_[data.user[order][1:] != data.user[order][:-1], True]
    test_rows = order[last]
    valid_rows = order[np.flatnonzero(last) - 1]
    keep = np.ones(n, dtype=bool)
    keep[test_rows] = keep[valid_rows] = False
    train = data.subset(keep)
    train_hist = [
        train.item[train.time_order()][train.user[train.time_order()] == u] for u in range(N_USERS)
    ]
    valid = ValidationSplit(
        users=data.user[valid_rows],
        items=data.item[valid_rows],
        histories=[train_hist[u] for u in data.user[valid_rows]],
        values=data.value[valid_rows],
    )
    test_hist = [
        np.r_[train_hist[u], data.item[v]]
        for u, v in zip(data.user[test_rows], valid_rows, strict=True)
    ]
    return Synthetic(
        data,
        item_vectors,
        user_vectors,
        topic,
        train,
        valid,
        data.user[test_rows],
        data.item[test_rows],
        test_hist,
    )


def ndcg_at_10(scores: npt.NDArray[np.float32], s: Synthetic) -> float:
    scores = scores.copy()
    for j, h in enumerate(s.test_histories):
        scores[j, h] = -np.inf
    target = scores[np.arange(len(s.test_items)), s.test_items]
    rank = (scores > target[:, None]).sum(axis=1)
    return float(np.where(rank < 10, 1.0 / np.log2(rank + 2.0), 0.0).mean())


@pytest.fixture(scope="session")
def synthetic() -> Synthetic:
    return make_synthetic()


@pytest.fixture(scope="session")
def trained(synthetic: Synthetic) -> TrainedModel:
    s = synthetic
    cfg = SMALL.replace(rating_weight=0.5)
    return train_model(s.train, s.item_vectors, s.user_vectors, cfg, valid=s.valid, progress=False)


@pytest.fixture
def small() -> ModelConfig:
    """A tiny configuration that trains in about a second."""
    return SMALL


@pytest.fixture
def ndcg() -> Callable[[npt.NDArray[np.float32], Synthetic], float]:
    return ndcg_at_10
