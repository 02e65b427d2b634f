"""Reading RecBole atomic files (``<name>.inter``, ``.item``, ``.user``).

Atomic files are tab-separated with a ``field:type`` header, where the type is
``token``, ``token_seq`` (space-separated tokens), ``float`` or ``float_seq``.
MovieLens-style item files (``movie_title`` + ``release_year`` + ``class``) get
titles like ``Toy Story (1995)`` so both MovieLens layouts load identically;
other files map ``item_id``, ``user_id``, ``rating`` and ``timestamp`` and keep
the remaining columns as item metadata or user attributes.
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lmrec.data.dataset import Dataset
from lmrec.data.readers import frame_records, progress
from lmrec.data.records import (
    build_event,
    build_item,
    build_user,
    collect,
    settings_or_default,
)
from lmrec.data.report import ImportReport, RejectReason
from lmrec.errors import DataSourceError
from lmrec.schema import Event, EventKind, Item, User
from lmrec.settings import Settings

ATOMIC_TYPES = ("token", "token_seq", "float", "float_seq")
_TITLE_COLUMNS = ("movie_title", "title", "name", "item_name")
_CATEGORY_COLUMNS = ("class", "categories", "category", "genre", "genres")
#: ``token`` fields that are integers in practice (MovieLens' ``age``), read as ``int``.
_INTEGER_TOKENS = frozenset({"age"})
_YEAR = re.compile(r"\d{4}")
_YEAR_IN_TITLE = re.compile(r"\((\d{4})\)")


@dataclass(frozen=True)
class AtomicFile:
    """One parsed atomic file: field names, their declared types, and the rows."""

    path: Path
    types: Mapping[str, str]
    rows: list[tuple[int, dict[str, Any]]]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.types)


def read_atomic(path: Path) -> AtomicFile:
    """Parse one atomic file; sequence fields become lists, everything else stays text.

    Raises:
        DataSourceError: The file is unreadable, or its header is not ``field:type``.
    """
    try:
        # QUOTE_NONE: titles contain quote characters that are data, not CSV quoting.
        frame = pd.read_csv(
            path,
            sep="\t",
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            index_col=False,
            quoting=csv.QUOTE_NONE,
            encoding="utf-8",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataSourceError(f"{path.name} is not a readable RecBole atomic file: {exc}") from exc
    types: dict[str, str] = {}
    for header in frame.columns:
        name, sep, kind = str(header).partition(":")
        if not sep or kind not in ATOMIC_TYPES:
            raise DataSourceError(
                f"{path.name}: header field {header!r} is not 'name:type' with a type in "
                f"{ATOMIC_TYPES}"
            )
        types[name] = kind
    frame.columns = pd.Index(list(types))
    rows: list[tuple[int, dict[str, Any]]] = []
    for i, rec in enumerate(frame_records(frame)):
        row: dict[str, Any] = {}
        for name, kind in types.items():
            value = rec[name]
            row[name] = value.split() if kind.endswith("_seq") else value
        rows.append((i + 2, row))
    return AtomicFile(path, types, rows)


def find_prefix(folder_or_prefix: str | Path) -> Path:
    """The path prefix ``<dir>/<name>`` of a dataset's atomic files.

    Accepts a folder (holding ``<folder>.inter`` or exactly one ``*.inter``), a
    prefix, or the path of one of the atomic files.
    """
    path = Path(folder_or_prefix)
    if path.suffix in (".inter", ".item", ".user"):
        return path.with_suffix("")
    if path.is_dir():
        own = path / path.name
        if any(own.with_suffix(s).is_file() for s in (".inter", ".item", ".user")):
            return own
        found = sorted(path.glob("*.inter"))
        if len(found) == 1:
            return found[0].with_suffix("")
        what = "no *.inter file" if not found else f"several *.inter files {found}"
        raise DataSourceError(f"{path} has {what}; pass the prefix <folder>/<name>")
    if any(path.with_suffix(path.suffix + s).is_file() for s in (".inter", ".item", ".user")):
        return path
    raise DataSourceError(f"no RecBole atomic files (.inter, .item, .user) at {path}")


def read_recbole(folder_or_prefix: str | Path, settings: Settings | None = None) -> Dataset:
    """Read a RecBole dataset; any of the three files may be absent.

    Args:
        folder_or_prefix: A folder, a ``<folder>/<name>`` prefix, or one atomic file.
        settings: Limits to enforce; defaults to ``Settings()``.

    Raises:
        DataSourceError: No atomic files found, or one is malformed.
    """
    cfg = settings_or_default(settings)
    prefix = find_prefix(folder_or_prefix)
    name = prefix.name
    report = ImportReport()
    items: list[Item] = []
    users: list[User] = []
    events: list[Event] = []
    item_path, user_path, inter_path = (
        prefix.parent / f"{name}{s}" for s in (".item", ".user", ".inter")
    )
    if item_path.is_file():
        items = _read_items(read_atomic(item_path), cfg, report)
    if user_path.is_file():
        users = _read_users(read_atomic(user_path), cfg, report)
    if inter_path.is_file():
        events = _read_events(read_atomic(inter_path), name, cfg, report)
    return Dataset(items, users, events, report, name)


# -- MovieLens-style titles --------------------------------------------------------------


def movie_title(title: str, year_text: str | None) -> tuple[str, int | None]:
    """``("Toy Story", "1995") -> ("Toy Story (1995)", 1995)``; the year is None when unknown.

    A title that already carries its year, like GroupLens' ``Toy Story (1995)`` or
    ``Land Before Time III: ... (1995) (V)``, is kept as is and the year read from it.
    """
    title = title.strip()
    if title == "unkonwn":  # RecBole's spelling of GroupLens' item 267, "unknown"
        title = "unknown"
    in_title = _YEAR_IN_TITLE.findall(title)
    if in_title:
        return title, int(in_title[-1])
    year = (year_text or "").strip()
    if _YEAR.fullmatch(year):
        return f"{title} ({year})", int(year)
    return title, None


def movie_genres(genres: list[str]) -> tuple[str, ...]:
    """Genres without GroupLens' placeholder ``unknown``."""
    return tuple(g for g in genres if g and g != "unknown")


