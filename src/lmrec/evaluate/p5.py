"""Running protocol P5 (streaming replay) end to end, for ``lmrec evaluate`` and the benchmark.

P5 is not a ``Ranker`` protocol: it exercises the Engine (user state updated
per event, background training) rather than a model fitted once. This module
owns the orchestration: split the events by time, fit an engine on the past,
replay the rest through each lmrec variant on a fresh copy of that engine,
replay the baselines with per-event histories, and turn the figures into a
:class:`~lmrec.evaluate.report.ProtocolResult` so P5 sits in the same report
as P1-P4. The replay itself is :mod:`lmrec.evaluate.streaming`.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmrec.errors import InvalidInputError
from lmrec.evaluate.base import Ranker
from lmrec.evaluate.report import ModelResult, ProtocolResult, lmrec_variant
from lmrec.evaluate.streaming import StreamingResult, replay_engine, replay_ranker, split_stream
from lmrec.schema import Event, Item, User
from lmrec.text import Encoder

log = logging.getLogger(__name__)

#: Protocol name and the aliases ``lmrec evaluate --protocol`` accepts for it.
P5_NAME = "P5"
P5_ALIASES = frozenset({"P5", "streaming"})
P5_TITLE = "streaming replay: top-10 before each event is revealed (last events by time)"
P5_METRICS = ("HR@10", "NDCG@10", "HR@10 unseen users", "NDCG@10 unseen users")

VARIANTS = ("static", "realtime", "realtime+learning")
BASELINES = ("popularity", "itemknn", "ease", "sasrec")

#: Replayed events and background-training interval: full run and ``quick`` run.
FULL = (20_000, 2000)
QUICK = (400, 100)


@dataclass
class StreamingRun:
    """Every variant's and baseline's P5 figures, plus how the stream was cut."""

    results: list[StreamingResult] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    train_events: int = 0
    replay_events: int = 0
    unseen_users: int = 0
    unseen_events: int = 0
    fit_seconds: float = 0.0
    learn_every: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "protocol": "P5 streaming replay (lmrec.evaluate.streaming)",
            "train_events": self.train_events,
            "replay_events": self.replay_events,
            "unseen_users": self.unseen_users,
            "unseen_events": self.unseen_events,
            "fit_seconds": self.fit_seconds,
            "learn_every": self.learn_every,
            "results": [r.as_dict() for r in self.results],
            "errors": self.errors,
        }

    def protocol_result(self) -> ProtocolResult:
        """The figures as a report section (one row per variant or baseline)."""
        p = ProtocolResult(
            name=P5_NAME,
            title=P5_TITLE,
            metrics=list(P5_METRICS),
            lower_is_better=[],
            n_folds=1,
            n_test_cases=self.replay_events,
            notes=[
                f"Fitted on the first {self.train_events:,} events by time; "
                f"{self.replay_events:,} replayed ({self.unseen_events:,} from "
                f"{self.unseen_users:,} users unseen in training); background training "
                f"every {self.learn_every:,} events for 'real-time + learning'. "
                f"'fit s' is the engine's training time; 'score s' the replay's wall time."
            ],
        )
        for r in self.results:
            p.models.append(
                ModelResult(
                    model=r.name,
                    metrics={
                        "HR@10": r.hr10,
                        "NDCG@10": r.ndcg10,
                        "HR@10 unseen users": r.hr10_unseen,
                        "NDCG@10 unseen users": r.ndcg10_unseen,
                    },
                    std=dict.fromkeys(P5_METRICS, 0.0),
                    fit_seconds=self.fit_seconds if r.name.startswith("lmrec") else 0.0,
                    score_seconds=r.seconds,
                )
            )
        for name, err in self.errors.items():
            p.models.append(ModelResult(model=name, error=err))
        return p


def _load(
    engine: Any, items: Sequence[Item], users: Sequence[User], events: Sequence[Event]
) -> None:
    s = engine.settings
    for i in range(0, len(items), s.max_items_per_request):
        engine.upsert_items(list(items[i : i + s.max_items_per_request]))
    for i in range(0, len(users), 5000):
        engine.upsert_users(list(users[i : i + 5000]))
    for i in range(0, len(events), s.max_events_per_request):
        engine.ingest(list(events[i : i + s.max_events_per_request]))


def _every(say: Callable[[str], None], variant: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        say(f"  {variant}: {done}/{total}")

    return report


def _log_line(line: str) -> None:
    log.info("%s", line)


def run_streaming(
    items: Sequence[Item],
    users: Sequence[User],
    events: Sequence[Event],
    encoder: Encoder,
    *,
    replay: int | None = None,
    learn_every: int | None = None,
    variants: Sequence[str] = VARIANTS,
    baselines: Sequence[str] = BASELINES,
    quick: bool = False,
    seed: int = 42,
    work_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    model_overrides: Mapping[str, object] | None = None,
) -> StreamingRun:
    """Run P5: fit an engine on the first 80% of events, replay the last ones.

    Args:
        items: The catalog.
        users: User profiles (may be empty).
        events: Every event (sorted by time here).
        encoder: The language model every engine copy shares (loaded once).
        replay: Events replayed; 20,000 (400 when ``quick``) by default.
        learn_every: Replayed events between background-training steps.
        variants: lmrec variants (``static``, ``realtime``, ``realtime+learning``).
        baselines: Ranker names from the registry, replayed with per-event histories.
        quick: Two training epochs and a short replay (tests, smoke runs).
        seed: Seed of the baselines.
        work_dir: Scratch folder for the engine copies (a temporary one by default;
            removed afterwards either way).
        progress: Called with a short line now and then.
        model_overrides: Changes to the engine's :class:`~lmrec.model.ModelConfig`
            (``lmrec evaluate --set``); its rows are then named after them
            (``lmrec[dim=128] real-time``), and the background trainer keeps them,
            since it fine-tunes with the serving model's config.

    Returns:
        The figures of every variant and baseline (a failing one is recorded in
        ``errors``, the others still run).
    """
    from lmrec.engine import Engine
    from lmrec.evaluate.runner import MODELS
    from lmrec.interactions import item_text
    from lmrec.model import ModelConfig
    from lmrec.realtime import BackgroundTrainer, TrainerPolicy
    from lmrec.settings import Settings

    say: Callable[[str], None] = progress or _log_line
    changes = dict(model_overrides or {})
    label = lmrec_variant(changes)
    default_replay, default_every = QUICK if quick else FULL
    stream = split_stream(events, 0.8, replay or default_replay)
    run = StreamingRun(
        train_events=len(stream.train),
        replay_events=len(stream.replay),
        unseen_users=len(stream.unseen_users),
        unseen_events=sum(e.user in stream.unseen_users for e in stream.replay),
        learn_every=learn_every or default_every,
    )
    say(
        f"P5: train {run.train_events} events, replay {run.replay_events} "
        f"({run.unseen_events} from {run.unseen_users} unseen users)"
    )
    work = Path(tempfile.mkdtemp(prefix="lmrec-p5-", dir=work_dir))
    try:
        base = work / "base"
        started = time.monotonic()
        with Engine.open(settings=Settings(data_dir=base), encoder=encoder) as engine:
            _load(engine, items, users, stream.train)
            quick_epochs = {"max_epochs": 2} if quick else {}
            config = ModelConfig().replace(**{**quick_epochs, **changes})
            engine.train(config, progress=False)
        run.fit_seconds = time.monotonic() - started

        def make_engine() -> Engine:
            copy = work / f"run-{time.monotonic_ns()}"
            shutil.copytree(base, copy)
            return Engine.open(settings=Settings(data_dir=copy), encoder=encoder)

        def trainer(engine: Engine) -> BackgroundTrainer:
            epochs = 1 if quick else 2
            return BackgroundTrainer(engine, TrainerPolicy(min_new_events=1, epochs=epochs))

        for variant in variants:
            try:
                r = replay_engine(
                    stream,
                    make_engine,
                    variant=variant,
                    learn_every=run.learn_every,
                    trainer_factory=trainer,
                    progress=_every(say, variant),
                    label=label,
                )
            except Exception as exc:  # one failing variant must not sink the others
                log.exception("P5 variant %s failed", variant)
                run.errors[f"{label} {variant}"] = f"{type(exc).__name__}: {exc}"
                continue
            say(f"  {r.name}: HR@10 {r.hr10:.4f} NDCG@10 {r.ndcg10:.4f}")
            run.results.append(r)
        if baselines:
            item_vecs = encoder.encode([item_text(it) for it in items])
            for name in baselines:
                try:
                    ranker = MODELS[name]["ranker"](quick)
                    if not isinstance(ranker, Ranker):
                        raise InvalidInputError(f"{name} is not a ranker")
                    r = replay_ranker(name, ranker, items, users, stream, item_vecs, seed=seed)
                except Exception as exc:
                    log.exception("P5 baseline %s failed", name)
                    run.errors[name] = f"{type(exc).__name__}: {exc}"
                    continue
                say(f"  {r.name}: HR@10 {r.hr10:.4f} NDCG@10 {r.ndcg10:.4f}")
                run.results.append(r)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return run
