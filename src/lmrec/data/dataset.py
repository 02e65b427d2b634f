"""A loaded dataset: items, users and events, with the report of how they were read."""

from __future__ import annotations

from dataclasses import dataclass

from lmrec.data.report import ImportReport
from lmrec.schema import Event, Item, User


@dataclass(frozen=True)
class Dataset:
    """Validated records from one source, ready to upsert and ingest.

    Attributes:
        items: Catalog entries, first occurrence of each id.
        users: User profiles (may be empty: users also appear through events).
        events: Behaviour, in file order, each with an id (given or derived).
        report: What was read, accepted and rejected, and why.
        name: Short name of the source (e.g. ``ml-100k``), also the ``source`` of derived
            event ids.
    """

    items: list[Item]
    users: list[User]
    events: list[Event]
    report: ImportReport
    name: str

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, items={len(self.items)}, users={len(self.users)}, "
            f"events={len(self.events)}, rejected={self.report.rejected()})"
        )


__all__ = ["Dataset"]
