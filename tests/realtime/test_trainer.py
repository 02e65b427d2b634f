"""Background learning: fine-tune on new events, promote if not worse, never break serving."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmrec.engine import Engine
from lmrec.realtime import BackgroundTrainer, TrainerPolicy

from ..conftest import (  # type: ignore[import-not-found]
    MOVIES,
    fake_settings,
    sessions,
    tiny_model_config,
)

TINY = tiny_model_config(6)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine.open(settings=fake_settings(tmp_path))
    eng.upsert_items(MOVIES)
    eng.ingest(sessions(0, 20, 0.0))
    eng.train(TINY, progress=False)
    yield eng
    eng.close()


def test_not_due_without_new_events(engine: Engine) -> None:
    trainer = BackgroundTrainer(engine, TrainerPolicy(min_new_events=5, interval_s=3600))
    assert not trainer.due()
    assert not trainer.step().trained
    engine.ingest(sessions(100, 2, 1e6))
    assert trainer.due()


def test_step_fine_tunes_and_promotes_what_is_not_worse(engine: Engine, tmp_path: Path) -> None:
    first = engine.model_version
    engine.ingest(sessions(20, 10, 1e6))
    trainer = BackgroundTrainer(engine, TrainerPolicy(min_new_events=5, epochs=2, tolerance=1.0))
    outcome = trainer.step()
    assert outcome.trained and outcome.promoted
    assert outcome.candidate is not None and outcome.candidate.active
    assert outcome.candidate_ndcg is not None and outcome.serving_ndcg is not None
    assert outcome.candidate.metrics["events_seen"] == engine.store.last_seq()
    assert engine.store.active_model().version == outcome.candidate.version  # type: ignore[union-attr]
    # A server process on the same store swaps on its next request, in the background.
    with Engine.open(settings=fake_settings(tmp_path)) as server:
        assert server.model_version == outcome.candidate.version
    assert first != outcome.candidate.version
    assert not trainer.due()  # the new model has seen every event


def test_worse_candidate_is_registered_but_not_promoted(engine: Engine) -> None:
    engine.ingest(sessions(20, 10, 1e6))
    serving = engine.store.active_model()
    trainer = BackgroundTrainer(engine, TrainerPolicy(min_new_events=5, epochs=1, tolerance=-2.0))
    outcome = trainer.step()  # tolerance < -1: no candidate can count as "not worse"
    assert outcome.trained and not outcome.promoted
    assert engine.store.active_model() == serving
    assert len(engine.store.list_models()) == 2


def test_failed_step_leaves_serving_intact(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import lmrec.realtime.trainer as trainer_module

    engine.ingest(sessions(20, 10, 1e6))
    before = engine.store.active_model()
    recs = engine.recommend("u1", k=3)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated crash while training")

    monkeypatch.setattr(trainer_module, "fit", broken)
    trainer = BackgroundTrainer(engine, TrainerPolicy(min_new_events=5, poll_s=0.01))
    with pytest.raises(RuntimeError):
        trainer.step()
    assert engine.store.active_model() == before
    assert engine.store.list_models() == [before]
    assert engine.recommend("u1", k=3) == recs
    # The loop survives failed steps.
    import threading

    stop = threading.Event()
    loop = threading.Thread(target=trainer.run, args=(stop,))
    loop.start()
    time.sleep(0.2)
    stop.set()
    loop.join(5)
    assert not loop.is_alive()


def test_fine_tuning_runs_at_the_policy_share_of_the_learning_rate(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lmrec.realtime.trainer as trainer_module

    seen: list[float] = []
    real_fit = trainer_module.fit

    def spy(data, cfg, **kw):  # type: ignore[no-untyped-def]
        seen.append(cfg.lr)
        return real_fit(data, cfg, **kw)

    monkeypatch.setattr(trainer_module, "fit", spy)
    engine.ingest(sessions(20, 10, 1e6))
    BackgroundTrainer(engine, TrainerPolicy(min_new_events=5, epochs=1, lr_scale=0.1)).step()
    assert seen == [pytest.approx(TINY.lr * 0.1)]
