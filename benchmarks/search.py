"""Search benchmark: protocol P4, known-item search and HTTP latency on MovieLens-100K.

Measures, on the machine it runs on, with the bundled all-MiniLM-L6-v2:

* **P4** (personalized search, see ``lmrec.evaluate.search_protocol``): the
  Engine's search at several personalization weights (the weight is chosen on
  validation cases, reported on test cases), for each fusion (reciprocal rank
  vs linear) and popularity prior; anonymous search (query relevance only);
  and the restricted baselines ``popularity`` and ``ease`` through the P4
  entry of the protocol registry;
* **known-item search**: every film's exact title as the query, anonymous;
  rank-1 and top-3 rates (a title shared by several films counts if any of
  them ranks first), for each fusion, with and without exact-title-first;
* **latency over HTTP**: a real ``lmrec serve`` process on 127.0.0.1 and a
  loopback httpx client with bounded concurrency; *cold* queries are all
  distinct (each one is encoded by the model), *warm* ones repeat a small set
  (query-embedding cache hits).

Writes ``benchmarks/results/search.json`` and ``.md``.

Usage: ``.venv/bin/python benchmarks/search.py [--only p4,known,latency] [--quick]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

from lmrec.data import load_dataset
from lmrec.engine import Engine
from lmrec.engine.search import SearchConfig
from lmrec.evaluate.base import FitContext
from lmrec.evaluate.baselines import RANKERS
from lmrec.evaluate.protocols import split_next_item
from lmrec.evaluate.search_protocol import evaluate_search, run_engine_p4
from lmrec.evaluate.vectors import cached_vectors
from lmrec.interactions import Interactions, item_text
from lmrec.schema import Item
from lmrec.settings import Settings
from lmrec.text import Encoder, load_encoder, text_hash
from lmrec.text.tokenize import fold

RESULTS = Path(__file__).parent / "results"
ENCODER = "all-MiniLM-L6-v2"


def memory_engine(
    encoder: Encoder, texts: list[str], vecs: np.ndarray, cfg: SearchConfig
) -> Engine:
    """An in-memory engine whose item embeddings are pre-seeded (no re-encoding)."""
    settings = Settings(store="memory", encoder=ENCODER, data_dir=Path(tempfile.gettempdir()))
    engine = Engine.open(settings=settings, encoder=encoder)
    engine.store.put_embeddings(
        encoder.name, {text_hash(t): v for t, v in zip(texts, vecs, strict=True)}
    )
    engine._searcher.config = cfg  # benchmark-only: compare configurations
    return engine


def upsert_all(engine: Engine, items: list[Item]) -> None:
    step = engine.settings.max_items_per_request
    for i in range(0, len(items), step):
        engine.upsert_items(items[i : i + step])


# --------------------------------------------------------------------------- P4


def bench_p4(ds: Any, encoder: Encoder, texts: list[str], vecs: np.ndarray, quick: bool) -> dict:
    events = sorted(ds.events, key=lambda e: e.ts)
    weights = (0.0, 0.3, 0.6, 1.0)
    configs = [
        ("rrf", SearchConfig(fusion="rrf", prior_weight=0.0)),
        ("linear", SearchConfig(fusion="linear", prior_weight=0.0)),
        ("rrf+prior0.5", SearchConfig(fusion="rrf", prior_weight=0.5)),
        ("linear+prior0.5", SearchConfig(fusion="linear", prior_weight=0.5)),
    ]
    out: dict[str, Any] = {"engine": {}, "baselines": {}}
    max_cases = 100 if quick else None
    for name, cfg in configs:
        t0 = time.perf_counter()
        r = run_engine_p4(
            ds.items,
            events,
            lambda cfg=cfg: memory_engine(encoder, texts, vecs, cfg),
            weights,
            max_cases=max_cases,
        )
        best = r.best_weight
        out["engine"][name] = {
            "valid": {str(w): m for w, m in r.valid.items()},
            "test": {str(w): m for w, m in r.test.items()},
            "relevance_only": r.relevance_only,
            "best_weight": best,
            "test_at_best": r.test[best],
            "seconds": r.seconds,
        }
        print(f"P4 {name}: best w={best} test {r.test[best]} anon {r.relevance_only} "
              f"({time.perf_counter() - t0:.0f}s)", flush=True)  # fmt: skip
    data = Interactions.from_records(ds.items, events)
    fold_ = split_next_item(data)[0]
    ctx = FitContext(
        item_vectors=vecs,
        user_vectors=np.zeros((data.n_users, vecs.shape[1]), dtype=np.float32),
        valid=fold_.valid,
    )
    for name in ("popularity", "ease"):
        model = RANKERS[name](quick)
        model.fit(fold_.train, ctx)
        out["baselines"][name] = evaluate_search(model, fold_)
        print(f"P4 {name} restricted: {out['baselines'][name]}", flush=True)
    return out


# --------------------------------------------------------------------------- known item


def bench_known_item(ds: Any, encoder: Encoder, texts: list[str], vecs: np.ndarray) -> dict:
    engine = memory_engine(encoder, texts, vecs, SearchConfig())
    upsert_all(engine, ds.items)
    titles = {it.id: fold(it.title) for it in ds.items}
    out: dict[str, Any] = {}
    for fusion in ("rrf", "linear"):
        for exact in (True, False):
            engine._searcher.config = SearchConfig(fusion=fusion, exact_title_first=exact)
            top1 = top3 = 0
            misses: list[str] = []
            for it in ds.items:
                got = engine.search(it.title, k=3).ids
                hit = [titles[g] == titles[it.id] for g in got]
                top1 += bool(hit and hit[0])
                top3 += any(hit)
                if not (hit and hit[0]) and len(misses) < 10:
                    misses.append(it.title)
            n = len(ds.items)
            key = f"{fusion}{'' if exact else ' (no exact-title rule)'}"
            out[key] = {"rank1": top1 / n, "top3": top3 / n, "films": n, "misses": misses}
            print(f"known-item {key}: rank1 {top1 / n:.4f} top3 {top3 / n:.4f}", flush=True)
    engine.close()
    return out


# --------------------------------------------------------------------------- latency


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {
        "n": int(a.size),
        "p50_ms": float(np.percentile(a, 50)),
        "p95_ms": float(np.percentile(a, 95)),
        "p99_ms": float(np.percentile(a, 99)),
        "max_ms": float(a.max()),
    }


async def _load(port: int, queries: list[dict[str, str]], concurrency: int) -> list[float]:
    import httpx

    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as client:

        async def one(params: dict[str, str]) -> None:
            async with sem:
                t0 = time.perf_counter()
                r = await client.get("/v1/search", params=params)
                lat.append((time.perf_counter() - t0) * 1000.0)
                r.raise_for_status()

        await asyncio.gather(*(one(q) for q in queries))
    return lat


def bench_latency(ds: Any, n: int, concurrency: int) -> dict:
    rng = random.Random(0)
    words = sorted({w for it in ds.items for w in fold(it.title).split() if w.isalpha()})
    users = sorted({e.user for e in ds.events})
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        with Engine.open(settings=Settings(data_dir=data, encoder=ENCODER, device="cpu")) as eng:
            upsert_all(eng, ds.items)
            step = eng.settings.max_events_per_request
            for i in range(0, len(ds.events), step):
                eng.ingest(ds.events[i : i + step])
        port = _free_port()
        env = dict(os.environ, LMREC_DEVICE="cpu", OMP_NUM_THREADS="1")
        proc = subprocess.Popen(
            [sys.executable, "-m", "lmrec", "serve", "--data-dir", str(data),
             "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            import httpx

            deadline = time.time() + 180
            while time.time() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/v1/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            else:
                raise RuntimeError("server did not start")

            def query(i: int) -> dict[str, str]:
                q = " ".join(rng.sample(words, 2)) + f" {i}"
                p = {"q": q, "k": "10"}
                if i % 2 == 0:
                    p["user"] = rng.choice(users)
                return p

            asyncio.run(_load(port, [query(-i - 1) for i in range(50)], concurrency))  # warm-up
            cold = asyncio.run(_load(port, [query(i) for i in range(n)], concurrency))
            hot = [query(10**6 + i) for i in range(50)]
            asyncio.run(_load(port, hot, concurrency))
            warm = asyncio.run(_load(port, [hot[rng.randrange(50)] for _ in range(n)], concurrency))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    out = {
        "concurrency": concurrency,
        "cold_unique_queries": _percentiles(cold),
        "warm_cached_queries": _percentiles(warm),
    }
    print(f"latency: {out}", flush=True)
    return out


# --------------------------------------------------------------------------- report


def write_markdown(res: dict[str, Any], path: Path) -> None:
    lines = ["# Search benchmark (MovieLens-100K, all-MiniLM-L6-v2, CPU)", ""]
    lines.append(f"Machine: {res['machine']}. Command: `{res['command']}`.")
    lines.append("")
    if "p4" in res:
        lines += ["## P4 personalized search (test cases; weight chosen on validation)", "",
                  "| configuration | best personalize | NDCG@10 | MRR | relevance only NDCG@10 |",
                  "| --- | --- | --- | --- | --- |"]  # fmt: skip
        for name, r in res["p4"]["engine"].items():
            t = r["test_at_best"]
            lines.append(
                f"| engine {name} | {r['best_weight']} | {t['NDCG@10']:.4f} | {t['MRR']:.4f} "
                f"| {r['relevance_only']['NDCG@10']:.4f} |"
            )
        for name, m in res["p4"]["baselines"].items():
            lines.append(f"| {name} restricted | – | {m['NDCG@10']:.4f} | {m['MRR']:.4f} | – |")
        lines.append("")
        lines.append("NDCG@10 by weight (test): ")
        for name, r in res["p4"]["engine"].items():
            cells = ", ".join(f"{w}: {m['NDCG@10']:.4f}" for w, m in r["test"].items())
            lines.append(f"- {name}: {cells}")
        lines.append("")
    if "known_item" in res:
        lines += ["## Known-item search (exact title as query, anonymous)", "",
                  "| fusion | rank 1 | top 3 |", "| --- | --- | --- |"]  # fmt: skip
        for name, r in res["known_item"].items():
            lines.append(f"| {name} | {r['rank1']:.4f} | {r['top3']:.4f} |")
        lines.append("")
    if "latency" in res:
        lat = res["latency"]
        lines += [f"## Latency over HTTP (concurrency {lat['concurrency']})", "",
                  "| queries | n | p50 ms | p95 ms | p99 ms | max ms |",
                  "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for name in ("cold_unique_queries", "warm_cached_queries"):
            p = lat[name]
            lines.append(
                f"| {name} | {p['n']} | {p['p50_ms']:.1f} | {p['p95_ms']:.1f} "
                f"| {p['p99_ms']:.1f} | {p['max_ms']:.1f} |"
            )
        lines.append("")
    path.write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="p4,known,latency")
    ap.add_argument("--quick", action="store_true", help="100 P4 cases, quick baselines")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2, help="torch threads in this process")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    parts = set(args.only.split(","))
    ds = load_dataset("ml-100k", cache_dir=Settings().cache_dir / "datasets")
    res: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "command": "python benchmarks/search.py " + " ".join(sys.argv[1:]),
        "dataset": "ml-100k",
        "encoder": ENCODER,
    }
    out_json = RESULTS / "search.json"
    if out_json.exists():  # keep parts not rerun
        res = {**json.loads(out_json.read_text()), **res}
    if parts & {"p4", "known"}:
        encoder = load_encoder(ENCODER, device="cpu")
        texts = [item_text(it) for it in ds.items]
        vecs = cached_vectors(texts, encoder, Settings().cache_dir / "bench-vectors")
        if "p4" in parts:
            res["p4"] = bench_p4(ds, encoder, texts, vecs, args.quick)
        if "known" in parts:
            res["known_item"] = bench_known_item(ds, encoder, texts, vecs)
    if "latency" in parts:
        res["latency"] = bench_latency(ds, args.requests, args.concurrency)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(res, indent=2))
    write_markdown(res, RESULTS / "search.md")


if __name__ == "__main__":
    main()
