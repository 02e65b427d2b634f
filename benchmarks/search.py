"""Search benchmark: protocol P4, known-item search and HTTP latency on MovieLens-100K.

Measures, on the machine it runs on, with the bundled all-MiniLM-L6-v2:

* **P4** (personalized search, see ``lmrec.evaluate.search_protocol``): the
  Engine's search at several personalization weights (the weight is chosen on
  validation cases, reported on test cases), for each fusion (reciprocal rank
  vs linear) and popularity prior; anonymous search (query relevance only);
  and the restricted baselines ``popularity`` and ``ease`` through the P4
  entry of the protocol registry;
* **P4 of the product path over several trainings** (``--only p4seeds``,
  ``--p4-seeds 42,43,44``): ``Engine.search`` at the default personalization
  over a model the engine trained with each seed, so one training's luck is
  told apart from a change (P4's own section trains once);
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
* **in process** (``--only inprocess``): the CPU time of one ``Engine.search`` or
  ``Engine.recommend`` call over a model the engine trained, one torch thread,
  with the user's state and the query vector cached, and right after an event
  for the user (state rebuilt);
* **latency over HTTP**: a real ``lmrec serve`` process on 127.0.0.1 and
  ``wrk`` holding 1, 2 and 4 connections (closed loop: each sends its next
  request when the last is answered); *cold* queries are all distinct (each
  one is encoded by the model), *warm* ones repeat a set of 50 (query-embedding
  cache hits); half of the queries name a user (personalized search).
  ``--query-int8`` serves with int8 query vectors (``LMREC_QUERY_INT8``, the
  server's default) and also reruns known-item and fusion with them; without it
  the benchmark asks for float32 query vectors explicitly. The two sets of
  results sit side by side. ``--trained`` trains the model on the ratings first and
  serves it (personal scores from the user tower) instead of the content path.
  ``--runtime torch`` encodes single queries with PyTorch instead
  of ONNX Runtime (``LMREC_ENCODER_RUNTIME``), for the comparison; those
  results sit beside the others too.

Writes ``benchmarks/results/search.json`` and ``.md`` (or into ``--results``), keeping
the sections not rerun; each section records the command that produced it and the
latency section the machine's load average.

Usage: ``.venv/bin/python benchmarks/search.py
[--only p4,p4seeds,known,fusion,lexical100k,inprocess,latency] [--p4-seeds 42,43,44]
[--quick] [--query-int8] [--runtime auto|onnx|torch] [--trained] [--workers N] [--users N]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
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
from lmrec.model import ModelConfig
from lmrec.schema import Event, EventKind, Item
from lmrec.settings import Settings
from lmrec.text import Encoder, load_encoder, text_hash
from lmrec.text.tokenize import fold
from loadgen import free_port, run_wrk
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


def _train(engine: object, config: ModelConfig | None = None) -> None:
    """Train the engine's model on what it holds (P4's training events) and serve it."""
    assert isinstance(engine, Engine)
    t0 = time.perf_counter()
    record = engine.train(config, progress=False)
    print(f"P4 trained {record.version} in {time.perf_counter() - t0:.0f}s", flush=True)


def _train_with_search_log(items: list[Item], engine: object) -> None:
    """Train, then ingest a simulated search log: each user's last five training
    events replayed by a separate searcher who searches the item's first genre
    and clicks it. Test users' own histories are untouched; the votes only tell
    search which items searchers chose for each genre query."""
    from lmrec.schema import Event, EventKind

    _train(engine)
    assert isinstance(engine, Engine)
    genre = {it.id: it.categories[0] for it in items if it.categories}
    by_user: dict[str, list[Event]] = {}
    for stored in engine.store.iter_events(after_seq=0):
        e = stored.event
        if e.item is not None and e.item in genre:
            by_user.setdefault(e.user, []).append(e)
    log: list[Event] = []
    for user, evs in by_user.items():
        for n, e in enumerate(evs[-5:]):
            who = f"searcher-{user}-{n}"
            log += [
                Event(who, EventKind.SEARCH, e.ts - 10, query=genre[e.item or ""]),
                Event(who, EventKind.CLICK, e.ts, item=e.item),
            ]
    step = engine.settings.max_events_per_request
    for i in range(0, len(log), step):
        engine.ingest(log[i : i + step])
    print(f"P4 simulated search log: {len(log) // 2} searches with a click", flush=True)


def bench_p4(ds: Any, encoder: Encoder, texts: list[str], vecs: np.ndarray, quick: bool) -> dict:
    events = sorted(ds.events, key=lambda e: e.ts)
    weights = (0.0, 0.25, 0.5, 0.75, 1.0)
    configs = [
        ("rrf", SearchConfig(fusion="rrf", prior_weight=0.0), None),
        ("linear", SearchConfig(fusion="linear", prior_weight=0.0), None),
        ("rrf+prior0.5", SearchConfig(fusion="rrf", prior_weight=0.5), None),
        ("linear+prior0.5", SearchConfig(fusion="linear", prior_weight=0.5), None),
        # The product path: the default search over a model trained by the engine.
        ("trained model (default search)", SearchConfig(), _train),
        # The same, after a simulated search log (what searchers chose per genre query).
        (
            "trained model + simulated search log",
            SearchConfig(),
            partial(_train_with_search_log, list(ds.items)),
        ),
    ]
    out: dict[str, Any] = {"engine": {}, "baselines": {}}
    max_cases = 100 if quick else None
    for name, cfg, prepare in configs:
        t0 = time.perf_counter()
        torch.manual_seed(0)
        r = run_engine_p4(
            ds.items,
            events,
            lambda cfg=cfg: memory_engine(encoder, texts, vecs, cfg),
            weights,
            max_cases=max_cases,
            prepare=prepare,
            users=list(ds.users),
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


def bench_p4_seeds(
    ds: Any, encoder: Encoder, texts: list[str], vecs: np.ndarray, seeds: list[int], quick: bool
) -> dict:
    """P4 of ``Engine.search`` (default configuration and personalization) over a model
    the engine trained with each seed; the mean and standard deviation over seeds."""
    events = sorted(ds.events, key=lambda e: e.ts)
    default = SearchConfig().personalization
    runs: dict[str, Any] = {}
    for seed in seeds:
        t0 = time.perf_counter()
        torch.manual_seed(0)
        r = run_engine_p4(
            ds.items,
            events,
            lambda: memory_engine(encoder, texts, vecs, SearchConfig()),
            (default,),
            max_cases=100 if quick else None,
            prepare=partial(_train, config=ModelConfig(seed=seed)),
            users=list(ds.users),
        )
        runs[str(seed)] = {"test": r.test[default], "valid": r.valid[default]}
        print(f"P4 product path, seed {seed}: test {r.test[default]} "
              f"({time.perf_counter() - t0:.0f}s)", flush=True)  # fmt: skip
    ndcg = [r["test"]["NDCG@10"] for r in runs.values()]
    mrr = [r["test"]["MRR"] for r in runs.values()]
    return {
        "personalize": default,
        "seeds": runs,
        "ndcg10_mean": statistics.fmean(ndcg),
        "ndcg10_std": statistics.stdev(ndcg) if len(ndcg) > 1 else 0.0,
        "mrr_mean": statistics.fmean(mrr),
        "mrr_std": statistics.stdev(mrr) if len(mrr) > 1 else 0.0,
    }


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


# --------------------------------------------------------------------------- in process

#: Queries of the in-process section (a title, free text and genres).
INPROCESS_QUERIES = ("toy story", "space adventure", "romantic comedy", "war drama", "Horror")


def bench_inprocess(ds: Any, n_users: int) -> dict[str, Any]:
    """CPU time of one request inside the process, over a model the engine trained.

    What a request costs without HTTP or the load generator: the engine trains on
    every ML-100K rating, then each timed call goes through ``Engine.search`` or
    ``Engine.recommend`` once. *Cached* rows repeat calls whose user state and
    query vector are already kept (the common case for an active user);
    *after an event* rows ingest one click for the user first (untimed), so the
    timed call rebuilds the user's state: the user tower, the reference
    shortlist and its second-stage scale.
    """
    rng = random.Random(0)
    users = sorted({e.user for e in ds.events})[:n_users]
    item_ids = [it.id for it in ds.items]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", encoder=ENCODER, device="cpu")
        with Engine.open(settings=settings) as eng:
            upsert_all(eng, ds.items)
            step = eng.settings.max_events_per_request
            for i in range(0, len(ds.events), step):
                eng.ingest(ds.events[i : i + step])
            out["model"] = eng.train(progress=False).version
            serving = eng._serving
            if serving is not None:  # what the second stage does per request
                rr = serving.model.net.rerank
                out["second_stage"] = (
                    f"ranker {'on' if bool(rr.enabled) else 'off'}, item mix {float(rr.co_mix):g}, "
                    f"transition mix {float(rr.seq_mix):g}, shortlist {serving.shortlist}"
                )
            for u in users:  # warm-up: query vectors and user states cached
                for q in INPROCESS_QUERIES:
                    eng.search(q, user=u, k=10)
                eng.recommend(u, k=10)
                eng.recommend(u, k=10, category="Comedy")

            def timed(calls: list[Any]) -> dict[str, float]:
                ms = []
                for call in calls:
                    t0 = time.perf_counter()
                    call()
                    ms.append((time.perf_counter() - t0) * 1000.0)
                return _percentiles(ms)

            pairs = [(u, q) for u in users for q in INPROCESS_QUERIES]
            out["search_personalized_cached"] = timed(
                [partial(eng.search, q, user=u, k=10) for u, q in pairs]
            )
            out["search_anonymous_cached"] = timed([partial(eng.search, q, k=10) for _, q in pairs])
            out["recommend_cached"] = timed([partial(eng.recommend, u, k=10) for u in users])
            out["recommend_category_cached"] = timed(
                [partial(eng.recommend, u, k=10, category="Comedy") for u in users]
            )
            ts = max(e.ts for e in ds.events) + 1.0
            after = {
                "search_personalized_after_event": partial(eng.search, INPROCESS_QUERIES[1], k=10),
                "recommend_after_event": partial(eng.recommend, k=10),
            }
            for name, call in after.items():
                ms = []
                for u in users:
                    ts += 1.0
                    click = Event(user=u, kind=EventKind.CLICK, item=rng.choice(item_ids), ts=ts)
                    eng.ingest([click])
                    t0 = time.perf_counter()
                    call(user=u)
                    ms.append((time.perf_counter() - t0) * 1000.0)
                out[name] = _percentiles(ms)
    out["note"] = (
        f"In process, one thread, SQLite store, exact vector index; {len(users)} users, "
        f"queries {', '.join(INPROCESS_QUERIES)}; load average at the end: "
        f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs."
    )
    print(f"in process: {out}", flush=True)
    return out


# --------------------------------------------------------------------------- latency


def _percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {
        "n": int(a.size),
        "p50_ms": float(np.percentile(a, 50)),
        "p95_ms": float(np.percentile(a, 95)),
        "p99_ms": float(np.percentile(a, 99)),
        "max_ms": float(a.max()),
    }


#: wrk request script: every request a new query (two title words and a counter,
#: so the query-embedding cache never hits), every other one for a random user.
COLD_SCRIPT = """
{lists}
counter = {offset}
math.randomseed({seed})
request = function()
  counter = counter + 1
  local path = "/v1/search?k=10&q=" .. words[math.random(#words)] .. "+"
    .. words[math.random(#words)] .. "+" .. counter
  if counter % 2 == 0 then path = path .. "&user=" .. users[math.random(#users)] end
  return wrk.format("GET", path)
end
"""

#: wrk request script: one of a fixed set of queries (cache hits after the warm-up).
WARM_SCRIPT = """
{lists}
counter = 0
math.randomseed({seed})
request = function()
  counter = counter + 1
  local path = "/v1/search?k=10&q=" .. hot[math.random(#hot)]
  if counter % 2 == 0 then path = path .. "&user=" .. users[math.random(#users)] end
  return wrk.format("GET", path)
end
"""


def _lua_list(name: str, values: list[str]) -> str:
    return f"{name} = {{" + ", ".join(f'"{v}"' for v in values) + "}"


def bench_latency(
    ds: Any,
    seconds: int,
    connections: list[int],
    workers: int,
    query_int8: bool,
    runtime: str,
    trained: bool,
) -> dict:
    """Search latency over HTTP with ``wrk`` at each connection count, cold and warm queries."""
    rng = random.Random(0)
    words = sorted({w for it in ds.items for w in fold(it.title).split() if w.isalpha()})
    users = sorted({e.user for e in ds.events})
    hot = [f"{a}+{b}" for a, b in (rng.sample(words, 2) for _ in range(50))]
    lists = "\n".join([_lua_list("words", words), _lua_list("users", users), _lua_list("hot", hot)])
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        with Engine.open(settings=Settings(data_dir=data, encoder=ENCODER, device="cpu")) as eng:
            upsert_all(eng, ds.items)
            step = eng.settings.max_events_per_request
            for i in range(0, len(ds.events), step):
                eng.ingest(ds.events[i : i + step])
            model = eng.train(progress=False).version if trained else None
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        # No thread variables here: ``lmrec serve`` pins its own threads, as in production.
        env = dict(
            os.environ,
            LMREC_DEVICE="cpu",
            LMREC_QUERY_INT8="1" if query_int8 else "0",
            LMREC_ENCODER_RUNTIME=runtime,
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "lmrec", "serve", "--data-dir", str(data),
             "--port", str(port), "--workers", str(workers)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            import httpx

            deadline = time.time() + 180
            while time.time() < deadline:
                try:
                    if httpx.get(f"{url}/v1/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            else:
                raise RuntimeError("server did not start")
            with httpx.Client(base_url=url, timeout=30) as client:
                for n, q in enumerate(hot):  # warm-up: model paths, and the hot set cached
                    client.get("/v1/search", params={"q": q.replace("+", " "), "user": users[n]})
            load_before = os.getloadavg()[0]
            cold, warm = {}, {}
            for run, c in enumerate(connections):
                script = COLD_SCRIPT.format(lists=lists, offset=10**7 * (run + 1), seed=run)
                cold[str(c)] = run_wrk(url, script, c, seconds)
                print(f"latency cold c={c}: {cold[str(c)]}", flush=True)
            for run, c in enumerate(connections):
                script = WARM_SCRIPT.format(lists=lists, seed=run)
                warm[str(c)] = run_wrk(url, script, c, seconds)
                print(f"latency warm c={c}: {warm[str(c)]}", flush=True)
            load_after = os.getloadavg()[0]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return {
        "connections": connections,
        "seconds": seconds,
        "server": f"lmrec serve ({workers} worker{'s' if workers > 1 else ''}), "
        f"LMREC_DEVICE=cpu, query vectors {'int8' if query_int8 else 'float32'}, "
        f"LMREC_ENCODER_RUNTIME={runtime}, "
        + (f"trained model {model} serving" if model else "content path (no trained model)"),
        "load_average": {"before": load_before, "after": load_after},
        "cpus": os.cpu_count(),
        "cold_unique_queries": cold,
        "warm_cached_queries": warm,
    }


# --------------------------------------------------------------------------- report


def _command_line(res: dict[str, Any], key: str) -> list[str]:
    """The command that produced one section (sections are rerun separately)."""
    cmd = res.get("commands", {}).get(key)
    return [f"Command: `{cmd}`." if cmd else "Command: not recorded.", ""]


def _variant(key: str) -> str:
    """Heading suffix of a section variant (``latency_int8_w2``: int8 queries, 2 workers)."""
    parts = []
    if "_int8" in key:
        parts.append("int8 query vectors")
    if "_trained" in key:
        parts.append("trained model")
    if "_torch" in key:
        parts.append("queries encoded by PyTorch")
    if "_w" in key:
        parts.append(f"{key.rsplit('_w', 1)[1]} workers")
    return f" — {', '.join(parts)}" if parts else ""


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
    if "p4_seeds" in res:
        ps = res["p4_seeds"]
        lines += ["## P4 of the product path over several trainings (test cases)", "",
                  *_command_line(res, "p4_seeds"),
                  f"`Engine.search` at the default personalization ({ps['personalize']}) "
                  "over a model the engine trained with each seed.", "",
                  "| training seed | NDCG@10 | MRR |", "| --- | --- | --- |"]  # fmt: skip
        for seed, r in ps["seeds"].items():
            lines.append(f"| {seed} | {r['test']['NDCG@10']:.4f} | {r['test']['MRR']:.4f} |")
        lines.append(
            f"| mean ± std | {ps['ndcg10_mean']:.4f} ± {ps['ndcg10_std']:.4f} "
            f"| {ps['mrr_mean']:.4f} ± {ps['mrr_std']:.4f} |"
        )
        lines.append("")
    for key in sorted(k for k in res if k.startswith("known_item")):
        lines += [f"## Known-item search (exact title as query, anonymous){_variant(key)}", "",
                  *_command_line(res, key),
                  "| fusion | rank 1 | top 3 |", "| --- | --- | --- |"]  # fmt: skip
        for name, r in res[key].items():
            lines.append(f"| {name} | {r['rank1']:.4f} | {r['top3']:.4f} |")
        lines.append("")
    for key in sorted(k for k in res if k.startswith("fusion")):
        fu = res[key]
        lines += ["## Fusion: reciprocal rank vs linear (held-out halves, no exact-title rule)"
                  f"{_variant(key)}", "", *_command_line(res, key),
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
    if "inprocess" in res:
        ip = res["inprocess"]
        lines += ["## Request CPU time in process (trained model)", "",
                  *_command_line(res, "inprocess"),
                  f"Model {ip['model']} ({ip.get('second_stage', 'second stage not recorded')}). "
                  f"{ip['note']}", "",
                  "| request | n | p50 ms | p95 ms | p99 ms | max ms |",
                  "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for name, p in ip.items():
            if isinstance(p, dict):
                lines.append(
                    f"| {name} | {p['n']} | {p['p50_ms']:.2f} | {p['p95_ms']:.2f} "
                    f"| {p['p99_ms']:.2f} | {p['max_ms']:.2f} |"
                )
        lines.append("")
    for key in sorted(k for k in res if k.startswith("latency")):
        lat = res[key]
        if "seconds" not in lat:
            continue  # written by the httpx-client version of this benchmark; rerun it
        lines += [f"## Latency over HTTP{_variant(key)}", "", *_command_line(res, key)]
        la = lat["load_average"]
        lines += [f"{lat['server']}; wrk, {lat['seconds']} s per row, closed loop; load "
                  f"average {la['before']:.2f} before, {la['after']:.2f} after, on "
                  f"{lat['cpus']} CPUs.", "",
                  "| queries | connections | requests | p50 ms | p90 ms | p99 ms | requests/s "
                  "| errors |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for name in ("cold_unique_queries", "warm_cached_queries"):
            for c, p in lat[name].items():
                errors = int(p["non_2xx"] + p["timeouts"])
                lines.append(
                    f"| {name} | {c} | {int(p['requests'])} | {p['p50_ms']:.1f} "
                    f"| {p['p90_ms']:.1f} | {p['p99_ms']:.1f} | {p['requests_per_s']:.1f} "
                    f"| {errors} |"
                )
        lines.append("")
    path.write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="p4,known,fusion,lexical100k,latency")
    ap.add_argument("--p4-seeds", default="42,43,44", help="training seeds of the p4seeds section")
    ap.add_argument("--quick", action="store_true", help="100 P4 cases, quick baselines")
    ap.add_argument("--seconds", type=int, default=10, help="wrk run length per latency row")
    ap.add_argument("--connections", default="1,2,4", help="wrk connection counts for latency")
    ap.add_argument("--threads", type=int, default=2, help="torch threads in this process")
    ap.add_argument("--workers", type=int, default=1, help="server processes for latency")
    ap.add_argument(
        "--query-int8",
        action="store_true",
        help="encode queries with the int8 encoder copy (LMREC_QUERY_INT8) in known, fusion "
        "and latency; their results are kept beside the float32 ones",
    )
    ap.add_argument(
        "--trained",
        action="store_true",
        help="latency: train the model first and serve it (kept beside content-path results)",
    )
    ap.add_argument(
        "--runtime",
        choices=("auto", "onnx", "torch"),
        default="auto",
        help="what encodes single queries (LMREC_ENCODER_RUNTIME); non-auto results are kept "
        "beside the others",
    )
    ap.add_argument("--users", type=int, default=300, help="users timed by inprocess")
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
    q8 = ("_int8" if args.query_int8 else "") + (
        f"_{args.runtime}" if args.runtime != "auto" else ""
    )
    keys = {
        "p4": "p4",
        "p4seeds": "p4_seeds",
        "known": f"known_item{q8}",
        "fusion": f"fusion{q8}",
        "lexical100k": "lexical_100k",
        "inprocess": "inprocess",
        "latency": f"latency{q8}"
        + ("_trained" if args.trained else "")
        + (f"_w{args.workers}" if args.workers != 1 else ""),
    }
    if parts & {"p4", "p4seeds", "known", "fusion"}:
        encoder = load_encoder(
            ENCODER, device="cpu", query_int8=args.query_int8, runtime=args.runtime
        )
        texts = [item_text(it) for it in ds.items]
        vecs = cached_vectors(texts, encoder, Settings().cache_dir / "bench-vectors")
        if "p4" in parts:
            res["p4"] = bench_p4(ds, encoder, texts, vecs, args.quick)
        if "p4seeds" in parts:
            seeds = [int(x) for x in args.p4_seeds.split(",")]
            res["p4_seeds"] = bench_p4_seeds(ds, encoder, texts, vecs, seeds, args.quick)
        if "known" in parts:
            res[keys["known"]] = bench_known_item(ds, encoder, texts, vecs)
        if "fusion" in parts:
            res[keys["fusion"]] = bench_fusion(ds, encoder, texts, vecs)
    if "lexical100k" in parts:
        res["lexical_100k"] = bench_lexical_100k(ds, args.large, args.samples)
    if "inprocess" in parts:
        torch.set_num_threads(1)  # as one server worker
        res["inprocess"] = bench_inprocess(ds, args.users)
        torch.set_num_threads(args.threads)
    if "latency" in parts:
        conns = [int(c) for c in args.connections.split(",")]
        res[keys["latency"]] = bench_latency(
            ds, args.seconds, conns, args.workers, args.query_int8, args.runtime, args.trained
        )
    commands = {keys[p]: command for p in parts if p in keys}
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
