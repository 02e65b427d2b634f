"""Fixtures of the search tests: an engine over the shared movie catalog (fake encoder)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lmrec.engine import Engine

from ..conftest import MOVIES, fake_settings  # type: ignore[import-not-found]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine.open(settings=fake_settings(tmp_path, store="memory", max_k=50))
    eng.upsert_items(MOVIES)
    yield eng
    eng.close()
