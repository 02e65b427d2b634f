"""A real HTTP server in a child process: serving, and no acknowledged event lost to kill -9."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lmrec.engine import Engine

from ..conftest import MOVIES, fake_settings  # type: ignore[import-not-found]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    data_dir: Path, port: int, *extra: str, encoder: str = "fake"
) -> subprocess.Popen[bytes]:
    """Start ``lmrec serve`` in a child process and wait until it answers."""
    env = {**os.environ, "LMREC_ENCODER": encoder, "LMREC_DATA_DIR": str(data_dir)}
    log = data_dir.parent / f"server-{port}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lmrec", "serve", "--port", str(port), *extra],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server died: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start within 120 s")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    with Engine.open(settings=fake_settings(tmp_path)) as eng:
        eng.upsert_items(MOVIES)
    port = _free_port()
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
