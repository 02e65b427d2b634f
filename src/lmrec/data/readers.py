"""Reading tabular files (CSV, Parquet, JSONL) into rows of raw cell values.

Readers only parse; they do not validate. Each returns the file's columns and
its rows with their line numbers, so the record builders can report exactly
which row was rejected. A file that cannot be parsed as a whole (missing,
wrong encoding, ragged CSV) raises :class:`lmrec.errors.DataSourceError`.
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import track

from lmrec.errors import DataSourceError

Format = Literal["csv", "parquet", "jsonl"]

#: File extensions and the format they imply.
EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

#: Files with more rows than this show a progress bar (when writing to a terminal).
PROGRESS_MIN_ROWS = 50_000

T = TypeVar("T")


@dataclass(frozen=True)
class SourceRows:
    """A parsed file: its column names and its rows, each with a 1-based line number.

    For CSV, line 1 is the header and line numbers assume no quoted newlines;
    for Parquet, the "line" is the row number; for JSONL, the physical line.
    Rows that cannot be parsed at all (JSONL only) are listed in ``malformed``.
    """

    columns: tuple[str, ...]
    rows: list[tuple[int, dict[str, Any]]]
    malformed: list[tuple[int, str]]


def detect_format(path: Path, fmt: str | None) -> Format:
    """The format named by ``fmt``, or implied by the file extension."""
    if fmt is not None:
        if fmt not in ("csv", "parquet", "jsonl"):
            raise DataSourceError(f"unknown format {fmt!r}; use csv, parquet or jsonl", field="fmt")
        return fmt  # type: ignore[return-value]
    found = EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise DataSourceError(
            f"cannot tell the format of {path.name!r} from its extension; "
            f"pass fmt='csv', 'parquet' or 'jsonl'",
            field="fmt",
        )
    return found


def read_rows(path: str | Path, fmt: str | None = None) -> SourceRows:
    """Parse a CSV, Parquet or JSONL file.

    Raises:
        DataSourceError: The file is missing or cannot be parsed.
    """
    path = Path(path)
    kind = detect_format(path, fmt)
    if not path.is_file():
        raise DataSourceError(f"no such file: {path}", field="path")
    try:
        if kind == "csv":
            return _read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
        if kind == "parquet":
            return _read_parquet(path)
        return _read_jsonl(path)
    except UnicodeDecodeError as exc:
        raise DataSourceError(f"{path.name} is not valid UTF-8 text ({exc.reason})") from exc


def _read_csv(path: Path, sep: str) -> SourceRows:
    # Everything is read as text: pandas' guesses would turn zip codes like
    # "01234" into 1234 and ids into floats. Extras are typed later, per column.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path,
                sep=sep,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                index_col=False,
                encoding="utf-8",
            )
    except pd.errors.EmptyDataError as exc:
        raise DataSourceError(f"{path.name} is empty: no header row") from exc
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        raise DataSourceError(f"{path.name} is not a well-formed CSV file: {exc}") from exc
    columns = tuple(str(c) for c in frame.columns)
    return SourceRows(columns, [(i + 2, r) for i, r in enumerate(frame_records(frame))], [])


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as dicts; column-wise ``tolist`` is several times faster than
    ``DataFrame.to_dict("records")`` on text columns."""
    names = [str(c) for c in frame.columns]
    columns = [frame.iloc[:, j].tolist() for j in range(len(names))]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _read_parquet(path: Path) -> SourceRows:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataSourceError(f"{path.name} is not a readable Parquet file: {exc}") from exc
    records = table.to_pylist()
    return SourceRows(tuple(table.column_names), [(i + 1, r) for i, r in enumerate(records)], [])


def _read_jsonl(path: Path) -> SourceRows:
    # Parsed line by line (not with pandas) so one bad line is one rejected row
    # with its line number, not a failed import.
    rows: list[tuple[int, dict[str, Any]]] = []
    malformed: list[tuple[int, str]] = []
    columns: dict[str, None] = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                malformed.append((n, line.strip()))
                continue
            if not isinstance(obj, dict):
                malformed.append((n, line.strip()))
                continue
            columns.update(dict.fromkeys(obj))
            rows.append((n, obj))
    return SourceRows(tuple(columns), rows, malformed)


_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_LEADING_ZERO = re.compile(r"[-+]?0[0-9]")
_FLOAT = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")


def infer_column(values: list[Any]) -> list[Any]:
    """Type one column of text cells: all-integer -> int, all-numeric -> float, else text.

    Blank cells become ``None`` and do not vote. A column is numeric only if
    every other cell is, and integers with leading zeros stay text, so zip codes
    and ids such as ``"01234"`` survive unchanged.
    """
    texts = [v.strip() if isinstance(v, str) else v for v in values]
    present = [v for v in texts if isinstance(v, str) and v]
    if len(present) != sum(1 for v in texts if v not in (None, "")):
        return [None if v == "" else v for v in texts]  # already typed (not from CSV)
    if any(_LEADING_ZERO.match(v) for v in present):
        return [v if v else None for v in texts]
    if present and all(_INT.fullmatch(v) for v in present):
        return [int(v) if v else None for v in texts]
    if present and all(_FLOAT.fullmatch(v) for v in present):
        return [float(v) if v else None for v in texts]
    return [v if v else None for v in texts]


def progress(rows: Iterable[T], total: int, description: str) -> Iterator[T]:
    """Iterate ``rows`` with a progress bar on a terminal when there are many of them."""
    show = total > PROGRESS_MIN_ROWS and sys.stderr.isatty()
    # stderr, so a progress bar never mixes with JSON a command prints on stdout.
    console = Console(stderr=True)
    yield from track(rows, total=total, description=description, disable=not show, console=console)


__all__ = [
    "EXTENSIONS",
    "PROGRESS_MIN_ROWS",
    "Format",
    "SourceRows",
    "detect_format",
    "frame_records",
    "infer_column",
    "progress",
    "read_rows",
]
