"""Read-only routes the web console needs beyond the core API (all under ``/v1``).

They are plain API routes, usable by any client: a user's recent history with
titles, recently active users, a 2-D map of the item space, and the latest
evaluation report with its chart files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from lmrec.api.deps import EngineDep
from lmrec.engine import Engine
from lmrec.errors import NotFoundError
from lmrec.web.projection import ItemMap
from lmrec.web.reports import NO_REPORT, latest_report, list_reports

router = APIRouter(prefix="/v1")

#: How far back in the event log "recently active users" looks.
_RECENT_EVENTS = 5000


class HistoryEvent(BaseModel):
    seq: int
    id: str | None
    kind: str
    item: str | None
    title: str | None = Field(description="The item's title; null for searches or unknown items.")
    value: float | None
    query: str | None
    ts: float


class HistoryOut(BaseModel):
    user: str
    events: list[HistoryEvent] = Field(description="Oldest first; `limit` keeps the newest.")


class UsersOut(BaseModel):
    users: list[str] = Field(description="Most recently active first.")


class ChartOut(BaseModel):
    name: str
    url: str


class ReportSummary(BaseModel):
    name: str
    modified: float


class ReportsOut(BaseModel):
    reports: list[ReportSummary] = Field(description="Newest first; the first is `latest`.")
    message: str | None = Field(description="What to do when there is no report yet.")


class ReportOut(BaseModel):
    name: str = Field(description="The report folder's name.")
    modified: float = Field(description="Unix time report.json was written.")
    report: dict[str, Any] = Field(description="The parsed report.json.")
    markdown: str | None = Field(description="report.md, if present.")
    charts: list[ChartOut]


def get_item_map(request: Request) -> ItemMap:
    """One map cache per app, created on first use."""
    state = request.app.state
    item_map: ItemMap | None = getattr(state, "item_map", None)
    if item_map is None:
        item_map = ItemMap()
        state.item_map = item_map
    return item_map


def reports_root(engine: Engine) -> Path:
    """Where evaluation reports are looked for: ``settings.reports_dir`` or ``<data>/reports``."""
    configured = getattr(engine.settings, "reports_dir", None)
    return Path(configured) if configured else engine.settings.data_dir / "reports"


@router.get("/users", response_model=UsersOut, tags=["users"])
def recent_users(engine: EngineDep, limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> UsersOut:
    """Users seen in the most recent events (for pickers); profiles-only users are not listed."""
    after = max(0, engine.store.last_seq() - _RECENT_EVENTS)
    last: dict[str, int] = {}
    for se in engine.store.iter_events(after_seq=after):
        last[se.event.user] = se.seq
    ordered = sorted(last, key=lambda u: -last[u])
    return UsersOut(users=ordered[:limit])


@router.get("/users/{user}/history", response_model=HistoryOut, tags=["users"])
def history(
    user: str, engine: EngineDep, limit: Annotated[int, Query(ge=1, le=1000)] = 20
) -> HistoryOut:
    """A user's most recent events, with item titles."""
    events = []
    for se in engine.history(user, limit=limit):
        e = se.event
        title = None
        if e.item is not None:
            try:
                title = engine.get_item(e.item).title
            except NotFoundError:
                title = None
        events.append(
            HistoryEvent(
                seq=se.seq,
                id=e.id,
                kind=str(e.kind),
                item=e.item,
                title=title,
                value=e.value,
                query=e.query,
                ts=e.ts,
            )
        )
    return HistoryOut(user=user, events=events)


@router.get("/map", tags=["service"])
def item_map(
    engine: EngineDep,
    item_map: Annotated[ItemMap, Depends(get_item_map)],
    user: str | None = None,
) -> dict[str, Any]:
    """Item vectors projected to 2-D (PCA), with the user's profile and history marked.

    Returns ``items`` (``id, title, category, x, y``; at most 5,000, evenly thinned),
    ``categories`` (legend order), ``total``, ``explained_variance``, ``user``
    (``id, x, y`` or null without usable history) and ``history`` (``id, title, kind, x, y``).
    """
    return item_map.build(engine, user)


@router.get("/reports", response_model=ReportsOut, tags=["service"])
def reports(engine: EngineDep) -> ReportsOut:
    """Evaluation reports found under the reports folder (an empty list is not an error)."""
    found = list_reports(reports_root(engine))
    return ReportsOut(
        reports=[ReportSummary(name=r.path.name, modified=r.modified) for r in found],
        message=None if found else NO_REPORT,
    )


@router.get("/reports/latest", response_model=ReportOut, tags=["service"])
def latest(engine: EngineDep) -> ReportOut:
    """The newest ``lmrec evaluate`` report under the reports folder (404 when none)."""
    folder = latest_report(reports_root(engine))
    if folder is None:
        raise NotFoundError(NO_REPORT)
    return ReportOut(
        name=folder.path.name,
        modified=folder.modified,
        report=folder.load(),
        markdown=folder.markdown(),
        charts=[ChartOut(name=c, url=f"/v1/reports/latest/files/{c}") for c in folder.charts()],
    )


@router.get("/reports/latest/files/{name:path}", tags=["service"])
def latest_file(name: str, engine: EngineDep) -> FileResponse:
    """One file of the latest report (its charts, report.json, report.md); nothing else."""
    folder = latest_report(reports_root(engine))
    if folder is None:
        raise NotFoundError(NO_REPORT)
    return FileResponse(
        folder.file(name),
        headers={
            "X-Content-Type-Options": "nosniff",
            # An SVG opened directly must not run scripts it might contain.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )
