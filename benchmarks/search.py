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
* **fusion**: reciprocal rank fusion against a linear mix of normalized BM25
  and cosine whose BM25 share is tuned on half of the queries, on the other
  half: a semantic query set built from ML-100K's genre and release-year
  labels (NDCG@10; see :func:`semantic_queries`) and known-item titles
  (rank-1, top-3), with the exact-title rule off so fusion alone decides;
* **lexical at 100k items**: BM25 query time and new item -> first search
  hit, in process, on ML-100K grown to 100k items with synthetic films;
* **latency over HTTP**: a real ``lmrec serve`` process on 127.0.0.1 and a
  loopback httpx client with bounded concurrency; *cold* queries are all
  distinct (each one is encoded by the model), *warm* ones repeat a small set
  (query-embedding cache hits).

Writes ``benchmarks/results/search.json`` and ``.md`` (or into ``--results``), keeping
the sections not rerun; each section records the command that produced it and the
latency section its throughput (requests / wall time of the loaded phase) and the
machine's load average.

Usage: ``.venv/bin/python benchmarks/search.py [--only p4,known,fusion,lexical100k,latency]
[--quick]``
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
from synthetic import grow_catalog

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


# --------------------------------------------------------------------------- fusion

#: Linear-fusion BM25 shares tried when tuning (the rest of the weight is dense).
LEXICAL_GRID = tuple(round(0.1 * i, 1) for i in range(11))


