"""Refit: after early stopping, the served model trains on over every event, the
held-out ones included, keeping what validation chose."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from lmrec.engine.training import last_event_holdout
from lmrec.errors import InvalidInputError, ModelError
from lmrec.model import ModelConfig, TrainedModel, refit_model, train_model
from lmrec.model.cooccurrence import fit_item_item
from lmrec.model.history import UserSequences
from lmrec.model.train import _validate


@pytest.fixture(scope="module")
def stopped(synthetic: Any) -> TrainedModel:
    """A model early-stopped on the held-out events, with its second stage fitted."""
    from .conftest import SMALL  # type: ignore[import-not-found]

    s = synthetic
    cfg = SMALL.replace(max_epochs=4, refit_epochs=2)
    return train_model(s.train, s.item_vectors, s.user_vectors, cfg, valid=s.valid, progress=False)


def _everything(s: Any) -> Any:
    """Training events plus the validation events: all but each user's last (test) event."""
    everything, _ = last_event_holdout(s.data)
    assert len(everything) == len(s.train) + len(s.valid.users)
    return everything


def test_refit_learns_the_held_out_events(synthetic: Any, stopped: TrainedModel) -> None:
    s = synthetic
    everything = _everything(s)
    refit = refit_model(stopped, everything, s.item_vectors, s.user_vectors, progress=False)
    assert len(refit.refit_log) == 2 and all(np.isfinite(e.loss) for e in refit.refit_log)
    # What validation chose stays: the early-stopping log, the config, the second stage.
    assert refit.log == stopped.log and refit.config == stopped.config
    assert refit.refit_log[-1].seconds > 0
    assert refit.rerank is stopped.rerank
    assert float(refit.net.rerank.co_mix) == float(stopped.net.rerank.co_mix)
    # The held-out events are now training data, so the model ranks them higher
    # than after the same epochs over the training split alone.
    seqs = UserSequences.of(s.train)
    control = refit_model(stopped, s.train, s.item_vectors, s.user_vectors, progress=False)
    before, _ = _validate(stopped, s.valid, seqs, stopped.config, None)
    after, _ = _validate(refit, s.valid, seqs, refit.config, None)
    without, _ = _validate(control, s.valid, seqs, control.config, None)
    assert after > without and after > before
    # The model that early stopping chose is left as it was.
    again, _ = _validate(stopped, s.valid, seqs, stopped.config, None)
    assert again == before


def test_refit_fits_the_item_tables_on_every_event(synthetic: Any, stopped: TrainedModel) -> None:
    s = synthetic
    everything = _everything(s)
    mix = float(stopped.net.rerank.co_mix)
    stopped.net.rerank.co_mix.fill_(0.5)  # make sure the tables are in use
    try:
        refit = refit_model(stopped, everything, s.item_vectors, s.user_vectors, progress=False)
    finally:
        stopped.net.rerank.co_mix.fill_(mix)
    liked = everything.weight > 0
    cfg = stopped.config
    sources, weights = fit_item_item(
        everything.user[liked], everything.item[liked], everything.n_items,
        l2=cfg.co_l2, neighbours=cfg.co_neighbours,
    )  # fmt: skip
    ranker = refit.net.rerank
    np.testing.assert_array_equal(ranker.co_sources.numpy(), sources)
    np.testing.assert_allclose(ranker.co_weights.numpy(), weights, rtol=1e-6)
    assert not torch.equal(ranker.co_weights, stopped.net.rerank.co_weights)
    counts = np.bincount(everything.item, minlength=everything.n_items)
    np.testing.assert_allclose(ranker.log_count.numpy(), np.log1p(counts), rtol=1e-6)


def test_no_refit_epochs_leaves_the_model(synthetic: Any, stopped: TrainedModel) -> None:
    s = synthetic
    stopped_cfg = stopped.config
    stopped.config = stopped_cfg.replace(refit_epochs=0)
    try:
        same = refit_model(stopped, _everything(s), s.item_vectors, s.user_vectors)
    finally:
        stopped.config = stopped_cfg
    assert same is stopped


def test_refit_needs_the_models_items(synthetic: Any, stopped: TrainedModel) -> None:
    s = synthetic
    renamed = TrainedModel(
        stopped.net, stopped.config, [f"x{i}" for i in stopped.item_ids], stopped.user_ids
    )
    with pytest.raises(InvalidInputError, match="items"):
        refit_model(renamed, _everything(s), s.item_vectors, s.user_vectors, progress=False)


@pytest.mark.parametrize("bad", [{"refit_epochs": -1}, {"refit_lr_scale": 0.0}])
def test_refit_knobs_are_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ModelError, match="refit"):
        ModelConfig(**bad)  # type: ignore[arg-type]
