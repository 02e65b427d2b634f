"""lmrec's model on a small real sample of MovieLens-100K: it must beat popularity (P1)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lmrec.evaluate.base import FitContext
from lmrec.evaluate.baselines import RANKERS
from lmrec.evaluate.protocols import evaluate_next_item, split_next_item
from lmrec.interactions import Interactions
from lmrec.model import ModelConfig
from lmrec.model.adapters import LmrecRanker

pytestmark = pytest.mark.slow


def test_model_beats_popularity_on_a_real_sample(ml100k: Any, real_encoder: Any) -> None:
    users = {str(u) for u in range(1, 301)}  # the first 300 users and all their ratings
    events = [e for e in ml100k.events if e.user in users]
    data = Interactions.from_records(ml100k.items, events, ml100k.users)
    fold = split_next_item(data)[0]
    item_vecs = real_encoder.encode(list(data.item_texts))
    user_vecs = real_encoder.encode(list(data.user_texts))
    ctx = FitContext(item_vectors=item_vecs, user_vectors=user_vecs, valid=fold.valid, seed=42)
    model = LmrecRanker(ModelConfig(max_epochs=15, max_seconds=60, device="cpu"))
    model.fit(fold.train, ctx)
    popularity = RANKERS["popularity"](True)
    popularity.fit(fold.train, ctx)
    ours = evaluate_next_item(model, fold)
    theirs = evaluate_next_item(popularity, fold)
    print(f"P1 on 300 real users: lmrec {ours}, popularity {theirs}")
    assert ours["NDCG@10"] > theirs["NDCG@10"]
    assert ours["HR@10"] > theirs["HR@10"]
    assert np.isfinite(list(ours.values())).all()
