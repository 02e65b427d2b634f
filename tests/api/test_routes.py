"""Every route, and a 4xx with a message for every kind of bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lmrec.api import create_app
from lmrec.engine import Engine

from ..conftest import MOVIES, fake_settings  # type: ignore[import-not-found]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    engine = Engine.open(settings=fake_settings(tmp_path, max_body_bytes=64 * 1024))
    items = [
        {"id": m.id, "title": m.title, "text": m.text, "categories": list(m.categories),
         "metadata": dict(m.metadata)}
        for m in MOVIES
    ]  # fmt: skip
    with TestClient(create_app(engine)) as c:
        assert c.post("/v1/items", json={"items": items}).json() == {"upserted": 10}
        yield c
    engine.close()


def test_events_recommendations_and_read_your_writes(client: TestClient) -> None:
    r = client.post(
        "/v1/events",
        json={"events": [{"id": "e1", "user": "u", "item": "2", "kind": "like"},
                         {"id": "e1", "user": "u", "item": "2", "kind": "like"},
                         {"user": "u", "kind": "search", "query": "space"}]},
    )  # fmt: skip
    assert r.status_code == 200
    assert r.json() == {"accepted": 2, "duplicates": 1}
    body = client.get("/v1/users/u/recommendations", params={"k": 3}).json()
    assert body["user"] == "u" and body["model"] == "content"
    assert len(body["items"]) == 3
    assert {"id", "title", "score", "source"} <= set(body["items"][0])
    assert "2" not in [i["id"] for i in body["items"]]
    assert body["items"][0]["source"] == "content"


def test_recommendation_filters(client: TestClient) -> None:
    ids = lambda r: [i["id"] for i in r.json()["items"]]  # noqa: E731
    r = client.get("/v1/users/new/recommendations?k=5&category=Animation&exclude=1,6")
    assert ids(r) == ["7"]
    r = client.get("/v1/users/new/recommendations?k=5&category=Horror&category=Drama")
    assert set(ids(r)) == {"8", "9", "10"}
    assert r.json()["items"][0]["source"] == "popular"


def test_search_similar_rank_item_delete(client: TestClient) -> None:
    assert client.get("/v1/search", params={"q": "toy story"}).json()["items"][0]["id"] == "1"
    sim = client.get("/v1/items/2/similar?k=2").json()
    assert sim["item"] == "2" and len(sim["items"]) == 2
    assert client.get("/v1/items/1").json()["categories"] == ["Animation", "Children's", "Comedy"]
    client.post("/v1/events", json={"events": [{"user": "r", "item": "2", "kind": "like"}]})
    ranked = client.post("/v1/users/r/rank", json={"items": ["9", "4"]}).json()
    assert [i["id"] for i in ranked["items"]] == ["4", "9"]
    assert client.delete("/v1/users/r").json() == {"user": "r", "deleted_events": 1}
    assert client.get("/v1/health").json()["status"] == "ok"
    stats = client.get("/v1/stats").json()
    assert stats["items"] == 10 and stats["events"] == 0


def test_openapi_is_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for p in ["/v1/items", "/v1/events", "/v1/users/{user}/recommendations",
              "/v1/users/{user}/rank", "/v1/search", "/v1/items/{item_id}/similar",
              "/v1/users/{user}", "/v1/health", "/v1/stats",
              "/v1/users/{user}/explain/{item_id}"]:  # fmt: skip
        assert p in paths


BAD = [
    ("post", "/v1/events", {"events": [{"user": "u", "kind": "teleport", "item": "1"}]}, 422,
     "events.0.kind"),
    ("post", "/v1/events", {"events": [{"user": "u", "kind": "click"}]}, 422, "events.0.item"),
    ("post", "/v1/events", {"events": [{"user": "", "kind": "click", "item": "1"}]}, 422,
     "events.0.user"),
    ("post", "/v1/events", {"events": [{"user": "u", "kind": "rate", "item": "1", "value": 7}]},
     422, "events.0.value"),
    ("post", "/v1/events", {"events": [{"user": "u", "kind": "search"}]}, 422, "events.0.query"),
    ("post", "/v1/events", {"events": [{"user": "u", "kind": "click", "item": "1", "x": 1}]},
     422, "events.0.x"),
    ("post", "/v1/events", {"nothing": []}, 422, "events"),
    ("post", "/v1/items", {"items": [{"id": "a"}]}, 422, "items.0.title"),
    ("post", "/v1/items", {"items": [{"id": "a" * 300, "title": "t"}]}, 413, "items.0.id"),
    ("post", "/v1/items", {"items": [{"id": "a", "title": "t", "text": "x" * 30_000}]}, 413,
     "items.0.text"),
    ("post", "/v1/users/u/rank", {"items": ["1", "missing"]}, 404, "items"),
    ("get", "/v1/users/u/recommendations?k=0", None, 422, "k"),
    ("get", "/v1/users/u/recommendations?k=5000", None, 413, "k"),
    ("get", "/v1/users/u/recommendations?k=ten", None, 422, "k"),
    ("get", "/v1/search?q=", None, 422, "q"),
    ("get", "/v1/search", None, 422, "q"),
    ("get", "/v1/search?q=" + "x" * 600, None, 413, "q"),
    ("get", "/v1/items/missing/similar", None, 404, "item"),
    ("get", "/v1/items/missing", None, 404, "item"),
    ("get", "/v1/no-such-route", None, 404, None),
]  # fmt: skip


@pytest.mark.parametrize(("method", "url", "body", "status", "field"), BAD)
def test_bad_input_gets_a_clear_error(
    client: TestClient, method: str, url: str, body: object, status: int, field: str | None
) -> None:
    r = client.request(method, url, json=body)
    assert r.status_code == status, r.text
    err = r.json()
    assert set(err) == {"error", "detail", "field"}
    assert err["detail"]
    assert err["field"] == field


def test_invalid_json_and_oversized_body(client: TestClient) -> None:
    r = client.post("/v1/events", content=b"{oops", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"
    big = {"events": [{"user": "u", "kind": "click", "item": "1"}] * 3000}  # > 64 KiB
    r = client.post("/v1/events", json=big)
    assert r.status_code == 413 and r.json()["error"] == "limit_exceeded"
    assert client.get("/v1/stats").json()["events"] == 0  # nothing half-applied


def test_batch_limit(tmp_path: Path) -> None:
    engine = Engine.open(settings=fake_settings(tmp_path, max_events_per_request=2))
    with TestClient(create_app(engine)) as c:
        ev = {"user": "u", "kind": "search", "query": "q"}
        r = c.post("/v1/events", json={"events": [ev, ev, ev]})
        assert r.status_code == 413 and r.json()["field"] == "events"
        assert "limit is 2" in r.json()["detail"]
    engine.close()
