"""Which column of a source file holds which lmrec field.

A :class:`ColumnMapping` is declared once (in code, or from ``--map field=column``
options on the command line) and resolved against a file's actual columns
before any row is read, so a typo in a column name fails the whole import with
one clear message instead of rejecting every row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from lmrec.data.report import Entity
from lmrec.errors import DataSourceError
from lmrec.schema import EventKind

_COLUMN_FIELDS: dict[str, tuple[str, ...]] = {
    "items": ("id", "title", "text", "categories"),
    "users": ("id",),
    "events": ("id", "user", "item", "kind", "value", "query", "ts"),
}
_KIND_VALUES = frozenset(k.value for k in EventKind)
_REQUIRED: dict[str, tuple[str, ...]] = {
    "items": ("id", "title"),
    "users": ("id",),
    "events": ("user", "kind"),
}


@dataclass(frozen=True)
class ColumnMapping:
    """Maps a file's column names to lmrec fields; the defaults are the field names.

    One mapping type serves items, users and events; each reader uses the fields
    that concern it. A field whose (default) column is absent from the file is
    simply empty, except the required ones (items: ``id``, ``title``; users:
    ``id``; events: ``user``, ``kind``, and ``item`` or ``query``). A column named
    explicitly (not the default) must exist.

    Example:
        >>> ColumnMapping(id="movie_id", title="name", categories="genres", metadata=["year"])
        ... # doctest: +SKIP

    Attributes:
        id: Item or user id column; for events, an optional client event id.
        title: Item title column.
        text: Item free-text column.
        categories: Item categories column: a list, or a string split on ``categories_sep``.
        categories_sep: Separator of categories given as one string.
        metadata: Item columns kept as metadata; ``None`` keeps every column not mapped above.
        attributes: User columns kept as attributes; ``None`` keeps every column but the id.
        user: Event user id column.
        item: Event item id column.
        kind: Event kind column, or a constant kind (e.g. ``"rate"``) when no column has
            that name.
        value: Event value column (the rating for ``rate``).
        query: Event query column (``search`` events).
        ts: Event time column: unix seconds or ISO-8601; absent means import time.
    """

    id: str = "id"
    title: str = "title"
    text: str = "text"
    categories: str = "categories"
    categories_sep: str = "|"
    metadata: tuple[str, ...] | None = None
    attributes: tuple[str, ...] | None = None
    user: str = "user"
    item: str = "item"
    kind: str = "kind"
    value: str = "value"
    query: str = "query"
    ts: str = "ts"

    def __post_init__(self) -> None:
        # Accept any sequence (the docs show lists) but store tuples: the mapping is frozen.
        for name in ("metadata", "attributes"):
            cols = getattr(self, name)
            if isinstance(cols, str):
                cols = _split_list(cols)
            if cols is not None:
                object.__setattr__(self, name, tuple(cols))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ColumnMapping:
        """Build from ``{"title": "name", "metadata": "year,price"}``; unknown keys are errors."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DataSourceError(
                f"unknown mapping field(s) {unknown}; known fields: {sorted(known)}",
                field="mapping",
            )
        clean: dict[str, Any] = {}
        for key, val in values.items():
            if key in ("metadata", "attributes"):
                clean[key] = _split_list(val) if isinstance(val, str) else val
            elif not isinstance(val, str) or (not val and key != "categories_sep"):
                raise DataSourceError(
                    f"mapping field {key!r} needs a column name, got {val!r}", field=key
                )
            else:
                clean[key] = val
        return cls(**clean)

    @classmethod
    def from_options(cls, options: Iterable[str]) -> ColumnMapping:
        """Build from CLI-style ``field=column`` strings, e.g. ``["title=name"]``."""
        values: dict[str, str] = {}
        for opt in options:
            key, sep, val = opt.partition("=")
            if not sep or not key.strip():
                raise DataSourceError(
                    f"mapping option {opt!r} must look like field=column", field="mapping"
                )
            values[key.strip()] = val.strip()
        return cls.from_dict(values)

    def resolve(self, entity: Entity, columns: Sequence[str]) -> ResolvedMapping:
        """Check this mapping against a file's columns and say where each field comes from.

        Raises:
            DataSourceError: A required or explicitly named column is missing.
        """
        present = set(columns)
        default = ColumnMapping()
        cols: dict[str, str | None] = {}
        kind_constant: EventKind | None = None
        for name in _COLUMN_FIELDS[entity]:
            col: str = getattr(self, name)
            if col in present:
                cols[name] = col
                continue
            if entity == "events" and name == "kind" and col in _KIND_VALUES:
                kind_constant = EventKind(col)
                cols[name] = None
                continue
            if name in _REQUIRED[entity] or col != getattr(default, name):
                hint = (
                    " (or a constant kind: " + ", ".join(EventKind) + ")" if name == "kind" else ""
                )
                raise DataSourceError(
                    f"{entity} file has no column {col!r} for field {name!r}{hint}; "
                    f"columns are {list(columns)}; map it with {name}=<column>",
                    field=name,
                )
            cols[name] = None
        if entity == "events" and cols["item"] is None and cols["query"] is None:
            raise DataSourceError(
                f"events file has neither an item column ({self.item!r}) nor a query column "
                f"({self.query!r}); columns are {list(columns)}",
                field="item",
            )
        used = {c for c in cols.values() if c is not None}
        extras: tuple[str, ...] = ()
        if entity != "events":
            chosen = self.metadata if entity == "items" else self.attributes
            if chosen is None:
                extras = tuple(c for c in columns if c not in used)
            else:
                missing = [c for c in chosen if c not in present]
                if missing:
                    raise DataSourceError(
                        f"{entity} file has no column(s) {missing}; columns are {list(columns)}",
                        field="metadata" if entity == "items" else "attributes",
                    )
                extras = tuple(chosen)
        return ResolvedMapping(cols, extras, kind_constant, self.categories_sep)


@dataclass(frozen=True)
class ResolvedMapping:
    """A mapping checked against one file: field -> column (``None`` when absent)."""

    columns: Mapping[str, str | None]
    extras: tuple[str, ...]
    kind_constant: EventKind | None
    categories_sep: str

    def pick(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The row's values keyed by lmrec field (``None`` for absent fields)."""
        out = {f: (None if c is None else row.get(c)) for f, c in self.columns.items()}
        if self.kind_constant is not None:
            out["kind"] = self.kind_constant.value
        return out


def _split_list(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


__all__ = ["ColumnMapping", "ResolvedMapping"]
