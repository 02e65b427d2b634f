"""The Engine: the one object behind the Python API, the HTTP service and the CLI.

It owns the store (durable truth), the encoder (language-model features), the
vector and lexical indexes (candidate retrieval) and the in-memory aggregates
derived from the event log (popularity). Aggregates are folded forward by event
sequence number, so several processes sharing one store converge on the same
view without time-based cache expiry.
"""

from __future__ import annotations

import hashlib
import itertools
import sys
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lmrec.engine.catalog import Catalog
from lmrec.engine.explain import (
    Explainer,
    Explanation,
    content_view,
    model_view,
    popular_view,
)
from lmrec.engine.filters import Range, matching_ids, parse_ranges
from lmrec.engine.lru import LruCache
from lmrec.engine.popularity import Popularity
from lmrec.engine.profile import profile_vector
from lmrec.engine.search import HybridSearch, ServedUserScorer, UserScorer, VectorUserScorer
from lmrec.engine.searchclicks import SearchClicks
from lmrec.engine.serving import NEGATIVE_KINDS, ModelServing
from lmrec.engine.userstate import Stamp, UserState, UserStateCache
from lmrec.engine.validate import check_events, check_id, check_items, check_k
from lmrec.errors import InvalidInputError, LimitExceededError, NotFoundError
from lmrec.index import LexicalIndex, VectorIndex, make_vector_index
from lmrec.interactions import item_text, user_text
from lmrec.model.cooccurrence import MixScale
from lmrec.schema import (
    Event,
    EventKind,
    IngestResult,
    Item,
    ModelVersion,
    ScoredItem,
    ScoredItems,
    StoredEvent,
    User,
)
from lmrec.settings import Settings
from lmrec.store import Store, open_store
from lmrec.text import Encoder, load_encoder, text_hash

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class TextVectors:
    """Active items' language-model vectors (:meth:`Engine.text_vectors`).

    Attributes:
        ids: Item ids, in catalog order.
        matrix: ``(len(ids), dim)`` float32, row ``j`` for ``ids[j]``.
        key: Changes when the catalog's items, their texts or the model change.
    """

    ids: tuple[str, ...]
    matrix: npt.NDArray[np.float32]
    key: str


#: Sources reported per result item.
SOURCE_CONTENT = "content"
SOURCE_POPULAR = "popular"
SOURCE_SEARCH = "search"
SOURCE_SIMILAR = "similar"
SOURCE_MODEL = "model"

