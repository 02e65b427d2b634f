"""Hybrid search: lexical BM25 and dense query–item similarity, fused, then personalized.

Kept apart from the Engine so retrieval and fusion can evolve without touching
recommendation code. The Engine passes in what a query needs: the allowed ids
(filters), the ids to exclude, and a :class:`UserScorer` for the searching
user. The scorer is any callable model of the user (today the content-path
profile vector; later the trained two-tower model), so personalization does
not depend on how the user is represented.

One query goes through:

1. **understanding**: folded tokens; a token absent from the vocabulary
   is expanded to vocabulary terms within 1-2 edits (``stroy`` -> ``story``),
   down-weighted by distance;
2. **retrieval**: BM25 top-n, dense top-n (query encoded by the same language
   model as the items) and, for a known user, the user's own top-n within the
   filters; plus every item whose title *is* the query;
3. **fusion** of BM25 and dense into one relevance in ``[0, 1]``: reciprocal
   rank fusion (default) or a linear mix of normalized scores. On ML-100K
   (``benchmarks/search.py --only fusion``, held-out queries) a linear mix
   with BM25 share 0.1 beat RRF on genre/decade queries (NDCG@10 0.755 vs
   0.634) and tied it on known-item titles (rank-1 1.0 both), so it is not
   better on both. RRF stays the default: personalized P4 cannot tell them
   apart (relevance saturates to coverage, below), and with the BM25 share at
   0.1 the dense side can outvote a corrected typo: in
   ``tests/search/test_query.py``, whose hashing encoder has no subwords,
   ``sensibilty`` no longer finds *Sense and Sensibility* first (with
   MiniLM this is untested);
4. **personalization**, for a known user with weight ``p > 0``:
   ``relevance * (1 - p + p * user)``. The product (not a sum) lets the user's
   taste reorder relevant items without lifting items the query does not ask
   for. Here *relevance* is the larger of the fused relevance and the query's
   *coverage* (the rarity-weighted share of query words an item contains, see
   :meth:`LexicalIndex.coverage`), and candidates with neither (the user's
   favourites the query does not ask for) are dropped. *user* is the rank share
   in ``(0, 1]`` of the user's served order (the trained model's second stage
   and negative feedback included, as for recommendations) among the
   remaining candidates. Coverage matters because a query every candidate
   satisfies (``comedy`` among comedies) carries no relevance information: the
   fused relevance is rank-based, so it would add noise to the user's order.
   On protocol P4 with a trained model, fused relevance times the first stage's
   min-max-normalized score scored NDCG@10 0.130, where the served order alone
   scores 0.268;
5. **what users chose**: items that users picked right after the same query
   (:mod:`lmrec.engine.searchclicks`) are candidates too, and relevance moves
   towards their share of the votes as the votes accumulate (after coverage,
   before the user's mix);
6. **exact titles first**: items whose title equals the query (ignoring case,
   accents, word order and parenthesized parts such as the year) rank above the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from lmrec.engine.searchclicks import QueryClicks
from lmrec.index import LexicalIndex, VectorIndex
from lmrec.text.tokenize import tokenize

Vector = npt.NDArray[np.float32]
Scores = npt.NDArray[np.float64]
Fusion = Literal["rrf", "linear"]

#: Reciprocal-rank-fusion constant (the usual 60).
RRF_K = 60.0
#: Candidates taken from each retriever before fusion.
CANDIDATES = 200
#: Default weight of the user's score when a user is given. On protocol P4 through a
#: trained engine (``benchmarks/search.py --only p4``) every weight above 0 scores the same,
#: because a genre query within its genre leaves only the user's order to decide; 0.5
#: keeps relevance ahead of taste for free-text queries (the user factor spans 0.5..1).
DEFAULT_PERSONALIZATION = 0.5
#: Weight of the popularity prior inside relevance; tuned on P4 and known-item search.
DEFAULT_PRIOR = 0.0
#: BM25 weight of a typo expansion, by edit distance (the typed word itself weighs 1).
TYPO_WEIGHTS = {1: 0.8, 2: 0.6}
#: Expansions kept per misspelt word.
TYPO_EXPANSIONS = 3


@runtime_checkable
class UserScorer(Protocol):
    """A user's personal score for items: the seam between search and the user model.

    Any model can sit behind it: the content profile (cosine of the user vector
    with item vectors), a two-tower model, or a ranker. Scores only need to be
    comparable with each other for one user; search normalizes them.
    """

    def scores(self, ids: Sequence[str]) -> npt.NDArray[np.floating]:
        """The user's score of each given (indexed) item."""
        ...

    def top(
        self, n: int, *, allowed: Collection[str] | None, exclude: Collection[str]
    ) -> list[tuple[str, float]]:
        """The user's ``n`` best items within the filters, best first."""
        ...


