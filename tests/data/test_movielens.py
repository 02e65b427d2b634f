from __future__ import annotations

from pathlib import Path

import pytest

from lmrec.data import load_movielens
from lmrec.errors import DataSourceError
from lmrec.interactions import item_text
from lmrec.schema import EventKind
from lmrec.settings import Settings


def test_grouplens_layout(fixtures: Path, settings: Settings) -> None:
    ds = load_movielens(fixtures / "grouplens", settings)
    assert ds.report.ok
    assert ds.report.rows_accepted == {"items": 4, "users": 2, "events": 3}
    by_id = {it.id: it for it in ds.items}
    toy = by_id["1"]
    assert toy.title == "Toy Story (1995)"
    assert toy.categories == ("Animation", "Children's", "Comedy")
    assert dict(toy.metadata) == {"year": 1995}
    assert item_text(toy) == "Toy Story (1995). Animation, Children's, Comedy"
    assert by_id["543"].title == "Misérables, Les (1995)"  # Latin-1 decoded
    assert (by_id["267"].title, by_id["267"].categories) == ("unknown", ())
    assert dict(by_id["1412"].metadata) == {"year": 1995}
    user = ds.users[0]
    assert list(user.attributes.items()) == [
        ("age", 24),
        ("gender", "M"),
        ("occupation", "technician"),
        ("zip_code", "85711"),
    ]
    assert {e.kind for e in ds.events} == {EventKind.RATE}
    assert [e.value for e in ds.events] == [5.0, 3.0, 4.0]


def test_both_layouts_give_the_same_records(fixtures: Path, settings: Settings) -> None:
    grouplens = load_movielens(fixtures / "grouplens", settings)
    recbole = load_movielens(fixtures / "ml_recbole", settings)
    assert recbole.name == grouplens.name == "ml-100k"
    shared = {it.id for it in recbole.items}
    assert [it for it in grouplens.items if it.id in shared] == recbole.items
    assert grouplens.users == recbole.users
    assert grouplens.events == recbole.events  # ids included: re-import across layouts dedups


def test_grouplens_without_u_genre_uses_the_standard_genres(
    fixtures: Path, tmp_path: Path, settings: Settings
) -> None:
    for name in ("u.data", "u.item", "u.user"):
        (tmp_path / name).write_bytes((fixtures / "grouplens" / name).read_bytes())
    ds = load_movielens(tmp_path, settings)
    assert ds.items[0].categories == ("Animation", "Children's", "Comedy")


def test_rejected_grouplens_rows_are_counted(
    fixtures: Path, tmp_path: Path, settings: Settings
) -> None:
    for name in ("u.genre", "u.item", "u.user"):
        (tmp_path / name).write_bytes((fixtures / "grouplens" / name).read_bytes())
    (tmp_path / "u.data").write_text("1\t1\t5\t874965758\n1\t1\t9\t874965759\n1\t1\t5\t874965758\n")
    ds = load_movielens(tmp_path, settings)
    assert len(ds.events) == 1
    assert ds.report.as_dict()["events"]["rejected"]["bad_rating"]["examples"][0]["line"] == 2
    assert ds.report.rejected("events") == 2


def test_unknown_layout_and_malformed_files(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(DataSourceError, match="neither"):
        load_movielens(tmp_path, settings)
    for name in ("u.data", "u.item", "u.user"):
        (tmp_path / name).write_text("1|2\n")
    with pytest.raises(DataSourceError, match="fields per line"):
        load_movielens(tmp_path, settings)
