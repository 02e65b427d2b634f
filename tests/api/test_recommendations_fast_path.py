"""The recommendations route's hot path: same body as the schema, docs intact, fresh answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lmrec.api import create_app
from lmrec.api.schemas import RecommendationsOut
from lmrec.engine import Engine

from ..conftest import MOVIES, fake_settings  # type: ignore[import-not-found]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    engine = Engine.open(settings=fake_settings(tmp_path))
    engine.upsert_items(MOVIES)
    with TestClient(create_app(engine)) as c:
        yield c
    engine.close()


def like(client: TestClient, user: str, item: str) -> None:
    r = client.post("/v1/events", json={"events": [{"user": user, "item": item, "kind": "like"}]})
    assert r.status_code == 200


@pytest.mark.parametrize("params", [{"k": 3}, {"k": 2, "explain": "true"}])
def test_body_is_exactly_what_the_schema_serialises(
    client: TestClient, params: dict[str, object]
) -> None:
    like(client, "u", "2")
    for _ in range(2):  # computed, then served from the cached user state
        r = client.get("/v1/users/u/recommendations", params=params)
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        assert (
            r.content
            == RecommendationsOut.model_validate_json(r.content).model_dump_json().encode()
        )
        body = r.json()
        assert body["user"] == "u" and body["model"] == "content"
        assert len(body["items"]) == params["k"]
        explained = params.get("explain") == "true"
        assert all((item["why"] is not None) == explained for item in body["items"])


def test_openapi_still_documents_the_response_model(client: TestClient) -> None:
    op = client.get("/openapi.json").json()["paths"]["/v1/users/{user}/recommendations"]["get"]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/RecommendationsOut")
    assert {p["name"] for p in op["parameters"]} >= {"user", "k", "exclude", "category", "explain"}


def test_a_cached_user_sees_their_next_event(client: TestClient) -> None:
    like(client, "rw", "2")
    first = client.get("/v1/users/rw/recommendations", params={"k": 9}).json()["items"]
    again = client.get("/v1/users/rw/recommendations", params={"k": 9}).json()["items"]
    assert again == first
    like(client, "rw", first[0]["id"])
    ids = [
        x["id"] for x in client.get("/v1/users/rw/recommendations", params={"k": 9}).json()["items"]
    ]
    assert first[0]["id"] not in ids


def test_bad_input_on_the_fast_path_is_still_a_422(client: TestClient) -> None:
    r = client.get("/v1/users/u/recommendations", params={"k": 0})
    assert r.status_code == 422 and r.json()["field"] == "k"
