"""Fixtures shared by every test folder.

Expensive things (the real language model, the real MovieLens-100K data) are
loaded once per session; everything else is fresh per test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from lmrec.model import ModelConfig
from lmrec.schema import Event, EventKind, Item
from lmrec.settings import Settings

#: A small hand-made catalog with overlapping words and categories.
MOVIES = [
    Item("1", "Toy Story (1995)", "A cowboy doll is jealous of a space ranger toy.",
         ("Animation", "Children's", "Comedy"), {"year": 1995}),
    Item("2", "Star Wars (1977)", "A farm boy joins rebels against the galactic empire.",
         ("Action", "Sci-Fi"), {"year": 1977}),
    Item("3", "Empire Strikes Back, The (1980)", "The rebels flee the galactic empire.",
         ("Action", "Sci-Fi"), {"year": 1980}),
    Item("4", "Return of the Jedi (1983)", "Rebels defeat the galactic empire.",
         ("Action", "Sci-Fi"), {"year": 1983}),
    Item("5", "Toy Soldiers (1991)", "Students fight terrorists at a boarding school.",
         ("Action",), {"year": 1991}),
    Item("6", "Aladdin (1992)", "A street boy finds a magic lamp and a genie.",
         ("Animation", "Children's", "Musical"), {"year": 1992}),
    Item("7", "Lion King, The (1994)", "A lion cub flees and returns as king.",
         ("Animation", "Children's", "Musical"), {"year": 1994}),
    Item("8", "Alien (1979)", "A crew in space is hunted by an alien creature.",
         ("Horror", "Sci-Fi"), {"year": 1979}),
    Item("9", "Scream (1996)", "A masked killer hunts teenagers.",
         ("Horror", "Thriller"), {"year": 1996}),
    Item("10", "Sense and Sensibility (1995)", "Two sisters and love in Regency England.",
         ("Drama", "Romance"), {"year": 1995}),
]  # fmt: skip


#: Two tastes over MOVIES: sci-fi fans (even users) and family-film fans (odd users).
SCIFI = ["2", "3", "4", "8"]
KIDS = ["1", "6", "7"]


def sessions(first_user: int, users: int, start: float) -> list[Event]:
    """Click sessions of users ``u<first_user>..`` over their taste's films, from ``start``."""
    out, ts = [], start
    for u in range(first_user, first_user + users):
        pool = SCIFI if u % 2 == 0 else KIDS
        for n, item in enumerate(pool[u % len(pool) :] + pool[: u % len(pool)]):
            ts += 60
            out.append(Event(user=f"u{u}", kind=EventKind.CLICK, item=item, ts=ts, id=f"{u}-{n}"))
    return out


def tiny_model_config(epochs: int = 6) -> ModelConfig:
    """A model small enough to train on MOVIES in a second or two."""
    return ModelConfig(dim=16, text_hidden=32, max_len=20, n_layers=1, max_epochs=epochs,
                       patience=epochs)  # fmt: skip


def fake_settings(tmp_path: Path, **changes: object) -> Settings:
    """Settings for fast tests: the deterministic fake encoder, data under tmp_path."""
    base: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "cache_dir": tmp_path / "cache",
        "encoder": "fake",
    }
    base.update(changes)
    return Settings(**base)  # type: ignore[arg-type]


def free_port() -> int:
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
def settings(tmp_path: Path) -> Settings:
    return fake_settings(tmp_path)


@pytest.fixture(scope="session")
def real_encoder():  # type: ignore[no-untyped-def]
    """The bundled all-MiniLM-L6-v2, loaded once per test session."""
    from lmrec.text import load_encoder

    return load_encoder("all-MiniLM-L6-v2", device="cpu")


@pytest.fixture(scope="session")
def ml100k_cache() -> Path:
    """Where the real MovieLens-100K is cached across test runs (fetched once)."""
    root = os.environ.get("LMREC_TEST_CACHE")
    return Path(root) if root else Settings().cache_dir / "datasets"


@pytest.fixture(scope="session")
def ml100k(ml100k_cache: Path) -> Iterator[object]:
    """The real MovieLens-100K dataset, through the product's own fetcher."""
    from lmrec.data import load_dataset

    yield load_dataset("ml-100k", cache_dir=ml100k_cache)
