"""The ``Store`` seam: durable catalog, users, event log, embedding cache, model registry.

Callers (the engine, importers, trainers) talk only to this protocol, so a
PostgreSQL implementation can follow the SQLite one without changing them.

Contract (checked by ``tests/store/test_contract.py`` against every implementation):

* ``append_events`` is atomic per call and durable when it returns: an
  acknowledged event survives a ``kill -9`` of the process the next instant.
* An event with a client ``id`` that was stored before is a duplicate: it is
  counted, not stored again. Ids are unique across the whole log.
* Events may name items that are not (yet) in the catalog; they are kept as they
  are. Readers decide whether an event counts (it counts once the item exists).
* Every stored event gets a strictly increasing ``seq``; ``last_seq()`` lets
  readers detect that something changed without polling content.
* Every item write (upsert or activation change) raises ``catalog_version()``;
  ``items_changed_since(v)`` returns exactly the items written after version ``v``.
* A call that stores nothing leaves ``last_seq()`` unchanged.
* ``delete_user`` frees the erased events' client ids (the erasure is complete).
* Embeddings are cached by ``(encoder name, text hash)``, so unchanged text is
  never re-encoded, whatever item it belongs to.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from lmrec.schema import Event, Item, ModelVersion, StoredEvent, User


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Outcome of one ``append_events`` call.

    Attributes:
        accepted: Events stored by this call.
        duplicates: Events skipped because their client id was already stored
            (or repeated within the same call).
        last_seq: The highest ``seq`` in the log after the call.
    """

    accepted: int
    duplicates: int
    last_seq: int


@runtime_checkable
class Store(Protocol):
    """Durable state of one lmrec deployment."""

    # -- catalog -------------------------------------------------------------
    def upsert_items(self, items: Sequence[Item]) -> int:
        """Insert or replace items by id; returns how many were written."""
        ...

    def get_items(self, ids: Iterable[str]) -> dict[str, Item]:
        """The stored items among ``ids`` (missing ids are simply absent)."""
        ...

    def iter_items(self, *, include_inactive: bool = False) -> Iterator[Item]:
        """All items, ordered by id."""
        ...

    def count_items(self, *, include_inactive: bool = False) -> int: ...

    def set_item_active(self, item_id: str, active: bool) -> bool:
        """Activate or deactivate an item; False if it does not exist."""
        ...

    def catalog_version(self) -> int:
        """A number that grows with every item change (0 for an empty catalog)."""
        ...

    def items_changed_since(self, version: int) -> list[Item]:
        """Items written after ``catalog_version()`` returned ``version``, oldest change first.

        Lets every process sharing a store pick up catalog changes made by another.
        """
        ...

    # -- users ---------------------------------------------------------------
    def upsert_users(self, users: Sequence[User]) -> int: ...

    def get_user(self, user_id: str) -> User | None: ...

    def iter_users(self) -> Iterator[User]: ...

    def count_users(self) -> int:
        """Users with a profile or at least one event."""
        ...

    def delete_user(self, user_id: str) -> int:
        """Erase a user's profile and all their events; returns events deleted."""
        ...

    # -- event log -----------------------------------------------------------
    def append_events(self, events: Sequence[Event]) -> AppendResult:
        """Append events durably and idempotently (see the module contract)."""
        ...

    def user_events(self, user_id: str, *, limit: int | None = None) -> list[StoredEvent]:
        """A user's events in log order (oldest first); ``limit`` keeps the newest."""
        ...

    def iter_events(self, *, after_seq: int = 0) -> Iterator[StoredEvent]:
        """All events with ``seq > after_seq`` in log order."""
        ...

    def count_events(self) -> int: ...

    def last_seq(self) -> int:
        """Highest event ``seq`` ever assigned (0 for an empty log)."""
        ...

    # -- embedding cache -----------------------------------------------------
    def get_embeddings(
        self, encoder: str, text_hashes: Iterable[str]
    ) -> dict[str, npt.NDArray[np.float32]]:
        """Cached vectors for the hashes that have one."""
        ...

    def put_embeddings(
        self, encoder: str, vectors: Mapping[str, npt.NDArray[np.float32]]
    ) -> None: ...

    # -- model registry ------------------------------------------------------
    def register_model(self, version: ModelVersion) -> None: ...

    def list_models(self) -> list[ModelVersion]:
        """All versions, newest first."""
        ...

    def active_model(self) -> ModelVersion | None: ...

    def activate_model(self, version: str) -> ModelVersion:
        """Make ``version`` the served model (raises NotFoundError if unknown)."""
        ...

    # -- small key/value metadata (e.g. the encoder a catalog was built with) --
    def get_meta(self, key: str) -> Any | None: ...

    def set_meta(self, key: str, value: Any) -> None: ...

    def close(self) -> None: ...
