"""The rating model learns, is deterministic, scores cold items from text, round-trips."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from lmrec.errors import InvalidInputError, ModelError
from lmrec.evaluate.base import FitContext, RatingModel, ValidationSplit
from lmrec.interactions import IdMap, Interactions
from lmrec.model import TrainedModel, load_checkpoint, save_checkpoint
from lmrec.model.adapters import LmrecRatingModel
from lmrec.model.checkpoint import load_rating_checkpoint, save_rating_checkpoint
from lmrec.model.config import RatingConfig
from lmrec.model.rating import TrainedRatingModel, train_rating_model

TINY = RatingConfig(
    hidden=32,
    members=2,
    l2=1.0,
    lr=1e-2,
    batch_size=16,
    max_epochs=60,
    patience=10,
    device="cpu",
    seed=5,
)


N_USERS, N_ITEMS, N_TOPICS, TEXT_DIM = 60, 48, 4, 16


@dataclass(frozen=True)
class Ratings:
    """Dense-ish synthetic ratings: users love their topic (~4.5) and dislike others (~2).

    Items' and users' "language-model" vectors are their topic's direction plus
    noise, so text alone says which items a user will like.
    """

    data: Interactions
    item_vectors: npt.NDArray[np.float32]
    user_vectors: npt.NDArray[np.float32]
    item_topic: npt.NDArray[np.int64]
    user_topic: npt.NDArray[np.int64]


def _unit(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def make_ratings(seed: int = 0) -> Ratings:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((N_TOPICS, TEXT_DIM))
    item_topic = np.arange(N_ITEMS) % N_TOPICS
    user_topic = rng.integers(0, N_TOPICS, N_USERS)
    users, items = np.nonzero(rng.random((N_USERS, N_ITEMS)) < 0.5)
    liked = item_topic[items] == user_topic[users]
    values = np.clip(np.where(liked, 4.5, 2.0) + 0.4 * rng.standard_normal(len(users)), 1, 5)
    n = len(users)
    data = Interactions(
        users=IdMap.of(f"u{u}" for u in range(N_USERS)),
        items=IdMap.of(f"i{i}" for i in range(N_ITEMS)),
        user=users.astype(np.int64),
        item=items.astype(np.int64),
        value=values,
        weight=np.ones(n),
        ts=np.arange(n, dtype=np.float64),
        item_texts=tuple(f"item {i}" for i in range(N_ITEMS)),
        item_categories=tuple(() for _ in range(N_ITEMS)),
        user_texts=tuple("" for _ in range(N_USERS)),
    )
    return Ratings(
        data,
        _unit(centres[item_topic] + 0.5 * rng.standard_normal((N_ITEMS, TEXT_DIM))),
        _unit(centres[user_topic] + 0.5 * rng.standard_normal((N_USERS, TEXT_DIM))),
        item_topic,
        user_topic,
    )


class Split:
    """A random 70/10/20 split of the synthetic ratings (train / validation / test)."""

    def __init__(self, data: Interactions, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(data))
        n_test, n_valid = len(data) // 5, len(data) // 10
        test, valid, train = np.split(perm, [n_test, n_test + n_valid])
        self.train = data.subset(np.sort(train))
        self.valid = ValidationSplit(
            users=data.user[valid],
            items=data.item[valid],
            histories=[np.zeros(0, dtype=np.int64)] * len(valid),
            values=data.value[valid],
        )
        self.test_users, self.test_items = data.user[test], data.item[test]
        self.test_values = data.value[test]


def _rmse(pred: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(truth)) ** 2)))


@pytest.fixture(scope="module")
def ratings() -> Ratings:
    return make_ratings()


@pytest.fixture(scope="module")
def split(ratings: Ratings) -> Split:
    return Split(ratings.data)


@pytest.fixture(scope="module")
def rating_model(ratings: Ratings, split: Split) -> TrainedRatingModel:
    r = ratings
    return train_rating_model(split.train, r.item_vectors, r.user_vectors, TINY, valid=split.valid)


def test_beats_the_global_mean(split: Split, rating_model: TrainedRatingModel) -> None:
    mean = float(np.nanmean(split.train.value))
    baseline = _rmse(np.full(len(split.test_values), mean), split.test_values)
    model = _rmse(rating_model.predict(split.test_users, split.test_items), split.test_values)
    assert model < 0.6 * baseline


def test_keeps_the_best_validation_epoch(split: Split, rating_model: TrainedRatingModel) -> None:
    log = rating_model.log
    assert [e.epoch for e in log] == list(range(len(log)))
    assert all(np.isfinite(e.valid_rmse) and np.isfinite(e.loss) for e in log)
    assert len(log) < TINY.max_epochs  # early stopping ended it
    v = split.valid
    now = _rmse(rating_model.predict(v.users, v.items), v.values)
    assert now == pytest.approx(min(e.valid_rmse for e in log), rel=1e-5)


def test_same_seed_same_predictions(ratings: Ratings, split: Split) -> None:
    s = ratings
    cfg = TINY.replace(max_epochs=3)
    a = train_rating_model(split.train, s.item_vectors, s.user_vectors, cfg)
    b = train_rating_model(split.train, s.item_vectors, s.user_vectors, cfg)
    c = train_rating_model(split.train, s.item_vectors, s.user_vectors, cfg.replace(seed=6))
    pa = a.predict(split.test_users, split.test_items)
    np.testing.assert_array_equal(pa, b.predict(split.test_users, split.test_items))
    assert not np.array_equal(pa, c.predict(split.test_users, split.test_items))


def test_cold_items_are_scored_from_text(ratings: Ratings) -> None:
    """Items with no ratings at all get predictions that follow their text's topic."""
    s = ratings
    cold = np.arange(8, dtype=np.int64)  # two items of each topic
    train = s.data.subset(~np.isin(s.data.item, cold))
    model = train_rating_model(
        train,
        s.item_vectors,
        s.user_vectors,
        TINY.replace(item_dropout=0.3),
        cold_items=cold,
    )
    users = np.repeat(np.arange(N_USERS), len(cold))
    items = np.tile(cold, N_USERS)
    pred = model.predict(users, items)
    assert np.isfinite(pred).all()
    liked = s.item_topic[items] == s.user_topic[users]
    assert pred[liked].mean() > pred[~liked].mean() + 1.0
    assert not np.isin(model.net.r_item.numpy(), cold).any()


