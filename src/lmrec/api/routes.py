"""HTTP routes under ``/v1``: thin adapters from JSON to Engine calls."""

from __future__ import annotations

from fastapi import APIRouter

from lmrec import __version__
from lmrec.api.deps import EngineDep, ListQuery, split_list
from lmrec.api.schemas import (
    DeletedOut,
    EventsIn,
    HealthOut,
    IngestOut,
    ItemOut,
    ItemsIn,
    RankIn,
    RecommendationsOut,
    SearchOut,
    SimilarOut,
    UpsertedOut,
    result_items,
)
from lmrec.schema import Event, Item

router = APIRouter(prefix="/v1")


@router.post("/items", response_model=UpsertedOut, tags=["items"])
def upsert_items(body: ItemsIn, engine: EngineDep) -> UpsertedOut:
    """Add or replace items; they are recommendable and searchable on return."""
    items = [
        Item(
            id=i.id,
            title=i.title,
            text=i.text,
            categories=tuple(i.categories),
            metadata=i.metadata,
            active=i.active,
        )
        for i in body.items
    ]
    return UpsertedOut(upserted=engine.upsert_items(items))


@router.get("/items/{item_id}", response_model=ItemOut, tags=["items"])
def get_item(item_id: str, engine: EngineDep) -> ItemOut:
    it = engine.get_item(item_id)
    return ItemOut(
        id=it.id,
        title=it.title,
        text=it.text,
        categories=list(it.categories),
        metadata=dict(it.metadata),
        active=it.active,
    )


@router.get("/items/{item_id}/similar", response_model=SimilarOut, tags=["items"])
def similar(item_id: str, engine: EngineDep, k: int = 10) -> SimilarOut:
    """Items nearest to this one in the language-model space."""
    return SimilarOut(item=item_id, items=result_items(engine.similar(item_id, k)))


@router.post("/events", response_model=IngestOut, tags=["events"])
def ingest(body: EventsIn, engine: EngineDep) -> IngestOut:
    """Durably record events. Acknowledged events are never lost; repeated ids apply once."""
    now = engine.now()
    events = [
        Event(
            user=e.user,
            kind=e.kind,
            ts=now if e.ts is None else e.ts,
            item=e.item,
            value=e.value,
            query=e.query,
            id=e.id,
        )
        for e in body.events
    ]
    result = engine.ingest(events)
    return IngestOut(accepted=result.accepted, duplicates=result.duplicates)


@router.get("/users/{user}/recommendations", response_model=RecommendationsOut, tags=["users"])
def recommendations(
    user: str,
    engine: EngineDep,
    k: int = 10,
    exclude: ListQuery = None,
    category: ListQuery = None,
) -> RecommendationsOut:
    """Top-k items for a user; unknown users get cold-start results."""
    cats = split_list(category)
    scored = engine.recommend(user, k, exclude=split_list(exclude), category=cats or None)
    model = engine.stats().model or "content"
    return RecommendationsOut(user=user, items=result_items(scored), model=model)


@router.post("/users/{user}/rank", response_model=RecommendationsOut, tags=["users"])
def rank(user: str, body: RankIn, engine: EngineDep) -> RecommendationsOut:
    """Order the given items by this user's personal score."""
    scored = engine.rank(user, body.items)
    model = engine.stats().model or "content"
    return RecommendationsOut(user=user, items=result_items(scored), model=model)


@router.delete("/users/{user}", response_model=DeletedOut, tags=["users"])
def delete_user(user: str, engine: EngineDep) -> DeletedOut:
    """Erase a user's profile and all their events."""
    return DeletedOut(user=user, deleted_events=engine.delete_user(user))


@router.get("/search", response_model=SearchOut, tags=["search"])
def search(
    q: str,
    engine: EngineDep,
    user: str | None = None,
    k: int = 10,
    category: ListQuery = None,
    personalize: float | None = None,
) -> SearchOut:
    """Hybrid lexical + semantic search, personalized when a user is given."""
    cats = split_list(category)
    scored = engine.search(q, user=user, k=k, category=cats or None, personalize=personalize)
    return SearchOut(query=q, user=user, items=result_items(scored))


@router.get("/health", response_model=HealthOut, tags=["service"])
def health(engine: EngineDep) -> HealthOut:
    engine.store.last_seq()  # touches the store: a broken database fails health
    return HealthOut(status="ok", version=__version__)


@router.get("/stats", tags=["service"])
def stats(engine: EngineDep) -> dict[str, object]:
    return engine.stats().as_dict()
