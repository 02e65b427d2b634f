"""Shared glue for the ``implicit`` library's CPU models (ALS, BPR)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from lmrec.errors import MissingExtraError

#: Threads the implicit models and SASRec may use; the harness shares a small machine.
THREADS = int(os.environ.get("LMREC_EVAL_THREADS", "2"))


def require_implicit() -> None:
    """Fail with the install command when ``implicit`` is missing."""
    try:
        import implicit  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("implicit", "eval") from exc


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS limited to one thread while ``implicit`` trains.

    implicit runs its own thread pool; a multi-threaded BLAS underneath it
    oversubscribes the cores (implicit warns it can be 10x slower).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):
        yield