def test_checkpoint_round_trip(
    tmp_path: Path, split: Split, rating_model: TrainedRatingModel
) -> None:
    path = save_rating_checkpoint(rating_model, tmp_path / "rating")
    loaded = load_rating_checkpoint(path, device="cpu", expected_item_ids=rating_model.item_ids)
    assert loaded.config == rating_model.config
    assert loaded.user_ids == rating_model.user_ids
    np.testing.assert_array_equal(
        loaded.predict(split.test_users, split.test_items),
        rating_model.predict(split.test_users, split.test_items),
    )


def test_checkpoint_kinds_do_not_mix(
    tmp_path: Path, rating_model: TrainedRatingModel, trained: TrainedModel
) -> None:
    with pytest.raises(ModelError, match="'rating' model"):
        load_checkpoint(save_rating_checkpoint(rating_model, tmp_path / "r"))
    with pytest.raises(ModelError, match="'sequence' model"):
        load_rating_checkpoint(save_checkpoint(trained, tmp_path / "s"))


def test_bad_inputs_raise(ratings: Ratings, rating_model: TrainedRatingModel) -> None:
    with pytest.raises(InvalidInputError):
        rating_model.predict(np.array([0]), np.array([10_000]))
    with pytest.raises(InvalidInputError):
        rating_model.predict(np.array([0, 1]), np.array([0]))
    unrated = ratings.data.subset(np.zeros(len(ratings.data), dtype=bool))
    with pytest.raises(InvalidInputError):
        train_rating_model(unrated, ratings.item_vectors, ratings.user_vectors, TINY)


def test_adapter_runs_like_a_baseline(ratings: Ratings, split: Split) -> None:
    s = ratings
    model = LmrecRatingModel(TINY.replace(max_epochs=2, members=1))
    assert isinstance(model, RatingModel)
    with pytest.raises(ModelError):
        model.predict(split.test_users, split.test_items)
    model.fit(split.train, FitContext(s.item_vectors, s.user_vectors, split.valid, seed=3))
    assert model.model.config.seed == 3
    pred = model.predict(split.test_users, split.test_items)
    assert pred.shape == split.test_users.shape and np.isfinite(pred).all()
