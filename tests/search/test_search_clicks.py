"""What users chose after a query raises it for that query: the search log as training signal."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lmrec.engine import Engine
from lmrec.engine.searchclicks import CLICK_HALF, CLICK_WINDOW, SearchClicks, query_key
from lmrec.schema import Event, EventKind
from lmrec.settings import Settings

from ..conftest import MOVIES, fake_settings  # type: ignore[import-not-found]


def search(user: str, query: str, ts: float) -> Event:
    return Event(user, EventKind.SEARCH, ts, query=query)


def click(user: str, item: str, ts: float, kind: EventKind = EventKind.CLICK) -> Event:
    return Event(user, kind, ts, item=item)


def test_votes_count_positive_events_soon_after_the_users_own_search() -> None:
    clicks = SearchClicks(Settings())
    clicks.add(
        [
            search("a", "Space  MOVIE", 100.0),
            click("a", "8", 160.0),  # counts
            click("a", "8", 170.0),  # the same item again after one search: one vote
            click("b", "3", 165.0),  # another user's click: no search of theirs
            click("a", "9", 100.0 + CLICK_WINDOW + 1),  # too late
            search("c", "space movie", 200.0),
            click("c", "3", 90.0),  # before the search
            click("c", "5", 260.0, EventKind.DISLIKE),  # negative: no vote
            click("c", "8", 230.0, EventKind.PURCHASE),
            search("c", "heat", 300.0),
            click("c", "2", 310.0),  # answers "heat", not "space movie"
        ]
    )
    assert query_key("Space  MOVIE") == query_key("space movie") == "space movie"
    assert clicks.votes("space movie") == {"8": 2.0}
    assert clicks.votes("heat") == {"2": 1.0}
    assert clicks.votes("nothing") == {}
    clicks.add([search("d", "space movie", 400.0), click("d", "3", 420.0)])
    seen = clicks.evidence("space movie")
    assert seen is not None and seen.shares == {"8": 1.0, "3": 0.5}
    assert seen.confidence == 3.0 / (3.0 + CLICK_HALF)
    assert clicks.evidence("nothing") is None
    clicks.reset()
    assert clicks.votes("space movie") == {}


def test_what_users_chose_after_a_query_rises_for_it_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    settings = fake_settings(tmp_path)
    with Engine.open(settings=settings) as engine:
        engine.upsert_items(MOVIES)
        before = engine.search("boy", k=10).ids
        chosen = before[-1]  # found, but ranked last
        assert chosen not in ("2", "6")
        for n in range(5):
            t = 1000.0 * n
            engine.ingest([search(f"s{n}", "Boy", t), click(f"s{n}", chosen, t + 30)])
        after = engine.search("boy", k=10).ids
        assert after[0] == chosen
        assert (
            engine.search("galactic empire", k=3).ids == engine.search("galactic empire", k=3).ids
            and chosen not in engine.search("galactic empire", k=3).ids
        )
    with Engine.open(settings=settings) as again:  # votes are rebuilt from the stored log
        assert again.search("boy", k=10).ids[0] == chosen
        for n in range(5):
            again.delete_user(f"s{n}")
        assert again.search("boy", k=10).ids == before  # erased users' votes are gone


def test_a_chosen_item_is_found_even_when_no_retriever_finds_it(tmp_path: Path) -> None:
    settings = fake_settings(tmp_path, store="memory")
    with Engine.open(settings=settings) as engine:
        engine.upsert_items(MOVIES)
        engine._searcher.config = replace(engine._searcher.config, candidates=1)
        assert "9" not in engine.search("musical", k=1).ids
        for n in range(5):
            engine.ingest([search(f"s{n}", "musical", 10.0 * n), click(f"s{n}", "9", 10.0 * n + 1)])
        assert "9" in engine.search("musical", k=3).ids
        assert "9" in engine.search("musical", user="u", k=3).ids  # personalized, too
        engine.ingest([click("u", "2", 1.0)])
        assert "9" in engine.search("musical", user="u", k=3, personalize=1.0).ids


def test_explanations_say_how_many_users_chose_a_result(tmp_path: Path) -> None:
    with Engine.open(settings=fake_settings(tmp_path, store="memory")) as engine:
        engine.upsert_items(MOVIES)
        for n in range(2):
            engine.ingest([search(f"s{n}", "boy", 10.0 * n), click(f"s{n}", "6", 10.0 * n + 1)])
        found = engine.search("boy", k=10, explain=True)
        assert found.explanations is not None
        said = dict(zip(found.ids, found.explanations, strict=True))
        assert said["6"].endswith("; 2 users chose it after this search")
        assert not any("chose it" in s for i, s in said.items() if i != "6")


def test_votes_vouch_for_personalized_results_but_taste_orders_them(tmp_path: Path) -> None:
    with Engine.open(settings=fake_settings(tmp_path, store="memory")) as engine:
        engine.upsert_items(MOVIES)
        engine.ingest([click("kid", "7", 1.0), click("kid", "1", 2.0)])
        assert engine.search("boy", user="kid", k=2).ids == ("6", "2")
        for n in range(5):
            engine.ingest([search(f"s{n}", "boy", 10.0 * n), click(f"s{n}", "2", 10.0 * n + 1)])
        assert engine.search("boy", k=2).ids[0] == "2"  # anonymous: the crowd's choice
        # Both films fully match "boy": the votes add nothing the query did not say,
        # so the family-film fan still sees the family film first.
        assert engine.search("boy", user="kid", k=2).ids == ("6", "2")
