"""Request and response bodies of the HTTP API, one family per resource.

Types are checked here; size limits that depend on settings (batch sizes,
string lengths, ``k``) are enforced by the engine, so the Python API and HTTP
API refuse exactly the same inputs with the same messages.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lmrec.engine.explain import ExplainedItems, Explanation
from lmrec.schema import EventKind, ScoredItems


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemIn(_Body):
    id: str = Field(description="Your id for the item.")
    title: str = Field(description="Short name; weighted highest in search.")
    text: str = Field("", description="Description or any free text.")
    categories: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    active: bool = Field(True, description="False removes the item from results.")


class ItemsIn(_Body):
    items: list[ItemIn]


class UpsertedOut(BaseModel):
    upserted: int


class EventIn(_Body):
    id: str | None = Field(None, description="Client id; the same id is applied once.")
    user: str
    item: str | None = None
    kind: EventKind
    value: float | None = Field(None, description="Rating for `rate` events.")
    query: str | None = Field(None, description="Query text for `search` events.")
    ts: float | None = Field(None, description="Unix seconds; server time when omitted.")


class EventsIn(_Body):
    events: list[EventIn]


class IngestOut(BaseModel):
    accepted: int
    duplicates: int


class ResultItem(BaseModel):
    id: str
    title: str
    score: float
    source: str
    explanation: str | None = Field(
        None, description="Why this item is here, in one sentence (with `explain=true`)."
    )
    why: dict[str, Any] | None = Field(
        None,
        description="The reasons in structure (with `explain=true`): `rank`, `candidates`, "
        "`source`, `contributions` (history items and the score drop without each), "
        "`matched_terms`, `matched_fields`, `category`, `closest`, `disliked`, `sentence`.",
    )


class RecommendationsOut(BaseModel):
    user: str
    items: list[ResultItem]
    model: str = Field(description="Model version that served, or `content` before training.")


class RankIn(_Body):
    items: list[str]


class SearchOut(BaseModel):
    query: str
    user: str | None
    offset: int = Field(0, description="Results skipped before the first one returned.")
    items: list[ResultItem]


class SimilarOut(BaseModel):
    item: str
    items: list[ResultItem]


class ItemOut(BaseModel):
    id: str
    title: str
    text: str
    categories: list[str]
    metadata: dict[str, Any]
    active: bool


class DeletedOut(BaseModel):
    user: str
    deleted_events: int


class HealthOut(BaseModel):
    status: str
    version: str


class ErrorOut(BaseModel):
    error: str
    detail: str
    field: str | None


class ContributionOut(BaseModel):
    item: str
    title: str
    drop: float = Field(description="How much the score falls without this history item.")
    kind: str = Field(description="The kind of the user's latest event on it.")


class ExplanationOut(BaseModel):
    user: str
    item: str
    title: str
    score: float
    rank: int | None = Field(
        description="1-based rank among the user's candidates; null if already consumed."
    )
    candidates: int
    source: str = Field(description="`model`, `content`, `profile` or `popular`.")
    contributions: list[ContributionOut]
    category: str | None
    closest: dict[str, str] | None
    disliked: dict[str, str] | None
    sentence: str


def explanation_out(user: str, ex: Explanation) -> ExplanationOut:
    why = ex.as_dict()
    del why["matched_terms"], why["matched_fields"]
    return ExplanationOut(user=user, title=ex.title, **why)


def result_items(scored: ScoredItems) -> list[ResultItem]:
    details = scored.details if isinstance(scored, ExplainedItems) else None
    return [
        ResultItem(
            id=r.id,
            title=r.title,
            score=r.score,
            source=r.source,
            explanation=r.explanation,
            why=None if details is None else details[n].as_dict(),
        )
        for n, r in enumerate(scored)
    ]


def recommendations_json(user: str, scored: ScoredItems, model: str) -> bytes:
    """The :class:`RecommendationsOut` body of unexplained results, serialised directly.

    Recommendations are the hot path: building a pydantic model per result row
    and validating it costs more CPU than a cached recommendation itself. The
    body is the same JSON, keys in the same order, as the model would produce.
    """
    items = [
        {
            "id": r.id,
            "title": r.title,
            "score": r.score,
            "source": r.source,
            "explanation": r.explanation,
            "why": None,
        }
        for r in scored
    ]
    body = {"user": user, "items": items, "model": model}
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