def semantic_queries(ds: Any) -> list[tuple[str, set[str]]]:
    """Descriptive queries with relevance taken from ML-100K's own metadata, nobody's judgement.

    For each genre ``g`` of the ``class`` field of ``ml-100k.item``: the query
    ``g`` (e.g. ``Film-Noir``), relevant = every film labelled ``g``; and for each
    decade ``d`` (from ``release_year``) with at least 5 films of genre ``g``:
    the query ``"<g> films from the <d>s"`` (e.g. ``Western films from the 1950s``),
    relevant = films labelled ``g`` released in ``d .. d+9``. Sorted by query text.
    """
    by_genre: dict[str, set[str]] = {}
    by_decade: dict[tuple[str, int], set[str]] = {}
    for it in ds.items:
        year = it.metadata.get("year")
        for g in it.categories:
            by_genre.setdefault(g, set()).add(it.id)
            if isinstance(year, int):
                by_decade.setdefault((g, year // 10 * 10), set()).add(it.id)
    out = [(g, ids) for g, ids in by_genre.items()]
    out += [(f"{g} films from the {d}s", ids) for (g, d), ids in by_decade.items() if len(ids) >= 5]
    return sorted(out, key=lambda q: q[0])


def _ndcg10(got: list[str], relevant: set[str]) -> float:
    dcg = sum(1.0 / np.log2(r + 2) for r, i in enumerate(got[:10]) if i in relevant)
    ideal = sum(1.0 / np.log2(r + 2) for r in range(min(10, len(relevant))))
    return float(dcg / ideal) if ideal > 0 else 0.0


def _fusion_scores(
    engine: Engine,
    cfg: SearchConfig,
    semantic: list[tuple[str, set[str]]],
    titles: list[Item],
    folded: dict[str, str],
) -> dict[str, float]:
    """Semantic NDCG@10 and known-item rank-1/top-3 (anonymous) under one configuration."""
    engine._searcher.config = cfg  # benchmark-only: compare configurations
    ndcg = [_ndcg10(list(engine.search(q, k=10).ids), rel) for q, rel in semantic]
    top1 = top3 = 0
    for it in titles:
        hit = [folded[g] == folded[it.id] for g in engine.search(it.title, k=3).ids]
        top1 += bool(hit and hit[0])
        top3 += any(hit)
    n = max(len(titles), 1)
    return {
        "semantic_ndcg10": float(np.mean(ndcg)) if ndcg else 0.0,
        "known_rank1": top1 / n,
        "known_top3": top3 / n,
    }


def bench_fusion(ds: Any, encoder: Encoder, texts: list[str], vecs: np.ndarray) -> dict:
    """Reciprocal-rank fusion vs a linear mix of normalized BM25 and cosine, tuned then tested.

    Queries (semantic set of :func:`semantic_queries`, and every film's title as
    a known-item query) are split in halves by a seeded shuffle. The linear mix's
    BM25 share is chosen on the tuning halves (mean of semantic NDCG@10 and
    known-item rank-1), then every method is scored on the test halves. The
    exact-title rule is off here, so the fusion alone decides known-item ranks.
    """
    engine = memory_engine(encoder, texts, vecs, SearchConfig())
    upsert_all(engine, ds.items)
    rng = random.Random(0)
    semantic = semantic_queries(ds)
    rng.shuffle(semantic)
    films = list(ds.items)
    rng.shuffle(films)
    half_q, half_f = len(semantic) // 2, len(films) // 2
    tune = (semantic[:half_q], films[:half_f])
    test = (semantic[half_q:], films[half_f:])
    folded = {it.id: fold(it.title) for it in ds.items}
    grid: dict[str, dict[str, float]] = {}
    for a in LEXICAL_GRID:
        cfg = SearchConfig(fusion="linear", lexical_weight=a, exact_title_first=False)
        grid[str(a)] = _fusion_scores(engine, cfg, *tune, folded)
        print(f"fusion tune linear a={a}: {grid[str(a)]}", flush=True)
    best = max(
        LEXICAL_GRID,
        key=lambda a: grid[str(a)]["semantic_ndcg10"] + grid[str(a)]["known_rank1"],
    )
    methods = {
        "rrf": SearchConfig(fusion="rrf", exact_title_first=False),
        "linear (BM25 share 0.5, untuned)": SearchConfig(
            fusion="linear", lexical_weight=0.5, exact_title_first=False
        ),
        f"linear (BM25 share {best}, tuned)": SearchConfig(
            fusion="linear", lexical_weight=best, exact_title_first=False
        ),
    }
    results = {name: _fusion_scores(engine, cfg, *test, folded) for name, cfg in methods.items()}
    for name, r in results.items():
        print(f"fusion test {name}: {r}", flush=True)
    engine.close()
    tuned = results[f"linear (BM25 share {best}, tuned)"]
    rrf = results["rrf"]
    wins = [
        tuned[m] > rrf[m] for m in ("semantic_ndcg10", "known_rank1")
    ]  # the default changes only on a win on both
    default = SearchConfig()
    return {
        "semantic_queries": len(semantic),
        "test_semantic_queries": len(test[0]),
        "test_known_item_films": len(test[1]),
        "tuned_lexical_weight": best,
        "tuning_grid": grid,
        "test": results,
        "linear_beats_rrf_on_both": all(wins),
        "default": f"{default.fusion} (lexical_weight {default.lexical_weight})"
        if default.fusion == "linear"
        else "rrf",
    }


# --------------------------------------------------------------------------- lexical at 100k


def bench_lexical_100k(ds: Any, total: int, samples: int) -> dict:
    """BM25 query time and new item -> first search hit on a synthetic ``total``-item catalog.

    The catalog is ML-100K plus synthetic films titled ``Synthetic film <n>`` (so
    ``film`` is in nearly every title, the worst case for postings) with
    vectors mixed from real films' vectors, put in the embedding cache so
    nothing but the new items and the queries goes through the encoder (the
    same catalog as ``benchmarks/realtime.py --large``: ``benchmarks/synthetic.py``).
    Then, ``samples`` times: upsert a film titled ``Benchmark Film <random hex>``, and time from
    the upsert's return to the first ``Engine.search`` of its title that ranks
    it first (query encoding by all-MiniLM-L6-v2 included), in process, on the
    SQLite store, exact vector index (the server switches to HNSW at 50k items).
    ``lexical_query`` times ``LexicalIndex.search`` alone for those titles with
    the candidate count search asks for.
    """
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", encoder=ENCODER, device="cpu")
        with Engine.open(settings=settings) as engine:
            upsert_all(engine, ds.items)
            grow_catalog(engine, total)
            engine.search("warm up the index", k=10)
            lexical = engine._lexical
            need = engine._searcher.config.candidates
            fresh_ms: list[float] = []
            lex_ms: list[float] = []
            for _ in range(samples):
                title = f"Benchmark Film {rng.bytes(5).hex()}"
                engine.upsert_items([Item(title, title, "A heist in space.", ("Sci-Fi",))])
                t0 = time.perf_counter()
                while engine.search(title, k=1).ids[:1] != (title,):
                    if time.perf_counter() - t0 > 5:
                        raise RuntimeError("a new item was not found within 5 s")
                fresh_ms.append((time.perf_counter() - t0) * 1000.0)
                t0 = time.perf_counter()
                lexical.search(title, need)
                lex_ms.append((time.perf_counter() - t0) * 1000.0)
            items = len(engine._catalog.ids())
    out = {
        "items": items,
        "lexical_query": _percentiles(lex_ms),
        "new_item_upsert_to_search_hit": _percentiles(fresh_ms),
        "note": "In process, SQLite store, exact vector index, query encoding on CPU included "
        f"in the hit time; load average at the end: {os.getloadavg()[0]:.2f} on "
        f"{os.cpu_count()} CPUs.",
    }
    print(f"lexical 100k: {out}", flush=True)
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


async def _load(
    port: int, queries: list[dict[str, str]], concurrency: int
) -> tuple[list[float], float]:
    """Per-request latencies (ms) and the phase's wall time (s), ``concurrency`` in flight."""
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

        start = time.perf_counter()
        await asyncio.gather(*(one(q) for q in queries))
        wall = time.perf_counter() - start
    return lat, wall


def _loaded_phase(lat: list[float], wall: float) -> dict[str, float]:
    """Percentiles plus throughput: requests / wall time of the loaded phase."""
    return {**_percentiles(lat), "requests_per_s": len(lat) / wall, "wall_s": wall}


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
        # No thread variables here: ``lmrec serve`` pins its own threads, as in production.
        env = dict(os.environ, LMREC_DEVICE="cpu")
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
            load_before = os.getloadavg()[0]
            cold = asyncio.run(_load(port, [query(i) for i in range(n)], concurrency))
            hot = [query(10**6 + i) for i in range(50)]
            asyncio.run(_load(port, hot, concurrency))
            warm = asyncio.run(_load(port, [hot[rng.randrange(50)] for _ in range(n)], concurrency))
            load_after = os.getloadavg()[0]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    out = {
        "concurrency": concurrency,
        "server": "lmrec serve (1 worker), LMREC_DEVICE=cpu",
        "load_average": {"before": load_before, "after": load_after},
        "cpus": os.cpu_count(),
        "cold_unique_queries": _loaded_phase(*cold),
        "warm_cached_queries": _loaded_phase(*warm),
    }
    print(f"latency: {out}", flush=True)
    return out


# --------------------------------------------------------------------------- report


#: Result keys of the sections, each rerun on its own with ``--only``.
SECTIONS = {
    "p4": "p4",
    "known": "known_item",
    "fusion": "fusion",
    "lexical100k": "lexical_100k",
    "latency": "latency",
}


def _command_line(res: dict[str, Any], key: str) -> list[str]:
    """The command that produced one section (sections are rerun separately)."""
    cmd = res.get("commands", {}).get(key)
    return [f"Command: `{cmd}`." if cmd else "Command: not recorded.", ""]


def write_markdown(res: dict[str, Any], path: Path) -> None:
    lines = ["# Search benchmark (MovieLens-100K, all-MiniLM-L6-v2, CPU)", ""]
    lines.append(f"Machine: {res['machine']}. Each section names the command that produced it.")
    lines.append("")
    if "p4" in res:
        lines += ["## P4 personalized search (test cases; weight chosen on validation)", "",
                  *_command_line(res, "p4"),
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
                  *_command_line(res, "known_item"),
                  "| fusion | rank 1 | top 3 |", "| --- | --- | --- |"]  # fmt: skip
        for name, r in res["known_item"].items():
            lines.append(f"| {name} | {r['rank1']:.4f} | {r['top3']:.4f} |")
        lines.append("")
    if "fusion" in res:
        fu = res["fusion"]
        lines += ["## Fusion: reciprocal rank vs linear (held-out halves, no exact-title rule)", "",
                  *_command_line(res, "fusion"),
                  f"{fu['semantic_queries']} semantic queries (genre, and genre + decade, from "
                  "ML-100K's own labels; see `semantic_queries` in `benchmarks/search.py`); "
                  f"tested on {fu['test_semantic_queries']} of them and on "
                  f"{fu['test_known_item_films']} known-item titles. Linear BM25 share tuned "
                  f"on the other halves: {fu['tuned_lexical_weight']}.", "",
                  "| method | semantic NDCG@10 | known-item rank 1 | known-item top 3 |",
                  "| --- | --- | --- | --- |"]  # fmt: skip
        for name, r in fu["test"].items():
            lines.append(
                f"| {name} | {r['semantic_ndcg10']:.4f} | {r['known_rank1']:.4f} "
                f"| {r['known_top3']:.4f} |"
            )
        lines += ["", f"Default fusion: **{fu['default']}**. Linear beats RRF on both "
                  f"test sets: {fu['linear_beats_rrf_on_both']} (the default changes only then).",
                  ""]  # fmt: skip
    if "lexical_100k" in res:
        lx = res["lexical_100k"]
        lines += [f"## Lexical search and new-item freshness at {lx['items']:,} items "
                  "(in process)", "", *_command_line(res, "lexical_100k"), lx["note"], "",
                  "| measure | n | p50 ms | p95 ms | p99 ms | max ms |",
                  "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for name in ("lexical_query", "new_item_upsert_to_search_hit"):
            p = lx[name]
            lines.append(
                f"| {name} | {p['n']} | {p['p50_ms']:.1f} | {p['p95_ms']:.1f} "
                f"| {p['p99_ms']:.1f} | {p['max_ms']:.1f} |"
            )
        lines.append("")
    if "latency" in res:
        lat = res["latency"]
        lines += [f"## Latency over HTTP (concurrency {lat['concurrency']})", "",
                  *_command_line(res, "latency")]  # fmt: skip
        if "load_average" in lat:
            la = lat["load_average"]
            lines += [f"{lat['server']}; load average {la['before']:.2f} before, "
                      f"{la['after']:.2f} after, on {lat['cpus']} CPUs.", ""]  # fmt: skip
        lines += ["| queries | n | p50 ms | p95 ms | p99 ms | max ms | requests/s |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for name in ("cold_unique_queries", "warm_cached_queries"):
            p = lat[name]
            rps = f"{p['requests_per_s']:.1f}" if "requests_per_s" in p else "–"
            lines.append(
                f"| {name} | {p['n']} | {p['p50_ms']:.1f} | {p['p95_ms']:.1f} "
                f"| {p['p99_ms']:.1f} | {p['max_ms']:.1f} | {rps} |"
            )
        lines.append("")
    path.write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="p4,known,fusion,lexical100k,latency")
    ap.add_argument("--quick", action="store_true", help="100 P4 cases, quick baselines")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2, help="torch threads in this process")
    ap.add_argument("--large", type=int, default=100_000, help="catalog size for lexical100k")
    ap.add_argument("--samples", type=int, default=100, help="new items timed by lexical100k")
    ap.add_argument(
        "--results", type=Path, default=RESULTS, help="folder for search.json and search.md"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    parts = set(args.only.split(","))
    ds = load_dataset("ml-100k", cache_dir=Settings().cache_dir / "datasets")
    command = "python benchmarks/search.py " + " ".join(sys.argv[1:])
    res: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "dataset": "ml-100k",
        "encoder": ENCODER,
    }
    out_json = args.results / "search.json"
    if parts & {"p4", "known"}:
        encoder = load_encoder(ENCODER, device="cpu")
        texts = [item_text(it) for it in ds.items]
        vecs = cached_vectors(texts, encoder, Settings().cache_dir / "bench-vectors")
        if "p4" in parts:
            res["p4"] = bench_p4(ds, encoder, texts, vecs, args.quick)
        if "known" in parts:
            res["known_item"] = bench_known_item(ds, encoder, texts, vecs)
    if "fusion" in parts:
        encoder = load_encoder(ENCODER, device="cpu")
        texts = [item_text(it) for it in ds.items]
        vecs = cached_vectors(texts, encoder, Settings().cache_dir / "bench-vectors")
        res["fusion"] = bench_fusion(ds, encoder, texts, vecs)
    if "lexical100k" in parts:
        res["lexical_100k"] = bench_lexical_100k(ds, args.large, args.samples)
    if "latency" in parts:
        res["latency"] = bench_latency(ds, args.requests, args.concurrency)
    commands = {SECTIONS[p]: command for p in parts if p in SECTIONS}
    args.results.mkdir(parents=True, exist_ok=True)
    if out_json.exists():  # keep parts not rerun (read now: another run may have written)
        old = json.loads(out_json.read_text())
        old.pop("command", None)  # one command for all sections named only the last run
        commands = {**old.get("commands", {}), **commands}
        res = {**old, **res}
    res["commands"] = commands
    out_json.write_text(json.dumps(res, indent=2))
    write_markdown(res, args.results / "search.md")


if __name__ == "__main__":
    main()
