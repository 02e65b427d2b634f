"""Domain types shared by every part of lmrec.

These are plain, immutable values. They carry external ids (strings) only;
mapping ids to dense integer positions happens at the edge of each component
that needs tensors (see ``lmrec.engine.catalog``), never here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class EventKind(StrEnum):
    """What a user did. Weights per kind live in :class:`lmrec.settings.Settings`."""

    VIEW = "view"
    CLICK = "click"
    CART = "cart"
    PURCHASE = "purchase"
    RATE = "rate"
    LIKE = "like"
    DISLIKE = "dislike"
    SKIP = "skip"
    SEARCH = "search"


#: Kinds that must name an item. ``search`` needs a query instead.
ITEM_KINDS = frozenset(k for k in EventKind if k is not EventKind.SEARCH)


def _freeze(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class Item:
    """A catalog entry.

    Attributes:
        id: The caller's id for the item.
        title: Short human-readable name; weighted highest in lexical search.
        text: Free text (description, synopsis); may be empty.
        categories: Category labels used by filters and shown in item text.
        metadata: Arbitrary JSON-compatible attributes (price, year, ...).
        active: Inactive items keep their history but never appear in results.
    """

    id: str
    title: str
    text: str = ""
    categories: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    active: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "metadata", _freeze(self.metadata))


@dataclass(frozen=True, slots=True)
class User:
    """A user profile: attributes such as age, occupation or free-text interests."""

    id: str
    attributes: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", _freeze(self.attributes))


@dataclass(frozen=True, slots=True)
class Event:
    """One piece of behaviour.

    Attributes:
        user: The acting user's id.
        kind: What happened.
        item: The item acted on; required for every kind but ``search``.
        value: Kind-specific number, e.g. the rating for ``rate``.
        query: The query text, for ``search`` events.
        ts: Unix time in seconds at which it happened (server time if not given).
        id: Optional client id; the store applies an event with a given id once.
    """

    user: str
    kind: EventKind
    ts: float
    item: str | None = None
    value: float | None = None
    query: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as read back from the log, with its position in it."""

    seq: int
    event: Event


@dataclass(frozen=True, slots=True)
class ScoredItem:
    """One result row: an item id with its score, title and where it came from."""

    id: str
    score: float
    title: str
    source: str
    explanation: str | None = None


@dataclass(frozen=True, slots=True)
class ScoredItems:
    """An immutable, ordered list of results (best first).

    ``source`` says which path produced each item (``content``, ``popular``,
    ``search``, ``model``, ...), so callers and explanations can tell a
    personal result from a fallback.
    """

    ids: tuple[str, ...]
    scores: tuple[float, ...]
    titles: tuple[str, ...]
    sources: tuple[str, ...]
    explanations: tuple[str | None, ...] | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        if not (len(self.scores) == len(self.titles) == len(self.sources) == n):
            raise ValueError("ScoredItems columns must have equal length")
        if self.explanations is not None and len(self.explanations) != n:
            raise ValueError("ScoredItems.explanations must match ids in length")
        if any(math.isnan(s) for s in self.scores):
            raise ValueError("ScoredItems scores must not be NaN")

    @classmethod
    def empty(cls) -> ScoredItems:
        return cls((), (), (), ())

    @classmethod
    def from_rows(cls, rows: Sequence[ScoredItem]) -> ScoredItems:
        expl = tuple(r.explanation for r in rows)
        return cls(
            tuple(r.id for r in rows),
            tuple(float(r.score) for r in rows),
            tuple(r.title for r in rows),
            tuple(r.source for r in rows),
            expl if any(e is not None for e in expl) else None,
        )

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[ScoredItem]:
        for i in range(len(self.ids)):
            yield self[i]

    def __getitem__(self, i: int) -> ScoredItem:
        return ScoredItem(
            self.ids[i],
            self.scores[i],
            self.titles[i],
            self.sources[i],
            None if self.explanations is None else self.explanations[i],
        )


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What an ingest did: how many events were new and how many were repeats."""

    accepted: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """A trained model recorded in the registry."""

    version: str
    path: str
    created_at: float
    metrics: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    active: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", _freeze(self.metrics))
        object.__setattr__(self, "config", _freeze(self.config))
