"""The engine's bounded LRU map."""

from __future__ import annotations

import threading

from lmrec.engine.lru import LruCache


def test_oldest_unused_entry_goes_first() -> None:
    c: LruCache[str, int] = LruCache(2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.get("a") == 1  # "a" is now the newest
    c.put("c", 3)
    assert list(c) == ["a", "c"] and c.get("b") is None and len(c) == 2


def test_capacity_zero_keeps_nothing() -> None:
    c: LruCache[str, int] = LruCache(0)
    c.put("a", 1)
    assert c.get("a") is None and len(c) == 0


def test_clear_and_overwrite() -> None:
    c: LruCache[str, int] = LruCache(3)
    c.put("a", 1)
    c.put("a", 2)
    assert c.get("a") == 2 and len(c) == 1
    c.clear()
    assert len(c) == 0


def test_concurrent_puts_stay_within_capacity() -> None:
    c: LruCache[int, int] = LruCache(50)

    def work(base: int) -> None:
        for i in range(2000):
            c.put(base + i, i)
            c.get(base + i // 2)

    threads = [threading.Thread(target=work, args=(k * 10_000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(c) == 50
