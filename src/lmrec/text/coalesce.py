"""Batching of single-text encodes that arrive while the model is busy.

On a CPU, a transformer forward pass for one short search query is dominated
by streaming the weights through the core, so a pass for four queries costs
about twice one, not four times. A server encodes one query per request, and
requests that arrive while a pass runs would each wait for it and then run
their own pass in turn. :class:`Coalescer` makes them wait for it and then
share the *next* pass. Nobody waits for a batch to fill: a request that finds
the model idle runs at once, alone, so a quiet server pays nothing for this.

Up to ``max_passes`` passes run at once (each on its own thread; PyTorch
releases the GIL inside its kernels). With one pass at a time, two clients in
a closed loop never share a pass: each arrives while the other's runs, waits
for it, then runs alone, so every request paid for two passes while the second
core sat idle.
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

    __slots__ = ("done", "error", "taken", "text", "vector")

    def __init__(self, text: str) -> None:
        self.text = text
        self.taken = False  # in a pass that is running
        self.done = False
        self.vector: Vectors | None = None
        self.error: BaseException | None = None


class Coalescer:
    """Encodes one text per call from many threads, batching the calls that wait.

    A caller that finds fewer than ``max_passes`` passes running runs one for
    its own text and for up to ``max_batch - 1`` texts already waiting (oldest
    first); the others sleep until their text has been encoded or a pass is free.

    Args:
        run: Encodes a list of distinct non-empty texts in one pass, returning
            ``(len(texts), dim)`` vectors. Called by up to ``max_passes`` threads
            at a time, so it must be thread-safe when ``max_passes > 1``.
        max_batch: Most texts per pass.
        max_passes: Most passes running at the same time.
    """

    def __init__(
        self, run: Callable[[Sequence[str]], Vectors], *, max_batch: int, max_passes: int = 1
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if max_passes < 1:
            raise ValueError("max_passes must be at least 1")
        self._run = run
        self._max_batch = max_batch
        self._max_passes = max_passes
        self._cond = threading.Condition()
        self._queue: list[_Slot] = []
        self._running = 0

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
            while not slot.done and (slot.taken or self._running >= self._max_passes):
                self._cond.wait()
            if not slot.done:  # a pass is free: this thread runs the next one
                self._queue.remove(slot)
                batch = [slot, *self._queue[: self._max_batch - 1]]
                del self._queue[: self._max_batch - 1]
                for s in batch:
                    s.taken = True
                self._running += 1
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
            self._running -= 1
            self._cond.notify_all()
