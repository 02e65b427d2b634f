"""Training benchmark: how long the default model takes to train, and its throughput.

Trains lmrec's default next-item model on protocol P1's split of MovieLens-100K
(what ``lmrec evaluate --protocol P1`` trains) on one device, then, for each batch
size asked for, trains a fresh model for a fixed number of epochs without
validation to measure throughput alone.

A *sample* is one next-item target: a (user state, next item) pair scored by
full softmax against the whole catalog (see ``EpochLog``). Samples per second
count only the optimisation steps (forward, backward, update, the device
synchronised each step), not validation or the second stage's fitting.

The device comes from ``--device`` (``auto`` picks CUDA when present, as
``LMREC_DEVICE`` does). The machine and device are written with every figure.
Writes ``benchmarks/results/training.json`` and ``.md`` (or ``--out``).

Usage: ``.venv/bin/python benchmarks/training.py [--device auto] [--batch-sizes 32,64,1024]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from lmrec.allocator import keep_freed_memory
from lmrec.data import load_dataset
from lmrec.evaluate.protocols import split_next_item
from lmrec.evaluate.vectors import cached_vector_sets
from lmrec.interactions import Interactions
from lmrec.model import ModelConfig, TrainedModel, train_model
from lmrec.settings import Settings
from lmrec.text.encoder import resolve_device

RESULTS = Path(__file__).parent / "results"


def describe(device: str) -> str:
    """The machine and the device the figures come from."""
    cores = os.cpu_count() or 1
    cpu = f"{platform.processor() or platform.machine()}, {cores} cores"
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(torch.device(device))} (CUDA), host {cpu}"
    return f"{cpu}, CPU only ({torch.get_num_threads()} torch threads)"


def throughput(model: TrainedModel) -> dict[str, float]:
    """Samples, step seconds and samples per second over the model's epochs."""
    samples = sum(e.samples for e in model.log)
    seconds = sum(e.step_seconds for e in model.log)
    return {
        "epochs": len(model.log),
        "samples": samples,
        "step_seconds": seconds,
        "samples_per_s": model.samples_per_second,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--batch-sizes",
        default="32",
        help="comma-separated windows per step for the throughput runs (32 is the default)",
    )
    parser.add_argument("--epochs", type=int, default=3, help="epochs per throughput run")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    # As `lmrec train` does (lmrec.allocator); LMREC_KEEP_FREED_MEMORY=0 measures without.
    kept = keep_freed_memory()
    device = resolve_device(args.device)
    settings = Settings()
    ds = load_dataset("ml-100k", settings=settings)
    data = Interactions.from_records(ds.items, ds.events, ds.users)
    cache = settings.data_dir / "cache" / "vectors"
    item_vectors, user_vectors = cached_vector_sets(
        [data.item_texts, data.user_texts], settings.encoder, cache
    )
    fold = split_next_item(data, args.seed)[0]
    base = ModelConfig(device=device, seed=args.seed)

    # 1. The full default training, early stopping and second stage included.
    started = time.perf_counter()
    model = train_model(
        fold.train, item_vectors, user_vectors, base, valid=fold.valid, progress=True
    )
    full = {
        "wall_seconds": time.perf_counter() - started,
        "best_valid_ndcg10": max(e.metric for e in model.log),
        **throughput(model),
    }
    # 2. Throughput alone: fixed epochs, no validation, at each batch size.
    runs = []
    for size in (int(s) for s in args.batch_sizes.split(",")):
        cfg = base.replace(batch_size=size, max_epochs=args.epochs, rerank_shortlist=0)
        fixed = train_model(fold.train, item_vectors, user_vectors, cfg, progress=False)
        runs.append({"batch_size": size, **throughput(fixed)})

    result = {
        "device": describe(device),
        "torch": torch.__version__,
        "freed_memory_kept": kept,
        "dataset": f"ml-100k, P1 training split (seed {args.seed})",
        "training_events": len(fold.train),
        "default_training": full,
        "throughput": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "training.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Training (`.venv/bin/python benchmarks/training.py "
        f"--device {args.device} --batch-sizes {args.batch_sizes} --epochs {args.epochs}`)",
        "",
        f"Device: {result['device']}; torch {result['torch']}; freed memory kept "
        f"(lmrec.allocator): {'yes' if kept else 'no'}.",
        f"Data: {result['dataset']}, {len(fold.train):,} events.",
        "",
        "| run | epochs | wall seconds | samples/s (steps only) |",
        "| --- | --- | --- | --- |",
        f"| default training (early stopping, second stage; batch {base.batch_size}) "
        f"| {full['epochs']} | {full['wall_seconds']:.0f} | {full['samples_per_s']:,.0f} |",
    ]
    for run in runs:
        lines.append(
            f"| fixed epochs, batch {run['batch_size']} | {run['epochs']} "
            f"| {run['step_seconds']:.1f} (steps) | {run['samples_per_s']:,.0f} |"
        )
    md = "\n".join(lines) + "\n"
    (args.out / "training.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
