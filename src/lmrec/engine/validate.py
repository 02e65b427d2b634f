"""Input validation for the embedded face; the HTTP layer adds its own limits on top.

Every check raises :class:`lmrec.errors.InvalidInputError` (or
``LimitExceededError``) naming the offending field, so the same message reaches
a Python caller and an HTTP client.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lmrec.errors import InvalidInputError, LimitExceededError
from lmrec.schema import Event, EventKind, Item
from lmrec.settings import Settings


def check_id(value: str, field: str, settings: Settings) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError("id must be a non-empty string", field=field)
    if len(value) > settings.max_id_length:
        raise LimitExceededError(
            f"id is {len(value)} characters; the limit is {settings.max_id_length}", field=field
        )


def check_k(k: int, settings: Settings, field: str = "k") -> None:
    if k < 1:
        raise InvalidInputError("k must be at least 1", field=field)
    if k > settings.max_k:
        raise LimitExceededError(f"k is {k}; the limit is {settings.max_k}", field=field)


def check_items(items: Sequence[Item], settings: Settings) -> None:
    if len(items) > settings.max_items_per_request:
        raise LimitExceededError(
            f"{len(items)} items in one call; the limit is {settings.max_items_per_request}",
            field="items",
        )
    for n, item in enumerate(items):
        check_id(item.id, f"items.{n}.id", settings)
        if not item.title or not item.title.strip():
            raise InvalidInputError("title must be a non-empty string", field=f"items.{n}.title")
        if len(item.title) > settings.max_title_length:
            raise LimitExceededError(
                f"title is {len(item.title)} characters; the limit is {settings.max_title_length}",
                field=f"items.{n}.title",
            )
        if len(item.text) > settings.max_text_length:
            raise LimitExceededError(
                f"text is {len(item.text)} characters; the limit is {settings.max_text_length}",
                field=f"items.{n}.text",
            )


def check_events(events: Sequence[Event], settings: Settings) -> None:
    if len(events) > settings.max_events_per_request:
        raise LimitExceededError(
            f"{len(events)} events in one call; the limit is {settings.max_events_per_request}",
            field="events",
        )
    for n, e in enumerate(events):
        where = f"events.{n}"
        check_id(e.user, f"{where}.user", settings)
        if e.id is not None:
            check_id(e.id, f"{where}.id", settings)
        if not isinstance(e.kind, EventKind):
            raise InvalidInputError(f"unknown event kind {e.kind!r}", field=f"{where}.kind")
        if not math.isfinite(e.ts):
            raise InvalidInputError("ts must be a finite unix time", field=f"{where}.ts")
        if e.kind is EventKind.SEARCH:
            if not e.query or not e.query.strip():
                raise InvalidInputError("search events need a query", field=f"{where}.query")
            if len(e.query) > settings.max_query_length:
                raise LimitExceededError(
                    f"query is {len(e.query)} characters; the limit is {settings.max_query_length}",
                    field=f"{where}.query",
                )
            if e.item is not None:
                check_id(e.item, f"{where}.item", settings)
        else:
            if e.item is None:
                raise InvalidInputError(
                    f"{e.kind.value} events need an item", field=f"{where}.item"
                )
            check_id(e.item, f"{where}.item", settings)
        if e.kind is EventKind.RATE:
            if e.value is None:
                raise InvalidInputError("rate events need a value", field=f"{where}.value")
            if not settings.rating_min <= e.value <= settings.rating_max:
                raise InvalidInputError(
                    f"rating {e.value} is outside {settings.rating_min}..{settings.rating_max}",
                    field=f"{where}.value",
                )
        elif e.value is not None and not math.isfinite(e.value):
            raise InvalidInputError("value must be a finite number", field=f"{where}.value")
