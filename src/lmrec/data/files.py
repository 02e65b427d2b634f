"""Importing items, users and events from CSV, Parquet or JSONL files.

Each function parses the file, resolves the :class:`ColumnMapping` against its
columns, and runs every row through the shared record builders, returning the
accepted records and an :class:`ImportReport` that accounts for every row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lmrec.data.mapping import ColumnMapping, ResolvedMapping
from lmrec.data.readers import SourceRows, infer_column, progress, read_rows
from lmrec.data.records import (
    build_event,
    build_item,
    build_user,
    collect,
    settings_or_default,
)
from lmrec.data.report import Entity, ImportReport, RejectReason
from lmrec.schema import Event, Item, User
from lmrec.settings import Settings

Row = tuple[dict[str, Any], dict[str, Any]]


def read_items(
    path: str | Path,
    mapping: ColumnMapping | None = None,
    fmt: str | None = None,
    settings: Settings | None = None,
) -> tuple[list[Item], ImportReport]:
    """Read catalog items; unmapped columns become metadata unless ``mapping.metadata`` says.

    Args:
        path: The file to read.
        mapping: Column names of the item fields; identity names by default.
        fmt: ``csv``, ``parquet`` or ``jsonl``; inferred from the extension when ``None``.
        settings: Limits to enforce (id, title and text lengths); defaults to ``Settings()``.

    Raises:
        DataSourceError: The file cannot be parsed or lacks a required column.
    """
    cfg = settings_or_default(settings)
    src, resolved, report = _open("items", Path(path), mapping, fmt)
    items = collect(
        "items",
        _rows("items", src, resolved, Path(path)),
        lambda r: build_item(r[0], r[1], resolved.categories_sep, cfg),
        key=lambda it: it.id,
        duplicate=RejectReason.DUPLICATE_ID,
        report=report,
        source=Path(path).name,
    )
    return items, report


def read_users(
    path: str | Path,
    mapping: ColumnMapping | None = None,
    fmt: str | None = None,
    settings: Settings | None = None,
) -> tuple[list[User], ImportReport]:
    """Read user profiles; every column but the id is an attribute unless mapped otherwise.

    Arguments and errors as for :func:`read_items`.
    """
    cfg = settings_or_default(settings)
    src, resolved, report = _open("users", Path(path), mapping, fmt)
    users = collect(
        "users",
        _rows("users", src, resolved, Path(path)),
        lambda r: build_user(r[0], r[1], cfg),
        key=lambda u: u.id,
        duplicate=RejectReason.DUPLICATE_ID,
        report=report,
        source=Path(path).name,
    )
    return users, report


def read_events(
    path: str | Path,
    mapping: ColumnMapping | None = None,
    fmt: str | None = None,
    settings: Settings | None = None,
    *,
    source: str | None = None,
) -> tuple[list[Event], ImportReport]:
    """Read events; rows without an id get one derived from their content.

    Deriving ids from ``source`` (the file name by default) and the row's
    content makes re-importing a file idempotent, and makes exact duplicate rows
    show up as ``duplicate_event``. Rows without a time get the import time.

    Args:
        path: The file to read.
        mapping: Column names of the event fields; ``kind`` may be a constant such as
            ``"rate"``.
        fmt: ``csv``, ``parquet`` or ``jsonl``; inferred from the extension when ``None``.
        settings: Limits to enforce (ids, queries, rating range); defaults to ``Settings()``.
        source: Name mixed into derived event ids; pass the same name to re-import a
            renamed file idempotently.

    Raises:
        DataSourceError: The file cannot be parsed or lacks a required column.
    """
    cfg = settings_or_default(settings)
    name = source or Path(path).name
    src, resolved, report = _open("events", Path(path), mapping, fmt)
    now = time.time()
    events = collect(
        "events",
        _rows("events", src, resolved, Path(path)),
        lambda r: build_event(r[0], source=name, settings=cfg, now=now),
        key=lambda e: e.id,
        duplicate=RejectReason.DUPLICATE_EVENT,
        report=report,
        source=Path(path).name,
    )
    return events, report


def _open(
    entity: Entity, path: Path, mapping: ColumnMapping | None, fmt: str | None
) -> tuple[SourceRows, ResolvedMapping, ImportReport]:
    src = read_rows(path, fmt)
    resolved = (mapping or ColumnMapping()).resolve(entity, src.columns)
    report = ImportReport()
    for line, text in src.malformed:
        report.read(entity)
        report.reject(entity, RejectReason.MALFORMED_ROW, source=path.name, line=line, value=text)
    return src, resolved, report


def _rows(
    entity: Entity, src: SourceRows, resolved: ResolvedMapping, path: Path
) -> Iterator[tuple[int, Row]]:
    """(line, (fields, extras)) per row, extras typed per column."""
    typed: dict[str, list[Any]] = {
        col: infer_column([row.get(col) for _, row in src.rows]) for col in resolved.extras
    }
    pick: Callable[[dict[str, Any]], dict[str, Any]] = resolved.pick
    for i, (line, row) in enumerate(
        progress(src.rows, len(src.rows), f"Reading {entity} from {path.name}")
    ):
        yield line, (pick(row), {col: values[i] for col, values in typed.items()})


__all__ = ["read_events", "read_items", "read_users"]
