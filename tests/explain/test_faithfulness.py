"""Faithfulness on real data: the history item an explanation names really drove the result.

For many MovieLens-100K users, the top recommendation's top-attributed history
item is removed for real (a clone user gets the same events without it, through
the public API, so the serving path and not the explainer computes the score)
and the score drop is compared with removing a random item from the same recent
window. Run on the content path and on a short-trained model.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lmrec.cli import load_into
from lmrec.engine import Engine
from lmrec.engine.explain import ATTRIBUTED_ITEMS, ExplainedItems
from lmrec.model import ModelConfig
from lmrec.schema import EventKind
from lmrec.settings import Settings

pytestmark = pytest.mark.slow

USERS = 100
#: Short on purpose (the test's budget is minutes on two cores), real in kind.
SHORT = ModelConfig(
    dim=32, text_hidden=64, max_len=50, n_layers=1, n_heads=1, max_epochs=2, batch_size=128,
    max_seconds=45.0,
)  # fmt: skip


@pytest.fixture(scope="module")
def ml_engine(
    tmp_path_factory: pytest.TempPathFactory, ml100k: Any, real_encoder: Any
) -> Iterator[Engine]:
    data_dir: Path = tmp_path_factory.mktemp("explain-ml100k")
    engine = Engine.open(settings=Settings(data_dir=data_dir), encoder=real_encoder)
    load_into(engine, ml100k.items, ml100k.users, ml100k.events)
    yield engine
    engine.close()


def _window(engine: Engine, user: str, limit: int) -> list[str]:
    """The recent distinct items leave-one-out tests (as the explainer picks them)."""
    out: dict[str, None] = {}
    for se in reversed(engine.history(user, limit=limit)):
        e = se.event
        if e.item is not None and e.kind is not EventKind.SEARCH:
            out.setdefault(e.item, None)
            if len(out) == ATTRIBUTED_ITEMS:
                break
    return list(out)


def _score_without(engine: Engine, user: str, item: str, removed: str | None, tag: str) -> float:
    """``item``'s score for a clone of ``user`` whose history never had ``removed``."""
    clone = f"{user}~{tag}"
    events = [
        replace(se.event, user=clone, id=f"{clone}-{n}")
        for n, se in enumerate(engine.history(user))
        if se.event.item != removed
    ]
    engine.ingest(events)
    return engine.rank(clone, [item]).scores[0]


def _measure(engine: Engine, users: list[str], limit: int, path: str) -> tuple[float, float]:
    rng = random.Random(7)
    top_drops, random_drops, wins = [], [], 0
    for user in users:
        recs = engine.recommend(user, k=1, explain=True)
        assert isinstance(recs, ExplainedItems) and recs.sources == (path,)
        detail = recs.details[0]
        item = detail.item
        top = max(detail.contributions, key=lambda c: c.drop).item
        others = [i for i in _window(engine, user, limit) if i != top]
        other = rng.choice(others)
        full = _score_without(engine, user, item, None, f"{path}-full")
        d_top = full - _score_without(engine, user, item, top, f"{path}-top")
        d_rand = full - _score_without(engine, user, item, other, f"{path}-rand")
        top_drops.append(d_top)
        random_drops.append(d_rand)
        wins += d_top > d_rand
    mean_top, mean_rand = statistics.fmean(top_drops), statistics.fmean(random_drops)
    print(
        f"\n[{path}] {len(users)} users: mean score drop removing the top-attributed item "
        f"{mean_top:.4f}, a random recent item {mean_rand:.4f}; top > random for {wins} users"
    )
    assert wins >= 0.8 * len(users)
    return mean_top, mean_rand


def test_top_attributed_item_drives_the_recommendation(ml_engine: Engine, ml100k: Any) -> None:
    rng = random.Random(0)
    counts: dict[str, int] = {}
    for e in ml100k.events:
        counts[e.user] = counts.get(e.user, 0) + 1
    users = rng.sample(sorted(u for u, n in counts.items() if n >= 20), USERS)

    record = ml_engine.train(SHORT, activate=False, progress=False)  # before any clone exists
    top, rand = _measure(ml_engine, users, ml_engine.settings.history_size, "content")
    assert top > 0 and top > 3 * max(rand, 0.0) + 1e-3

    ml_engine.store.activate_model(record.version)
    assert ml_engine.refresh_model() == record.version
    top, rand = _measure(ml_engine, users, SHORT.max_len, "model")
    assert top > 0 and top > 3 * max(rand, 0.0) + 1e-3
