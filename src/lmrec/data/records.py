"""Turning one source row into one validated record, or one rejection reason.

These functions are the single place where lmrec decides what a valid item,
user or event is on import: every reader (CSV, Parquet, JSONL, RecBole,
MovieLens) maps its rows to lmrec field names and then calls them, so every
source is held to the same limits from :class:`lmrec.settings.Settings`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from lmrec.data.report import Entity, ImportReport, RejectReason
from lmrec.schema import ITEM_KINDS, Event, EventKind, Item, User
from lmrec.settings import Settings

T = TypeVar("T")


class RejectedRowError(Exception):
    """Raised by a builder: the row is counted under ``reason`` with ``value`` as example."""

    def __init__(self, reason: RejectReason, value: object) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.value = value


# -- cell values ------------------------------------------------------------------------


def is_missing(value: object) -> bool:
    """True for the ways files spell "no value": None, NaN, pandas NA, blank strings."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, float):
        return math.isnan(value)
    if value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, np.floating) and bool(np.isnan(value))


def _unwrap(value: object) -> object:
    """NumPy scalars and arrays (as Parquet and pandas hand them out) as Python values."""
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) and not isinstance(value, str) else value


def text_of(value: object) -> str:
    """A cell as stripped text; integral floats (ids from numeric columns) lose ``.0``."""
    if isinstance(value, str):  # the common case, first: CSV cells are all text
        return value.strip()
    value = _unwrap(value)
    if is_missing(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def plain(value: object) -> Any:
    """A JSON-compatible Python value: NumPy unwrapped, dates as ISO text, NaN as None."""
    value = _unwrap(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if is_missing(value):
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def parse_ts(value: object) -> float:
    """Unix seconds from a number, a numeric string or an ISO-8601 string (naive means UTC).

    Raises:
        ValueError: The value is none of those, or not finite.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not a timestamp")
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(_unwrap(value), int | float):
        num = float(_unwrap(value))  # type: ignore[arg-type]
        if not math.isfinite(num):
            raise ValueError("timestamp is not finite")
        return num
    else:
        text = str(value).strip()
        try:
            num = float(text)
        except ValueError:
            moment = dt.datetime.fromisoformat(text)
        else:
            if not math.isfinite(num):
                raise ValueError("timestamp is not finite")
            return num
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def parse_number(value: object) -> float:
    """A finite float from a number or numeric string; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    num = float(_unwrap(value))  # type: ignore[arg-type]
    if not math.isfinite(num):
        raise ValueError("not finite")
    return num


def split_categories(value: object, sep: str) -> tuple[str, ...]:
    """Categories from a list cell, or from one string split on ``sep``; blanks dropped."""
    value = _unwrap(value)
    if isinstance(value, list | tuple):
        parts: list[object] = list(value)
    elif is_missing(value):
        return ()
    else:
        parts = list(str(value).split(sep)) if sep else [value]
    return tuple(t for t in (text_of(p) for p in parts) if t)


def settings_or_default(settings: Settings | None) -> Settings:
    """``settings``, or the environment's settings when the caller passed none."""
    if settings is not None:
        return settings
    return Settings()  # type: ignore[call-arg]  # mypy cannot see pydantic's defaults


# -- records --------------------------------------------------------------------------


def check_id(value: object, settings: Settings) -> str:
    """A usable id: non-empty and no longer than ``max_id_length``."""
    text = text_of(value)
    if not text or len(text) > settings.max_id_length:
        raise RejectedRowError(RejectReason.BAD_ID, value)
    return text


def _check_len(text: str, limit: int) -> str:
    if len(text) > limit:
        raise RejectedRowError(RejectReason.OVERSIZED_TEXT, text)
    return text


def build_item(
    fields: Mapping[str, Any], metadata: Mapping[str, Any], sep: str, settings: Settings
) -> Item:
    """An :class:`Item` from mapped fields; metadata with missing values dropped."""
    item_id = check_id(fields.get("id"), settings)
    title = text_of(fields.get("title"))
    if not title:
        raise RejectedRowError(RejectReason.MISSING_FIELD, f"title of item {item_id!r}")
    _check_len(title, settings.max_title_length)
    text = _check_len(text_of(fields.get("text")), settings.max_text_length)
    meta = {k: v for k, v in ((k, plain(v)) for k, v in metadata.items()) if v is not None}
    return Item(item_id, title, text, split_categories(fields.get("categories"), sep), meta)


def build_user(
    fields: Mapping[str, Any], attributes: Mapping[str, Any], settings: Settings
) -> User:
    """A :class:`User` from mapped fields; attributes keep their column order."""
    user_id = check_id(fields.get("id"), settings)
    attrs = {k: v for k, v in ((k, plain(v)) for k, v in attributes.items()) if v is not None}
    return User(user_id, attrs)


def event_id(
    source: str,
    user: str,
    item: str | None,
    kind: EventKind,
    ts: float | None,
    value: float | None,
    query: str | None,
) -> str:
    """A deterministic id from an event's content, so re-importing a file is idempotent.

    Numbers are normalised (``3`` and ``3.0`` are the same rating) so the same
    data read from differently formatted files gets the same ids. ``ts`` is the
    time *as given* (``None`` when the file has none), never the import time.
    """
    parts = [
        source,
        user,
        item or "",
        kind.value,
        "" if ts is None else repr(float(ts)),
        "" if value is None else repr(float(value)),
        query or "",
    ]
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"ev-{digest[:32]}"


def build_event(fields: Mapping[str, Any], *, source: str, settings: Settings, now: float) -> Event:
    """An :class:`Event` from mapped fields, with a derived id when the row has none."""
    user = check_id(fields.get("user"), settings)
    kind_text = text_of(fields.get("kind")).lower()
    try:
        kind = EventKind(kind_text)
    except ValueError:
        raise RejectedRowError(RejectReason.UNKNOWN_KIND, fields.get("kind")) from None
    item: str | None = None
    query: str | None = None
    if kind in ITEM_KINDS:
        if is_missing(fields.get("item")):
            raise RejectedRowError(
                RejectReason.MISSING_FIELD, f"item of {kind.value} event by {user!r}"
            )
        item = check_id(fields.get("item"), settings)
    else:
        query = text_of(fields.get("query"))
        if not query:
            raise RejectedRowError(RejectReason.MISSING_FIELD, f"query of search event by {user!r}")
        _check_len(query, settings.max_query_length)
        if not is_missing(fields.get("item")):
            item = check_id(fields.get("item"), settings)
    raw_ts = fields.get("ts")
    ts: float | None = None
    if not is_missing(raw_ts):
        try:
            ts = parse_ts(raw_ts)
        except (ValueError, TypeError, OverflowError):
            raise RejectedRowError(RejectReason.BAD_TIMESTAMP, raw_ts) from None
    raw_value = fields.get("value")
    value: float | None = None
    if not is_missing(raw_value):
        try:
            value = parse_number(raw_value)
        except (ValueError, TypeError):
            raise RejectedRowError(RejectReason.BAD_RATING, raw_value) from None
    if kind is EventKind.RATE:
        if value is None:
            raise RejectedRowError(RejectReason.MISSING_FIELD, f"rating of rate event by {user!r}")
        if not settings.rating_min <= value <= settings.rating_max:
            raise RejectedRowError(RejectReason.BAD_RATING, raw_value)
    given_id = text_of(fields.get("id"))
    if given_id and len(given_id) > settings.max_id_length:
        raise RejectedRowError(RejectReason.BAD_ID, given_id)
    eid = given_id or event_id(source, user, item, kind, ts, value, query)
    return Event(user, kind, now if ts is None else ts, item, value, query, eid)


def collect(
    entity: Entity,
    rows: Iterable[tuple[int, T]],
    build: Callable[[T], Any],
    key: Callable[[Any], str],
    duplicate: RejectReason,
    report: ImportReport,
    source: str,
) -> list[Any]:
    """Build every row, count it in ``report``, and keep the first record per ``key``."""
    out: list[Any] = []
    seen: set[str] = set()
    for line, row in rows:
        report.read(entity)
        try:
            record = build(row)
            k = key(record)
            if k in seen:
                raise RejectedRowError(duplicate, k)
        except RejectedRowError as rej:
            report.reject(entity, rej.reason, source=source, line=line, value=rej.value)
            continue
        seen.add(k)
        out.append(record)
        report.accept(entity)
    return out


__all__ = [
    "RejectedRowError",
    "build_event",
    "build_item",
    "build_user",
    "check_id",
    "collect",
    "event_id",
    "is_missing",
    "parse_ts",
    "settings_or_default",
    "split_categories",
    "text_of",
]