#: Up to this many users, profile vectors are loaded when a model starts serving.
_PROFILE_WARM_LIMIT = 100_000


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
        self._search_clicks = SearchClicks(settings)
        self._seq = 0
        self._erase_generation = 0
        size = self.settings.query_cache_size
        self._query_cache: LruCache[str, Vector] = LruCache(size)
        # Profile texts apart from queries: a query may be encoded by a faster,
        # approximate path (``query_int8``) that profile vectors must not get.
        self._text_cache: LruCache[str, Vector] = LruCache(size)
        self._user_states = UserStateCache(self.settings.user_state_cache_size)
        self._index: VectorIndex = make_vector_index(
            encoder.dim, store.count_items(include_inactive=True), settings.ann_min_items
        )
        self._searcher = HybridSearch(self._lexical, self._index, self._query_vector)
        self._serving: ModelServing | None = None
        self._swap_lock = threading.Lock()
        self._swap_error: str | None = None
        self._load_catalog()
        self._catch_up()
        self.refresh_model()

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
                settings.encoder,
                device=settings.device,
                batch_size=settings.encode_batch_size,
                query_int8=settings.query_int8,
                parallel_passes=settings.encode_parallel_passes,
                runtime=settings.encoder_runtime,
                cache_dir=settings.cache_dir / "onnx",
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
        self._catalog_version = self.store.catalog_version()
        items = list(self.store.iter_items(include_inactive=True))
        self._index_items(items, progress=len(items) > 5000)

    def _sync_catalog(self) -> None:
        """Index items another process (or this one) wrote since the last look."""
        version = self.store.catalog_version()
        if version == self._catalog_version:
            return
        with self._lock:
            changed = self.store.items_changed_since(self._catalog_version)
            fresh = [it for it in changed if self._catalog.get(it.id) != it]
            if fresh:
                self._index_items(fresh)
            self._catalog_version = max(version, self._catalog_version)

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
            serving = self._serving
            if serving is not None:
                if active_ids:
                    serving.add_items(active_ids, np.stack(active_vecs))
                if inactive:
                    serving.remove_items(inactive)

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
            self._search_clicks.reset()
            self._seq = 0
            self._erase_generation = int(self.store.get_meta("erase_generation") or 0)
            self._catch_up()

    def _catch_up(self) -> None:
        """Fold in items, events and model changes since the last look (any process)."""
        self._sync_catalog()
        self._maybe_swap()
        self._fold_events()

    def _catch_up_cheaply(self) -> bool:
        """:meth:`_catch_up` if that is quick; False, with nothing done, if it is not.

        It is not quick when items changed (they may need the text encoder) or
        users were erased (the aggregates are rebuilt from the whole log).
        """
        if self.store.catalog_version() != self._catalog_version:
            return False
        gen = int(self.store.get_meta("erase_generation") or 0)
        if gen != self._erase_generation:
            return False
        self._maybe_swap()
        self._fold_events(gen)
        return True

    def _fold_events(self, gen: int | None = None) -> None:
        """Fold events appended since the last look into the aggregates.

        Args:
            gen: The erase generation if the caller just read it.
        """
        with self._lock:
            if gen is None:
                gen = int(self.store.get_meta("erase_generation") or 0)
            if gen != self._erase_generation:
                self._erase_generation = gen
                self._popularity.reset()
                self._search_clicks.reset()
                self._seq = 0
            batch: list[Event] = []
            last = self._seq
            for se in self.store.iter_events(after_seq=self._seq):
                batch.append(se.event)
                last = se.seq
                if len(batch) >= 10_000:
                    self._popularity.add(batch)
                    self._search_clicks.add(batch)
                    batch = []
            self._popularity.add(batch)
            self._search_clicks.add(batch)
            self._seq = last

    def history(self, user: str, *, limit: int | None = None) -> list[StoredEvent]:
        """A user's events, oldest first (``limit`` keeps the newest)."""
        check_id(user, "user", self.settings)
        return self.store.user_events(user, limit=limit)

    # -- representations -----------------------------------------------------------
    def _query_vector(self, query: str) -> Vector:
        hit = self._query_cache.get(query)
        if hit is not None:
            return hit
        # Encoders may offer a low-latency single-query path (SentenceEncoder does).
        encode_query = getattr(self.encoder, "encode_query", None)
        v: Vector = encode_query(query) if encode_query else self.encoder.encode([query])[0]
        self._query_cache.put(query, v)
        return v

    def _event_vector(self, e: Event) -> Vector | None:
        if e.kind is EventKind.SEARCH:
            return self._query_vector(e.query) if e.query else None
        if e.item is None:
            return None
        return self._index.get(e.item)

    def user_vector(self, user: str) -> Vector | None:
        """The user's vector in the space it is scored in; None if nothing is known.

        With a trained model it comes from the user tower over the user's recent
        events (read from the store at this moment) and profile text; before any
        model, it is the content profile: a recency-weighted mean of item vectors.
        """
        personal = self._user_state(user).personal
        return None if personal is None else personal[1]

    def text_vector(self, item_id: str) -> Vector | None:
        """The language-model vector of an active item's text (None: unknown or inactive)."""
        return self._index.get(item_id)

    def text_vectors(self) -> TextVectors:
        """Every active item's language-model vector, for views of the whole catalog
        (the console's map), with a key that changes whenever any of them may have."""
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(str(self.model_version).encode())
        ids: list[str] = []
        vecs: list[Vector] = []
        for item_id in self._catalog.ids():
            v = self._index.get(item_id)
            if v is None:
                continue
            ids.append(item_id)
            vecs.append(v)
            digest.update(f"{item_id}\0{self._catalog.text_hash(item_id)}\n".encode())
        dim = self.encoder.dim
        matrix = np.stack(vecs).astype(np.float32) if vecs else np.zeros((0, dim), np.float32)
        return TextVectors(tuple(ids), matrix, digest.hexdigest())

    def _events(self, user: str, limit: int | None = None) -> list[Event]:
        """The user's events, oldest first (``limit`` keeps the newest)."""
        return [se.event for se in self.store.user_events(user, limit=limit)]

    def _user_state(self, user: str) -> UserState:
        """What the user's next request needs: cached until the store says otherwise.

        Two small indexed reads (the user's newest event, their profile) decide
        whether the cached state still holds; only when it does not are the
        user's events read and the user tower run again. See
        :mod:`lmrec.engine.userstate` for why this keeps read-your-writes across
        processes.
        """
        hit, stamp, serving = self._cached_user_state(user)
        if hit is not None:
            return hit
        profile = stamp.profile
        stored = self.store.user_events(user)
        # The stamp of what was actually read: an event written since the first
        # look makes this state newer than ``stamp``, never older.
        stamp = Stamp(stamp.model, stamp.catalog, stored[-1].seq if stored else 0, profile)
        events = [se.event for se in stored]
        personal, history = self._personal(user, events, serving=serving, profile=profile)
        state = UserState(
            stamp=stamp,
            # Interned: every user's set then shares one string per item.
            consumed=frozenset(map(sys.intern, self._consumed(user, events))),
            negatives=tuple(self._negatives(user, events)),
            personal=personal,
            history=history,
        )
        self._user_states.put(user, state)
        return state

    def _cached_user_state(self, user: str) -> tuple[UserState | None, Stamp, ModelServing | None]:
        """The cached state if it still holds, the stamp it was checked against, the model."""
        serving = self._serving
        newest = self.store.user_events(user, limit=1)
        stamp = Stamp(
            model=None if serving is None else serving.version,
            catalog=self._catalog_version,
            last_seq=newest[0].seq if newest else 0,
            profile=user_text(self.store.get_user(user)),
        )
        return self._user_states.get(user, stamp), stamp, serving

    def _personal(
        self,
        user: str,
        events: Sequence[Event],
        *,
        serving: ModelServing | None,
        profile: str,
    ) -> tuple[tuple[VectorIndex, Vector] | None, npt.NDArray[np.int64] | None]:
        """The index to score against and the user's vector in its space, from one model
        state; and the history the model read, as model item indices (None: no model).

        Args:
            user: The user.
            events: The user's events, oldest first.
            serving: The model state to use (None: the content profile).
            profile: The user's profile text (empty: none).
        """
        if serving is None:
            n = self.settings.history_size
            vec = profile_vector(events[-n:], self._event_vector, self.settings)
            return (None if vec is None else (self._index, vec)), None
        n = serving.model.config.max_len
        history = serving.history(events[-n:], self._event_vector)
        pvec = self._text_vectors([profile])[0] if profile else None
        uvec = serving.user_vector(user, history, pvec)
        return (None if uvec is None else (serving.index, uvec)), history.items

    def _profile_vector(self, user: str) -> Vector | None:
        """LM vector of the user's profile text (``age 24, technician, M``), if any."""
        text = user_text(self.store.get_user(user))
        return self._text_vectors([text])[0] if text else None

    def _text_vectors(self, texts: Sequence[str]) -> list[Vector]:
        """LM vectors of texts: memory cache, then the store's embedding cache, then the encoder.

        Profile texts go through here, so each is encoded once per deployment, not
        once per process start or per request.
        """
        out: dict[str, Vector] = {}
        for t in texts:
            v = self._text_cache.get(t)
            if v is not None:
                out[t] = v
        todo = sorted(set(texts) - set(out))
        if todo:
            hashes = {t: text_hash(t) for t in todo}
            stored = self.store.get_embeddings(self.encoder.name, set(hashes.values()))
            fresh = [t for t in todo if hashes[t] not in stored]
            if fresh:
                vecs = self.encoder.encode(fresh)
                new = {hashes[t]: vecs[n] for n, t in enumerate(fresh)}
                self.store.put_embeddings(self.encoder.name, new)
                stored.update(new)
            for t in todo:
                out[t] = stored[hashes[t]]
                self._text_cache.put(t, out[t])
        return [out[t] for t in texts]

    def _negatives(self, user: str, events: Sequence[Event] | None = None) -> list[str]:
        """Items the user disliked or skipped recently, most recent last."""
        n = self.settings.history_size
        recent = events[-n:] if events is not None else self._events(user, n)
        return [e.item for e in recent if e.kind in NEGATIVE_KINDS and e.item is not None]

    def _penalize(
        self, hits: list[tuple[str, float]], negatives: Sequence[str]
    ) -> list[tuple[str, float]]:
        """Push down candidates whose text resembles items the user disliked or skipped."""
        neg = [v for i in negatives if (v := self._text_vector(i)) is not None]
        if not neg or not hits:
            return hits
        ids = [i for i, _ in hits]
        scores = np.array([s for _, s in hits], dtype=np.float64)
        cand = np.stack([self._text_vector(i) for i in ids])  # type: ignore[misc]
        sim = np.clip((cand @ np.stack(neg).T).max(axis=1), 0.0, 1.0)
        spread = float(scores.max() - scores.min()) or 1.0
        scores -= self.settings.negative_feedback * sim * spread
        order = np.argsort(-scores, kind="stable")
        return [(ids[j], float(scores[j])) for j in order]

    def _text_vector(self, item_id: str) -> Vector | None:
        return self._index.get(item_id)

    def _consumed(self, user: str, events: Sequence[Event] | None = None) -> set[str]:
        """Items the user interacted with (never recommended back, when configured so)."""
        if not self.settings.exclude_consumed:
            return set()
        every = events if events is not None else self._events(user)
        return {e.item for e in every if e.item is not None and e.kind is not EventKind.SEARCH}

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
        explain: bool = False,
    ) -> ScoredItems:
        """Top ``k`` items for ``user``; unknown users get cold-start (popular) results.

        Args:
            user: User id (need not exist).
            k: How many items (at most ``settings.max_k``).
            exclude: Item ids never to return.
            category: Only items in this category (or any of these categories).
            explain: Also say why each item is there: the result is then an
                :class:`~lmrec.engine.explain.ExplainedItems` (sentences in
                ``explanations``, structure in ``details``). Costs one batched
                user-tower call; off by default.
        """
        check_id(user, "user", self.settings)
        check_k(k, self.settings)
        self._catch_up()
        rows = self._top(self._user_state(user), k, exclude, category)
        if explain:
            return self._explainer(user).results(ScoredItems.from_rows(rows))
        return ScoredItems.from_rows(rows)

    def recommend_if_cached(
        self,
        user: str,
        k: int = 10,
        *,
        exclude: Collection[str] = (),
        category: str | Sequence[str] | None = None,
    ) -> ScoredItems | None:
        """:meth:`recommend` (unexplained), but only when answering is cheap; else None.

        Answers from the user's cached state when it still matches the store
        (the same check :meth:`recommend` makes, so the answer is the same). Returns
        None, having done nothing heavy, when answering would run the user tower,
        encode new items or rebuild aggregates: the caller then calls
        :meth:`recommend` where blocking is acceptable. The HTTP service answers
        cheap requests on its event loop this way and sends the rest to threads.
        """
        check_id(user, "user", self.settings)
        check_k(k, self.settings)
        if not self._catch_up_cheaply():
            return None
        state = self._cached_user_state(user)[0]
        if state is None:
            return None
        return ScoredItems.from_rows(self._top(state, k, exclude, category))

    def _top(
        self,
        state: UserState,
        k: int,
        exclude: Collection[str],
        category: str | Sequence[str] | None,
    ) -> list[ScoredItem]:
        """The top ``k`` rows for a user's state: personal hits, then popular items."""
        skip = state.consumed | set(exclude) if exclude else state.consumed
        allowed = self._allowed(category)
        rows: list[ScoredItem] = []
        personal = state.personal
        if personal is not None:
            index, vec = personal
            negatives = state.negatives
            fetch = k if not negatives else k * 3 + 20
            # The second stage re-scores a shortlist of the model's hits, when the
            # model has a ranker that proved itself at training time.
            serving = self._second_stage(index)
            if serving is not None:
                fetch = max(fetch, serving.shortlist)
            unfiltered = allowed is None and not exclude
            kept = state.feed.get(fetch) if unfiltered else None
            if kept is not None:
                ids, scores = kept
                hits = list(zip(ids[:k], scores[:k].tolist(), strict=True))
            else:
                hits = index.search(vec, fetch, exclude=skip, allowed=allowed)
                if serving is not None:
                    # Filtered hits are scored on the scale of the unfiltered feed, so
                    # a filter narrows the feed without re-ordering what it keeps.
                    scale = None if unfiltered else self._reference_scale(serving, state)
                    hits = serving.rerank(vec, hits, state.history, scale=scale)
                if negatives:
                    hits = self._penalize(hits, negatives)
                if unfiltered:
                    state.feed[fetch] = (
                        tuple(h[0] for h in hits),
                        np.fromiter((h[1] for h in hits), np.float64, len(hits)),
                    )
                hits = hits[:k]
            source = SOURCE_CONTENT if index is self._index else SOURCE_MODEL
            rows = self._rows(hits, source)
        if len(rows) < k:
            taken = skip | {r.id for r in rows}
            rows += self._rows(self._popular(k - len(rows), taken, allowed), SOURCE_POPULAR)
        return rows

    def _second_stage(self, index: VectorIndex) -> ModelServing | None:
        """The serving model when it re-scores hits from ``index`` (its ranker is on)."""
        serving = self._serving
        if serving is None or serving.index is not index or serving.shortlist == 0:
            return None
        return serving

    @staticmethod
    def _reference_scale(serving: ModelServing, state: UserState) -> MixScale | None:
        """The scale of the user's feed shortlist, on which the second stage scores a
        filtered request's hits and a query's matches (kept with the user's state)."""
        personal = state.personal
        if personal is None:
            return None
        vec = personal[1]
        return state.reference_scale(
            serving.shortlist,
            lambda feed: serving.reference_scale(vec, state.history, feed),
        )

    def _search_scorer(self, state: UserState) -> UserScorer | None:
        """The user's personal score for search, in the order :meth:`_top` serves.

        The trained model's second stage re-orders the first stage's shortlist and
        negative feedback demotes items like disliked ones, exactly as for
        recommendations, so a query narrows the user's feed instead of ranking it
        by a different model. The second stage's scores are put on the scale of the
        user's own feed shortlist (``reference``), so an item's place does not
        depend on which other items matched the query.
        """
        personal = state.personal
        if personal is None:
            return None
        index, vec = personal
        serving = self._second_stage(index)
        negatives = state.negatives
        if serving is None and not negatives:
            return VectorUserScorer(index, vec)
        history = state.history

        def reorder(hits: list[tuple[str, float]]) -> list[tuple[str, float]]:
            if serving is not None:
                scale = self._reference_scale(serving, state)
                hits = serving.rerank(vec, hits, history, scale=scale)
            return self._penalize(hits, negatives) if negatives else hits

        return ServedUserScorer(
            index, vec, reorder, serving.shortlist if serving is not None else 0
        )

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
        self._catch_up()
        ids = list(dict.fromkeys(items))
        unknown = [i for i in ids if i not in self._index]
        if unknown:
            shown = ", ".join(repr(i) for i in unknown[:5])
            raise NotFoundError(
                f"{len(unknown)} unknown or inactive item(s): {shown}", field="items"
            )
        state = self._user_state(user)
        personal = state.personal
        if personal is not None and ids:
            index, vec = personal
            scores = index.scores(vec, ids)
            pairs = sorted(zip(ids, scores.tolist(), strict=True), key=lambda p: -p[1])
            pairs = self._penalize(pairs, state.negatives)
            source = SOURCE_CONTENT if index is self._index else SOURCE_MODEL
            return ScoredItems.from_rows(self._rows(pairs, source))
        pairs = sorted(((i, self._popularity.count(i)) for i in ids), key=lambda p: -p[1])
        return ScoredItems.from_rows(self._rows(pairs, SOURCE_POPULAR))

    def similar(self, item: str, k: int = 10) -> ScoredItems:
        """Items nearest to ``item`` in the language-model space."""
        check_id(item, "item", self.settings)
        check_k(k, self.settings)
        self._sync_catalog()
        vec = self._index.get(item)
        if vec is None:
            if item in self._catalog:
                raise NotFoundError(f"item {item!r} is inactive", field="item")
            raise NotFoundError(f"unknown item {item!r}", field="item")
        serving = self._serving
        if serving is not None:
            mvec = serving.index.get(item)
            if mvec is not None:
                norm = float(np.linalg.norm(mvec)) or 1.0
                hits = serving.index.search(mvec / norm, k, exclude={item})
                return ScoredItems.from_rows(self._rows(hits, SOURCE_SIMILAR))
        hits = self._index.search(vec, k, exclude={item})
        return ScoredItems.from_rows(self._rows(hits, SOURCE_SIMILAR))

    def search(
        self,
        query: str,
        *,
        user: str | None = None,
        k: int = 10,
        offset: int = 0,
        category: str | Sequence[str] | None = None,
        ranges: Sequence[Range | str] = (),
        exclude: Collection[str] = (),
        personalize: float | None = None,
        explain: bool = False,
    ) -> ScoredItems:
        """Hybrid lexical + semantic search, personalized by the user's profile when given.

        Args:
            query: The query text (typos in words of 3+ letters are tolerated).
            user: Personalize for this user (anonymous when None: relevance only).
            k: Page size; ``offset + k`` is capped at ``settings.max_k``.
            offset: Results to skip, for paging (page 2 of 10 is ``offset=10``).
            category: Only items in this category (or any of these).
            ranges: Only items whose numeric metadata is inside every range, as
                :class:`~lmrec.engine.filters.Range` or ``"field:min:max"`` strings
                (``"year:1990:1999"``, ``"price::20"``).
            exclude: Item ids never to return.
            personalize: Weight of the user's score in the final score, 0..1
                (default ``lmrec.engine.search.DEFAULT_PERSONALIZATION``).
            explain: Also say why each result matches (query terms, then the
                user's history when personalized); see :meth:`recommend`.
        """
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError("query must be a non-empty string", field="q")
        if len(query) > self.settings.max_query_length:
            raise LimitExceededError(
                f"query is {len(query)} characters; the limit is {self.settings.max_query_length}",
                field="q",
            )
        check_k(k, self.settings)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidInputError("offset must be a whole number >= 0", field="offset")
        if offset + k > self.settings.max_k:
            raise LimitExceededError(
                f"offset + k is {offset + k}; the limit is {self.settings.max_k}", field="offset"
            )
        if user is not None:
            check_id(user, "user", self.settings)
        if personalize is not None and not 0.0 <= personalize <= 1.0:
            raise InvalidInputError("personalize must be between 0 and 1", field="personalize")
        parsed = parse_ranges([r for r in ranges if isinstance(r, str)])
        limits = [*parsed, *(r for r in ranges if isinstance(r, Range))]
        # Items and search votes another process added count at once.
        self._catch_up()
        allowed = self._allowed(category)
        if limits:
            base = allowed if allowed is not None else self._catalog.ids()
            allowed = matching_ids(base, self._catalog.get, limits)
        # The personal score: any UserScorer works here (the content profile today,
        # the trained user tower once a model is active).
        scorer = None
        if user is not None and personalize != 0.0:
            scorer = self._search_scorer(self._user_state(user))
        hits = self._searcher.search(
            query,
            k=k,
            offset=offset,
            allowed=allowed,
            exclude=set(exclude),
            scorer=scorer,
            personalize=personalize,
            prior=lambda ids: np.array([self._popularity.count(i) for i in ids]),
            clicks=self._search_clicks.evidence(query),
        )
        found = ScoredItems.from_rows(self._rows(hits, SOURCE_SEARCH))
        if explain:
            explainer = self._explainer(user if scorer is not None else None)
            understood = self._searcher.parse(query)
            votes = self._search_clicks.votes(query)
            return explainer.search_results(found, query, understood, offset=offset, votes=votes)
        return found

    # -- explanations ------------------------------------------------------------
    def explain(self, user: str, item: str) -> Explanation:
        """Why ``item`` ranks where it does for ``user``, high or low.

        Names the history items whose removal lowers the item's score most
        (leave-one-out through the user tower, or the content profile before a
        model is trained), the item's rank among all candidates, and one sentence
        (``Ranked 1,234th of 1,600: you disliked a similar item, ...``).
        """
        check_id(user, "user", self.settings)
        check_id(item, "item", self.settings)
        self._catch_up()
        if item not in self._index:
            if item in self._catalog:
                raise NotFoundError(f"item {item!r} is inactive", field="item")
            raise NotFoundError(f"unknown item {item!r}", field="item")
        return self._explainer(user).explain(item)

    def _explainer(self, user: str | None) -> Explainer:
        """Explaining state for ``user`` (None: anonymous), from one model state."""
        serving = self._serving
        if user is None:
            view = popular_view("")
        elif serving is None:
            recent = self.store.user_events(user, limit=self.settings.history_size)
            events = [se.event for se in recent]
            view = content_view(user, events, self._index, self._event_vector, self.settings)
        else:
            recent = self.store.user_events(user, limit=serving.model.config.max_len)
            view = model_view(
                user,
                [se.event for se in recent],
                serving,
                self._event_vector,
                self._profile_vector(user),
                profile_text=user_text(self.store.get_user(user)),
            )
        consumed = set() if user is None else self._consumed(user)
        return Explainer(
            view, self._catalog, self._index, self._popularity, consumed, self.settings
        )

    # -- models ------------------------------------------------------------------
    @property
    def model_version(self) -> str | None:
        """The model version serving now (None: the content path)."""
        serving = self._serving
        return None if serving is None else serving.version

    def _maybe_swap(self) -> None:
        """Start loading the registry's active model in the background if it changed."""
        active = self.store.active_model()
        wanted = None if active is None else active.version
        if wanted == self.model_version or self._swap_lock.locked():
            return
        threading.Thread(target=self._swap_quietly, name="lmrec-model-swap", daemon=True).start()

    def _swap_quietly(self) -> None:
        try:
            self.refresh_model()
        except Exception as exc:
            self._swap_error = f"{type(exc).__name__}: {exc}"

    def refresh_model(self) -> str | None:
        """Serve the registry's active model now (blocking); returns the version served.

        Loading and building the model's item index happen on the side; the
        switch itself is one reference assignment, so requests in flight finish
        on the old model and none fails (hot swap).
        """
        with self._swap_lock:
            active = self.store.active_model()
            if active is None:
                self._serving = None
                return None
            if active.version == self.model_version:
                return active.version
            from lmrec.model import load_checkpoint

            model = load_checkpoint(active.path, device=self.settings.device)
            ids, vecs = self._active_text_vectors()
            serving = ModelServing.build(
                active.version, model, ids, vecs, ann_min_items=self.settings.ann_min_items
            )
            # The user tower reads profile vectors on every request: have them ready.
            profiles = list(itertools.islice(self.store.iter_users(), _PROFILE_WARM_LIMIT))
            self._warm_profile_cache(profiles)
            with self._lock:
                # Items written while the model loaded: index them too, then switch.
                now_ids, now_vecs = self._active_text_vectors()
                done = set(ids)
                fresh = [n for n, i in enumerate(now_ids) if i not in done]
                if fresh:
                    serving.add_items([now_ids[n] for n in fresh], now_vecs[fresh])
                gone = done - set(now_ids)
                if gone:
                    serving.remove_items(sorted(gone))
                self._serving = serving
            self._swap_error = None
        return serving.version

    def _active_text_vectors(self) -> tuple[list[str], Vector]:
        ids = [i for i in self._catalog.ids() if i in self._index]
        vecs = [self._index.get(i) for i in ids]
        if not ids:
            return [], np.zeros((0, self.encoder.dim), dtype=np.float32)
        return ids, np.stack([v for v in vecs if v is not None])

    def train(
        self, config: object | None = None, *, activate: bool = True, progress: bool = True
    ) -> ModelVersion:
        """Train a model on everything stored, register it, and (by default) serve it.

        Args:
            config: A :class:`lmrec.model.ModelConfig`; the defaults suit MovieLens-sized data.
            activate: Make it the served model right away.
            progress: Show a progress bar with loss and validation NDCG@10 per epoch.
        """
        from lmrec.engine.training import fit, register, training_data
        from lmrec.model import ModelConfig

        self._catch_up()
        cfg = config if isinstance(config, ModelConfig) else ModelConfig()
        cfg = cfg.replace(device=self.settings.device)
        items = [it for i in self._catalog.ids() if (it := self._catalog.get(i)) is not None]
        vectors = self._item_text_matrix(items)
        events = [se.event for se in self.store.iter_events()]
        users = list(self.store.iter_users())
        self._warm_profile_cache(users)
        data = training_data(
            items,
            users,
            events,
            vectors,
            self._profile_vector,
            self.settings,
            query_vectors=self._text_vectors,
        )
        model = fit(data, cfg, progress=progress)
        record = register(
            self.store, model, self.settings.data_dir / "models", events_seen=self._seq
        )
        if activate:
            record = self.store.activate_model(record.version)
            self.refresh_model()
        return record

    def _warm_profile_cache(self, users: Sequence[User]) -> None:
        """Encode every profile text in one batch (instead of one call per user)."""
        texts = sorted({t for u in users if (t := user_text(u))})
        if texts:
            self._text_vectors(texts)

    def _item_text_matrix(self, items: Sequence[Item]) -> Vector:
        """LM text vectors of items (inactive ones too), from the embedding cache."""
        hashes = [self._catalog.text_hash(it.id) or "" for it in items]
        cached = self.store.get_embeddings(self.encoder.name, set(hashes))
        out = np.zeros((len(items), self.encoder.dim), dtype=np.float32)
        for n, h in enumerate(hashes):
            v = cached.get(h)
            if v is not None:
                out[n] = v
        return out

    # -- introspection -----------------------------------------------------------
    def stats(self) -> EngineStats:
        self._catch_up()
        return EngineStats(
            items=len(self._catalog),
            active_items=self._catalog.active_count(),
            users=self.store.count_users(),
            events=self.store.count_events(),
            last_seq=self._seq,
            encoder=self.encoder.name,
            dim=self.encoder.dim,
            index=type(self._index).__name__,
            model=self.model_version,
            categories=self._catalog.categories(),
        )

    def now(self) -> float:
        """Server time for events sent without ``ts``."""
        return time.time()
