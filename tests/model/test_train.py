"""Training: it learns, it is deterministic, and cold items get no ID parameters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lmrec.errors import InvalidInputError, ModelError
from lmrec.model import ModelConfig, TrainedModel, train_model
from lmrec.model.config import RatingConfig
from lmrec.model.history import UserSequences


def test_beats_popularity_on_structured_data(
    synthetic: Any, trained: TrainedModel, ndcg: Any
) -> None:
    s = synthetic
    model_ndcg = ndcg(trained.score(s.test_users, s.test_histories), s)
    counts = np.bincount(s.train.item, minlength=s.data.n_items).astype(np.float32)
    pop_ndcg = ndcg(np.tile(counts, (len(s.test_users), 1)), s)
    assert model_ndcg > 2 * pop_ndcg
    assert model_ndcg > 0.3


def test_log_records_every_epoch(trained: TrainedModel) -> None:
    assert [e.epoch for e in trained.log] == list(range(len(trained.log)))
    assert all(np.isfinite(e.loss) for e in trained.log)


def test_log_counts_the_samples_each_epoch_trained_on(
    synthetic: Any, trained: TrainedModel
) -> None:
    # A sample is a next-item target: every event of positive weight that follows
    # another event of the same user, counted straight from the sorted events.
    seqs = UserSequences.of(synthetic.train)
    targets = sum(
        int((seqs.weight[seqs.indptr[u] + 1 : seqs.indptr[u + 1]] > 0).sum())
        for u in range(seqs.n_users)
    )
    assert targets > 0
    assert all(e.samples == targets and e.step_seconds > 0 for e in trained.log)
    # Each epoch's steps are timed apart from its validation.
    assert all(e.step_seconds < e.seconds for e in trained.log)
    expected = targets * len(trained.log) / sum(e.step_seconds for e in trained.log)
    assert trained.samples_per_second == pytest.approx(expected)


def test_same_seed_same_scores(synthetic: Any, small: ModelConfig) -> None:
    s = synthetic
    cfg = small.replace(max_epochs=3)
    a = train_model(s.train, s.item_vectors, s.user_vectors, cfg, progress=False)
    b = train_model(s.train, s.item_vectors, s.user_vectors, cfg, progress=False)
    c = train_model(s.train, s.item_vectors, s.user_vectors, cfg.replace(seed=8), progress=False)
    sa = a.score(s.test_users, s.test_histories)
    np.testing.assert_array_equal(sa, b.score(s.test_users, s.test_histories))
    assert not np.array_equal(sa, c.score(s.test_users, s.test_histories))


def test_user_id_dropout_defaults_to_the_item_chance_and_can_differ(
    synthetic: Any, small: ModelConfig
) -> None:
    # None means "as id_dropout": the same draws, so the same model as naming that
    # chance explicitly; another chance for users alone trains a different model.
    s = synthetic
    cfg = small.replace(max_epochs=2, id_dropout=0.3)
    same = cfg.replace(user_id_dropout=0.3)
    apart = cfg.replace(user_id_dropout=0.0)
    scores = [
        train_model(s.train, s.item_vectors, s.user_vectors, c, progress=False).score(
            s.test_users, s.test_histories
        )
        for c in (cfg, same, apart)
    ]
    np.testing.assert_array_equal(scores[0], scores[1])
    assert not np.array_equal(scores[0], scores[2])


def test_a_skip_target_trains_a_different_model_that_still_learns(
    synthetic: Any, small: ModelConfig, ndcg: Any
) -> None:
    s = synthetic
    cfg = small.replace(max_epochs=3)
    base = train_model(s.train, s.item_vectors, s.user_vectors, cfg, progress=False)
    skip = train_model(
        s.train,
        s.item_vectors,
        s.user_vectors,
        cfg.replace(skip_target_weight=0.5),
        progress=False,
    )
    scores = skip.score(s.test_users, s.test_histories)
    assert not np.array_equal(scores, base.score(s.test_users, s.test_histories))
    counts = np.bincount(s.train.item, minlength=s.data.n_items).astype(np.float32)
    assert ndcg(scores, s) > ndcg(np.tile(counts, (len(s.test_users), 1)), s)
    with pytest.raises(ModelError, match="full softmax"):
        ModelConfig(skip_target_weight=0.5, negatives=10)


def test_fast_masks_train_reproducibly_and_still_learn(
    synthetic: Any, small: ModelConfig, ndcg: Any
) -> None:
    s = synthetic
    cfg = small.replace(max_epochs=3, dropout=0.2)
    runs = [
        train_model(s.train, s.item_vectors, s.user_vectors, c, progress=False)
        for c in (cfg, cfg.replace(fast_masks=True), cfg.replace(fast_masks=True))
    ]
    plain, fast, again = (m.score(s.test_users, s.test_histories) for m in runs)
    assert np.array_equal(fast, again)  # the seed alone decides the model
    if small.device == "cpu":  # on CUDA the masks are torch's either way
        assert not np.array_equal(fast, plain)
    counts = np.bincount(s.train.item, minlength=s.data.n_items).astype(np.float32)
    assert ndcg(fast, s) > ndcg(np.tile(counts, (len(s.test_users), 1)), s)


def test_the_budget_is_counted_in_epochs_unless_seconds_are_asked_for(
    synthetic: Any, small: ModelConfig
) -> None:
    # A wall-clock budget makes the epoch reached depend on machine load, so the
    # defaults have none: a seed alone decides the model.
    assert ModelConfig().max_seconds is None and RatingConfig().max_seconds is None
    s = synthetic
    cfg = small.replace(max_epochs=4, patience=10, max_seconds=0.0)
    capped = train_model(s.train, s.item_vectors, s.user_vectors, cfg, progress=False)
    assert len(capped.log) == 1  # out of time after the first (cut short) epoch
    free = train_model(
        s.train, s.item_vectors, s.user_vectors, cfg.replace(max_seconds=None), progress=False
    )
    assert len(free.log) == 4


def test_cold_items_get_no_id_parameters(synthetic: Any, small: ModelConfig) -> None:
    s = synthetic
    cold = np.array([0, 17, 33], dtype=np.int64)
    keep = ~np.isin(s.train.item, cold)
    model = train_model(
        s.train.subset(keep),
        s.item_vectors,
        s.user_vectors,
        small.replace(max_epochs=3, rating_weight=0.5, weight_decay=0.1),
        cold_items=cold,
        progress=False,
    )
    net = model.net
    assert not net.item_has_id[cold].any()
    assert (net.items.i0.weight[cold] == 0).all()
    assert (net.rating.bi.weight[cold] == 0).all()
    warm = np.setdiff1d(np.arange(s.data.n_items), cold)
    assert (net.items.i0.weight[warm] != 0).any()
    # Their vectors come from text alone.
    np.testing.assert_allclose(
        model.catalog_vectors()[cold], model.catalog_vectors(text_only=True)[cold], rtol=1e-6
    )


def test_rejects_misaligned_vectors(synthetic: Any, small: ModelConfig) -> None:
    s = synthetic
    with pytest.raises(InvalidInputError):
        train_model(s.train, s.item_vectors[:-1], s.user_vectors, small, progress=False)


def test_sampled_softmax_also_learns(synthetic: Any, small: ModelConfig, ndcg: Any) -> None:
    """The large-catalog path (in-batch + sampled negatives, logQ-corrected) learns too."""
    s = synthetic
    model = train_model(
        s.train, s.item_vectors, s.user_vectors, small.replace(negatives=20), progress=False
    )
    counts = np.bincount(s.train.item, minlength=s.data.n_items).astype(np.float32)
    pop = ndcg(np.tile(counts, (len(s.test_users), 1)), s)
    assert ndcg(model.score(s.test_users, s.test_histories), s) > 2 * pop


def test_warm_start_keeps_the_start_when_fine_tuning_is_worse(
    synthetic: Any, trained: TrainedModel, small: ModelConfig
) -> None:
    s = synthetic
    # A learning rate this large wrecks the model within an epoch.
    cfg = small.replace(max_epochs=2, lr=50.0, rerank_shortlist=0)
    tuned = train_model(
        s.train, s.item_vectors, s.user_vectors, cfg, valid=s.valid, progress=False, init=trained
    )
    assert tuned.log[0].epoch == -1 and np.isnan(tuned.log[0].loss)
    assert all(e.metric < tuned.log[0].metric for e in tuned.log[1:])
    np.testing.assert_allclose(
        tuned.score(s.test_users, s.test_histories),
        trained.score(s.test_users, s.test_histories),
        rtol=1e-5,
        atol=1e-5,
    )


def test_warm_start_that_helps_is_kept(synthetic: Any, small: ModelConfig) -> None:
    s = synthetic
    start = train_model(s.train, s.item_vectors, s.user_vectors, small.replace(max_epochs=1),
                        valid=s.valid, progress=False)  # fmt: skip
    tuned = train_model(
        s.train, s.item_vectors, s.user_vectors, small.replace(max_epochs=5), valid=s.valid,
        progress=False, init=start,
    )  # fmt: skip
    best = max(tuned.log, key=lambda e: e.metric)
    assert best.epoch >= 0 and best.metric > tuned.log[0].metric


def test_the_latest_targets_weigh_more(synthetic: Any) -> None:
    import torch

    from lmrec.model.history import UserSequences
    from lmrec.model.train import _windows

    s = synthetic
    seqs = UserSequences.of(s.train)
    cfg = ModelConfig(max_len=400, recent_boost=2.0, recent_half_life=2.0)
    plain = _windows(seqs, cfg.replace(recent_boost=0.0), torch.device("cpu"))
    boosted = _windows(seqs, cfg, torch.device("cpu"))
    u = int(np.argmax(np.diff(seqs.indptr)))  # the longest history: one window of it
    row = int(np.flatnonzero(plain.users.numpy() == u)[0])
    base, w = plain.next_w[row].numpy(), boosted.next_w[row].numpy()
    targets = np.flatnonzero(plain.nexts[row].numpy() >= 0)
    assert len(targets) > 5 and (base[targets] > 0).all()
    ratio = w[targets] / base[targets]
    # the newest target (the last position's next event) gets 1 + boost, one
    # half-life back 1 + boost / 2, and the weight falls toward 1 going back
    assert ratio[-1] == pytest.approx(3.0)
    assert ratio[-3] == pytest.approx(2.0)
    assert (np.diff(ratio) > 0).all() and ratio[0] < ratio[-1]
    # padding and positions without a next event stay at 0
    assert (w[plain.nexts[row].numpy() < 0] == 0).all()


@pytest.mark.parametrize("bad", [{"recent_boost": -1.0}, {"recent_half_life": 0.0}])
def test_recent_weighting_knobs_are_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ModelError, match="recent"):
        ModelConfig(**bad)  # type: ignore[arg-type]


def test_cold_start_early_stopping_asks_p3s_question(synthetic: Any, small: ModelConfig) -> None:
    """On P3's split, the metric early stopping keeps the best epoch by is the one the
    harness tunes every baseline on: per user, their validation items among the
    validation items only (one source, the split)."""
    from lmrec.evaluate.protocols import split_cold_items, validation_ndcg
    from lmrec.model.train import _validate

    s = synthetic
    (fold,) = split_cold_items(s.data)
    assert fold.valid is not None and fold.valid.per_user
    model = train_model(
        fold.train,
        s.item_vectors,
        s.user_vectors,
        small.replace(max_epochs=3, patience=3),
        valid=fold.valid,
        cold_items=fold.cold_items,
        progress=False,
    )
    seqs = UserSequences.of(fold.train)

    class Retrieval:
        def score(self, users: np.ndarray, histories: Any) -> np.ndarray:
            gaps, values = seqs.context_for(users, histories)
            vecs = model.user_vectors(users, histories, gaps=gaps, values=values)
            return model.score_vectors(vecs)

    mine, shown = _validate(model, fold.valid, seqs, model.config, None)
    assert "val_recall10" in shown
    assert mine == pytest.approx(validation_ndcg(Retrieval(), fold.valid, s.data.n_items))  # type: ignore[arg-type]
    assert mine == pytest.approx(max(e.metric for e in model.log))  # the epoch kept
