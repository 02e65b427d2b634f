"""The CLI through typer's runner: import, recommend, search, stats, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lmrec.cli import app
from lmrec.model import ModelConfig

runner = CliRunner()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    items = tmp_path / "films.csv"
    items.write_text(
        "movie_id,name,overview,genres\n"
        "1,Toy Story (1995),A cowboy doll and a space toy,Animation|Comedy\n"
        "2,Star Wars (1977),Rebels fight the galactic empire,Action|Sci-Fi\n"
        "3,Return of the Jedi (1983),Rebels defeat the galactic empire,Action|Sci-Fi\n"
        "4,Scream (1996),A masked killer,Horror\n"
    )
    events = tmp_path / "events.jsonl"
    rows = [
        {"user": "ann", "item": "2", "kind": "like", "ts": 1},
        {"user": "bob", "item": "4", "kind": "click", "ts": 2},
        {"user": "bob", "item": "4", "kind": "click", "ts": 2},  # exact duplicate row
        {"user": "bob", "item": "4", "kind": "rate", "value": 11, "ts": 3},  # bad rating
    ]
    events.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return {"items": items, "events": events, "data": tmp_path / "data"}


def _base(files: dict[str, Path]) -> list[str]:
    return ["--data-dir", str(files["data"]), "--encoder", "fake"]


def test_import_then_recommend_and_search(files: dict[str, Path]) -> None:
    r = runner.invoke(
        app,
        ["import", *_base(files), "--items", str(files["items"]), "--events",
         str(files["events"]), "--item-map", "id=movie_id", "--item-map",
         "title=name", "--item-map", "text=overview", "--item-map", "categories=genres"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "duplicate_event" in r.output and "bad_rating" in r.output
    r = runner.invoke(app, ["recommend", "ann", *_base(files), "-k", "2"])
    assert r.exit_code == 0, r.output
    assert "Jedi" in r.output and "Star Wars" not in r.output
    r = runner.invoke(app, ["search", "toy story", *_base(files), "-k", "1"])
    assert r.exit_code == 0 and "Toy Story" in r.output
    r = runner.invoke(app, ["stats", *_base(files)])
    assert r.exit_code == 0 and "events" in r.output


def test_errors_exit_nonzero_with_one_line(files: dict[str, Path]) -> None:
    r = runner.invoke(app, ["recommend", "ann", *_base(files), "-k", "0"])
    assert r.exit_code == 1
    assert "error:" in r.output and "k must be at least 1" in r.output
    r = runner.invoke(app, ["import", *_base(files)])
    assert r.exit_code == 1 and "error:" in r.output
    r = runner.invoke(app, ["import", *_base(files), "--items", str(files["data"] / "none.csv")])
    assert r.exit_code == 1 and "error:" in r.output
    assert len([ln for ln in r.output.splitlines() if ln.strip()]) == 1


def test_help_lists_commands() -> None:
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for cmd in ["demo", "import", "serve", "recommend", "search"]:
        assert cmd in r.output


def _import(files: dict[str, Path]) -> None:
    """Import the fixture's films and events into its data folder."""
    r = runner.invoke(
        app,
        ["import", *_base(files), "--items", str(files["items"]), "--events",
         str(files["events"]), "--item-map", "id=movie_id", "--item-map", "title=name"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output


def test_train_and_manage_model_versions(files: dict[str, Path]) -> None:
    _import(files)
    r = runner.invoke(app, ["train", *_base(files), "--epochs", "2"])
    assert r.exit_code == 0, r.output
    first = re.search(r"model (\S+) serving", r.output).group(1)  # type: ignore[union-attr]
    assert "serving" in r.output
    r = runner.invoke(app, ["models", "rollback", "--data-dir", str(files["data"])])
    assert r.exit_code == 1 and "oldest version" in r.output
    r = runner.invoke(app, ["train", *_base(files), "--epochs", "1"])
    second = re.search(r"model (\S+) serving", r.output).group(1)  # type: ignore[union-attr]
    assert r.exit_code == 0 and second != first
    r = runner.invoke(app, ["models", "list", "--data-dir", str(files["data"])])
    assert r.exit_code == 0 and first in r.output and second in r.output
    r = runner.invoke(app, ["models", "rollback", "--data-dir", str(files["data"])])
    assert r.exit_code == 0 and f"to {first}" in r.output
    r = runner.invoke(app, ["models", "promote", "no-such", "--data-dir", str(files["data"])])
    assert r.exit_code == 1 and "error:" in r.output
    r = runner.invoke(app, ["models", "promote", second, "--data-dir", str(files["data"])])
    assert r.exit_code == 0


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A small RecBole-format dataset folder: 15 films, 30 users, 8 ratings each."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    genres = ["Action", "Comedy", "Drama"]
    (folder / "tiny.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        + "".join(f"{i}\tFilm {i}\t199{i % 10}\t{genres[i % 3]}\n" for i in range(1, 16))
    )
    rows = [
        f"{u}\t{1 + (u + n) % 15}\t{1 + (u * n) % 5}\t{1000 * u + n}\n"
        for u in range(1, 31)
        for n in range(8)
    ]
    (folder / "tiny.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + "".join(rows)
    )
    return folder


def test_evaluate_writes_a_report(tiny: Path, tmp_path: Path) -> None:
    folder = tiny
    out_dir = tmp_path / "report"
    r = runner.invoke(
        app,
        ["evaluate", "--dataset", str(folder), "--protocol", "P1", "--model", "popularity",
         "--model", "random", "--quick", "--encoder", "fake", "--out", str(out_dir),
         "--data-dir", str(tmp_path / "data"), "--train-seeds", "2"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert (out_dir / "report.md").is_file() and (out_dir / "report.json").is_file()
    report = json.loads((out_dir / "report.json").read_text())
    assert "popularity" in json.dumps(report) and "P1" in json.dumps(report)
    for row in report["protocols"][0]["models"]:
        assert row["train_seeds"] == [42, 43] and len(row["folds"]) == 2, row["model"]
    # a model that fails leaves its row in the report and makes the command fail
    from lmrec.evaluate import MODELS, register_model

    class Broken:
        name = "broken"

        def fit(self, train: object, ctx: object) -> None:
            raise ValueError("boom")

        def score(self, users: object, histories: object) -> object:
            raise AssertionError("never scored")

    register_model("broken", lambda quick: Broken(), "ranker")  # type: ignore[arg-type, return-value]
    try:
        r = runner.invoke(
            app,
            ["evaluate", "--dataset", str(folder), "--protocol", "P1", "--model", "broken",
             "--quick", "--encoder", "fake", "--out", str(out_dir), "--merge",
             "--data-dir", str(tmp_path / "data")],
        )  # fmt: skip
    finally:
        MODELS.pop("broken")
    assert r.exit_code == 1, r.output
    assert "failed: P1 broken: ValueError: boom" in r.output
    rows = json.loads((out_dir / "report.json").read_text())["protocols"][0]["models"]
    assert [m["model"] for m in rows] == ["popularity", "random", "broken"]


def test_evaluate_set_runs_a_named_lmrec_variant(tiny: Path, tmp_path: Path) -> None:
    """``--set`` trains lmrec with the changed config, under a name that lists the change,
    beside the baselines; it never replaces the default model's rows."""
    out_dir = tmp_path / "report"
    base = ["evaluate", "--dataset", str(tiny), "--quick", "--encoder", "fake",
            "--out", str(out_dir), "--data-dir", str(tmp_path / "data")]  # fmt: skip
    r = runner.invoke(
        app,
        [*base, "--protocol", "P1", "--model", "lmrec", "--model", "popularity",
         "--set", "max_epochs=1", "--set", "dim=16", "--set", "text_hidden=32"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    report = json.loads((out_dir / "report.json").read_text())
    rows = {m["model"]: m for m in report["protocols"][0]["models"]}
    variant = "lmrec[dim=16,max_epochs=1,text_hidden=32]"
    assert set(rows) == {variant, "popularity"}
    assert rows[variant]["error"] is None and len(rows[variant]["training"][0]) == 1
    assert report["runs"][-1]["lmrec_set"] == ["max_epochs=1", "dim=16", "text_hidden=32"]
    # a second variant merged into the same report sits beside the first, and the
    # report compares them case by case
    r = runner.invoke(
        app,
        [*base, "--protocol", "P1", "--model", "lmrec", "--merge",
         "--set", "max_epochs=1", "--set", "dim=32", "--set", "text_hidden=32"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    p1 = json.loads((out_dir / "report.json").read_text())["protocols"][0]
    other = "lmrec[dim=32,max_epochs=1,text_hidden=32]"
    assert [m["model"] for m in p1["models"]] == [variant, "popularity", other]
    (leader,) = {c["leader"] for c in p1["comparisons"]}
    compared = {leader} | {c["model"] for c in p1["comparisons"]}
    assert compared == {variant, "popularity", other}
    # mistakes are refused before any training, with the reason
    for extra, message in [
        (["--protocol", "P1", "--set", "nope=1"], "model config has no field 'nope'"),
        (["--protocol", "P1", "--set", "dim=abc"], "dim='abc'"),
        (["--protocol", "P2", "--set", "dim=16"], "which P2 do not use"),
        (["--protocol", "P2", "--set", "dim=16"], "--set-rating"),
        (["--protocol", "P2", "--protocol", "P5", "--set", "dim=16"], "which P2 do not use"),
        (["--protocol", "P1", "--model", "ease", "--set", "dim=16"], "add --model lmrec"),
    ]:
        r = runner.invoke(app, [*base, *extra])
        assert r.exit_code == 1 and message in r.output, (extra, r.output)


def test_evaluate_set_rating_runs_a_named_rating_variant_on_p2(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--set-rating`` changes lmrec's rating model on P2, under a name listing the
    change; with ``--set`` as well, each protocol gets the variant of its kind."""
    import lmrec.model.adapters as adapters

    configs: list[object] = []
    fit = adapters.train_rating_model

    def spy(*args: Any, **kwargs: Any) -> Any:
        configs.append(args[3])
        return fit(*args, **kwargs)

    monkeypatch.setattr(adapters, "train_rating_model", spy)
    out_dir = tmp_path / "report"
    base = ["evaluate", "--dataset", str(tiny), "--quick", "--encoder", "fake",
            "--out", str(out_dir), "--data-dir", str(tmp_path / "data")]  # fmt: skip
    r = runner.invoke(
        app,
        [*base, "--protocol", "P2", "--model", "lmrec", "--model", "global_mean",
         "--set-rating", "hidden=8", "--set-rating", "input_dropout=0.3"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    report = json.loads((out_dir / "report.json").read_text())
    (p2,) = report["protocols"]
    rows = {m["model"]: m for m in p2["models"]}
    variant = "lmrec[hidden=8,input_dropout=0.3]"
    assert set(rows) == {variant, "global_mean"}
    assert rows[variant]["error"] is None
    assert report["runs"][-1]["lmrec_rating_set"] == ["hidden=8", "input_dropout=0.3"]
    assert len(configs) == 5  # one fit per fold, each with the change over --quick's config
    assert {(c.hidden, c.input_dropout, c.max_epochs) for c in configs} == {(8, 0.3, 3)}  # type: ignore[attr-defined]
    # both kinds of change in one run: the ranking variant on P1, the rating one on P2
    r = runner.invoke(
        app,
        [*base, "--protocol", "P1", "--protocol", "P2", "--model", "lmrec",
         "--set", "max_epochs=1", "--set-rating", "hidden=8"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    by_name = {p["name"]: [m["model"] for m in p["models"]] for p in
               json.loads((out_dir / "report.json").read_text())["protocols"]}  # fmt: skip
    assert by_name == {"P1": ["lmrec[max_epochs=1]"], "P2": ["lmrec[hidden=8]"]}
    for extra, message in [
        (["--protocol", "P2", "--set-rating", "nope=1"], "rating config has no field 'nope'"),
        (["--protocol", "P2", "--set-rating", "hidden=x"], "hidden='x'"),
        (["--protocol", "P1", "--set-rating", "hidden=8"], "which P1 do not use"),
        (["--protocol", "P2", "--protocol", "P5", "--set-rating", "hidden=8"], "P5"),
        (["--protocol", "P2", "--model", "svd", "--set-rating", "hidden=8"], "add --model lmrec"),
    ]:
        r = runner.invoke(app, [*base, *extra])
        assert r.exit_code == 1 and message in r.output, (extra, r.output)


def test_evaluate_set_trains_the_p5_engine_with_the_change(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On P5 the engine is what trains: ``--set`` reaches its config, and the three
    streaming rows are named after the change, apart from the default's."""
    from lmrec.engine import Engine

    configs: list[object] = []
    train = Engine.train

    def spy(self: Engine, config: object | None = None, **kwargs: Any) -> Any:
        configs.append(config)
        return train(self, config, **kwargs)

    monkeypatch.setattr(Engine, "train", spy)
    out_dir = tmp_path / "report"
    r = runner.invoke(
        app,
        ["evaluate", "--dataset", str(tiny), "--quick", "--encoder", "fake",
         "--out", str(out_dir), "--data-dir", str(tmp_path / "data"),
         "--protocol", "P5", "--model", "lmrec",
         "--set", "dim=16", "--set", "text_hidden=32", "--set", "max_len=20"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    (p5,) = json.loads((out_dir / "report.json").read_text())["protocols"]
    variant = "lmrec[dim=16,max_len=20,text_hidden=32]"
    assert [m["model"] for m in p5["models"]] == [
        f"{variant} static",
        f"{variant} real-time",
        f"{variant} real-time + learning",
    ]
    assert all(m["error"] is None for m in p5["models"])
    (config,) = configs  # the one engine fitted on the past; the replays copy it
    assert isinstance(config, ModelConfig)
    assert (config.dim, config.text_hidden, config.max_len) == (16, 32, 20)
    assert config.max_epochs == 2  # --quick's epochs, which the change left alone


def test_train_set_changes_the_saved_config(files: dict[str, Path]) -> None:
    _import(files)
    r = runner.invoke(app, ["train", *_base(files), "--set", "dim=0"])
    assert r.exit_code == 1 and "dim must be >= 1, not 0" in r.output
    r = runner.invoke(
        app, ["train", *_base(files), "--epochs", "1", "--set", "dim=16", "--set", "n_heads=4"]
    )
    assert r.exit_code == 0, r.output
    (saved,) = files["data"].rglob("config.json")
    config = json.loads(saved.read_text())["config"]
    assert (config["dim"], config["n_heads"], config["max_epochs"]) == (16, 4, 1)
