"""Store fixtures: every implementation the shared contract suite runs against.

To run the contract against a new implementation (e.g. PostgreSQL), add one
``pytest.param`` to :data:`STORE_FACTORIES` with the marker it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lmrec.store import Store
from lmrec.store.memory import MemoryStore
from lmrec.store.sqlite import SQLiteStore

StoreFactory = Callable[[Path], Store]


def _memory(tmp_path: Path) -> Store:
    return MemoryStore()


def _sqlite(tmp_path: Path) -> Store:
    return SQLiteStore(tmp_path / "lmrec.db")


STORE_FACTORIES = [
    pytest.param(_memory, id="memory"),
    pytest.param(_sqlite, id="sqlite"),
]


@pytest.fixture(params=STORE_FACTORIES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store of each implementation; closed after the test."""
    factory: StoreFactory = request.param
    s = factory(tmp_path)
    try:
        yield s
    finally:
        s.close()
