"""A real HTTP server in a child process: serving, and no acknowledged event lost to kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lmrec.engine import Engine

from ..conftest import MOVIES, fake_settings, free_port, start_server  # type: ignore[import-not-found]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    with Engine.open(settings=fake_settings(tmp_path)) as eng:
        eng.upsert_items(MOVIES)
    port = free_port()
    proc = start_server(tmp_path / "data", port)
    yield f"http://127.0.0.1:{port}", tmp_path, proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)


def test_real_server_serves_recommendations_and_search(
    server: tuple[str, Path, subprocess.Popen[bytes]],
) -> None:
    base, _, _ = server
    with httpx.Client(base_url=base) as c:
        r = c.post("/v1/events", json={"events": [{"user": "u", "item": "2", "kind": "like"}]})
        assert r.json() == {"accepted": 1, "duplicates": 0}
        recs = c.get("/v1/users/u/recommendations", params={"k": 3}).json()["items"]
        assert recs[0]["id"] in {"3", "4"} and recs[0]["source"] == "content"
        assert c.get("/v1/search", params={"q": "toy story"}).json()["items"][0]["id"] == "1"
        assert c.get("/docs").status_code == 200


def test_acknowledged_events_survive_kill_9(
    server: tuple[str, Path, subprocess.Popen[bytes]],
) -> None:
    base, tmp_path, proc = server
    acked: list[str] = []
    with httpx.Client(base_url=base) as c:
        for batch in range(5):
            ids = [f"b{batch}-{n}" for n in range(200)]
            events = [{"id": i, "user": f"u{n % 7}", "item": str(n % 10 + 1), "kind": "click"}
                      for n, i in enumerate(ids)]  # fmt: skip
            r = c.post("/v1/events", json={"events": events})
            assert r.status_code == 200
            acked += ids
    os.kill(proc.pid, signal.SIGKILL)  # the very next instant after the last acknowledgement
    proc.wait(10)
    with Engine.open(settings=fake_settings(tmp_path)) as eng:
        assert eng.stats().events == len(acked)
        again = eng.ingest(
            [e.event for u in range(7) for e in eng.history(f"u{u}")]
        )  # every stored event carries its id: all are duplicates
        assert (again.accepted, again.duplicates) == (0, len(acked))
