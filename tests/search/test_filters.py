"""Filters and paging: categories, numeric ranges, exclusions, offset and the k cap."""

from __future__ import annotations

import pytest

from lmrec.engine import Engine
from lmrec.engine.filters import Range, as_number, parse_range, parse_ranges
from lmrec.errors import InvalidInputError, LimitExceededError


def years(engine: Engine, ids: tuple[str, ...]) -> list[int]:
    return [int(engine.get_item(i).metadata["year"]) for i in ids]


def test_parse_range_forms() -> None:
    assert parse_range("year:1990:1999") == Range("year", 1990.0, 1999.0)
    assert parse_range("price::20") == Range("price", None, 20.0)
    assert parse_range("year:1990:") == Range("year", 1990.0, None)


@pytest.mark.parametrize(
    "spec", ["year", "year:1990", "year:a:b", "year::", "year:2000:1990", ":1:2", "y ear:1:2",
             "year:nan:1", "year:1:2:3"],
)  # fmt: skip
def test_bad_range_specs_are_refused(spec: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_range(spec)
    assert info.value.field == "range"


def test_too_many_ranges() -> None:
    with pytest.raises(LimitExceededError):
        parse_ranges(["year:1:2"] * 17)


def test_range_matching_rules() -> None:
    r = Range("year", 1990, 1999)
    assert r.matches({"year": 1990}) and r.matches({"year": "1999"})
    assert not r.matches({"year": 2000})
    assert not r.matches({})  # a missing field never matches
    assert not r.matches({"year": True})
    assert as_number("abc") is None and as_number(float("inf")) is None


def test_range_filter_in_search(engine: Engine) -> None:
    got = engine.search("galactic empire rebels", k=10, ranges=["year:1978:1990"])
    assert set(got.ids) <= {"3", "4", "8", "5"}
    assert got.ids[0] in {"3", "4"}
    assert all(1978 <= y <= 1990 for y in years(engine, got.ids))
    both = engine.search("toy", k=10, ranges=[Range("year", 1990, None)], category="Action")
    assert both.ids == ("5",)


def test_category_filter(engine: Engine) -> None:
    got = engine.search("toy", k=10, category=["Action"])
    assert got.ids[0] == "5" and "1" not in got.ids


def test_exclude(engine: Engine) -> None:
    assert engine.search("toy story").ids[0] == "1"
    got = engine.search("toy story", exclude={"1"}, k=10)
    assert "1" not in got.ids and len(got) == 9


def test_paging_is_consistent(engine: Engine) -> None:
    full = engine.search("space", k=10).ids
    pages = [engine.search("space", k=3, offset=o).ids for o in (0, 3, 6, 9)]
    assert sum(pages, ()) == full
    assert engine.search("space", k=5, offset=10).ids == ()


def test_k_and_offset_caps(engine: Engine) -> None:
    engine.search("space", k=50)
    with pytest.raises(LimitExceededError) as info:
        engine.search("space", k=40, offset=11)
    assert info.value.field == "offset"
    with pytest.raises(LimitExceededError):
        engine.search("space", k=51)
    with pytest.raises(InvalidInputError):
        engine.search("space", offset=-1)
