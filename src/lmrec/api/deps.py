"""Typed dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from lmrec.engine import Engine


async def get_engine(request: Request) -> Engine:
    """The app's engine.

    ``async`` on purpose: FastAPI runs a plain ``def`` dependency in the thread
    pool, a hand-off that costs about as much CPU as a cached recommendation.
    """
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def split_list(values: list[str] | None) -> list[str]:
    """Accept both repeated parameters (``a=1&a=2``) and comma-separated values (``a=1,2``)."""
    out: list[str] = []
    for v in values or []:
        out.extend(p for p in (s.strip() for s in v.split(",")) if p)
    return out


ListQuery = Annotated[list[str] | None, Query()]
