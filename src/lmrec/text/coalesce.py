"""Batching of single-text encodes that arrive while the model is busy.

On a CPU, a transformer forward pass for one short search query is dominated
by streaming the weights through the core, so a pass for four queries costs
about twice one, not four times. A server encodes one query per request, and
requests that arrive while a pass runs would each wait for it and then run
their own pass in turn. :class:`Coalescer` makes them wait for it and then
share the *next* pass. Nobody waits for a batch to fill: a request that finds
the model idle runs at once, alone, so a quiet server pays nothing for this.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from lmrec.errors import ModelError

Vectors = npt.NDArray[np.float32]


class _Slot:
    """One waiting text and, once its pass has run, its vector or the pass's error."""

    __slots__ = ("done", "error", "text", "vector")

    def __init__(self, text: str) -> None:
        self.text = text
        self.done = False
        self.vector: Vectors | None = None
        self.error: BaseException | None = None


class Coalescer:
    """Encodes one text per call from many threads, batching the calls that wait.

    The first caller to find no pass running runs one for its own text and
    for up to ``max_batch - 1`` texts already waiting (oldest first); the
    others sleep until their text has been encoded or the model is free.

    Args:
        run: Encodes a list of distinct non-empty texts in one pass, returning
            ``(len(texts), dim)`` vectors. Called by one thread at a time.
        max_batch: Most texts per pass.
    """

    def __init__(self, run: Callable[[Sequence[str]], Vectors], *, max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run = run
        self._max_batch = max_batch
        self._cond = threading.Condition()
        self._queue: list[_Slot] = []
        self._running = False

    @property
    def waiting(self) -> int:
        """Texts waiting for a pass (not counting the pass running now)."""
        with self._cond:
            return len(self._queue)

    def encode(self, text: str) -> Vectors:
        """The vector of ``text`` (shape ``(dim,)``), computed alone or with other waiting texts."""
        slot = _Slot(text)
        batch: list[_Slot] = []
        with self._cond:
            self._queue.append(slot)
            while not slot.done and self._running:
                self._cond.wait()
            if not slot.done:  # the model is free: this thread runs the next pass
                self._queue.remove(slot)
                batch = [slot, *self._queue[: self._max_batch - 1]]
                del self._queue[: self._max_batch - 1]
                self._running = True
        if batch:
            self._run_batch(batch)
        if slot.vector is None:
            raise slot.error or ModelError("the encoder returned no vector for a query")
        return slot.vector

    def _run_batch(self, batch: list[_Slot]) -> None:
        texts = list(dict.fromkeys(s.text for s in batch))  # a popular query may wait twice
        vectors: Vectors | None = None
        error: BaseException | None = None
        try:
            vectors = self._run(texts)
        except BaseException as exc:  # handed to every waiter, then re-raised by each
            error = exc
        row = {t: i for i, t in enumerate(texts)}
        with self._cond:
            for s in batch:
                s.vector = None if vectors is None else vectors[row[s.text]]
                s.error = error
                s.done = True
            self._running = False
            self._cond.notify_all()
