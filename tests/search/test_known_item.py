"""Known-item search on the real MovieLens-100K with the real encoder (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmrec.engine import Engine
from lmrec.text import fold

from ..conftest import fake_settings  # type: ignore[import-not-found]


@pytest.mark.slow
def test_exact_titles_rank_first_on_movielens(
    ml100k: object, real_encoder: object, tmp_path: Path
) -> None:
    items = ml100k.items  # type: ignore[attr-defined]
    settings = fake_settings(tmp_path, store="memory", encoder="all-MiniLM-L6-v2")
    with Engine.open(settings=settings, encoder=real_encoder) as eng:  # type: ignore[arg-type]
        for i in range(0, len(items), 1000):
            eng.upsert_items(items[i : i + 1000])
        titles = {it.id: fold(it.title) for it in items}
        sample = items[::8]  # every 8th film: about 210 queries
        first = top3 = 0
        for it in sample:
            got = [titles[g] == titles[it.id] for g in eng.search(it.title, k=3).ids]
            first += bool(got and got[0])
            top3 += any(got)
        assert first / len(sample) >= 0.98
        assert top3 / len(sample) >= 0.995
        assert eng.search("toy story").ids[0] == "1"
        assert eng.search("toy stroy").ids[0] == "1"
