"""Dense-id interaction data: the one place external ids become integer positions.

Training, evaluation and baselines work on :class:`Interactions`: vocabularies
for users and items plus parallel NumPy arrays, one row per event. External
string ids never reach a tensor; components map them here and back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from lmrec.schema import Event, EventKind, Item, User

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class IdMap:
    """A vocabulary: external id <-> dense index ``0..n-1``."""

    ids: tuple[str, ...]
    index: Mapping[str, int] = field(repr=False)

    @classmethod
    def of(cls, ids: Iterable[str]) -> IdMap:
        uniq = tuple(dict.fromkeys(ids))
        return cls(uniq, {x: i for i, x in enumerate(uniq)})

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, x: object) -> bool:
        return x in self.index

    def lookup(self, xs: Iterable[str]) -> IntArray:
        """Indices of ``xs``; raises KeyError for an unknown id."""
        return np.fromiter((self.index[x] for x in xs), dtype=np.int64)


def item_text(item: Item, fields: Sequence[str] = ("title", "text", "categories")) -> str:
    """The text the language model sees, e.g. ``Toy Story (1995). Animation, Comedy``."""
    parts: list[str] = []
    for f in fields:
        if f == "title" and item.title:
            parts.append(item.title.strip())
        elif f == "text" and item.text:
            parts.append(item.text.strip())
        elif f == "categories" and item.categories:
            parts.append(", ".join(item.categories))
    return ". ".join(p.rstrip(".") for p in parts if p)


def user_text(user: User | None) -> str:
    """Profile text for a user, e.g. ``age 24, technician, M``; empty when unknown.

    Attributes are rendered in their stored order as ``key value`` (or the bare
    value for ``occupation``/``gender``/``interests``, which read naturally alone).
    """
    if user is None:
        return ""
    bare = {"occupation", "gender", "sex", "interests", "bio", "text"}
    parts = []
    for k, v in user.attributes.items():
        if v is None or v == "" or k in {"zip", "zip_code"}:
            continue
        parts.append(str(v) if k in bare else f"{k} {v}")
    return ", ".join(parts)


@dataclass(frozen=True)
class Interactions:
    """Events in dense form, one row per event, in log order.

    Attributes:
        users: Vocabulary of user ids.
        items: Vocabulary of item ids (the whole catalog, including items without events).
        user: Row -> user index.
        item: Row -> item index.
        value: Row -> rating (NaN when the event carries none).
        weight: Row -> signed interest weight of the event (see ``Settings.event_weights``).
        ts: Row -> unix time in seconds.
        item_texts: Text of each item, by item index.
        item_categories: Categories of each item, by item index.
        user_texts: Profile text of each user, by user index (may be empty strings).
    """

    users: IdMap
    items: IdMap
    user: IntArray
    item: IntArray
    value: FloatArray
    weight: FloatArray
    ts: FloatArray
    item_texts: tuple[str, ...]
    item_categories: tuple[tuple[str, ...], ...]
    user_texts: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.user.shape[0])

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def subset(self, rows: npt.NDArray[np.bool_] | IntArray) -> Interactions:
        """The same vocabularies with only the selected rows."""
        return Interactions(
            self.users,
            self.items,
            self.user[rows],
            self.item[rows],
            self.value[rows],
            self.weight[rows],
            self.ts[rows],
            self.item_texts,
            self.item_categories,
            self.user_texts,
        )

    def time_order(self) -> IntArray:
        """Row indices sorted by (user, ts) with ties kept in log order (stable)."""
        by_ts = np.argsort(self.ts, kind="stable")
        return by_ts[np.argsort(self.user[by_ts], kind="stable")]

    @classmethod
    def from_records(
        cls,
        items: Sequence[Item],
        events: Sequence[Event],
        users: Sequence[User] = (),
        *,
        event_weights: Mapping[str, float] | None = None,
        text_fields: Sequence[str] = ("title", "text", "categories"),
    ) -> Interactions:
        """Build from domain objects. Events naming unknown items, or with no item, are skipped."""
        from lmrec.settings import DEFAULT_EVENT_WEIGHTS

        weights = dict(DEFAULT_EVENT_WEIGHTS if event_weights is None else event_weights)
        item_map = IdMap.of(it.id for it in items)
        kept = [e for e in events if e.item is not None and e.item in item_map.index]
        profiles = {u.id: u for u in users}
        user_map = IdMap.of([*profiles, *(e.user for e in kept)])
        n = len(kept)
        value = np.full(n, np.nan)
        weight = np.empty(n)
        for r, e in enumerate(kept):
            if e.value is not None:
                value[r] = e.value
            weight[r] = weights.get(e.kind.value, 1.0)
            if e.kind is EventKind.RATE and e.value is not None:
                weight[r] = weights["rate"]
        return cls(
            users=user_map,
            items=item_map,
            user=user_map.lookup(e.user for e in kept),
            item=item_map.lookup(e.item for e in kept if e.item is not None),
            value=value,
            weight=weight,
            ts=np.fromiter((e.ts for e in kept), dtype=np.float64, count=n),
            item_texts=tuple(item_text(it, text_fields) for it in items),
            item_categories=tuple(it.categories for it in items),
            user_texts=tuple(user_text(profiles.get(u)) for u in user_map.ids),
        )
