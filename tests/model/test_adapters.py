"""The harness seams: lmrec's model runs like any baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lmrec.errors import ModelError
from lmrec.evaluate.base import FitContext, Ranker
from lmrec.model import ModelConfig
from lmrec.model.adapters import LmrecRanker, lmrec_ranker


def test_ranker_protocol(synthetic: Any, small: ModelConfig) -> None:
    s = synthetic
    ranker = LmrecRanker(small.replace(max_epochs=2))
    assert isinstance(ranker, Ranker)
    with pytest.raises(ModelError):
        ranker.score(s.test_users, s.test_histories)
    ranker.fit(s.train, FitContext(s.item_vectors, s.user_vectors, s.valid, seed=3))
    assert ranker.model.config.seed == 3
    scores = ranker.score(s.test_users, s.test_histories)
    assert scores.shape == (len(s.test_users), s.data.n_items)
    assert np.isfinite(scores).all()


def test_factory_switches_to_cold_start_config(synthetic: Any) -> None:
    s = synthetic
    ranker = lmrec_ranker(quick=True)
    ranker.config = ranker.config.replace(max_epochs=1)
    cold = np.array([1, 2], dtype=np.int64)
    keep = ~np.isin(s.train.item, cold)
    ranker.fit(
        s.train.subset(keep), FitContext(s.item_vectors, s.user_vectors, None, cold_items=cold)
    )
    assert ranker.model.config.text_loss_weight == 2.0
    assert ranker.model.config.max_epochs == 1


def test_overrides_apply_on_top_of_the_cold_start_config(synthetic: Any) -> None:
    """A ``--set`` variant changes only what it names, P3's cold-start settings included."""
    s = synthetic
    ranker = lmrec_ranker(quick=True, overrides={"max_epochs": 1, "dropout": 0.1})
    cold = np.array([1, 2], dtype=np.int64)
    keep = ~np.isin(s.train.item, cold)
    ranker.fit(
        s.train.subset(keep), FitContext(s.item_vectors, s.user_vectors, None, cold_items=cold)
    )
    cfg = ranker.model.config
    assert (cfg.text_loss_weight, cfg.dim) == (2.0, 128)  # the cold-start config's
    assert (cfg.max_epochs, cfg.dropout) == (1, 0.1)  # the overrides'
