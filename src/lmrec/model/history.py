"""Per-user event sequences built from :class:`~lmrec.interactions.Interactions`.

The trainer reads them as left-padded windows; the evaluation adapters use them
to recover time gaps for histories given as bare item indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lmrec.interactions import Interactions

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class UserSequences:
    """Each user's events in time order (ties in log order), as CSR-style arrays.

    Attributes:
        indptr: Rows of user ``u`` are ``indptr[u]:indptr[u + 1]``.
        item: Item index per row.
        ts: Unix time per row.
        weight: Event weight per row.
        value: Rating per row (NaN when none).
    """

    indptr: IntArray
    item: IntArray
    ts: FloatArray
    weight: FloatArray
    value: FloatArray

    @classmethod
    def of(cls, data: Interactions) -> UserSequences:
        order = data.time_order()
        counts = np.bincount(data.user, minlength=data.n_users)
        indptr = np.zeros(data.n_users + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return cls(
            indptr=indptr,
            item=data.item[order].astype(np.int64),
            ts=data.ts[order].astype(np.float64),
            weight=data.weight[order].astype(np.float64),
            value=data.value[order].astype(np.float64),
        )

    @property
    def n_users(self) -> int:
        return int(self.indptr.shape[0] - 1)

    def items_of(self, user: int) -> IntArray:
        return self.item[self.indptr[user] : self.indptr[user + 1]]

    def ts_of(self, user: int) -> FloatArray:
        return self.ts[self.indptr[user] : self.indptr[user + 1]]

    def gaps_of(self, user: int) -> FloatArray:
        """Seconds since the previous event of the same user (NaN for the first)."""
        ts = self.ts_of(user)
        g = np.full(ts.shape, np.nan)
        g[1:] = np.diff(ts)
        return g

    def values_of(self, user: int) -> FloatArray:
        return self.value[self.indptr[user] : self.indptr[user + 1]]

    def context_for(
        self, users: IntArray, histories: Sequence[IntArray]
    ) -> tuple[list[FloatArray], list[FloatArray]]:
        """Time gaps and ratings for histories given as bare item indices.

        A history entry takes time and rating from the user's known event with
        that item (the latest one); entries not among the known events (e.g. a
        validation item revealed later) get NaN, the "unknown" the model was
        trained to handle. A gap is known only where both neighbours' times are.
        """
        gaps: list[FloatArray] = []
        values: list[FloatArray] = []
        for u, h in zip(users, histories, strict=True):
            h = np.asarray(h, dtype=np.int64)
            ts = np.full(h.shape, np.nan)
            val = np.full(h.shape, np.nan)
            if 0 <= u < self.n_users:
                items = self.items_of(int(u)).tolist()
                t_of = dict(zip(items, self.ts_of(int(u)).tolist(), strict=True))
                v_of = dict(zip(items, self.values_of(int(u)).tolist(), strict=True))
                ts = np.fromiter((t_of.get(int(i), np.nan) for i in h), float, len(h))
                val = np.fromiter((v_of.get(int(i), np.nan) for i in h), float, len(h))
            g = np.full(h.shape, np.nan)
            g[1:] = np.diff(ts)
            gaps.append(g)
            values.append(val)
        return gaps, values
