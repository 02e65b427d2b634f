"""Shared fixtures for the data tests, including the real ML-100K fetched once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lmrec.data import fetch
from lmrec.data.download import ENV_PATH
from lmrec.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    """Folder of the tiny hand-written input files."""
    return FIXTURES


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Explicit settings, so neither LMREC_* variables nor an lmrec.toml can change a test."""
    return Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        max_id_length=16,
        max_title_length=100,
        max_text_length=40,
        max_query_length=20,
        rating_min=0.0,
        rating_max=5.0,
    )


@pytest.fixture(scope="session")
def ml100k_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The real ML-100K, fetched with pip once per test session into a session temp dir."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(ENV_PATH, raising=False)
        yield fetch("ml-100k", cache_dir=tmp_path_factory.mktemp("lmrec-cache"))
