"""Protocol P4, personalized search: find the user's next item from a genre query.

Split (the same as P1): per user, the last event by time is the test case, the
second-last the validation case, the rest is training; users with fewer
than 3 events are not evaluated. A case's **query** is the first category
(genre) of its target item; its **candidates** are the items having that
category minus the user's history (every earlier event). Metrics: NDCG@10 and
MRR of the target over the full ranking of the candidates (ties broken at
random, the expected value reported; a target a search did not return ranks last).

Two ways to be evaluated:

* any :class:`~lmrec.evaluate.base.Ranker` (popularity, EASE, SASRec...) through
  the protocol registry as ``P4``: its scores restricted to the candidates, the
  "baseline recommender restricted to the matching set";
* the Engine's own search (:func:`run_engine_p4`): an in-memory engine holds the
  catalog, the user profiles and the events known before the case, and ``Engine.search(query,
  user=..., category=query, exclude=history, personalize=w)`` ranks every
  candidate. ``user=None`` gives query relevance alone.

Importing this module registers ``P4`` with :func:`register_protocol`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from lmrec.errors import InvalidInputError
from lmrec.evaluate.base import CandidateRanker, Ranker, RatingModel
from lmrec.evaluate.metrics import (
    RankRange,
    Ranks,
    mrr,
    ndcg_single,
    ndcg_values,
    rr_values,
    target_ranks,
)
from lmrec.evaluate.protocols import (
    Fold,
    FoldOutcome,
    Metrics,
    Protocol,
    RankingTest,
    register_protocol,
    score_in_batches,
    split_nested_next_item,
    split_next_item,
)
from lmrec.interactions import IntArray, Interactions
from lmrec.schema import Event, Item, User

#: Score this many cases per ``Ranker.score`` call.
_BATCH = 256


@dataclass(frozen=True)
class SearchCase:
    """One P4 case, in dense indices.

    Attributes:
        user: User index.
        target: The held-out item index.
        query: The target's first category (the query text and the filter).
        history: Item indices known before the case, oldest first.
    """

    user: int
    target: int
    query: str
    history: IntArray


def genre_masks(data: Interactions) -> dict[str, npt.NDArray[np.bool_]]:
    """Category -> ``(n_items,)`` mask of the items having it."""
    masks: dict[str, npt.NDArray[np.bool_]] = {}
    for i, cats in enumerate(data.item_categories):
        for c in cats:
            masks.setdefault(c, np.zeros(data.n_items, dtype=bool))[i] = True
    return masks


def search_cases(
    data: Interactions, users: IntArray, targets: IntArray, histories: Sequence[IntArray]
) -> list[SearchCase]:
    """P4 cases from next-item cases; targets without any category are skipped."""
    out: list[SearchCase] = []
    for u, t, h in zip(users.tolist(), targets.tolist(), histories, strict=True):
        cats = data.item_categories[t]
        if cats:
            out.append(SearchCase(int(u), int(t), cats[0], np.asarray(h, dtype=np.int64)))
    return out


def candidate_mask(
    cases: Sequence[SearchCase], masks: dict[str, npt.NDArray[np.bool_]], n_items: int
) -> npt.NDArray[np.bool_]:
    """``(len(cases), n_items)``: the query's category minus the case's history."""
    cand = np.zeros((len(cases), n_items), dtype=bool)
    for j, c in enumerate(cases):
        cand[j] = masks[c.query]
        cand[j, c.history] = False
    return cand


def ranking_metrics(ranks: Ranks, k: int = 10) -> Metrics:
    """NDCG@k and MRR (expected over random tie-breaking) and the number of cases."""
    return {f"NDCG@{k}": ndcg_single(ranks, k), "MRR": mrr(ranks), "cases": float(ranks.size)}


# --------------------------------------------------------------------------- registry path


def _search_ranks(model: Ranker | RatingModel, fold: Fold) -> tuple[RankRange, IntArray]:
    """Where each P4 test case's target lands among its query's matches, and the
    length of the history each case's user had."""
    if not isinstance(model, Ranker):
        raise InvalidInputError(f"model {model!r} does not implement Ranker")
    test = fold.test
    if not isinstance(test, RankingTest):
        raise InvalidInputError("P4 folds carry ranking tests")
    data = fold.train
    targets = np.asarray([r[0] for r in test.relevant], dtype=np.int64)
    cases = search_cases(data, test.users, targets, test.histories)
    masks = genre_masks(data)
    ranks: list[RankRange] = []
    for i in range(0, len(cases), _BATCH):
        part = cases[i : i + _BATCH]
        users = np.asarray([c.user for c in part], dtype=np.int64)
        cand = candidate_mask(part, masks, data.n_items)
        if isinstance(model, CandidateRanker):
            scores = model.score_among(users, [c.history for c in part], cand)
        else:
            scores = score_in_batches(model, users, [c.history for c in part])
        ranks.append(target_ranks(scores, [c.target for c in part], cand))
    none = np.zeros(0, dtype=np.int64)
    all_ranks = RankRange(
        np.concatenate([r.best for r in ranks]) if ranks else none,
        np.concatenate([r.worst for r in ranks]) if ranks else none,
    )
    lengths = np.asarray([len(c.history) for c in cases], dtype=np.int64)
    return all_ranks, lengths


