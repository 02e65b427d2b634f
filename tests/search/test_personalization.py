"""Personalization: the user's score reorders results; search events shape recommendations."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from lmrec.engine import Engine
from lmrec.engine.search import UserScorer
from lmrec.schema import Event, EventKind


def ev(user: str, kind: str, item: str | None = None, ts: float = 1.0, **kw: object) -> Event:
    return Event(user=user, kind=EventKind(kind), ts=ts, item=item, **kw)  # type: ignore[arg-type]


def test_two_users_same_query_different_order(engine: Engine) -> None:
    engine.ingest([ev("sf", "like", "3"), ev("sf", "like", "4", ts=2.0)])
    engine.ingest([ev("kid", "like", "7"), ev("kid", "like", "1", ts=2.0)])
    sf = engine.search("boy", user="sf", k=2).ids  # default weight
    kid = engine.search("boy", user="kid", k=2).ids
    assert set(sf) == set(kid) == {"2", "6"}  # the two films about a boy
    assert sf == ("2", "6") and kid == ("6", "2")


def test_anonymous_and_zero_weight_are_relevance_only(engine: Engine) -> None:
    engine.ingest([ev("kid", "like", "7"), ev("kid", "like", "1", ts=2.0)])
    anon = engine.search("boy", k=5)
    assert engine.search("boy", user="kid", k=5, personalize=0.0) == anon
    assert engine.search("boy", user="nobody-yet", k=5) == anon  # no history: no profile
    assert engine.search("boy", user="kid", k=5, personalize=1.0) != anon


def test_exact_title_stays_first_when_personalized(engine: Engine) -> None:
    engine.ingest([ev("kid", "like", "7"), ev("kid", "like", "6", ts=2.0)])
    assert engine.search("star wars", user="kid", personalize=1.0).ids[0] == "2"


def test_search_events_feed_recommendations(engine: Engine) -> None:
    engine.ingest([ev("s", "search", query="galactic empire rebels")])
    recs = engine.recommend("s", k=3)
    assert recs.sources[0] == "content"
    assert set(recs.ids) == {"2", "3", "4"}
    stored = engine.history("s")
    assert stored[0].event.kind is EventKind.SEARCH
    assert stored[0].event.query == "galactic empire rebels"


class FixedScorer:
    """A user model that is not a vector: a table of scores."""

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table

    def scores(self, ids: Sequence[str]) -> npt.NDArray[np.floating]:
        return np.array([self.table.get(i, 0.0) for i in ids])

    def top(
        self, n: int, *, allowed: Collection[str] | None, exclude: Collection[str]
    ) -> list[tuple[str, float]]:
        ok = [(i, s) for i, s in self.table.items() if i not in exclude]
        ok = [p for p in ok if allowed is None or p[0] in allowed]
        return sorted(ok, key=lambda p: -p[1])[:n]


def test_any_user_scorer_personalizes(engine: Engine) -> None:
    scorer = FixedScorer({"6": 5.0, "2": -5.0})
    assert isinstance(scorer, UserScorer)
    searcher = engine._searcher
    plain = [i for i, _ in searcher.search("boy", k=2)]
    mine = [i for i, _ in searcher.search("boy", k=2, scorer=scorer, personalize=0.9)]
    assert set(plain) == {"2", "6"}
    assert plain[0] == "2" and mine[0] == "6"
    liked = [i for i, _ in searcher.search("boy", k=2, scorer=FixedScorer({"2": 1.0}),
                                           personalize=0.9)]  # fmt: skip
    assert liked[0] == "2"


def test_personalized_search_does_not_lift_favourites_the_query_misses(engine: Engine) -> None:
    # A sci-fi fan searching for a musical: the query decides what is eligible,
    # the user's taste only orders it. With few candidates per retriever, the
    # fan's favourites come only from the personal list and are dropped.
    engine.ingest([ev("sf", "like", "3"), ev("sf", "like", "4", ts=2.0)])
    engine.ingest([ev("sf", "like", "8", ts=3.0)])
    assert set(engine.search("musical", user="sf", k=2).ids) == {"6", "7"}
    searcher = engine._searcher
    searcher.config = replace(searcher.config, candidates=2)
    dense = {i for i, _ in searcher._vectors.search(searcher._encode("musical"), 4)}
    favourites = {"3", "4", "8"} - dense
    assert favourites  # some favourites come from the personal list alone
    got = engine.search("musical", user="sf", k=4, personalize=1.0)
    assert set(got.ids) <= {"6", "7"} | dense
    assert all(s > 0 for s in got.scores)


def test_among_items_that_all_match_the_users_order_decides(engine: Engine) -> None:
    # Every Sci-Fi film matches the query "sci-fi" fully, so for a user whose
    # scorer prefers "8" then "3", no relevance noise reorders them.
    searcher = engine._searcher
    scorer = FixedScorer({"8": 3.0, "3": 2.0, "4": 1.0, "2": 0.0})
    got = [i for i, _ in searcher.search("sci-fi", k=4, allowed={"2", "3", "4", "8"},
                                         scorer=scorer, personalize=0.5)]  # fmt: skip
    assert got == ["8", "3", "4", "2"]
    anon = [i for i, _ in searcher.search("sci-fi", k=4, allowed={"2", "3", "4", "8"})]
    assert anon != got  # relevance alone orders them differently


def test_served_scorer_reorders_its_shortlist_and_keeps_the_rest_by_score() -> None:
    from lmrec.engine.search import ServedUserScorer
    from lmrec.index.exact import ExactIndex

    index = ExactIndex(2)
    ids = ["a", "b", "c", "d", "e"]
    index.upsert(ids, np.array([[5, 0], [4, 0], [3, 0], [2, 0], [1, 0]], dtype=np.float32))
    user = np.array([1, 0], dtype=np.float32)
    seen: list[list[str]] = []

    def reverse(hits: list[tuple[str, float]]) -> list[tuple[str, float]]:
        seen.append([i for i, _ in hits])
        return hits[::-1]

    scorer = ServedUserScorer(index, user, reverse, shortlist=3)
    asked = ["e", "c", "a", "d", "b"]
    scores = scorer.scores(asked)
    served = [asked[j] for j in np.argsort(-scores, kind="stable")]
    assert seen == [["a", "b", "c"]]  # the three best by inner product, best first
    assert served == ["c", "b", "a", "d", "e"]
    everything = ServedUserScorer(index, user, reverse)  # shortlist 0: all candidates
    got = everything.scores(asked)
    assert [asked[j] for j in np.argsort(-got, kind="stable")] == ["e", "d", "c", "b", "a"]
