"""Durable state: the ``Store`` protocol and its implementations."""

from __future__ import annotations

from lmrec.store.base import AppendResult, Store

__all__ = ["AppendResult", "Store", "open_store"]


def open_store(kind: str, path: str | None = None) -> Store:
    """Open a store by kind (``sqlite`` or ``memory``).

    Args:
        kind: Implementation name, as in ``Settings.store``.
        path: Database file for ``sqlite``.
    """
    if kind == "memory":
        from lmrec.store.memory import MemoryStore

        return MemoryStore()
    if kind == "sqlite":
        from lmrec.store.sqlite import SQLiteStore

        if path is None:
            raise ValueError("the sqlite store needs a database path")
        return SQLiteStore(path)
    raise ValueError(f"unknown store kind {kind!r}; expected 'sqlite' or 'memory'")