class VectorUserScorer:
    """Inner product of one user vector with the item vectors of an index.

    Args:
        index: Item vectors (text vectors on the content path, item-tower vectors later).
        vector: The user's vector in the same space.
    """

    def __init__(self, index: VectorIndex, vector: Vector) -> None:
        self._index = index
        self._vector = vector

    def scores(self, ids: Sequence[str]) -> npt.NDArray[np.floating]:
        return self._index.scores(self._vector, ids)

    def top(
        self, n: int, *, allowed: Collection[str] | None, exclude: Collection[str]
    ) -> list[tuple[str, float]]:
        return self._index.search(self._vector, n, exclude=exclude, allowed=allowed)


Hits = list[tuple[str, float]]


class ServedUserScorer(VectorUserScorer):
    """The user's order as recommendations serve it: retrieval, then a re-ordering.

    Recommendations re-score the first-stage hits with a second stage (the
    trained model's ranker) and demote items like ones the user disliked; search
    must rank a user's items the same way, or a query would undo what the
    model learnt beyond the inner product. Scores are therefore positions: the
    ``shortlist`` best candidates by inner product, re-ordered by ``reorder``,
    come first, the rest follow by inner product.

    Args:
        index: Item vectors of the user's space.
        vector: The user's vector.
        reorder: Re-orders hits, best first (the engine's second stage and
            negative feedback).
        shortlist: How many of the best candidates ``reorder`` sees; 0 for all.
    """

    def __init__(
        self,
        index: VectorIndex,
        vector: Vector,
        reorder: Callable[[Hits], Hits],
        shortlist: int = 0,
    ) -> None:
        super().__init__(index, vector)
        self._reorder = reorder
        self._shortlist = shortlist

    def scores(self, ids: Sequence[str]) -> npt.NDArray[np.floating]:
        dots = np.asarray(super().scores(ids), dtype=np.float64)
        order = np.argsort(-dots, kind="stable")
        head = order if self._shortlist <= 0 else order[: self._shortlist]
        served = self._reorder([(ids[j], float(dots[j])) for j in head])
        where = {item_id: j for j, item_id in enumerate(ids)}
        ranked = [where[i] for i, _ in served if i in where]
        seen = set(ranked)
        ranked += [int(j) for j in order if int(j) not in seen]
        out = np.empty(len(ids), dtype=np.float64)
        out[ranked] = -np.arange(len(ranked), dtype=np.float64)
        return out


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """How search retrieves, fuses and personalizes.

    Attributes:
        fusion: ``rrf`` (reciprocal rank fusion) or ``linear`` (weighted sum of
            min-max normalized BM25 and cosine scores).
        lexical_weight: Share of BM25 in ``linear`` fusion (the rest is dense).
        rrf_k: Reciprocal-rank-fusion constant.
        candidates: Items taken from each retriever (at least ``offset + k``).
        personalization: Default weight of the user's score, 0..1.
        prior_weight: Weight of the item prior (popularity) inside relevance, 0..1.
        exact_title_first: Rank items whose title is the query above the rest.
        typo_tolerance: Expand out-of-vocabulary query words to near vocabulary words.
    """

    fusion: Fusion = "rrf"
    lexical_weight: float = 0.5
    rrf_k: float = RRF_K
    candidates: int = CANDIDATES
    personalization: float = DEFAULT_PERSONALIZATION
    prior_weight: float = DEFAULT_PRIOR
    exact_title_first: bool = True
    typo_tolerance: bool = True


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A query after understanding: BM25 term weights and its exact-title readings."""

    weights: dict[str, float]
    readings: tuple[tuple[str, ...], ...]
    corrections: dict[str, str]
    groups: tuple[dict[str, float], ...] = ()
    """Per distinct query word, the word and its typo corrections with their credit."""


def _rank_share(x: Scores) -> Scores:
    """Each score's rank as a share in ``(0, 1]``: the best is 1, the worst ``1/n``."""
    n = len(x)
    out = np.empty(n, dtype=np.float64)
    out[np.argsort(-x, kind="stable")] = np.arange(n, 0, -1, dtype=np.float64) / n
    return out


