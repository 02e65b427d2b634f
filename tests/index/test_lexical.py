"""BM25 lexical index: ranking, field weights, incremental updates."""

from __future__ import annotations

from lmrec.index import LexicalIndex


def test_bm25_ranks_title_matches_first_and_updates_incrementally() -> None:
    idx = LexicalIndex()
    idx.upsert("a", {"title": "Toy Story", "text": "toys come alive"})
    idx.upsert("b", {"title": "Soldiers", "text": "a story about a toy soldier"})
    idx.upsert("c", {"title": "Heat", "text": "a heist"})
    hits = idx.search("toy story", 10)
    assert [h[0] for h in hits] == ["a", "b"]
    assert hits[0][1] > hits[1][1] > 0
    idx.remove("a")
    assert [h[0] for h in idx.search("toy story", 10)] == ["b"]
    idx.upsert("b", {"title": "Heat 2"})  # re-index replaces old terms
    assert idx.search("story", 10) == []
    assert {h[0] for h in idx.search("heat", 10)} == {"b", "c"}
    assert len(idx) == 2


def test_allowed_filter_and_accents() -> None:
    idx = LexicalIndex()
    idx.upsert("1", {"title": "Amélie"})
    idx.upsert("2", {"title": "Amelie again"})
    assert {h[0] for h in idx.search("AMELIE", 10)} == {"1", "2"}
    assert [h[0] for h in idx.search("amelie", 10, allowed={"2"})] == ["2"]


def test_chinese_text_is_segmented() -> None:
    idx = LexicalIndex()
    idx.upsert("c1", {"title": "北京烤鸭", "text": "传统的北京美食"})
    idx.upsert("c2", {"title": "上海小笼包", "text": "上海的点心"})
    assert idx.search("北京", 10)[0][0] == "c1"
    assert idx.search("上海", 10)[0][0] == "c2"


def test_coverage_is_the_rarity_weighted_share_of_query_words() -> None:
    import math

    import pytest

    idx = LexicalIndex()
    idx.upsert("both", {"title": "space adventure"})
    idx.upsert("long", {"title": "space adventure", "text": "a very long text " * 20})
    idx.upsert("common", {"title": "adventure one"})
    idx.upsert("other", {"title": "adventure two"})
    idx.upsert("none", {"title": "heat"})
    groups = [{"space": 1.0}, {"adventure": 1.0}]
    got = idx.coverage(groups, ["both", "long", "common", "none", "missing"])
    # Every document with all words covers the query fully, whatever its length.
    assert got[0] == got[1] == 1.0
    assert got[3] == got[4] == 0.0
    n = 5
    rare = math.log(1 + (n - 2 + 0.5) / 2.5)  # "space": in 2 documents
    common = math.log(1 + (n - 4 + 0.5) / 4.5)  # "adventure": in 4
    assert got[2] == pytest.approx(common / (rare + common))
    # A typo's correction counts with its credit; words nowhere in the index count for nothing.
    typo = idx.coverage([{"spase": 1.0, "space": 0.8}, {"zzz": 1.0}], ["both", "common"])
    assert typo.tolist() == pytest.approx([0.8, 0.0])
    assert idx.coverage([{"zzz": 1.0}], ["both"]).tolist() == [0.0]
