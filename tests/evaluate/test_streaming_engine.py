"""P5's engine replay runs every lmrec variant through the real engine without failing."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from lmrec.engine import Engine
from lmrec.evaluate.streaming import replay_engine, split_stream
from lmrec.realtime import BackgroundTrainer, TrainerPolicy

from ..conftest import MOVIES, fake_settings, sessions, tiny_model_config  # type: ignore[import-not-found]


@pytest.mark.parametrize("variant", ["static", "realtime", "realtime+learning"])
def test_every_variant_replays_through_the_engine(tmp_path: Path, variant: str) -> None:
    events = sessions(0, 30, 0.0)
    stream = split_stream(events, 0.8, 60)
    base = tmp_path / "base"
    with Engine.open(settings=fake_settings(base)) as engine:
        engine.upsert_items(MOVIES)
        engine.ingest(list(stream.train))
        engine.train(tiny_model_config(2), progress=False)

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