def _minmax(x: Scores) -> Scores:
    lo, hi = float(x.min()), float(x.max())
    if hi - lo < 1e-12:
        return np.ones_like(x) if hi > 0 else np.zeros_like(x)
    out: Scores = (x - lo) / (hi - lo)
    return out


class HybridSearch:
    """Fused BM25 + dense retrieval, mixed with a user's personal score.

    Args:
        lexical: The BM25 index over item fields.
        vectors: The item vector index (text vectors on the content path).
        encode_query: Query text -> vector in the item space (cached by the caller).
        config: Fusion and personalization settings.
    """

    def __init__(
        self,
        lexical: LexicalIndex,
        vectors: VectorIndex,
        encode_query: Callable[[str], Vector],
        config: SearchConfig | None = None,
    ) -> None:
        self._lexical = lexical
        self._vectors = vectors
        self._encode = encode_query
        self.config = config or SearchConfig()

    def parse(self, query: str) -> ParsedQuery:
        """Tokens, typo expansions and exact-title readings of ``query``."""
        terms = tokenize(query)
        weights: dict[str, float] = {}
        for t in terms:
            weights[t] = weights.get(t, 0.0) + 1.0
        corrections: dict[str, str] = {}
        groups: list[dict[str, float]] = []
        for t in dict.fromkeys(terms):
            group = {t: 1.0}
            groups.append(group)
            if not self.config.typo_tolerance or self._lexical.has_term(t):
                continue
            near = self._lexical.suggest(t)[:TYPO_EXPANSIONS]
            if not near:
                continue
            corrections[t] = near[0][0]
            for cand, dist in near:
                group[cand] = credit = TYPO_WEIGHTS.get(dist, 0.0)
                weights[cand] = max(weights.get(cand, 0.0), credit * weights[t])
        readings = [tuple(terms)]
        if corrections:
            readings.append(tuple(corrections.get(t, t) for t in terms))
        return ParsedQuery(weights, tuple(readings), corrections, tuple(groups))

    def search(
        self,
        query: str,
        *,
        k: int,
        offset: int = 0,
        allowed: Collection[str] | None = None,
        exclude: Collection[str] = (),
        scorer: UserScorer | None = None,
        personalize: float | None = None,
        prior: Callable[[Sequence[str]], npt.NDArray[np.floating]] | None = None,
        clicks: QueryClicks | None = None,
    ) -> list[tuple[str, float]]:
        """Results ``offset .. offset + k`` as ``(item id, score)``; scores in ``[0, 1]``.

        Args:
            query: Query text (validated by the caller).
            k: Page size.
            offset: Results to skip (paging).
            allowed: When given, only these ids may be returned (filters).
            exclude: Ids never to return.
            scorer: The searching user's personal scores; None for anonymous search.
            personalize: Weight of the personal score (default ``config.personalization``).
            prior: Non-negative prior of items (event counts), mixed into relevance
                with ``config.prior_weight`` on a log scale.
            clicks: What users chose after searching this query (see
                :mod:`lmrec.engine.searchclicks`): those items become candidates.
                With ``c`` the confidence in the votes and ``share`` an item's
                votes over the most voted item's, anonymous relevance becomes
                ``(1 - c) * relevance + c * share``; personalized relevance only
                rises to ``c * share`` where it is lower.
        """
        cfg = self.config
        need = offset + k
        n = max(cfg.candidates, need)
        skip = set(exclude)
        if allowed is not None and skip:
            allowed = set(allowed) - skip
        parsed = self.parse(query)

        def ok(item_id: str) -> bool:
            return (
                item_id in self._vectors
                and item_id not in skip
                and (allowed is None or item_id in allowed)
            )

        lexical = [
            h
            for h in self._lexical.search(parsed.weights, n + len(skip), allowed=allowed)
            if ok(h[0])
        ][:n]
        qv = self._encode(query)
        dense = self._vectors.search(qv, n, exclude=skip, allowed=allowed)
        exact: set[str] = set()
        if cfg.exact_title_first:
            for reading in parsed.readings:
                exact |= {i for i in self._lexical.exact_title(reading) if ok(i)}
        p = cfg.personalization if personalize is None else personalize
        personal = scorer.top(n, allowed=allowed, exclude=skip) if scorer and p > 0 else []
        chosen = sorted(i for i in clicks.shares if ok(i)) if clicks is not None else []
        ids = list(
            dict.fromkeys(
                [i for i, _ in lexical]
                + [i for i, _ in dense]
                + sorted(exact)
                + chosen
                + [i for i, _ in personal]
            )
        )
        if not ids:
            return []
        rel = self._relevance(ids, parsed, qv, lexical, dense)
        personalized = scorer is not None and p > 0.0
        if personalized:
            # What the query asks for decides eligibility; the user's taste orders it.
            rel = np.maximum(rel, self._lexical.coverage(parsed.groups, ids))
        if clicks is not None and chosen:
            voted = clicks.confidence * np.array(
                [clicks.shares.get(i, 0.0) for i in ids], dtype=np.float64
            )
            # Anonymous: the votes re-rank. Personalized: they only vouch that an item
            # answers the query and the user's taste orders the answers; re-ranking
            # by votes there is a popularity prior, and with a simulated search log
            # it cut P4 from 0.266 to 0.174 (see lmrec.engine.searchclicks).
            if personalized:
                rel = np.maximum(rel, voted)
            else:
                rel = (1.0 - clicks.confidence) * rel + voted
        if personalized:
            keep = np.flatnonzero(rel > 0.0)
            if keep.size < len(ids):
                ids = [ids[j] for j in keep]
                rel = rel[keep]
            if not ids:
                return []
        if prior is not None and cfg.prior_weight > 0.0:
            counts = np.log1p(np.maximum(np.asarray(prior(ids), dtype=np.float64), 0.0))
            top = counts.max()
            pop = counts / top if top > 0 else counts
            rel = (1.0 - cfg.prior_weight) * rel + cfg.prior_weight * pop
        score = rel
        if scorer is not None and personalized:
            mine = _rank_share(np.asarray(scorer.scores(ids), dtype=np.float64))
            score = rel * (1.0 - p + p * mine)
        if exact:
            tier = np.array([i in exact for i in ids], dtype=bool)
            score = np.where(tier, 0.5 + 0.5 * score, 0.5 * score)
        order = np.argsort(-score, kind="stable")[offset:need]
        return [(ids[j], float(score[j])) for j in order]

    def _relevance(
        self,
        ids: list[str],
        parsed: ParsedQuery,
        qv: Vector,
        lexical: list[tuple[str, float]],
        dense: list[tuple[str, float]],
    ) -> Scores:
        """Query relevance of each candidate in ``[0, 1]`` by the configured fusion."""
        cfg = self.config
        if cfg.fusion == "linear":
            lex = np.asarray(self._lexical.scores(parsed.weights, ids), dtype=np.float64)
            cos = np.asarray(self._vectors.scores(qv, ids), dtype=np.float64)
            a = cfg.lexical_weight
            lex_n = lex / lex.max() if lex.max() > 0 else lex
            return a * lex_n + (1.0 - a) * _minmax(cos)
        pos = {i: j for j, i in enumerate(ids)}
        fused = np.zeros(len(ids), dtype=np.float64)
        for ranked in (lexical, dense):
            for r, (item_id, _) in enumerate(ranked):
                fused[pos[item_id]] += 1.0 / (cfg.rrf_k + r + 1)
        top = fused.max()
        out: Scores = fused / top if top > 0 else fused
        return out