# -- per entity ------------------------------------------------------------------------


def _typed_extras(atomic: AtomicFile, names: list[str]) -> dict[str, list[Any]]:
    """Columns typed as declared: ``token`` stays text (zip codes!), ``float`` is a number."""
    out: dict[str, list[Any]] = {}
    for col in names:
        values = [row[col] for _, row in atomic.rows]
        kind = atomic.types[col]
        if kind == "float_seq":
            out[col] = [[_float(x) for x in v] if v else None for v in values]
        elif kind == "token_seq":
            out[col] = [v or None for v in values]
        elif kind == "float":
            out[col] = [_float(v) for v in values]
        elif col in _INTEGER_TOKENS and all(not v or v.isdigit() for v in values):
            out[col] = [int(v) if v else None for v in values]
        else:
            out[col] = [v or None for v in values]
    return out


def _float(text: str) -> float | str | None:
    try:
        return float(text) if text else None
    except ValueError:
        return text  # kept as written rather than lost


def _read_items(atomic: AtomicFile, cfg: Settings, report: ImportReport) -> list[Item]:
    fields = atomic.fields
    if "item_id" not in fields:
        raise DataSourceError(f"{atomic.path.name} has no item_id field; fields are {fields}")
    movie_style = "movie_title" in fields and "release_year" in fields
    title_col = next((c for c in _TITLE_COLUMNS if c in fields), None)
    cat_col = next((c for c in _CATEGORY_COLUMNS if c in fields), None)
    used = {"item_id", title_col, cat_col} | ({"release_year"} if movie_style else set())
    extras = _typed_extras(atomic, [c for c in fields if c not in used])

    def build(i: int) -> Item:
        row = atomic.rows[i][1]
        cats = row[cat_col] if cat_col else []
        meta = {c: v[i] for c, v in extras.items()}
        if movie_style:
            title, year = movie_title(_text(row["movie_title"]), _text(row["release_year"]))
            cats = list(movie_genres(list(cats)))
            meta = {"year": year, **meta}
        else:
            title = _text(row[title_col]) if title_col else _text(row["item_id"])
        fields_ = {"id": row["item_id"], "title": title, "categories": cats}
        return build_item(fields_, meta, " ", cfg)

    return collect(
        "items",
        _indexed(atomic, "items"),
        build,
        key=lambda it: it.id,
        duplicate=RejectReason.DUPLICATE_ID,
        report=report,
        source=atomic.path.name,
    )


def _read_users(atomic: AtomicFile, cfg: Settings, report: ImportReport) -> list[User]:
    if "user_id" not in atomic.fields:
        raise DataSourceError(
            f"{atomic.path.name} has no user_id field; fields are {atomic.fields}"
        )
    extras = _typed_extras(atomic, [c for c in atomic.fields if c != "user_id"])

    def build(i: int) -> User:
        row = atomic.rows[i][1]
        return build_user({"id": row["user_id"]}, {c: v[i] for c, v in extras.items()}, cfg)

    return collect(
        "users",
        _indexed(atomic, "users"),
        build,
        key=lambda u: u.id,
        duplicate=RejectReason.DUPLICATE_ID,
        report=report,
        source=atomic.path.name,
    )


def _read_events(atomic: AtomicFile, name: str, cfg: Settings, report: ImportReport) -> list[Event]:
    missing = [c for c in ("user_id", "item_id") if c not in atomic.fields]
    if missing:
        raise DataSourceError(
            f"{atomic.path.name} has no {missing} field; fields are {atomic.fields}"
        )
    # Without ratings, an interaction says only that the user saw the item.
    kind = EventKind.RATE if "rating" in atomic.fields else EventKind.VIEW
    now = time.time()

    def build(i: int) -> Event:
        row = atomic.rows[i][1]
        fields_ = {
            "user": row["user_id"],
            "item": row["item_id"],
            "kind": kind.value,
            "value": row.get("rating"),
            "ts": row.get("timestamp"),
        }
        return build_event(fields_, source=name, settings=cfg, now=now)

    return collect(
        "events",
        _indexed(atomic, "events"),
        build,
        key=lambda e: e.id,
        duplicate=RejectReason.DUPLICATE_EVENT,
        report=report,
        source=atomic.path.name,
    )


def _indexed(atomic: AtomicFile, entity: str) -> Iterator[tuple[int, int]]:
    """(line, row index) pairs, with a progress bar for long files."""
    pairs = ((line, i) for i, (line, _) in enumerate(atomic.rows))
    yield from progress(pairs, len(atomic.rows), f"Reading {entity} from {atomic.path.name}")


def _text(value: object) -> str:
    """A cell as text; a ``token_seq`` (such as a title) is joined back with spaces."""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value).strip()


__all__ = [
    "AtomicFile",
    "find_prefix",
    "movie_genres",
    "movie_title",
    "read_atomic",
    "read_recbole",
]
