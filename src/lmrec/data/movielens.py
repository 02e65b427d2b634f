"""MovieLens-100K in either of its two common layouts.

GroupLens distributes ML-100K as ``u.data`` / ``u.item`` / ``u.user`` /
``u.genre`` (pipe- and tab-separated, Latin-1); RecBole ships it as atomic
files. :func:`load_movielens` detects the layout and produces the same records
from both: titles like ``Toy Story (1995)``, genres as categories (without the
``unknown`` placeholder), ``{"year": 1995}`` metadata, users with ``age``,
``gender``, ``occupation`` and ``zip_code``, and ``rate`` events whose ids do
not depend on the layout.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from lmrec.data.dataset import Dataset
from lmrec.data.readers import progress
from lmrec.data.recbole import movie_genres, movie_title, read_recbole
from lmrec.data.records import (
    build_event,
    build_item,
    build_user,
    collect,
    settings_or_default,
)
from lmrec.data.report import ImportReport, RejectReason
from lmrec.errors import DataSourceError
from lmrec.schema import Event, Item, User
from lmrec.settings import Settings

#: GroupLens' genre order, used when a folder lacks ``u.genre``.
GROUPLENS_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)

#: Files that mark the GroupLens layout.
GROUPLENS_FILES = ("u.data", "u.item", "u.user")


def is_grouplens(folder: Path) -> bool:
    """True when ``folder`` holds GroupLens' original ML-100K files."""
    return all((folder / f).is_file() for f in GROUPLENS_FILES)


def load_movielens(folder: str | Path, settings: Settings | None = None) -> Dataset:
    """Load ML-100K from a folder in GroupLens' or RecBole's layout, whichever is there.

    Args:
        folder: The dataset folder.
        settings: Limits to enforce; defaults to ``Settings()``.

    Raises:
        DataSourceError: Neither layout is present, or a file is malformed.
    """
    path = Path(folder)
    if is_grouplens(path):
        return read_grouplens(path, settings)
    if path.is_dir() and any(path.glob("*.inter")):
        return read_recbole(path, settings)
    raise DataSourceError(
        f"{path} holds neither GroupLens' ML-100K files ({', '.join(GROUPLENS_FILES)}) "
        f"nor RecBole atomic files (*.inter, *.item, *.user)"
    )


def read_grouplens(
    folder: Path, settings: Settings | None = None, name: str = "ml-100k"
) -> Dataset:
    """Read GroupLens' original ``u.*`` files.

    ``name`` is the source of derived event ids; it defaults to ``ml-100k`` so the
    ids match those of the RecBole layout of the same data.
    """
    cfg = settings_or_default(settings)
    report = ImportReport()
    genres = _genres(folder / "u.genre")
    items = _items(folder / "u.item", genres, cfg, report)
    users = _users(folder / "u.user", cfg, report)
    events = _events(folder / "u.data", name, cfg, report)
    return Dataset(items, users, events, report, name)


def _table(path: Path, sep: str, columns: int, encoding: str = "latin-1") -> list[list[str]]:
    """Rows of a header-less text file with exactly ``columns`` fields each."""
    try:
        frame = pd.read_csv(
            path,
            sep=sep,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            index_col=False,
            quoting=csv.QUOTE_NONE,
            encoding=encoding,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataSourceError(f"{path.name} is not a readable MovieLens file: {exc}") from exc
    if frame.shape[1] != columns:
        raise DataSourceError(
            f"{path.name} has {frame.shape[1]} fields per line; MovieLens-100K has {columns}"
        )
    columns_ = [frame.iloc[:, j].tolist() for j in range(columns)]
    return [list(row) for row in zip(*columns_, strict=True)]


def _genres(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return GROUPLENS_GENRES
    by_index: dict[int, str] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        name, sep, index = line.strip().rpartition("|")
        if sep and index.isdigit():
            by_index[int(index)] = name
    if sorted(by_index) != list(range(len(by_index))) or not by_index:
        raise DataSourceError(f"{path.name} does not list genres as name|0, name|1, ...")
    return tuple(by_index[i] for i in range(len(by_index)))


def _items(path: Path, genres: tuple[str, ...], cfg: Settings, report: ImportReport) -> list[Item]:
    # id | title | release date | video release date | IMDb URL | one 0/1 flag per genre
    rows = _table(path, "|", 5 + len(genres))

    def build(row: list[str]) -> Item:
        date = row[2].strip()
        title, year = movie_title(row[1], date[-4:] if date else None)
        flagged = [g for g, flag in zip(genres, row[5:], strict=True) if flag.strip() == "1"]
        fields = {"id": row[0], "title": title, "categories": list(movie_genres(flagged))}
        return build_item(fields, {"year": year}, "|", cfg)

    return collect(
        "items",
        _numbered(rows, path),
        build,
        key=lambda it: it.id,
        duplicate=RejectReason.DUPLICATE_ID,
        report=report,
        source=path.name,
    )


def _users(path: Path, cfg: Settings, report: ImportReport) -> list[User]:
    rows = _table(path, "|", 5)

    def build(row: list[str]) -> User:
        age = row[1].strip()
        attrs = {
            "age": int(age) if age.isdigit() else age,
            "gender": row[2].strip(),
            "occupation": row[3].strip(),
            "zip_code": row[4].strip(),
        }
        return build_user({"id": row[0]}, attrs, cfg)

    return collect(
        "users",
        _numbered(rows, path),
        build,
        key=lambda u: u.id,
        duplicate=RejectReason.DUPLICATE_ID,
        report=report,
        source=path.name,
    )


def _events(path: Path, name: str, cfg: Settings, report: ImportReport) -> list[Event]:
    rows = _table(path, "\t", 4)
    now = time.time()

    def build(row: list[str]) -> Event:
        fields = {"user": row[0], "item": row[1], "kind": "rate", "value": row[2], "ts": row[3]}
        return build_event(fields, source=name, settings=cfg, now=now)

    return collect(
        "events",
        _numbered(rows, path),
        build,
        key=lambda e: e.id,
        duplicate=RejectReason.DUPLICATE_EVENT,
        report=report,
        source=path.name,
    )


def _numbered(rows: list[list[str]], path: Path) -> Iterator[tuple[int, list[str]]]:
    return progress(((i + 1, row) for i, row in enumerate(rows)), len(rows), f"Reading {path.name}")


__all__ = ["GROUPLENS_GENRES", "is_grouplens", "load_movielens", "read_grouplens"]
