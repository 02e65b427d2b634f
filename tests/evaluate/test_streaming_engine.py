"""P5's engine replay runs every lmrec variant through the real engine without failing."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from lmrec.engine import Engine
from lmrec.evaluate.streaming import Stream, replay_engine, split_stream
from lmrec.realtime import BackgroundTrainer, TrainerPolicy

from ..conftest import MOVIES, fake_settings, sessions, tiny_model_config  # type: ignore[import-not-found]


def _stream() -> Stream:
    return split_stream(sessions(0, 30, 0.0), 0.8, 60)


def _train_engine(folder: Path, stream: Stream) -> int:
    """An engine in ``folder`` with the catalog, the training events and a trained
    model; returns how many events it holds."""
    with Engine.open(settings=fake_settings(folder)) as engine:
        engine.upsert_items(MOVIES)
        engine.ingest(list(stream.train))
        engine.train(tiny_model_config(2), progress=False)
        return engine.store.count_events()


@pytest.mark.parametrize("variant", ["static", "realtime", "realtime+learning"])
def test_every_variant_replays_through_the_engine(tmp_path: Path, variant: str) -> None:
    stream = _stream()
    base = tmp_path / "base"
    _train_engine(base, stream)

    def make() -> Engine:
        copy = tmp_path / f"run-{time.monotonic_ns()}"
        shutil.copytree(base, copy)
        return Engine.open(settings=fake_settings(copy))

    result = replay_engine(
        stream,
        make,
        variant=variant,
        learn_every=20,
        trainer_factory=lambda e: BackgroundTrainer(e, TrainerPolicy(min_new_events=1, epochs=1)),
    )
    assert result.events == len(stream.replay) > 0
    assert 0.0 <= result.hr10 <= 1.0


def test_static_serves_the_frozen_engine_and_ingests_nothing(tmp_path: Path) -> None:
    stream = _stream()
    folder = tmp_path / "engine"
    before = _train_engine(folder, stream)
    asked: list[tuple[str, int, frozenset[str]]] = []

    class Spy(Engine):
        def recommend(self, user, k=10, *, exclude=(), category=None, explain=False):  # type: ignore[no-untyped-def, override]
            asked.append((user, k, frozenset(exclude)))
            return super().recommend(user, k, exclude=exclude, category=category, explain=explain)

    result = replay_engine(
        stream, lambda: Spy.open(settings=fake_settings(folder)), variant="static"
    )
    assert result.events == len(stream.replay) == len(asked)
    with Engine.open(settings=fake_settings(folder)) as engine:
        assert engine.store.count_events() == before  # nothing replayed was ingested
    # every request is the serving path's, excluding exactly the user's items revealed so far
    revealed: dict[str, set[str]] = {}
    for e, (user, k, exclude) in zip(stream.replay, asked, strict=True):
        assert (user, k) == (e.user, 10) and exclude == frozenset(revealed.get(e.user, set()))
        if e.item is not None:
            revealed.setdefault(e.user, set()).add(e.item)


def test_a_baseline_is_tuned_on_each_training_users_last_event() -> None:
    """P5's baselines choose their grid point and stop early on a validation split,
    each training user's last event, as the engine's training holds it out; they fit
    on the rest and still see that event in the replayed histories."""
    from lmrec.evaluate.base import FitContext
    from lmrec.evaluate.baselines import RANKERS
    from lmrec.evaluate.streaming import replay_ranker
    from lmrec.interactions import Interactions

    stream = _stream()
    seen: dict[str, object] = {}

    class Spy:
        name = "spy"

        def __init__(self) -> None:
            self.inner = RANKERS["popularity"](True)

        def fit(self, train: Interactions, ctx: FitContext) -> None:
            seen["events"], seen["valid"] = len(train), ctx.valid
            self.inner.fit(train, ctx)

        def score(self, users: object, histories: object) -> object:
            return self.inner.score(users, histories)  # type: ignore[arg-type]

    item_vecs = np.zeros((len(MOVIES), 4), dtype=np.float32)
    result = replay_ranker("spy", Spy(), MOVIES, [], stream, item_vecs)  # type: ignore[arg-type]
    per_user: dict[str, int] = {}
    for e in stream.train:
        per_user[e.user] = per_user.get(e.user, 0) + 1
    held = sum(n >= 3 for n in per_user.values())
    valid = seen["valid"]
    assert valid is not None and held > 0
    assert valid.users.size == held  # type: ignore[attr-defined]
    assert seen["events"] == len(stream.train) - held
    assert result.events == len(stream.replay)
