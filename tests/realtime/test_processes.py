"""Real server processes: two workers one truth, hot swaps under load, trainer crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lmrec.engine import Engine
from lmrec.model import load_checkpoint
from lmrec.store.sqlite import SQLiteStore

from ..conftest import (  # type: ignore[import-not-found]
    MOVIES,
    fake_settings,
    free_port,
    sessions,
    start_server,
    tiny_model_config,
)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data folder with the catalog, some behaviour and two trained model versions."""
    with Engine.open(settings=fake_settings(tmp_path)) as eng:
        eng.upsert_items(MOVIES)
        eng.ingest(sessions(0, 20, 0.0))
        eng.train(tiny_model_config(6), progress=False)
        eng.train(tiny_model_config(6).replace(seed=7), progress=False)
    return tmp_path / "data"


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_two_workers_one_truth(data: Path) -> None:
    port = free_port()
    proc = start_server(data, port, "--workers", "2")
    try:
        workers: set[str] = set()
        crossed = 0
        for n in range(40):
            user = f"newcomer-{n}"
            # A fresh connection per request lets the kernel pick either worker.
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
                w = c.post("/v1/events", json={"events": [{"user": user, "item": "2",
                                                           "kind": "like"}]})  # fmt: skip
                assert w.status_code == 200
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
                r = c.get(f"/v1/users/{user}/recommendations", params={"k": 3})
            assert r.status_code == 200
            body = r.json()
            assert "2" not in [i["id"] for i in body["items"]]  # the like is seen...
            assert body["items"][0]["source"] == "model"  # ...and personalizes at once
            workers |= {w.headers["x-lmrec-worker"], r.headers["x-lmrec-worker"]}
            crossed += w.headers["x-lmrec-worker"] != r.headers["x-lmrec-worker"]
        assert len(workers) == 2 and crossed > 0
        # A new item posted to one worker is found through the other.
        for n in range(10):
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
                c.post("/v1/items", json={"items": [{"id": f"x{n}", "title": f"Zyzzyva {n}"}]})
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
                got = c.get("/v1/search", params={"q": f"zyzzyva {n}"}).json()["items"]
            assert got[0]["id"] == f"x{n}"
    finally:
        stop(proc)


def test_twenty_hot_swaps_under_load_fail_no_request(data: Path) -> None:
    port = free_port()
    proc = start_server(data, port)
    store = SQLiteStore(data / "lmrec.db")
    versions = [m.version for m in store.list_models()]
    assert len(versions) == 2
    failures: list[str] = []
    served = 0
    done = threading.Event()

    def load() -> None:
        nonlocal served
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            n = 0
            while not done.is_set():
                n += 1
                r = (
                    c.get(f"/v1/users/u{n % 20}/recommendations", params={"k": 5})
                    if n % 2
                    else c.get("/v1/search", params={"q": "star", "user": f"u{n % 20}"})
                )
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text[:200]}")
                served += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
            for swap in range(20):
                target = versions[swap % 2]
                store.activate_model(target)
                deadline = time.monotonic() + 30
                while c.get("/v1/stats").json()["model"] != target:
                    assert time.monotonic() < deadline, f"swap {swap} to {target} not seen"
                    time.sleep(0.02)
    finally:
        done.set()
        for t in threads:
            t.join()
        store.close()
        stop(proc)
    assert not failures, failures[:5]
    assert served > 100


def test_trainer_crash_leaves_serving_intact(data: Path) -> None:
    port = free_port()
    proc = start_server(data, port)
    store = SQLiteStore(data / "lmrec.db")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
            events = [{"user": e.user, "item": e.item, "kind": "click", "ts": e.ts}
                      for e in sessions(100, 30, 1e6)]  # fmt: skip
            assert c.post("/v1/events", json={"events": events}).status_code == 200
            before = c.get("/v1/stats").json()["model"]
            for delay in (0.5, 2.0, 4.0):
                trainer = subprocess.Popen(
                    [sys.executable, "-m", "lmrec", "trainer", "--data-dir", str(data),
                     "--encoder", "fake", "--min-events", "1", "--epochs", "50"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                time.sleep(delay)
                os.kill(trainer.pid, signal.SIGKILL)
                trainer.wait(10)
                active = store.active_model()
                assert active is not None
                load_checkpoint(active.path, device="cpu")  # the active checkpoint is whole
                for m in store.list_models():
                    load_checkpoint(m.path, device="cpu")  # and so is every registered one
                r = c.get("/v1/users/u1/recommendations", params={"k": 3})
                assert r.status_code == 200 and r.json()["model"] in {before, active.version}
            leftovers = [p.name for p in (data / "models").iterdir() if p.name.startswith(".")]
            assert all(m.version != n for m in store.list_models() for n in leftovers)
    finally:
        store.close()
        stop(proc)


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    yield
