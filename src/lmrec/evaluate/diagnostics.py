"""Detail behind the headline numbers: history-length buckets and training logs.

A single mean hides *where* a model wins. Breaking NDCG@10 down by how much
history the user had shows whether a sequential model helps newcomers or only
heavy users; the per-epoch log shows whether training converged or stopped on
its time budget. Both feed the charts and ``report.json``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from lmrec.errors import LmrecError

#: How many history-length buckets (quantiles of the test cases' history lengths).
N_BUCKETS = 5


def bucket_edges(lengths: npt.ArrayLike, n_buckets: int = N_BUCKETS) -> list[int]:
    """Integer edges splitting ``lengths`` into near-equal-count buckets.

    Edges are quantiles of the lengths, rounded and deduplicated, so every
    model of a protocol gets the same buckets (they depend on the test cases
    only). Bucket ``j`` holds ``edges[j] <= length < edges[j+1]``.
    """
    a = np.asarray(lengths, dtype=np.int64)
    if not a.size:
        return []
    qs = np.quantile(a, np.linspace(0.0, 1.0, n_buckets + 1))
    edges = sorted({int(np.ceil(q)) for q in qs[:-1]} | {int(a.min())})
    edges.append(int(a.max()) + 1)
    return edges


def history_buckets(
    lengths: npt.ArrayLike, values: npt.ArrayLike, n_buckets: int = N_BUCKETS
) -> list[dict[str, Any]]:
    """Mean of ``values`` per bucket of ``lengths``.

    Returns:
        One row per non-empty bucket: ``bucket`` (label such as ``"19-32"``),
        ``low``, ``high`` (inclusive), ``cases`` and ``mean``.
    """
    a = np.asarray(lengths, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    edges = bucket_edges(a, n_buckets)
    rows: list[dict[str, Any]] = []
    for lo, hi in itertools.pairwise(edges):
        inside = (a >= lo) & (a < hi)
        if inside.any():
            rows.append(
                {
                    "bucket": f"{lo}-{hi - 1}" if hi - 1 > lo else str(lo),
                    "low": lo,
                    "high": hi - 1,
                    "cases": int(inside.sum()),
                    "mean": float(v[inside].mean()),
                }
            )
    return rows


def training_log(model: object) -> tuple[str, list[dict[str, float]]] | None:
    """The per-epoch log of a fitted model that keeps one, else None.

    lmrec's adapters expose the fitted model as ``.model`` with a ``log``. Two
    shapes are understood: entries with ``metric`` (the early-stopping metric,
    higher is better: NDCG@10, or ``-RMSE`` when a rating head leads) and entries
    with ``valid_rmse`` (a rating model; its ``refit`` phase, which trains on
    training + validation rows with nothing left to validate on, is left out).

    Returns:
        ``(metric name, entries)``, each entry with ``epoch`` (0-based), ``loss``,
        ``valid`` and ``seconds``; a ``-RMSE`` log is returned as ``RMSE`` (negated back).
    """
    try:
        fitted = getattr(model, "model", None)
    except LmrecError:  # not fitted
        return None
    entries: Sequence[Any] | None = getattr(fitted, "log", None)
    if not entries:
        return None
    try:
        if hasattr(entries[0], "valid_rmse"):
            rows = [
                _entry(e.epoch, e.loss, e.valid_rmse, e.seconds)
                for e in entries
                if getattr(e, "phase", "fit") != "refit"
            ]
            return "RMSE", rows
        rows = [_entry(e.epoch, e.loss, e.metric, e.seconds) for e in entries]
    except (AttributeError, TypeError, ValueError):
        return None
    if all(r["valid"] < 0 for r in rows):  # -RMSE, logged so that higher is better
        return "RMSE", [{**r, "valid": -r["valid"]} for r in rows]
    return "NDCG@10", rows


def _entry(epoch: Any, loss: Any, valid: Any, seconds: Any) -> dict[str, float]:
    return {
        "epoch": float(epoch),
        "loss": float(loss),
        "valid": float(valid),
        "seconds": float(seconds),
    }
