"""Query understanding: exact titles win, typos are tolerated, the vocabulary stays in sync."""

from __future__ import annotations

from lmrec.engine import Engine
from lmrec.index import LexicalIndex
from lmrec.index.lexical import edit_budget, osa_distance, title_keys
from lmrec.schema import Item


def test_exact_title_wins(engine: Engine) -> None:
    assert engine.search("toy story").ids[0] == "1"
    assert engine.search("Toy Story (1995)").ids[0] == "1"
    assert engine.search("TOY SOLDIERS").ids[0] == "5"
    # Article moved to the end, as MovieLens writes it.
    assert engine.search("the empire strikes back").ids[0] == "3"


def test_exact_title_beats_a_strong_description_match(engine: Engine) -> None:
    engine.upsert_items([Item("x", "Heat", "toy story toy story toy story toy story")])
    engine.upsert_items([Item("y", "Toy Story", "a remake")])
    got = engine.search("toy story", k=3).ids
    assert set(got[:2]) == {"1", "y"}  # both titles are exactly the query


def test_typo_tolerance(engine: Engine) -> None:
    assert engine.search("toy stroy").ids[0] == "1"
    assert engine.search("sensibilty").ids[0] == "10"
    assert engine.search("Aladin").ids[0] == "6"
    assert engine.search("alein").ids[0] == "8"


def test_typo_suggestions_follow_the_catalog() -> None:
    idx = LexicalIndex()
    idx.upsert("a", {"title": "Casablanca"})
    assert idx.suggest("casablanka") == [("casablanca", 1)]
    assert idx.suggest("csablanka") == [("casablanca", 2)]
    assert idx.suggest("casa") == []  # too far
    idx.remove("a")
    assert idx.suggest("casablanka") == []  # a deleted term is no longer suggested
    idx.upsert("b", {"title": "Vertigo"})
    assert idx.suggest("vertgio") == [("vertigo", 1)]  # transposition is one edit


def test_edit_budget_and_distance() -> None:
    assert edit_budget("ab") == 0 and edit_budget("1995") == 0 and edit_budget("北京") == 0
    assert edit_budget("story") == 1 and edit_budget("sensibility") == 2
    assert osa_distance("stroy", "story", 2) == 1
    assert osa_distance("kitten", "sitting", 2) == 3  # over the limit: limit + 1


def test_title_keys_ignore_order_case_and_parentheses() -> None:
    keys = title_keys("Empire Strikes Back, The (1980)")
    assert ("back", "empire", "strikes", "the") in keys
    assert ("1980", "back", "empire", "strikes", "the") in keys


def test_new_and_removed_items_are_searchable_at_once(engine: Engine) -> None:
    engine.upsert_items([Item("new", "Zyzzyva Chronicles", "a brand new film")])
    assert engine.search("zyzzyva").ids[0] == "new"
    assert engine.search("zyzyva").ids[0] == "new"  # and typo-correctable
    engine.set_item_active("new", False)
    assert "new" not in engine.search("zyzzyva chronicles", k=10).ids
