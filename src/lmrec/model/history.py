"""Per-user event sequences built from :class:`~lmrec.interactions.Interactions`.

The trainer reads them as left-padded windows; the evaluation adapters use them
to recover time gaps for histories given as bare item indices. Search queries
can be woven into the windows (:meth:`UserSequences.with_queries`), so the user
tower learns from queries as it reads them when serving.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lmrec.interactions import Interactions

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class QueryLog:
    """Search queries users typed, as the user tower reads them: text vectors in time.

    Attributes:
        user: User index (in the training vocabulary) per query.
        ts: Unix time per query.
        vectors: LM vector of each query's text ``(n_queries, text_dim)``.
    """

    user: IntArray
    ts: FloatArray
    vectors: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        n = len(self.user)
        if len(self.ts) != n or self.vectors.shape[0] != n:
            raise ValueError("QueryLog needs one user, time and vector per query")

    def __len__(self) -> int:
        return len(self.user)


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

    def with_queries(self, queries: QueryLog, n_items: int) -> UserSequences:
        """These sequences with each user's queries woven in by time.

        Query ``q`` becomes entry ``n_items + q``: it is read as history (by its
        text vector) but is never a target (weight 0) and carries no rating. On a
        time tie the query comes first, as a search comes before the click it leads to.
        """
        q_user = np.asarray(queries.user, dtype=np.int64)
        if len(q_user) and (q_user.min() < 0 or q_user.max() >= self.n_users):
            raise ValueError("a query names a user outside the sequences' vocabulary")
        n_rows = len(self.item)
        row_user = np.repeat(np.arange(self.n_users), np.diff(self.indptr))
        user = np.concatenate([q_user, row_user])
        ts = np.concatenate([np.asarray(queries.ts, dtype=np.float64), self.ts])
        is_item = np.concatenate([np.zeros(len(q_user), bool), np.ones(n_rows, bool)])
        # Sort by user, then time, then queries before items; stable keeps log order.
        order = np.lexsort((is_item, ts, user))
        item = np.concatenate([n_items + np.arange(len(q_user), dtype=np.int64), self.item])
        weight = np.concatenate([np.zeros(len(q_user)), self.weight])
        value = np.concatenate([np.full(len(q_user), np.nan), self.value])
        counts = np.bincount(user, minlength=self.n_users)
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return UserSequences(
            indptr=indptr,
            item=item[order],
            ts=ts[order],
            weight=weight[order],
            value=value[order],
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

        A history entry takes time and rating from one of the user's known events
        with that item: in history order, each entry takes the oldest such event
        not yet taken, so an item the user had twice gets both events' times.
        That matches histories as the evaluation harness gives them, the user's
        events from the first on, with events these sequences do not know (e.g. a
        validation item revealed later, or a held-out cold item) among or after
        them: those get NaN, the "unknown" the model was trained to handle. A gap
        is known only where both neighbours' times are.
        """
        gaps: list[FloatArray] = []
        values: list[FloatArray] = []
        for u, h in zip(users, histories, strict=True):
            h = np.asarray(h, dtype=np.int64)
            ts = np.full(h.shape, np.nan)
            val = np.full(h.shape, np.nan)
            if 0 <= u < self.n_users:
                t_of, v_of = self.ts_of(int(u)), self.values_of(int(u))
                events: dict[int, deque[int]] = {}
                for k, item in enumerate(self.items_of(int(u)).tolist()):
                    events.setdefault(item, deque()).append(k)
                for j, item in enumerate(h.tolist()):
                    known = events.get(item)
                    if known:
                        k = known.popleft()
                        ts[j], val[j] = t_of[k], v_of[k]
            g = np.full(h.shape, np.nan)
            g[1:] = np.diff(ts)
            gaps.append(g)
            values.append(val)
        return gaps, values