def evaluate_search(model: Ranker | RatingModel, fold: Fold) -> Metrics:
    """P4 metrics of a recommender restricted to the query's matching set."""
    return ranking_metrics(_search_ranks(model, fold)[0])


def search_outcome(model: Ranker | RatingModel, fold: Fold) -> FoldOutcome:
    """:func:`evaluate_search`'s metrics plus each case's NDCG@10 and reciprocal rank
    and its history length (for the report's paired comparisons and breakdowns)."""
    ranks, lengths = _search_ranks(model, fold)
    values = {"NDCG@10": ndcg_values(ranks, 10), "MRR": rr_values(ranks)}
    return FoldOutcome(ranking_metrics(ranks), values, lengths)


P4 = Protocol(
    "P4",
    "personalized search: genre query, rank the user's next item among that genre",
    "ranker",
    ("NDCG@10", "MRR"),
    # P1's split itself (the genre query is derived from each target), so a run
    # of both scores one set of fitted models.
    split_next_item,
    evaluate_search,
    outcome=search_outcome,
)
register_protocol(P4)
register_protocol(
    Protocol(
        "P4-nested",
        "development split: P4 on P1-nested's cases, P1's test events never read",
        "ranker",
        ("NDCG@10", "MRR"),
        # The same split function as P1-nested, so one run shares their fits.
        split_nested_next_item,
        evaluate_search,
        outcome=search_outcome,
    )
)


# --------------------------------------------------------------------------- engine path


@dataclass
class EngineP4Result:
    """P4 metrics of the Engine's search, per personalization weight.

    Attributes:
        valid: weight -> metrics on the validation cases (used to choose the weight).
        test: weight -> metrics on the test cases.
        relevance_only: Test metrics of anonymous search (query relevance alone).
        best_weight: The weight with the best validation NDCG@10.
        seconds: Wall time of the whole run.
    """

    valid: dict[float, Metrics] = field(default_factory=dict)
    test: dict[float, Metrics] = field(default_factory=dict)
    relevance_only: Metrics = field(default_factory=dict)
    best_weight: float = 0.0
    seconds: float = 0.0


def _engine_ranks(
    engine: object,
    data: Interactions,
    cases: Sequence[SearchCase],
    masks: dict[str, npt.NDArray[np.bool_]],
    weight: float | None,
) -> npt.NDArray[np.int64]:
    from lmrec.engine import Engine

    if not isinstance(engine, Engine):
        raise InvalidInputError("run_engine_p4 needs an Engine")
    ids = data.items.ids
    ranks = np.empty(len(cases), dtype=np.int64)
    for j, c in enumerate(cases):
        cand = masks[c.query].copy()
        cand[c.history] = False
        n = int(cand.sum())
        history = [ids[i] for i in c.history.tolist()]
        got = engine.search(
            c.query,
            user=None if weight is None else data.users.ids[c.user],
            k=min(n, engine.settings.max_k),
            category=c.query,
            exclude=history,
            personalize=weight,
        ).ids
        target = ids[c.target]
        ranks[j] = got.index(target) + 1 if target in got else n
    return ranks


