"""The foundation's acceptance on real data: MovieLens-100K with the real language model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lmrec.api import create_app
from lmrec.cli import load_into
from lmrec.engine import Engine
from lmrec.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ml_engine(
    tmp_path_factory: pytest.TempPathFactory, ml100k: Any, real_encoder: Any
) -> Iterator[Engine]:
    data_dir: Path = tmp_path_factory.mktemp("ml100k-engine")
    engine = Engine.open(settings=Settings(data_dir=data_dir), encoder=real_encoder)
    load_into(engine, ml100k.items, ml100k.users, ml100k.events)
    yield engine
    engine.close()


def test_import_is_complete(ml_engine: Engine) -> None:
    stats = ml_engine.stats()
    assert (stats.items, stats.users, stats.events) == (1682, 943, 100_000)
    assert stats.encoder == "all-MiniLM-L6-v2" and stats.dim == 384


def test_user_1_gets_ten_films_they_have_not_rated(ml_engine: Engine, ml100k: Any) -> None:
    with TestClient(create_app(ml_engine)) as client:
        body = client.get("/v1/users/1/recommendations", params={"k": 10}).json()
    rated = {e.item for e in ml100k.events if e.user == "1"}
    ids = [i["id"] for i in body["items"]]
    assert len(ids) == 10 and len(set(ids)) == 10
    assert not set(ids) & rated
    assert {i["source"] for i in body["items"]} == {"content"}


def test_toy_story_search_returns_toy_story_first(ml_engine: Engine) -> None:
    with TestClient(create_app(ml_engine)) as client:
        body = client.get("/v1/search", params={"q": "toy story"}).json()
    assert body["items"][0]["title"] == "Toy Story (1995)"


def test_similar_films_share_genre(ml_engine: Engine) -> None:
    sim = ml_engine.similar("50", k=5)  # Star Wars (1977)
    genres = [set(ml_engine.get_item(i).categories) for i in sim.ids]
    assert sum("Sci-Fi" in g for g in genres) >= 3
