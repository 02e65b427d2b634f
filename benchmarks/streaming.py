"""Protocol P5 (streaming replay) on MovieLens-100K: static vs real-time vs real-time + learning.

Fits lmrec on the first 80% of events by time, then replays the last 20,000
events one at a time (top-10 asked before each event is revealed), for the
lmrec variants and for baselines with per-event user state. See
``lmrec.evaluate.streaming`` for the exact protocol.

Writes ``benchmarks/results/streaming.json`` and ``.md``.

Usage: ``.venv/bin/python benchmarks/streaming.py [--replay 20000] [--learn-every 2000]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


from lmrec.cli import load_into
from lmrec.data import load_dataset
from lmrec.engine import Engine
from lmrec.evaluate.baselines import RANKERS
from lmrec.evaluate.streaming import StreamingResult, replay_engine, replay_ranker, split_stream
from lmrec.interactions import item_text
from lmrec.realtime import BackgroundTrainer, TrainerPolicy
from lmrec.settings import Settings
from lmrec.text import load_encoder

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replay", type=int, default=20_000)
    parser.add_argument("--learn-every", type=int, default=2000)
    parser.add_argument("--baselines", default="popularity,itemknn,ease,sasrec")
    parser.add_argument("--variants", default="static,realtime,realtime+learning")
    args = parser.parse_args()

    ds = load_dataset("ml-100k")
    stream = split_stream(ds.events, 0.8, args.replay)
    print(
        f"train {len(stream.train)} events, replay {len(stream.replay)} "
        f"({sum(e.user in stream.unseen_users for e in stream.replay)} from "
        f"{len(stream.unseen_users)} unseen users)",
        file=sys.stderr,
    )
    encoder = load_encoder("all-MiniLM-L6-v2", device="cpu")
    results: list[StreamingResult] = []
    work = Path(tempfile.mkdtemp(prefix="lmrec-p5-"))
    base = work / "base"
    fit_started = time.monotonic()
    with Engine.open(settings=Settings(data_dir=base), encoder=encoder) as engine:
        load_into(engine, ds.items, ds.users, stream.train)
        engine.train()
    fit_seconds = time.monotonic() - fit_started

    def make_engine() -> Engine:
        copy = work / f"run-{time.monotonic_ns()}"
        shutil.copytree(base, copy)
        return Engine.open(settings=Settings(data_dir=copy), encoder=encoder)

    def trainer(engine: Engine) -> BackgroundTrainer:
        return BackgroundTrainer(engine, TrainerPolicy(min_new_events=1, epochs=2))

    for variant in args.variants.split(","):
        r = replay_engine(
            stream,
            make_engine,
            variant=variant,
            learn_every=args.learn_every,
            trainer_factory=trainer,
            progress=lambda n, t, v=variant: print(f"  {v}: {n}/{t}", file=sys.stderr),
        )
        print(r, file=sys.stderr)
        results.append(r)
    item_vecs = encoder.encode([item_text(it) for it in ds.items])
    for name in [b for b in args.baselines.split(",") if b]:
        r = replay_ranker(name, RANKERS[name](False), ds.items, ds.users, stream, item_vecs)
        print(r, file=sys.stderr)
        results.append(r)
    shutil.rmtree(work, ignore_errors=True)

    RESULTS.mkdir(exist_ok=True)
    payload = {
        "protocol": "P5 streaming replay (lmrec.evaluate.streaming)",
        "train_events": len(stream.train),
        "replay_events": len(stream.replay),
        "unseen_users": len(stream.unseen_users),
        "fit_seconds": fit_seconds,
        "learn_every": args.learn_every,
        "results": [r.as_dict() for r in results],
    }
    (RESULTS / "streaming.json").write_text(json.dumps(payload, indent=2) + "\n")
    lines = [
        "# P5 streaming replay on MovieLens-100K (`.venv/bin/python benchmarks/streaming.py`)",
        "",
        f"Fit on the first {len(stream.train):,} events by time; replay {len(stream.replay):,} "
        f"({payload['results'][0]['unseen_events'] if results else 0:,} from "
        f"{len(stream.unseen_users)} users unseen in training).",
        "",
        "| model | HR@10 | NDCG@10 | HR@10 unseen users | NDCG@10 unseen users | seconds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.hr10:.4f} | {r.ndcg10:.4f} | {r.hr10_unseen:.4f} | "
            f"{r.ndcg10_unseen:.4f} | {r.seconds:.0f} |"
        )
    (RESULTS / "streaming.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