def run_engine_p4(
    items: Sequence[Item],
    events: Sequence[Event],
    make_engine: Callable[[], object],
    weights: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0),
    *,
    max_cases: int | None = None,
    prepare: Callable[[Any], object] | None = None,
    users: Sequence[User] = (),
) -> EngineP4Result:
    """Evaluate the Engine's search on P4 at several personalization weights.

    Args:
        items: The catalog.
        events: Every event, in log order (split here exactly like P1).
        make_engine: Builds an empty engine (memory store); the catalog and
            events are loaded into it here.
        weights: Personalization weights to try; the best on validation is reported.
        max_cases: Evaluate only the first cases (smoke runs).
        prepare: Called with the engine once the training events are in, before
            any case is searched; ``lambda e: e.train()`` measures search with a
            trained model (its user tower and second stage) instead of the
            content path.
        users: User profiles, loaded before the events, so the engine knows what
            the harness's models know (profile text feeds the user tower).

    Returns:
        Validation and test metrics per weight, plus anonymous (relevance-only) search.
    """
    from lmrec.engine import Engine

    start = time.perf_counter()
    known = {it.id for it in items}
    kept = [e for e in events if e.item is not None and e.item in known]
    data = Interactions.from_records(items, kept)
    if len(data) != len(kept):
        raise InvalidInputError("events could not be aligned with interaction rows")
    fold = split_next_item(data)[0]
    test = fold.test
    valid = fold.valid
    if not isinstance(test, RankingTest) or valid is None:
        raise InvalidInputError("P4 needs P1's validation and test cases")
    masks = genre_masks(data)
    test_cases = search_cases(
        data, test.users, np.asarray([r[0] for r in test.relevant]), test.histories
    )
    valid_cases = search_cases(data, valid.users, valid.items, valid.histories)
    if max_cases is not None:
        test_cases, valid_cases = test_cases[:max_cases], valid_cases[:max_cases]
    test_rows = set()
    valid_rows = set()
    order = data.time_order()
    bounds = np.searchsorted(data.user[order], np.arange(data.n_users + 1))
    for u in test.users.tolist():
        seq = order[bounds[u] : bounds[u + 1]]
        test_rows.add(int(seq[-1]))
        valid_rows.add(int(seq[-2]))
    engine = make_engine()
    if not isinstance(engine, Engine):
        raise InvalidInputError("make_engine must return an Engine")
    result = EngineP4Result()
    step = engine.settings.max_items_per_request
    for i in range(0, len(items), step):
        engine.upsert_items(list(items[i : i + step]))
    if users:
        engine.upsert_users(list(users))
    train_events = [e for r, e in enumerate(kept) if r not in test_rows and r not in valid_rows]
    _ingest(engine, train_events)
    if prepare is not None:
        prepare(engine)
    for w in weights:
        result.valid[w] = ranking_metrics(_engine_ranks(engine, data, valid_cases, masks, w))
    _ingest(engine, [kept[r] for r in sorted(valid_rows)])
    for w in weights:
        result.test[w] = ranking_metrics(_engine_ranks(engine, data, test_cases, masks, w))
    result.relevance_only = ranking_metrics(_engine_ranks(engine, data, test_cases, masks, None))
    result.best_weight = max(weights, key=lambda w: result.valid[w]["NDCG@10"])
    result.seconds = time.perf_counter() - start
    return result


def _ingest(engine: object, events: Sequence[Event]) -> None:
    from lmrec.engine import Engine

    if not isinstance(engine, Engine):
        raise InvalidInputError("P4 needs an Engine")
    step = engine.settings.max_events_per_request
    for i in range(0, len(events), step):
        engine.ingest(list(events[i : i + step]))
