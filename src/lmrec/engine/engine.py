"""The Engine: the one object behind the Python API, the HTTP service and the CLI.

It owns the store (durable truth), the encoder (language-model features), the
vector and lexical indexes (candidate retrieval) and the in-memory aggregates
derived from the event log (popularity). Aggregates are folded forward by event
sequence number, so several processes sharing one store converge on the same
view without time-based cache expiry.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lmrec.engine.catalog import Catalog
from lmrec.engine.popularity import Popularity
from lmrec.engine.profile import profile_vector
from lmrec.engine.search import HybridSearch
from lmrec.engine.validate import check_events, check_id, check_items, check_k
from lmrec.errors import InvalidInputError, LimitExceededError, NotFoundError
from lmrec.index import LexicalIndex, VectorIndex, make_vector_index
from lmrec.interactions import item_text
from lmrec.schema import (
    Event,
    EventKind,
    IngestResult,
    Item,
    ScoredItem,
    ScoredItems,
    StoredEvent,
    User,
)
from lmrec.settings import Settings
from lmrec.store import Store, open_store
from lmrec.text import Encoder, load_encoder, text_hash

Vector = npt.NDArray[np.float32]

#: Sources reported per result item.
SOURCE_CONTENT = "content"
SOURCE_POPULAR = "popular"
SOURCE_SEARCH = "search"
SOURCE_SIMILAR = "similar"

_QUERY_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class EngineStats:
    """A snapshot of what the engine holds."""

    items: int
    active_items: int
    users: int
    events: int
    last_seq: int
    encoder: str
    dim: int
    index: str
    model: str | None
    categories: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "active_items": self.active_items,
            "users": self.users,
            "events": self.events,
            "last_seq": self.last_seq,
            "encoder": self.encoder,
            "dim": self.dim,
            "index": self.index,
            "model": self.model,
            "categories": self.categories,
        }


class Engine:
    """Real-time personalized recommendation and search over one catalog.

    Open it with :meth:`Engine.open`; use it from any number of threads.

    Example:
        >>> engine = Engine.open("./lmrec-data", Settings(encoder="fake"))  # doctest: +SKIP
        >>> engine.upsert_items([Item("1", "Toy Story (1995)", categories=("Comedy",))])
        >>> engine.recommend("alice", k=10)
    """

    def __init__(self, settings: Settings, store: Store, encoder: Encoder) -> None:
        self.settings = settings
        self.store = store
        self.encoder = encoder
        self._lock = threading.RLock()
        self._catalog = Catalog()
        self._lexical = LexicalIndex()
        self._popularity = Popularity(settings)
        self._seq = 0
        self._erase_generation = 0
        self._query_cache: OrderedDict[str, Vector] = OrderedDict()
        self._query_lock = threading.Lock()
        self._index: VectorIndex = make_vector_index(
            encoder.dim, store.count_items(include_inactive=True), settings.ann_min_items
        )
        self._searcher = HybridSearch(self._lexical, self._index, self._query_vector)
        self._load_catalog()
        self._catch_up()

    # -- lifecycle -------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        settings: Settings | None = None,
        *,
        encoder: Encoder | None = None,
    ) -> Engine:
        """Open (or create) an engine whose state lives under ``path``.

        Args:
            path: Data folder; overrides ``settings.data_dir``.
            settings: Configuration; defaults to ``Settings()`` (env and lmrec.toml).
            encoder: An already-loaded encoder to share (e.g. in tests); by default the
                one named by ``settings.encoder`` is loaded.
        """
        settings = settings or Settings()
        if path is not None:
            settings = settings.with_overrides(data_dir=Path(path))
        db = None
        if settings.store == "sqlite":
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            db = str(settings.data_dir / "lmrec.db")
        store = open_store(settings.store, db)
        if encoder is None:
            encoder = load_encoder(
                settings.encoder, device=settings.device, batch_size=settings.encode_batch_size
            )
        return cls(settings, store, encoder)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- catalog ---------------------------------------------------------------
    def _text_of(self, item: Item) -> str:
        return item_text(item, self.settings.item_text_fields)

    def _load_catalog(self) -> None:
        items = list(self.store.iter_items(include_inactive=True))
        self._index_items(items, progress=len(items) > 5000)

    def _index_items(self, items: Sequence[Item], *, progress: bool = False) -> None:
        """Encode what is new (cache-aware) and put items into catalog and indexes."""
        texts = [self._text_of(it) for it in items]
        hashes = [text_hash(t) for t in texts]
        cached = self.store.get_embeddings(self.encoder.name, set(hashes))
        missing = sorted({h: t for h, t in zip(hashes, texts, strict=True) if h not in cached})
        if missing:
            by_hash = {h: t for h, t in zip(hashes, texts, strict=True)}
            vecs = self.encoder.encode([by_hash[h] for h in missing], progress=progress)
            fresh = {h: vecs[j] for j, h in enumerate(missing)}
            self.store.put_embeddings(self.encoder.name, fresh)
            cached.update(fresh)
        with self._lock:
            active_ids, active_vecs, inactive = [], [], []
            for it, h in zip(items, hashes, strict=True):
                self._catalog.put(it, h)
                if it.active:
                    active_ids.append(it.id)
                    active_vecs.append(cached[h])
                    self._lexical.upsert(
                        it.id,
                        {
                            "title": it.title,
                            "text": it.text,
                            "categories": " ".join(it.categories),
                        },
                    )
                else:
                    inactive.append(it.id)
                    self._lexical.remove(it.id)
            if active_ids:
                self._index.upsert(active_ids, np.stack(active_vecs))
            if inactive:
                self._index.remove(inactive)

    def upsert_items(self, items: Sequence[Item]) -> int:
        """Add or replace items; they are recommendable and searchable on return.

        Unchanged text is not re-encoded (embeddings are cached by text hash).
        Setting ``active=False`` removes an item from results but keeps its history.
        """
        check_items(items, self.settings)
        if not items:
            return 0
        latest = list({it.id: it for it in items}.values())
        written = self.store.upsert_items(latest)
        self._index_items(latest)
        return written

    def set_item_active(self, item_id: str, active: bool) -> None:
        """Deactivate (or reactivate) an item without touching its history."""
        item = self._catalog.get(item_id)
        if item is None:
            raise NotFoundError(f"unknown item {item_id!r}", field="item")
        if item.active == active:
            return
        from dataclasses import replace

        self.upsert_items([replace(item, active=active)])

    def get_item(self, item_id: str) -> Item:
        item = self._catalog.get(item_id)
        if item is None:
            raise NotFoundError(f"unknown item {item_id!r}", field="item")
        return item

    # -- users and events ----------------------------------------------------------
    def upsert_users(self, users: Sequence[User]) -> int:
        for n, u in enumerate(users):
            check_id(u.id, f"users.{n}.id", self.settings)
        return self.store.upsert_users(users)

    def ingest(self, events: Sequence[Event]) -> IngestResult:
        """Durably append events; they shape the very next request on return.

        Events with a client ``id`` seen before count as duplicates and have no
        effect. Events naming items not yet in the catalog are kept and count
        once the item exists.
        """
        check_events(events, self.settings)
        if not events:
            return IngestResult(0, 0)
        result = self.store.append_events(events)
        self._catch_up()
        return IngestResult(result.accepted, result.duplicates)

    def delete_user(self, user: str) -> int:
        """Erase a user's profile and events; returns how many events were erased."""
        check_id(user, "user", self.settings)
        deleted = self.store.delete_user(user)
        with self._lock:
            gen = int(self.store.get_meta("erase_generation") or 0) + 1
            self.store.set_meta("erase_generation", gen)
            self._rebuild_aggregates()
        return deleted

    def _rebuild_aggregates(self) -> None:
        with self._lock:
            self._popularity.reset()
            self._seq = 0
            self._erase_generation = int(self.store.get_meta("erase_generation") or 0)
            self._catch_up()

    def _catch_up(self) -> None:
        """Fold events appended since the last look (by this or another process)."""
        with self._lock:
            gen = int(self.store.get_meta("erase_generation") or 0)
            if gen != self._erase_generation:
                self._erase_generation = gen
                self._popularity.reset()
                self._seq = 0
            batch: list[Event] = []
            last = self._seq
            for se in self.store.iter_events(after_seq=self._seq):
                batch.append(se.event)
                last = se.seq
                if len(batch) >= 10_000:
                    self._popularity.add(batch)
                    batch = []
            self._popularity.add(batch)
            self._seq = last

    def history(self, user: str, *, limit: int | None = None) -> list[StoredEvent]:
        """A user's events, oldest first (``limit`` keeps the newest)."""
        check_id(user, "user", self.settings)
        return self.store.user_events(user, limit=limit)

    # -- representations -----------------------------------------------------------
    def _query_vector(self, query: str) -> Vector:
        with self._query_lock:
            hit = self._query_cache.get(query)
            if hit is not None:
                self._query_cache.move_to_end(query)
                return hit
        v: Vector = self.encoder.encode([query])[0]
        with self._query_lock:
            self._query_cache[query] = v
            if len(self._query_cache) > _QUERY_CACHE_SIZE:
                self._query_cache.popitem(last=False)
        return v

    def _event_vector(self, e: Event) -> Vector | None:
        if e.kind is EventKind.SEARCH:
            return self._query_vector(e.query) if e.query else None
        if e.item is None:
            return None
        return self._index.get(e.item)

    def user_vector(self, user: str) -> Vector | None:
        """The user's content profile from recent behaviour; None without usable history."""
        recent = self.store.user_events(user, limit=self.settings.history_size)
        return profile_vector([se.event for se in recent], self._event_vector, self.settings)

    def _consumed(self, user: str) -> set[str]:
        if not self.settings.exclude_consumed:
            return set()
        return {
            se.event.item
            for se in self.store.user_events(user)
            if se.event.item is not None and se.event.kind is not EventKind.SEARCH
        }

    # -- reads -------------------------------------------------------------------
    def _allowed(self, category: str | Sequence[str] | None) -> set[str] | None:
        if category is None:
            return None
        cats = [category] if isinstance(category, str) else list(category)
        return self._catalog.in_categories(cats)

    def _rows(self, pairs: Sequence[tuple[str, float]], source: str) -> list[ScoredItem]:
        return [ScoredItem(i, s, self._catalog.title(i), source) for i, s in pairs]

    def _popular(
        self, k: int, exclude: Collection[str], allowed: set[str] | None
    ) -> list[tuple[str, float]]:
        return self._popularity.top(
            k,
            is_candidate=self._index.__contains__,
            exclude=exclude,
            allowed=allowed,
            rest=(lambda: allowed) if allowed is not None else self._catalog.ids,
        )

    def recommend(
        self,
        user: str,
        k: int = 10,
        *,
        exclude: Collection[str] = (),
        category: str | Sequence[str] | None = None,
    ) -> ScoredItems:
        """Top ``k`` items for ``user``; unknown users get cold-start (popular) results.

        Args:
            user: User id (need not exist).
            k: How many items (at most ``settings.max_k``).
            exclude: Item ids never to return.
            category: Only items in this category (or any of these categories).
        """
        check_id(user, "user", self.settings)
        check_k(k, self.settings)
        self._catch_up()
        skip = set(exclude) | self._consumed(user)
        allowed = self._allowed(category)
        rows: list[ScoredItem] = []
        vec = self.user_vector(user)
        if vec is not None:
            hits = self._index.search(vec, k, exclude=skip, allowed=allowed)
            rows = self._rows(hits, SOURCE_CONTENT)
        if len(rows) < k:
            taken = skip | {r.id for r in rows}
            rows += self._rows(self._popular(k - len(rows), taken, allowed), SOURCE_POPULAR)
        return ScoredItems.from_rows(rows)

    def rank(self, user: str, items: Sequence[str]) -> ScoredItems:
        """Order caller-supplied candidate items by the user's personal score.

        Useful behind another search system. Unknown or inactive items are an error
        naming them, so a caller never silently loses candidates.
        """
        check_id(user, "user", self.settings)
        if len(items) > self.settings.max_k:
            raise LimitExceededError(
                f"{len(items)} items to rank; the limit is {self.settings.max_k}", field="items"
            )
        ids = list(dict.fromkeys(items))
        unknown = [i for i in ids if i not in self._index]
        if unknown:
            shown = ", ".join(repr(i) for i in unknown[:5])
            raise NotFoundError(
                f"{len(unknown)} unknown or inactive item(s): {shown}", field="items"
            )
        self._catch_up()
        vec = self.user_vector(user)
        if vec is not None and ids:
            scores = self._index.scores(vec, ids)
            pairs = sorted(zip(ids, scores.tolist(), strict=True), key=lambda p: -p[1])
            return ScoredItems.from_rows(self._rows(pairs, SOURCE_CONTENT))
        pairs = sorted(((i, self._popularity.count(i)) for i in ids), key=lambda p: -p[1])
        return ScoredItems.from_rows(self._rows(pairs, SOURCE_POPULAR))

    def similar(self, item: str, k: int = 10) -> ScoredItems:
        """Items nearest to ``item`` in the language-model space."""
        check_id(item, "item", self.settings)
        check_k(k, self.settings)
        vec = self._index.get(item)
        if vec is None:
            if item in self._catalog:
                raise NotFoundError(f"item {item!r} is inactive", field="item")
            raise NotFoundError(f"unknown item {item!r}", field="item")
        hits = self._index.search(vec, k, exclude={item})
        return ScoredItems.from_rows(self._rows(hits, SOURCE_SIMILAR))

    def search(
        self,
        query: str,
        *,
        user: str | None = None,
        k: int = 10,
        category: str | Sequence[str] | None = None,
        personalize: float | None = None,
    ) -> ScoredItems:
        """Hybrid lexical + semantic search, personalized by the user's profile when given.

        Args:
            query: The query text.
            user: Personalize for this user (anonymous when None).
            k: How many results.
            category: Only items in this category (or any of these).
            personalize: Weight of the user's affinity in the final score, 0..1
                (default ``search_personalization`` from the searcher).
        """
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError("query must be a non-empty string", field="q")
        if len(query) > self.settings.max_query_length:
            raise LimitExceededError(
                f"query is {len(query)} characters; the limit is {self.settings.max_query_length}",
                field="q",
            )
        check_k(k, self.settings)
        if user is not None:
            check_id(user, "user", self.settings)
        if personalize is not None and not 0.0 <= personalize <= 1.0:
            raise InvalidInputError("personalize must be between 0 and 1", field="personalize")
        vec = None
        if user is not None and personalize != 0.0:
            self._catch_up()
            vec = self.user_vector(user)
        hits = self._searcher.search(
            query,
            k=k,
            allowed=self._allowed(category),
            user_vector=vec,
            personalize=personalize,
        )
        return ScoredItems.from_rows(self._rows(hits, SOURCE_SEARCH))

    # -- introspection -----------------------------------------------------------
    def stats(self) -> EngineStats:
        self._catch_up()
        active = self.store.active_model()
        return EngineStats(
            items=len(self._catalog),
            active_items=self._catalog.active_count(),
            users=self.store.count_users(),
            events=self.store.count_events(),
            last_seq=self._seq,
            encoder=self.encoder.name,
            dim=self.encoder.dim,
            index=type(self._index).__name__,
            model=None if active is None else active.version,
            categories=self._catalog.categories(),
        )

    def now(self) -> float:
        """Server time for events sent without ``ts``."""
        return time.time()
