"""The coalescer: single-text encodes from many threads share passes when they wait."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest

from lmrec.text import FakeEncoder
from lmrec.text.coalesce import Coalescer, Vectors

FAKE = FakeEncoder(16)


class GatedRun:
    """A pass function that records its batches and holds the first pass until released."""

    def __init__(self, fail_first: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail_first = fail_first

    def __call__(self, texts: Sequence[str]) -> Vectors:
        first = not self.batches
        self.batches.append(list(texts))
        if first:
            self.started.set()
            assert self.release.wait(30)
            if self.fail_first:
                raise ValueError("model exploded")
        if "boom" in texts:
            raise ValueError("model exploded on boom")
        return FAKE.encode(texts)


def _encode_in_threads(
    c: Coalescer, texts: list[str], results: dict[str, object]
) -> list[threading.Thread]:
    def one(t: str) -> None:
        try:
            results[t] = c.encode(t)
        except ValueError as exc:
            results[t] = exc

    threads = [threading.Thread(target=one, args=(t,)) for t in texts]
    for th in threads:
        th.start()
    return threads


def _wait_until_queued(c: Coalescer, n: int) -> None:
    for _ in range(30_000):  # the threads only have to reach the condition's wait
        if c.waiting == n:
            return
        threading.Event().wait(0.001)
    raise AssertionError(f"{c.waiting} texts queued, expected {n}")


def test_lone_call_runs_at_once_alone() -> None:
    run = GatedRun()
    run.release.set()
    c = Coalescer(run, max_batch=8)
    np.testing.assert_array_equal(c.encode("toy story"), FAKE.encode(["toy story"])[0])
    assert run.batches == [["toy story"]]
    assert c.waiting == 0


def test_waiting_calls_share_the_next_pass_and_get_their_own_vectors() -> None:
    run = GatedRun()
    c = Coalescer(run, max_batch=8)
    results: dict[str, object] = {}
    threads = _encode_in_threads(c, ["first"], results)
    assert run.started.wait(30)
    others = ["star wars", "alien", "scream", "star wars"]  # a duplicate is encoded once
    threads += _encode_in_threads(c, others, results)
    _wait_until_queued(c, len(others))
    run.release.set()
    for th in threads:
        th.join(30)
    assert run.batches[0] == ["first"]
    assert sorted(run.batches[1]) == ["alien", "scream", "star wars"]
    assert len(run.batches) == 2
    for t in ["first", *others]:
        np.testing.assert_array_equal(results[t], FAKE.encode([t])[0])


def test_max_batch_bounds_a_pass() -> None:
    run = GatedRun()
    c = Coalescer(run, max_batch=2)
    results: dict[str, object] = {}
    threads = _encode_in_threads(c, ["first"], results)
    assert run.started.wait(30)
    others = ["a", "b", "c", "d", "e"]
    threads += _encode_in_threads(c, others, results)
    _wait_until_queued(c, len(others))
    run.release.set()
    for th in threads:
        th.join(30)
    assert all(len(b) <= 2 for b in run.batches)
    assert sorted(t for b in run.batches for t in b) == sorted(["first", *others])
    assert set(results) == {"first", *others}


class TwoGatedRuns:
    """A pass function whose first two passes each hold until released."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.started = threading.Semaphore(0)
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> Vectors:
        with self._lock:
            self.batches.append(list(texts))
            gated = len(self.batches) <= 2
        if gated:
            self.started.release()
            assert self.release.wait(30)
        return FAKE.encode(texts)


def test_max_passes_run_side_by_side_and_later_calls_share_the_next() -> None:
    run = TwoGatedRuns()
    c = Coalescer(run, max_batch=8, max_passes=2)
    results: dict[str, object] = {}
    threads = _encode_in_threads(c, ["first"], results)
    assert run.started.acquire(timeout=30)
    # The second caller does not wait for the first pass: it runs its own.
    threads += _encode_in_threads(c, ["second"], results)
    assert run.started.acquire(timeout=30)
    others = ["a", "b", "c"]
    threads += _encode_in_threads(c, others, results)
    _wait_until_queued(c, len(others))  # both passes busy: these wait, together
    run.release.set()
    for th in threads:
        th.join(30)
    assert sorted(run.batches[:2]) == [["first"], ["second"]]
    assert sorted(t for b in run.batches[2:] for t in b) == others
    assert len(run.batches) <= 4  # the waiters shared passes
    for t in ["first", "second", *others]:
        np.testing.assert_array_equal(results[t], FAKE.encode([t])[0])


def test_a_failed_pass_fails_its_waiters_and_the_next_pass_runs() -> None:
    run = GatedRun(fail_first=True)
    c = Coalescer(run, max_batch=1)  # the waiter gets a pass of its own
    results: dict[str, object] = {}
    threads = _encode_in_threads(c, ["first"], results)
    assert run.started.wait(30)
    threads += _encode_in_threads(c, ["second"], results)
    _wait_until_queued(c, 1)
    run.release.set()
    for th in threads:
        th.join(30)
    assert isinstance(results["first"], ValueError)
    np.testing.assert_array_equal(results["second"], FAKE.encode(["second"])[0])
    np.testing.assert_array_equal(c.encode("third"), FAKE.encode(["third"])[0])


def test_every_waiter_of_a_failed_pass_gets_its_error() -> None:
    run = GatedRun()
    c = Coalescer(run, max_batch=8)
    results: dict[str, object] = {}
    threads = _encode_in_threads(c, ["first"], results)
    assert run.started.wait(30)
    threads += _encode_in_threads(c, ["boom", "bystander"], results)
    _wait_until_queued(c, 2)
    run.release.set()
    for th in threads:
        th.join(30)
    assert isinstance(results["boom"], ValueError)
    assert isinstance(results["bystander"], ValueError)
    np.testing.assert_array_equal(results["first"], FAKE.encode(["first"])[0])
    assert c.waiting == 0


def test_max_passes_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Coalescer(GatedRun(), max_batch=1, max_passes=0)


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        Coalescer(FAKE.encode, max_batch=0)
