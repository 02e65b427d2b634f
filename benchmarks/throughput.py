"""Throughput benchmark: durable event ingest and item encoding.

Measures, on the machine it runs on:

* durable events ingested per second through ``Engine.ingest`` into the SQLite
  store, in batches of 1,000 (each batch committed with ``synchronous=FULL``
  before it is acknowledged), using MovieLens-100K's real rating events;
* items encoded per second by the bundled all-MiniLM-L6-v2 over MovieLens-100K
  item texts (cold cache), with 1 torch thread and with all cores.

Writes ``benchmarks/results/throughput.json`` and ``.md``.

Usage: ``.venv/bin/python benchmarks/throughput.py [--events 100000]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from lmrec.data import load_dataset
from lmrec.engine import Engine
from lmrec.interactions import item_text
from lmrec.settings import Settings
from lmrec.text import load_encoder

RESULTS = Path(__file__).parent / "results"


def bench_ingest(events: list, batch: int, repeats: int) -> dict[str, float]:
    rates = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            engine = Engine.open(settings=Settings(data_dir=Path(tmp), encoder="fake"))
            start = time.perf_counter()
            for i in range(0, len(events), batch):
                engine.ingest(events[i : i + batch])
            elapsed = time.perf_counter() - start
            assert engine.stats().events == len(events)
            engine.close()
        rates.append(len(events) / elapsed)
    return {"events_per_s_median": statistics.median(rates), "runs": rates}  # type: ignore[dict-item]


def bench_encode(texts: list[str], threads: int) -> float:
    torch.set_num_threads(threads)
    encoder = load_encoder("all-MiniLM-L6-v2", device="cpu", batch_size=64)
    encoder.encode(texts[:64])  # warm-up
    start = time.perf_counter()
    encoder.encode(texts)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    ds = load_dataset("ml-100k")
    events = sorted(ds.events, key=lambda e: e.ts)[: args.events]
    texts = [item_text(it) for it in ds.items]
    ingest = bench_ingest(events, args.batch, args.repeats)
    cores = os.cpu_count() or 1
    enc_1 = bench_encode(texts, 1)
    enc_all = bench_encode(texts, cores)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {cores} cores, CPU only",
        "ingest": {"batch": args.batch, "events": len(events), **ingest},
        "encode": {
            "texts": len(texts),
            "encoder": "all-MiniLM-L6-v2",
            "texts_per_s_1_thread": enc_1,
            f"texts_per_s_{cores}_threads": enc_all,
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    md = (
        "# Throughput (`.venv/bin/python benchmarks/throughput.py`)\n\n"
        f"Machine: {result['machine']}\n\n"
        "| what | result |\n| --- | --- |\n"
        f"| durable ingest, batches of {args.batch} (SQLite, synchronous=FULL) | "
        f"{ingest['events_per_s_median']:,.0f} events/s (median of {args.repeats}) |\n"
        f"| item encoding, all-MiniLM-L6-v2, 1 thread | {enc_1:,.0f} items/s |\n"
        f"| item encoding, all-MiniLM-L6-v2, {cores} threads | {enc_all:,.0f} items/s |\n"
    )
    (RESULTS / "throughput.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
