from __future__ import annotations

from pathlib import Path

import pytest

from lmrec.data import read_recbole
from lmrec.errors import DataSourceError
from lmrec.interactions import item_text
from lmrec.schema import EventKind
from lmrec.settings import Settings


def test_movielens_style_atomic_files(fixtures: Path, settings: Settings) -> None:
    ds = read_recbole(fixtures / "recbole", settings)
    assert ds.name == "tiny" and ds.report.ok
    assert [it.title for it in ds.items] == ["Toy Story (1995)", "GoldenEye (1995)", "unknown"]
    toy = ds.items[0]
    assert toy.categories == ("Animation", "Children's", "Comedy")
    assert dict(toy.metadata) == {"year": 1995}
    assert item_text(toy) == "Toy Story (1995). Animation, Children's, Comedy"
    assert ds.items[2].categories == () and dict(ds.items[2].metadata) == {}
    assert dict(ds.users[1].attributes) == {
        "age": 53,
        "gender": "F",
        "occupation": "other",
        "zip_code": "T8H1N",
    }
    first = ds.events[0]
    assert (first.user, first.item, first.kind, first.value, first.ts) == (
        "1",
        "1",
        EventKind.RATE,
        5.0,
        874965758.0,
    )


def test_prefix_and_file_paths_find_the_same_dataset(fixtures: Path, settings: Settings) -> None:
    by_folder = read_recbole(fixtures / "recbole", settings)
    by_prefix = read_recbole(fixtures / "recbole" / "tiny", settings)
    by_file = read_recbole(fixtures / "recbole" / "tiny.item", settings)
    assert by_folder.items == by_prefix.items == by_file.items
    assert [e.id for e in by_folder.events] == [e.id for e in by_prefix.events]


def test_generic_atomic_files_keep_other_columns(fixtures: Path, settings: Settings) -> None:
    ds = read_recbole(fixtures / "recbole_generic", settings)
    assert ds.name == "shop" and ds.report.ok and ds.users == []
    shoe, hat = ds.items
    assert (shoe.title, shoe.categories) == ("Red shoe", ("shoes", "footwear"))
    assert dict(shoe.metadata) == {"price": 19.5, "brand": "Acme"}
    assert dict(hat.metadata) == {"brand": "Zed"}
    # no rating column: interactions are views
    assert [(e.user, e.item, e.kind) for e in ds.events] == [
        ("10", "a", EventKind.VIEW),
        ("11", "b", EventKind.VIEW),
    ]


def test_bad_headers_and_missing_files_are_reported(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(DataSourceError, match="no RecBole atomic files"):
        read_recbole(tmp_path / "nothing", settings)
    (tmp_path / "x.inter").write_text("user_id\titem_id:token\n1\t2\n")
    with pytest.raises(DataSourceError, match="name:type"):
        read_recbole(tmp_path, settings)
