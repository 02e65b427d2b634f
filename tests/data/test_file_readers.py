from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lmrec.data import ColumnMapping, RejectReason, read_events, read_items, read_users, readers
from lmrec.errors import DataSourceError
from lmrec.schema import EventKind
from lmrec.settings import Settings

ITEM_MAP = ColumnMapping(
    id="movie_id",
    title="name",
    text="overview",
    categories="genres",
    metadata=["year", "price"],
)


def test_csv_items_with_mapping(fixtures: Path, settings: Settings) -> None:
    items, report = read_items(fixtures / "items.csv", ITEM_MAP, settings=settings)
    assert report.ok and report.rows_accepted["items"] == 3
    toy, golden, heat = items
    assert toy.id == "m1" and toy.title == "Toy Story (1995)"
    assert toy.text == "A cowboy doll feels threatened."
    assert toy.categories == ("Animation", "Children's", "Comedy")
    assert dict(toy.metadata) == {"year": 1995, "price": 9.99}
    assert golden.text == ""
    assert heat.text == 'Cops, robbers, and a "long" night.'
    assert dict(heat.metadata) == {"price": 7.0}  # blank year dropped, price column is float


def test_default_metadata_keeps_every_unmapped_column_and_leading_zeros(
    fixtures: Path, settings: Settings
) -> None:
    mapping = ColumnMapping.from_options(
        ["id=movie_id", "title=name", "text=overview", "categories=genres"]
    )
    items, _ = read_items(fixtures / "items.csv", mapping, settings=settings)
    assert list(items[0].metadata) == ["year", "price", "zip"]
    assert [it.metadata["zip"] for it in items] == ["01234", "12345", "99999"]


def test_parquet_items_keep_native_types_and_list_categories(
    tmp_path: Path, settings: Settings
) -> None:
    path = tmp_path / "items.parquet"
    table = pa.table(
        {
            "sku": [101, 102],
            "name": ["Red shoe", "Blue hat"],
            "tags": [["shoes", "red"], []],
            "price": [19.5, None],
            "added": [dt.date(2024, 1, 2), dt.date(2024, 3, 4)],
        }
    )
    pq.write_table(table, path)
    items, report = read_items(
        path, ColumnMapping(id="sku", title="name", categories="tags"), settings=settings
    )
    assert report.ok
    assert [it.id for it in items] == ["101", "102"]
    assert items[0].categories == ("shoes", "red") and items[1].categories == ()
    assert dict(items[0].metadata) == {"price": 19.5, "added": "2024-01-02"}
    assert dict(items[1].metadata) == {"added": "2024-03-04"}


def test_jsonl_events_parse_kinds_times_and_ids(fixtures: Path, settings: Settings) -> None:
    events, report = read_events(fixtures / "events.jsonl", settings=settings)
    assert report.ok and len(events) == 4
    rate, search, click, view = events
    assert (rate.kind, rate.item, rate.value, rate.ts) == (EventKind.RATE, "m1", 4.0, 881250949.0)
    assert search.kind is EventKind.SEARCH and search.query == "space cowboys"
    expected = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC).timestamp()
    assert search.ts == expected
    assert click.ts == expected  # naive ISO-8601 is read as UTC
    assert view.id == "client-7" and view.ts == 1700000000.5
    assert all(e.id is not None and e.id.startswith("ev-") for e in (rate, search, click))


