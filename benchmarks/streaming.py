"""Protocol P5 (streaming replay) on MovieLens-100K: static vs real-time vs real-time + learning.

Fits lmrec on the first 80% of events by time, then replays the last 20,000
events one at a time (top-10 asked before each event is revealed), for the
lmrec variants and for baselines with per-event user state. See
``lmrec.evaluate.streaming`` for the exact protocol.

The orchestration lives in :func:`lmrec.evaluate.p5.run_streaming`, which
``lmrec evaluate --protocol streaming`` also runs. Writes
``benchmarks/results/streaming.json`` and ``.md``.

Usage: ``.venv/bin/python benchmarks/streaming.py [--replay 20000] [--learn-every 2000]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


from lmrec.data import load_dataset
from lmrec.evaluate.p5 import run_streaming
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
    run = run_streaming(
        ds.items,
        ds.users,
        ds.events,
        load_encoder("all-MiniLM-L6-v2", device="cpu"),
        replay=args.replay,
        learn_every=args.learn_every,
        variants=[v for v in args.variants.split(",") if v],
        baselines=[b for b in args.baselines.split(",") if b],
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    RESULTS.mkdir(exist_ok=True)
    payload = run.as_dict()
    (RESULTS / "streaming.json").write_text(json.dumps(payload, indent=2) + "\n")
    lines = [
        "# P5 streaming replay on MovieLens-100K (`.venv/bin/python benchmarks/streaming.py`)",
        "",
        f"Fit on the first {run.train_events:,} events by time; replay {run.replay_events:,} "
        f"({run.unseen_events:,} from {run.unseen_users} users unseen in training).",
        "",
        "| model | HR@10 | NDCG@10 | HR@10 unseen users | NDCG@10 unseen users | seconds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in run.results:
        lines.append(
            f"| {r.name} | {r.hr10:.4f} | {r.ndcg10:.4f} | {r.hr10_unseen:.4f} | "
            f"{r.ndcg10_unseen:.4f} | {r.seconds:.0f} |"
        )
    for name, err in run.errors.items():
        lines.append(f"| {name} | failed: {err} | | | | |")
    (RESULTS / "streaming.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
