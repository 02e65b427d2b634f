"""What an import did: rows read, accepted, and rejected by reason.

An import never drops a row silently. Every row a reader sees is counted as
read, and then either as accepted or as rejected under exactly one
:class:`RejectReason`, with the first few offending rows kept as examples, so
that ``read == accepted + rejected`` holds per entity and a person can find and
fix the bad rows in the source file.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from rich.table import Table
from rich.text import Text

Entity = Literal["items", "users", "events"]

#: Entities in the order reports list them.
ENTITIES: tuple[Entity, ...] = ("items", "users", "events")

#: Examples kept per (entity, reason); enough to find the pattern, small enough to print.
MAX_EXAMPLES = 3

#: Longest example value kept, so one huge cell cannot bloat a report.
MAX_EXAMPLE_CHARS = 80


class RejectReason(StrEnum):
    """Why a row was not imported."""

    BAD_ID = "bad_id"
    """An id is empty or longer than ``Settings.max_id_length``."""
    BAD_TIMESTAMP = "bad_timestamp"
    """A timestamp is neither unix seconds nor an ISO-8601 date-time."""
    BAD_RATING = "bad_rating"
    """A value is not a number, or a rating is outside ``rating_min..rating_max``."""
    DUPLICATE_EVENT = "duplicate_event"
    """An event with the same id (given, or derived from its content) was already read."""
    DUPLICATE_ID = "duplicate_id"
    """An item or user id appears more than once in the same source; the first row wins."""
    OVERSIZED_TEXT = "oversized_text"
    """A title, text or query is longer than its ``Settings.max_*_length``."""
    MISSING_FIELD = "missing_field"
    """A required value is empty: an item's title, an event's item (or query for search)."""
    UNKNOWN_KIND = "unknown_kind"
    """An event kind is not one of :class:`lmrec.schema.EventKind`."""
    MALFORMED_ROW = "malformed_row"
    """The row itself cannot be parsed (e.g. a JSONL line that is not a JSON object)."""


@dataclass(frozen=True, slots=True)
class RejectExample:
    """One rejected row: where it is and the value that was wrong.

    Attributes:
        source: File (or dataset) name the row came from.
        line: 1-based line number in that file (the header, if any, is line 1).
        value: The offending value, truncated to a readable length.
    """

    source: str
    line: int
    value: str


@dataclass
class ImportReport:
    """Counts of one or more imports, per entity and rejection reason.

    Readers fill a report through :meth:`read`, :meth:`accept` and
    :meth:`reject`; callers inspect it, print :meth:`render`, or serialise
    :meth:`as_dict`. Reports of several files combine with :meth:`merge`.
    """

    rows_read: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITIES, 0))
    rows_accepted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITIES, 0))
    rejections: dict[str, dict[RejectReason, int]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    examples: dict[str, dict[RejectReason, list[RejectExample]]] = field(
        default_factory=lambda: defaultdict(dict)
    )

    # -- recording ------------------------------------------------------------------
    def read(self, entity: Entity, n: int = 1) -> None:
        """Count ``n`` rows seen by a reader."""
        self.rows_read[entity] = self.rows_read.get(entity, 0) + n

    def accept(self, entity: Entity, n: int = 1) -> None:
        """Count ``n`` rows turned into records."""
        self.rows_accepted[entity] = self.rows_accepted.get(entity, 0) + n

    def reject(
        self, entity: Entity, reason: RejectReason, *, source: str, line: int, value: object
    ) -> None:
        """Count one rejected row and keep it as an example if there are few so far."""
        by_reason = self.rejections[entity]
        by_reason[reason] = by_reason.get(reason, 0) + 1
        kept = self.examples[entity].setdefault(reason, [])
        if len(kept) < MAX_EXAMPLES:
            text = value if isinstance(value, str) else repr(value)
            if len(text) > MAX_EXAMPLE_CHARS:
                text = text[: MAX_EXAMPLE_CHARS - 1] + "…"
            kept.append(RejectExample(source, line, text))

    # -- reading --------------------------------------------------------------------
    def rejected(self, entity: Entity | None = None, reason: RejectReason | None = None) -> int:
        """Rejected rows, optionally for one entity and/or one reason."""
        entities = ENTITIES if entity is None else (entity,)
        return sum(
            n
            for e in entities
            for r, n in self.rejections.get(e, {}).items()
            if reason is None or r == reason
        )

    @property
    def ok(self) -> bool:
        """True when no row was rejected."""
        return self.rejected() == 0

    def merge(self, other: ImportReport) -> ImportReport:
        """A new report with the counts and examples of both."""
        out = ImportReport()
        for rep in (self, other):
            for e in ENTITIES:
                out.read(e, rep.rows_read.get(e, 0))
                out.accept(e, rep.rows_accepted.get(e, 0))
                for reason, n in rep.rejections.get(e, {}).items():
                    out.rejections[e][reason] = out.rejections[e].get(reason, 0) + n
                    kept = out.examples[e].setdefault(reason, [])
                    room = MAX_EXAMPLES - len(kept)
                    kept.extend(rep.examples.get(e, {}).get(reason, [])[:room])
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-compatible form: per entity, ``read``, ``accepted`` and ``rejected`` by reason."""
        out: dict[str, Any] = {}
        for e in ENTITIES:
            out[e] = {
                "read": self.rows_read.get(e, 0),
                "accepted": self.rows_accepted.get(e, 0),
                "rejected": {
                    r.value: {
                        "count": n,
                        "examples": [
                            {"source": x.source, "line": x.line, "value": x.value}
                            for x in self.examples[e].get(r, [])
                        ],
                    }
                    for r, n in sorted(self.rejections.get(e, {}).items())
                },
            }
        return out

    def render(self) -> Table:
        """A rich table to print at the end of an import."""
        table = Table(title="Import report", show_lines=False)
        table.add_column("entity")
        table.add_column("read", justify="right")
        table.add_column("accepted", justify="right")
        table.add_column("rejected", justify="right")
        table.add_column("reason")
        table.add_column("examples (source:line value)")
        for e in ENTITIES:
            table.add_row(
                e,
                f"{self.rows_read.get(e, 0):,}",
                f"{self.rows_accepted.get(e, 0):,}",
                f"{self.rejected(e):,}",
                "",
                "",
            )
            for reason, n in sorted(self.rejections.get(e, {}).items()):
                shown = "; ".join(
                    f"{x.source}:{x.line} {x.value!r}" for x in self.examples[e].get(reason, [])
                )
                # Text, not a str: a value like "[bold]" must print as-is, not as markup.
                table.add_row("", "", "", f"{n:,}", reason.value, Text(shown), style="yellow")
        return table


__all__ = ["ENTITIES", "Entity", "ImportReport", "RejectExample", "RejectReason"]
