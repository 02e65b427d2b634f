"""Tiny synthetic datasets for the evaluation harness tests (no files, no network)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from lmrec.interactions import Interactions
from lmrec.schema import Event, EventKind, Item, User

GENRES = (("space", "robot", "galaxy"), ("love", "romance", "wedding"))


def synthetic(
    n_users: int = 200, n_items: int = 120, per_user: int = 15, seed: int = 0
) -> Interactions:
    """Two taste groups with skewed popularity inside each; texts say which group an item is in.

    Users of group g mostly consume items of group g (first half of the catalog
    for g=0), lower item indices more often, so popularity, item-item and
    content models all have signal that random scores lack.
    """
    rng = np.random.default_rng(seed)
    half = n_items // 2
    items = [
        Item(
            id=f"i{i}",
            title=f"{' '.join(GENRES[i // half])} story {i}",
            categories=(["scifi", "romance"][i // half],),
        )
        for i in range(n_items)
    ]
    users = [User(id=f"u{u}", attributes={"age": 20 + u % 40}) for u in range(n_users)]
    pop = 1.0 / np.arange(1, half + 1)
    events = []
    t = 1_000_000.0
    for u in range(n_users):
        g = u % 2
        own = rng.choice(half, size=per_user, replace=False, p=pop / pop.sum()) + g * half
        for it in own:
            t += 60.0
            value = float(np.clip(round(4 + rng.normal(0, 0.7) - 0.02 * (it % half)), 1, 5))
            events.append(
                Event(user=f"u{u}", kind=EventKind.RATE, item=f"i{it}", value=value, ts=t)
            )
    return Interactions.from_records(items, events, users)


@pytest.fixture(scope="session")
def synth() -> Interactions:
    return synthetic()


def tiny(rows: list[tuple[str, str, float, float]], n_items: int = 6) -> Interactions:
    """Hand-made data: rows of (user, item, rating, ts); items ``a``, ``b``, ... in order."""
    names = [chr(ord("a") + i) for i in range(n_items)]
    items = [Item(id=n, title=f"item {n}") for n in names]
    events = [Event(user=u, kind=EventKind.RATE, item=i, value=v, ts=ts) for u, i, v, ts in rows]
    return Interactions.from_records(items, events)


@pytest.fixture
def make_tiny() -> Callable[..., Interactions]:
    return tiny


@pytest.fixture
def make_synthetic() -> Callable[..., Interactions]:
    return synthetic


@pytest.fixture(scope="session")
def benchmark_script() -> Callable[[str], ModuleType]:
    """Loads a script of ``benchmarks/`` (not a package) as a module, by its stem."""

    def load(stem: str) -> ModuleType:
        path = Path(__file__).parents[2] / "benchmarks" / f"{stem}.py"
        spec = importlib.util.spec_from_file_location(stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # A dataclass in the script resolves its annotations through this entry.
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module

    return load
