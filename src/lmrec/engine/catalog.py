"""The in-memory view of the catalog that serving needs on every request.

Holds every item (inactive ones too, so history still has titles), the set of
active ids per category for filters, and each item's text hash (to skip
re-encoding unchanged text). The durable copy lives in the store.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable

from lmrec.schema import Item
from lmrec.text.tokenize import fold


class Catalog:
    """Items by id plus a category index over the active ones."""

    def __init__(self) -> None:
        self._items: dict[str, Item] = {}
        self._hash: dict[str, str] = {}
        self._by_category: dict[str, set[str]] = defaultdict(set)
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def get(self, item_id: str) -> Item | None:
        return self._items.get(item_id)

    def ids(self) -> list[str]:
        return list(self._items)

    def text_hash(self, item_id: str) -> str | None:
        return self._hash.get(item_id)

    def put(self, item: Item, text_hash: str) -> None:
        with self._lock:
            old = self._items.get(item.id)
            if old is not None:
                for c in old.categories:
                    self._by_category[fold(c)].discard(old.id)
            self._items[item.id] = item
            self._hash[item.id] = text_hash
            if item.active:
                for c in item.categories:
                    self._by_category[fold(c)].add(item.id)

    def active_count(self) -> int:
        return sum(1 for it in self._items.values() if it.active)

    def in_categories(self, categories: Iterable[str]) -> set[str]:
        """Active ids in any of the given categories (case- and accent-insensitive)."""
        with self._lock:
            out: set[str] = set()
            for c in categories:
                out |= self._by_category.get(fold(c), set())
            return out

    def categories(self) -> dict[str, int]:
        """Category name -> number of active items (names as first seen)."""
        names: dict[str, str] = {}
        for it in self._items.values():
            for c in it.categories:
                names.setdefault(fold(c), c)
        return {names[k]: len(v) for k, v in self._by_category.items() if v and k in names}

    def title(self, item_id: str) -> str:
        it = self._items.get(item_id)
        return it.title if it is not None else ""
