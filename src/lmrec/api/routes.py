"""HTTP routes under ``/v1``: thin adapters from JSON to Engine calls."""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from lmrec import __version__
from lmrec.api.deps import EngineDep, ListQuery, split_list
from lmrec.api.schemas import (
    DeletedOut,
    EventsIn,
    ExplanationOut,
    HealthOut,
    IngestOut,
    ItemOut,
    ItemsIn,
    RankIn,
    RecommendationsOut,
    SearchOut,
    SimilarOut,
    UpsertedOut,
    explanation_out,
    recommendations_json,
    result_items,
)
from lmrec.schema import Event, Item

router = APIRouter(prefix="/v1")

JSON = "application/json"


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
async def recommendations(
    user: str,
    engine: EngineDep,
    k: int = 10,
    exclude: ListQuery = None,
    category: ListQuery = None,
    explain: bool = False,
) -> Response:
    """Top-k items for a user; unknown users get cold-start results.

    With ``explain=true`` each item carries ``explanation`` (one sentence) and
    ``why`` (the history items that drove it, its rank, its source).
    """
    # The hot path: a user whose state is cached is answered right here, on the
    # event loop (a thread hand-off would cost more than the answer). Anything
    # heavier (the user tower, explanations) goes to the thread pool.
    skip, cats = split_list(exclude), split_list(category) or None
    scored = None if explain else engine.recommend_if_cached(user, k, exclude=skip, category=cats)
    if scored is None:
        scored = await run_in_threadpool(
            engine.recommend, user, k, exclude=skip, category=cats, explain=explain
        )
    model = engine.model_version or "content"
    if explain:
        out = RecommendationsOut(user=user, items=result_items(scored), model=model)
        return Response(out.model_dump_json().encode(), media_type=JSON)
    return Response(recommendations_json(user, scored, model), media_type=JSON)


@router.post("/users/{user}/rank", response_model=RecommendationsOut, tags=["users"])
def rank(user: str, body: RankIn, engine: EngineDep) -> RecommendationsOut:
    """Order the given items by this user's personal score."""
    scored = engine.rank(user, body.items)
    model = engine.model_version or "content"
    return RecommendationsOut(user=user, items=result_items(scored), model=model)


@router.get("/users/{user}/explain/{item_id}", response_model=ExplanationOut, tags=["users"])
def explain(user: str, item_id: str, engine: EngineDep) -> ExplanationOut:
    """Why an item ranks where it does for this user, high or low (404 for an unknown item)."""
    return explanation_out(user, engine.explain(user, item_id))


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
    offset: int = 0,
    category: ListQuery = None,
    range: ListQuery = None,
    exclude: ListQuery = None,
    personalize: float | None = None,
    explain: bool = False,
) -> SearchOut:
    """Hybrid lexical + semantic search, personalized when a user is given.

    Parameters:

    - ``q``: the query (1 to ``max_query_length`` characters; typos tolerated).
    - ``user``: personalize for this user; omitted, results rank by relevance only.
    - ``k``, ``offset``: the page (``offset + k`` is at most ``max_k``); the next
      page is ``offset + k``.
    - ``category``: only items in any of these categories (repeat it or use commas).
    - ``range``: numeric metadata filter ``field:min:max``, inclusive, either bound
      may be empty; repeat it for several fields, all must hold. Example:
      ``range=year:1990:1999&range=price::20``. Items without the field never match.
    - ``exclude``: item ids never to return (repeat it or use commas).
    - ``personalize``: weight of the user's taste, 0 (relevance only) to 1.
    - ``explain``: add ``explanation`` and ``why`` to each item (matched terms,
      and the history items behind the personal part).
    """
    cats = split_list(category)
    scored = engine.search(
        q,
        user=user,
        k=k,
        offset=offset,
        category=cats or None,
        ranges=[r.strip() for r in range or [] if r.strip()],
        exclude=split_list(exclude),
        personalize=personalize,
        explain=explain,
    )
    return SearchOut(query=q, user=user, offset=offset, items=result_items(scored))


@router.get("/health", response_model=HealthOut, tags=["service"])
def health(engine: EngineDep) -> HealthOut:
    engine.store.last_seq()  # touches the store: a broken database fails health
    return HealthOut(status="ok", version=__version__)


@router.get("/stats", tags=["service"])
def stats(engine: EngineDep) -> dict[str, object]:
    return engine.stats().as_dict()