def test_jsonl_lines_that_are_not_objects_are_rejected(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"user": "u", "item": "i", "kind": "view"}\n{not json\n[1, 2]\n')
    events, report = read_events(path, settings=settings)
    assert len(events) == 1
    assert report.rejected("events", RejectReason.MALFORMED_ROW) == 2
    assert [x.line for x in report.examples["events"][RejectReason.MALFORMED_ROW]] == [2, 3]


def test_every_event_rejection_reason_is_counted_once(fixtures: Path, settings: Settings) -> None:
    events, report = read_events(fixtures / "bad_events.csv", settings=settings)
    assert len(events) == 1
    counts = report.as_dict()["events"]
    assert counts["read"] == 9 and counts["accepted"] == 1
    assert {reason: v["count"] for reason, v in counts["rejected"].items()} == {
        "bad_id": 1,
        "bad_timestamp": 1,
        "bad_rating": 2,  # out of range, and not a number
        "duplicate_event": 1,
        "oversized_text": 1,
        "missing_field": 1,
        "unknown_kind": 1,
    }
    examples = report.examples["events"]
    assert (
        examples[RejectReason.BAD_TIMESTAMP][0].line,
        examples[RejectReason.BAD_TIMESTAMP][0].value,
    ) == (4, "yesterday")
    assert examples[RejectReason.UNKNOWN_KIND][0].value == "teleport"
    assert examples[RejectReason.DUPLICATE_EVENT][0].line == 7


def test_every_item_rejection_reason_is_counted_once(fixtures: Path, settings: Settings) -> None:
    items, report = read_items(fixtures / "bad_items.csv", settings=settings)
    assert [it.id for it in items] == ["i1"] and items[0].title == "Good item"
    assert report.rows_read["items"] == 5
    assert {r: report.rejected("items", r) for r in report.rejections["items"]} == {
        RejectReason.BAD_ID: 1,
        RejectReason.MISSING_FIELD: 1,
        RejectReason.OVERSIZED_TEXT: 1,
        RejectReason.DUPLICATE_ID: 1,
    }


def test_ids_longer_than_the_limit_are_bad_ids(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "events.csv"
    path.write_text(f"user,item,kind\n{'u' * 17},i1,view\nu1,{'i' * 17},view\nu1,i1,view\n")
    events, report = read_events(path, settings=settings)
    assert len(events) == 1
    assert report.rejected("events", RejectReason.BAD_ID) == 2


def test_derived_ids_are_deterministic_per_source_and_content(
    tmp_path: Path, settings: Settings
) -> None:
    a = tmp_path / "a.csv"
    a.write_text("user,item,kind,value,ts\nu1,i1,rate,3,100\nu1,i1,rate,4,100\n")
    b = tmp_path / "b.csv"
    b.write_text("user,item,kind,value,ts\nu1,i1,rate,3.0,100.0\n")
    first, _ = read_events(a, settings=settings)
    again, _ = read_events(a, settings=settings)
    assert [e.id for e in first] == [e.id for e in again]
    assert first[0].id != first[1].id  # the value is part of the content
    other_name, _ = read_events(b, settings=settings)
    same_name, _ = read_events(b, settings=settings, source="a.csv")
    assert other_name[0].id != first[0].id  # another source, another id
    assert same_name[0].id == first[0].id  # "3.0" at "100.0" is the same event as "3" at "100"


def test_constant_kind_and_missing_ts_column_use_import_time(
    tmp_path: Path, settings: Settings
) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("uid,mid,stars\nu1,i1,5\nu2,i1,1\n")
    mapping = ColumnMapping(user="uid", item="mid", value="stars", kind="rate")
    before = dt.datetime.now(dt.UTC).timestamp()
    events, report = read_events(path, mapping, settings=settings)
    again, _ = read_events(path, mapping, settings=settings)
    assert report.ok
    assert [e.kind for e in events] == [EventKind.RATE, EventKind.RATE]
    assert all(e.ts >= before for e in events)
    assert [e.id for e in events] == [e.id for e in again]  # idempotent despite no ts


def test_users_keep_attribute_order_and_types(fixtures: Path, settings: Settings) -> None:
    users, report = read_users(
        fixtures / "users.csv", ColumnMapping(id="user_id"), settings=settings
    )
    assert report.ok
    assert dict(users[0].attributes) == {
        "age": 24,
        "gender": "M",
        "occupation": "technician",
        "zip_code": "85711",
    }
    assert list(users[1].attributes) == ["age", "gender", "occupation", "zip_code"]


def test_mapping_errors_fail_the_whole_file(fixtures: Path, settings: Settings) -> None:
    with pytest.raises(DataSourceError, match="no column 'id'"):
        read_items(fixtures / "items.csv", settings=settings)
    with pytest.raises(DataSourceError, match="'blurb'"):
        read_items(
            fixtures / "items.csv", ITEM_MAP.__class__(id="movie_id", title="name", text="blurb")
        )
    with pytest.raises(DataSourceError, match="constant kind"):
        read_events(fixtures / "bad_events.csv", ColumnMapping(kind="tap"), settings=settings)
    with pytest.raises(DataSourceError, match="unknown mapping field"):
        ColumnMapping.from_dict({"titel": "name"})
    with pytest.raises(DataSourceError, match="field=column"):
        ColumnMapping.from_options(["title"])


def test_from_dict_splits_metadata_lists() -> None:
    mapping = ColumnMapping.from_dict({"title": "name", "metadata": "year, price"})
    assert mapping.title == "name" and mapping.metadata == ("year", "price")
    assert ColumnMapping(metadata=["a"]) == ColumnMapping(metadata=("a",))


def test_unreadable_files_raise_data_source_errors(tmp_path: Path, settings: Settings) -> None:
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("id,title\ni1,One\ni2,Two,extra\n")
    with pytest.raises(DataSourceError, match="well-formed"):
        read_items(ragged, settings=settings)
    with pytest.raises(DataSourceError, match="format"):
        read_items(tmp_path / "items.xlsx", settings=settings)
    with pytest.raises(DataSourceError, match="no such file"):
        read_items(tmp_path / "missing.csv", settings=settings)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,title\ni1,Mis\xe9rables\n".encode("latin-1"))
    with pytest.raises(DataSourceError, match="UTF-8"):
        read_items(latin, settings=settings)


def test_parquet_events_with_timestamp_columns(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "events.parquet"
    moment = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    table = pa.table(
        {
            "user": ["u1", "u2"],
            "item": ["i1", None],
            "kind": ["purchase", "search"],
            "query": [None, "red shoes"],
            "ts": pa.array([moment, moment], type=pa.timestamp("s", tz="UTC")),
        }
    )
    pq.write_table(table, path)
    events, report = read_events(path, settings=settings)
    assert report.ok
    assert [(e.kind, e.item, e.query, e.ts) for e in events] == [
        (EventKind.PURCHASE, "i1", None, moment.timestamp()),
        (EventKind.SEARCH, None, "red shoes", moment.timestamp()),
    ]


def test_long_files_still_read_every_row_with_a_progress_bar(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "PROGRESS_MIN_ROWS", 2)
    monkeypatch.setattr(readers.sys.stderr, "isatty", lambda: True)
    path = tmp_path / "events.csv"
    path.write_text("user,item,kind\n" + "".join(f"u{i},i{i},view\n" for i in range(5)))
    events, report = read_events(path, settings=settings)
    assert len(events) == 5 and report.rows_read["events"] == 5
