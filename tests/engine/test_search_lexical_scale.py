"""Search over many look-alike titles: new items are found at once, ties cut by id."""

from __future__ import annotations

from pathlib import Path

from lmrec.engine import Engine
from lmrec.schema import Item

from ..conftest import fake_settings  # type: ignore[import-not-found]


def test_new_item_found_among_thousands_of_look_alike_titles(tmp_path: Path) -> None:
    settings = fake_settings(tmp_path, store="memory", max_items_per_request=5000)
    with Engine.open(settings=settings) as engine:
        engine.upsert_items(
            [Item(f"syn-{n}", f"Synthetic film {n}", "A story.", ("Drama",)) for n in range(3000)]
        )
        for n in range(3):
            title = f"Benchmark Film {n}abc"
            engine.upsert_items([Item(title, title, "A heist in space.", ("Sci-Fi",))])
            assert engine.search(title, k=1).ids == (title,)
        engine.upsert_items([Item("syn-7", "Synthetic film 7", active=False)])
        lexical = engine._lexical.search("synthetic film", 3)
        # 2999 equal scores: the lowest ids win, as a full sort by (score, id) would give.
        assert [h[0] for h in lexical] == ["syn-0", "syn-1", "syn-10"]
        assert len({h[1] for h in lexical}) == 1
        assert "syn-7" not in {h[0] for h in engine._lexical.search("synthetic film", 3000)}
