"""The console's read-only endpoints and static files, through the app in-process."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lmrec.api import create_app
from lmrec.engine import Engine
from lmrec.web import STATIC_DIR
from lmrec.web.projection import fit_pca

from ..conftest import MOVIES, fake_settings  # type: ignore[import-not-found]
from .conftest import SEED_EVENTS, write_report


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine.open(settings=fake_settings(tmp_path))
    eng.upsert_items(MOVIES)
    eng.ingest(SEED_EVENTS)
    yield eng
    eng.close()


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine)) as c:
        yield c


def test_console_page_and_assets_are_served(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert '<script type="module" src="/static/app.js">' in r.text
    for name in ["app.js", "api.js", "explain.js", "results.js", "map.js", "report.js",
                 "console.css", "favicon.svg"]:  # fmt: skip
        assert client.get(f"/static/{name}").status_code == 200, name
    assert client.get("/docs").status_code == 200


def test_static_files_load_nothing_from_the_internet() -> None:
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        urls = re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, flags=re.I)
        assert urls in ([], ["http://www.w3.org"]), (path.name, urls)


def test_history_has_titles_and_keeps_the_newest(client: TestClient) -> None:
    body = client.get("/v1/users/alice/history", params={"limit": 1}).json()
    assert body["user"] == "alice"
    assert [(e["kind"], e["item"], e["title"]) for e in body["events"]] == [
        ("click", "6", "Aladdin (1992)")
    ]
    more = [{"user": "alice", "kind": "search", "query": "x"},
            {"user": "alice", "kind": "like", "item": "zz"}]  # fmt: skip
    client.post("/v1/events", json={"events": more})
    events = client.get("/v1/users/alice/history").json()["events"]
    assert [e["title"] for e in events] == ["Toy Story (1995)", "Aladdin (1992)", None, None]
    assert events[2]["query"] == "x"
    assert client.get("/v1/users/nobody/history").json() == {"user": "nobody", "events": []}
    assert client.get("/v1/users/alice/history", params={"limit": 0}).status_code == 422


def test_recent_users_newest_first(client: TestClient) -> None:
    assert client.get("/v1/users").json() == {"users": ["carol", "bob", "alice"]}
    client.post("/v1/events", json={"events": [{"user": "alice", "item": "2", "kind": "view"}]})
    assert client.get("/v1/users", params={"limit": 2}).json() == {"users": ["alice", "carol"]}


def test_map_projects_items_user_and_history(client: TestClient, engine: Engine) -> None:
    body = client.get("/v1/map", params={"user": "alice"}).json()
    assert body["total"] == 10 and len(body["items"]) == 10
    assert body["categories"][0] == "Action"  # the most common primary category first
    assert {i["category"] for i in body["items"]} <= set(body["categories"])
    assert [h["id"] for h in body["history"]] == ["6", "1"]  # newest first
    by_id = {i["id"]: i for i in body["items"]}
    assert body["history"][1]["x"] == pytest.approx(by_id["1"]["x"], abs=1e-4)
    assert body["user"]["id"] == "alice"
    assert 0 < body["explained_variance"][1] <= body["explained_variance"][0] < 1
    # No history: no user mark. Same catalog: the same coordinates (cached, sign-fixed).
    again = client.get("/v1/map", params={"user": "nobody"}).json()
    assert again["user"] is None and again["history"] == [] and again["items"] == body["items"]
    # The catalog changes: the map is refitted and shows the new item.
    client.post("/v1/items", json={"items": [{"id": "n", "title": "New", "categories": []}]})
    fresh = client.get("/v1/map").json()
    assert fresh["total"] == 11
    assert next(i for i in fresh["items"] if i["id"] == "n")["category"] == "(none)"


def test_pca_is_deterministic_and_sign_fixed() -> None:
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(50, 8)) * np.arange(8, 0, -1)).astype(np.float32)
    _, comps, (a, b) = fit_pca(x)
    _, comps2, _ = fit_pca(x[::-1].copy())
    np.testing.assert_allclose(comps, comps2, atol=1e-5)
    assert all(row[np.argmax(np.abs(row))] > 0 for row in comps)
    assert a > b > 0
    empty = fit_pca(np.zeros((0, 4), np.float32))
    assert empty[2] == (0.0, 0.0)


def test_reports_absent_then_latest_served(client: TestClient, engine: Engine) -> None:
    assert client.get("/v1/reports").json()["reports"] == []
    r = client.get("/v1/reports/latest")
    assert r.status_code == 404 and "lmrec evaluate" in r.json()["detail"]
    root = engine.settings.data_dir / "reports"
    write_report(root / "old")
    write_report(root / "new")
    (root / "new" / "charts").mkdir()
    (root / "new" / "charts" / "hr.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    os.utime(root / "old" / "report.json", (1, 1))
    listing = client.get("/v1/reports").json()
    assert [r["name"] for r in listing["reports"]] == ["new", "old"] and listing["message"] is None
    body = client.get("/v1/reports/latest").json()
    assert body["name"] == "new"
    assert body["report"]["protocols"][0]["name"] == "P1"
    assert body["markdown"].startswith("# lmrec evaluation report")
    assert [c["name"] for c in body["charts"]] == ["charts/hr.png", "ndcg.svg"]
    svg = client.get(body["charts"][1]["url"])
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.headers["content-security-policy"].startswith("default-src 'none'")
    assert client.get("/v1/reports/latest/files/charts/hr.png").content.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "name",
    ["../old/report.json", "..%2Fold%2Freport.json", "%2e%2e/%2e%2e/lmrec.db", "/etc/passwd",
     "charts/../../old/ndcg.svg", "secret.txt", "charts", "link.svg"],
)  # fmt: skip
def test_report_files_cannot_escape_the_report(
    client: TestClient, engine: Engine, name: str
) -> None:
    root = engine.settings.data_dir / "reports"
    write_report(root / "old")
    write_report(root / "new")
    (root / "new" / "secret.txt").write_text("no")
    (root / "new" / "charts").mkdir()
    (root / "new" / "link.svg").symlink_to(root / "old" / "ndcg.svg")
    os.utime(root / "old" / "report.json", (1, 1))
    assert client.get("/v1/reports/latest").json()["name"] == "new"
    r = client.get(f"/v1/reports/latest/files/{name}")
    assert r.status_code == 404, r.text
    assert "link.svg" not in [c["name"] for c in client.get("/v1/reports/latest").json()["charts"]]
