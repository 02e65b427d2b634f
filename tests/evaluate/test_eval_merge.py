"""``lmrec evaluate --merge``: re-run some rows, keep the others, list every run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lmrec.errors import InvalidInputError
from lmrec.evaluate import command
from lmrec.evaluate.merge import check_seeds_can_be_added, combine_seeds, load_report, merge_reports
from lmrec.evaluate.report import EvaluationReport, ModelResult, ProtocolResult, comparisons
from lmrec.evaluate.significance import seed_difference
from lmrec.interactions import Interactions

from .test_eval_command import _dataset


def _rep(
    rows: dict[str, dict[str, float]], *, seed: int = 42, when: str = "t0"
) -> EvaluationReport:
    rep = EvaluationReport(dataset={"name": "x"}, seed=seed, quick=False, encoder="fake")
    p = ProtocolResult("P1", "next item", ["NDCG@10"], [], 1, 10)
    p.models = [ModelResult(model=m, metrics=v) for m, v in rows.items()]
    rep.protocols.append(p)
    rep.runs = [{"started": when, "protocols": ["P1"], "models": list(rows), "seconds": 1.0}]
    return rep


def test_rerun_rows_replace_old_rows_and_the_rest_stay() -> None:
    old = _rep({"popularity": {"NDCG@10": 0.04}, "lmrec": {"NDCG@10": 0.10}})
    new = _rep({"lmrec": {"NDCG@10": 0.12}, "ease": {"NDCG@10": 0.07}}, when="t1")
    merged = merge_reports(old, new)
    got = {m.model: m.metrics["NDCG@10"] for m in merged.protocol("P1").models}
    assert got == {"popularity": 0.04, "lmrec": 0.12, "ease": 0.07}
    assert [m.model for m in merged.protocol("P1").models] == ["popularity", "lmrec", "ease"]
    assert [r["started"] for r in merged.runs] == ["t0", "t1"]
    md = merged.to_markdown()
    assert "Rows come from these runs" in md and "- t1: P1; lmrec, ease; 1 s" in md


def test_case_values_round_trip_and_a_mismatched_file_is_ignored(tmp_path: Path) -> None:
    rep = _rep({"popularity": {"NDCG@10": 0.2}, "lmrec": {"NDCG@10": 0.5}})
    p = rep.protocol("P1")
    p.models[0].case_values = [0.0, 0.5] * 5
    p.models[1].case_values = [1.0, 0.0] * 5
    rep.write(tmp_path)
    back = load_report(tmp_path).protocol("P1")
    assert [m.case_values for m in back.models] == [m.case_values for m in p.models]
    (c,) = comparisons(back)
    assert (c.leader, c.model, c.paired.difference) == ("lmrec", "popularity", pytest.approx(0.25))
    # a file whose rows do not match the protocol's cases is not paired with anything
    lines = (tmp_path / "cases-P1.csv").read_text().splitlines()
    (tmp_path / "cases-P1.csv").write_text("\n".join(lines[:-1]) + "\n")
    assert all(not m.case_values for m in load_report(tmp_path).protocol("P1").models)


def test_runs_that_are_not_comparable_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="seed"):
        merge_reports(_rep({"lmrec": {"NDCG@10": 0.1}}), _rep({}, seed=7))


def test_merge_needs_an_existing_report(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no report to merge into"):
        load_report(tmp_path)


@pytest.mark.slow
def test_command_merge_keeps_baseline_rows_and_rating_samples(
    synth: Interactions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = _dataset(synth)
    monkeypatch.setattr(command, "_load", lambda name, settings: ds)
    out = tmp_path / "report"
    kw = {"quick": True, "data_dir": tmp_path, "encoder": "fake", "out_dir": out}
    command.run("synthetic", ["P1", "P2"], ["popularity", "random", "global_mean"], **kw)
    first = json.loads((out / "report.json").read_text())
    first_csv = (out / "predictions-P2-fold0.csv").read_text()
    seen: list[str] = []

    def watch(line: str) -> None:  # mid-run, the report on disk is still the first one
        if line.startswith("drawing charts"):
            seen.append((out / "report.json").read_text())

    command.run("synthetic", ["P1"], ["random", "itemknn"], merge=True, progress=watch, **kw)
    assert seen and json.loads(seen[0]) == first
    assert not (out / ".merge-partial").exists()
    second = json.loads((out / "report.json").read_text())
    p1 = {m["model"]: m for m in second["protocols"][0]["models"]}
    assert list(p1) == ["popularity", "random", "itemknn"]
    old_p1 = {m["model"]: m for m in first["protocols"][0]["models"]}
    assert p1["popularity"] == old_p1["popularity"]  # kept as measured
    assert second["protocols"][1] == first["protocols"][1]  # P2 not re-run: kept
    assert len(second["runs"]) == 2 and second["runs"][1]["models"] == ["random", "itemknn"]
    # the P2 predictions written by the first run survive the rewrite
    assert second["predictions"] == ["predictions-P2-fold0.csv"]
    assert (out / "predictions-P2-fold0.csv").read_text() == first_csv
    # rows kept from the first run keep their per-case values, so the paired
    # comparisons span the rows of both runs
    n_cases = second["protocols"][0]["n_test_cases"]
    cases = (out / "cases-P1.csv").read_text().splitlines()
    assert cases[0].split(",") == list(p1) and len(cases) == 1 + n_cases
    pairs = second["protocols"][0]["comparisons"]
    assert {c["model"] for c in pairs} | {pairs[0]["leader"]} == set(p1)
    reread = load_report(out).protocol("P1")
    assert all(len(m.case_values) == n_cases for m in reread.models)
    # a report from an older version (no "runs", no per-case values) still merges,
    # its run described; rows without per-case values are left out of the comparisons
    del second["runs"]
    (out / "report.json").write_text(json.dumps(second))
    (out / "cases-P1.csv").unlink()
    old = load_report(out)
    assert old.runs[0]["started"].startswith("an earlier run")
    assert comparisons(old.protocol("P1")) == []


def test_rows_with_several_seeds_get_a_seed_level_interval(tmp_path: Path) -> None:
    """The case bootstrap holds each row's per-seed mean fixed; rows with two or more
    training seeds on a one-fold protocol also get Welch's interval over the seeds,
    in the JSON and as the table's last column, and keep it through a reload."""
    rep = _rep({"popularity": {"NDCG@10": 0.2}, "lmrec": {"NDCG@10": 0.5}, "ease": {}})
    p = rep.protocol("P1")
    pop, lm, ease = p.models
    ease.metrics = {"NDCG@10": 0.3}
    for row, seeds in ((pop, [0.18, 0.22]), (lm, [0.45, 0.5, 0.55]), (ease, [0.3])):
        row.train_seeds = list(range(42, 42 + len(seeds)))
        row.folds = [{"NDCG@10": v} for v in seeds]
        row.case_values = [float(np.mean(seeds))] * 10
    rep.write(tmp_path)
    got = {c.model: c for c in comparisons(load_report(tmp_path).protocol("P1"))}
    want = seed_difference([0.45, 0.5, 0.55], [0.18, 0.22])
    assert got["popularity"].seeds == want
    assert got["ease"].seeds is None  # one seed: no spread to go on
    md = load_report(tmp_path).to_markdown()
    assert "seed-level interval |" in md
    assert f"| [{want.low:+.4f}, {want.high:+.4f}] |" in md
    data = json.loads((tmp_path / "report.json").read_text())
    pairs = {c["model"]: c for c in data["protocols"][0]["comparisons"]}
    assert pairs["popularity"]["seeds"]["high"] == pytest.approx(want.high)
    assert pairs["ease"]["seeds"] is None


def test_rows_fitted_with_the_same_seeds_are_paired_by_seed(tmp_path: Path) -> None:
    """Two rows fitted with the same seeds share each seed's luck: their interval is
    over the per-seed differences (marked p in the table), matched by seed, not by
    position; rows with other seeds keep Welch's."""
    rep = _rep({"lmrec": {"NDCG@10": 0.5}, "lmrec[dim=32]": {"NDCG@10": 0.4}, "ease": {}})
    p = rep.protocol("P1")
    lm, small, ease = p.models
    ease.metrics = {"NDCG@10": 0.3}
    lm.train_seeds, lm.folds = [42, 43, 44], [{"NDCG@10": v} for v in (0.45, 0.5, 0.55)]
    # The same seeds listed in another order: the pairs are made by seed.
    small.train_seeds = [44, 42, 43]
    small.folds = [{"NDCG@10": v} for v in (0.46, 0.36, 0.41)]
    ease.train_seeds, ease.folds = [50, 51], [{"NDCG@10": v} for v in (0.28, 0.32)]
    for row in p.models:
        row.case_values = [row.metrics["NDCG@10"]] * 10
    rep.write(tmp_path)
    got = {c.model: c for c in comparisons(load_report(tmp_path).protocol("P1"))}
    want = seed_difference([0.45, 0.5, 0.55], [0.36, 0.41, 0.46], paired=True)
    assert got["lmrec[dim=32]"].seeds == want
    assert want.low == pytest.approx(0.09) and want.high == pytest.approx(0.09)
    assert got["ease"].seeds == seed_difference([0.45, 0.5, 0.55], [0.28, 0.32])
    md = load_report(tmp_path).to_markdown()
    assert f"| [{want.low:+.4f}, {want.high:+.4f}] p |" in md


def test_a_reloaded_report_keeps_its_charts(tmp_path: Path) -> None:
    rep = _rep({"lmrec": {"NDCG@10": 0.5}})
    rep.charts = [{"title": "P1 metrics per model", "file": "charts/metrics-P1.png"}]
    rep.write(tmp_path)
    back = load_report(tmp_path)
    assert back.charts == rep.charts
    back.write(tmp_path)
    assert "charts/metrics-P1.png" in (tmp_path / "report.md").read_text()


def _seeded(name: str, seeds: list[int], values: list[float], cases: list[float]) -> ModelResult:
    return ModelResult(
        model=name,
        metrics={"NDCG@10": float(np.mean(values))},
        std={"NDCG@10": float(np.std(values))},
        folds=[{"NDCG@10": v} for v in values],
        fit_seconds=2.0 * len(seeds),
        score_seconds=1.0,
        params=[{"epochs": s} for s in seeds],
        by_history=[
            {"bucket": "1-9", "low": 1, "high": 9, "cases": 2 * len(seeds), "mean": cases[0]},
            {"bucket": "10-20", "low": 10, "high": 20, "cases": 2 * len(seeds), "mean": cases[-1]},
        ],
        training=[[{"epoch": 0.0, "valid": v}] for v in values],
        training_metric="NDCG@10",
        train_seeds=seeds,
        case_values=cases,
    )


def test_adding_seeds_pools_the_fits_as_one_run_would() -> None:
    old = _seeded("lmrec", [42, 43], [0.1, 0.2], [0.0, 0.2, 0.4, 0.2])
    new = _seeded("lmrec", [50, 51, 52], [0.3, 0.1, 0.2], [0.6, 0.1, 0.1, 0.6])
    got = combine_seeds(old, new)
    assert got.train_seeds == [42, 43, 50, 51, 52]
    assert [f["NDCG@10"] for f in got.folds] == [0.1, 0.2, 0.3, 0.1, 0.2]
    assert got.metrics["NDCG@10"] == pytest.approx(0.18)
    assert got.std["NDCG@10"] == pytest.approx(np.std([0.1, 0.2, 0.3, 0.1, 0.2]))
    # each case: the mean over all five seeds (each run's mean weighed by its seeds)
    assert got.case_values == pytest.approx([0.36, 0.14, 0.22, 0.44])
    assert got.by_history[0]["cases"] == 10
    assert got.by_history[0]["mean"] == pytest.approx((0.0 * 4 + 0.6 * 6) / 10)
    assert got.fit_seconds == 10.0 and got.score_seconds == 2.0
    assert [p["epochs"] for p in got.params] == [42, 43, 50, 51, 52]
    assert len(got.training) == 5


@pytest.mark.parametrize(
    "new, message",
    [
        (_seeded("lmrec", [43, 44], [0.1, 0.2], [0.0] * 4), r"seeds \[43\]"),
        (ModelResult(model="lmrec", metrics={"NDCG@10": 0.1}, error="boom"), "failed"),
        (
            ModelResult(
                model="lmrec",
                metrics={"NDCG@10": 0.1},
                folds=[{"NDCG@10": 0.1}] * 5,
                train_seeds=[50],
            ),
            "one entry per",
        ),
    ],
)
def test_rows_that_cannot_be_joined_are_refused(new: ModelResult, message: str) -> None:
    old = _seeded("lmrec", [42, 43], [0.1, 0.2], [0.0] * 4)
    with pytest.raises(InvalidInputError, match=message):
        combine_seeds(old, new)


def test_merge_with_add_seeds_joins_rows_and_pairs_them_by_seed() -> None:
    cases = [0.1, 0.3, 0.2, 0.0, 0.1] * 2  # _rep's protocol has ten test cases
    old = _rep({})
    old.protocol("P1").models = [
        _seeded("lmrec", [42, 43], [0.10, 0.20], cases),
        _seeded("lmrec[dim=32]", [42, 43], [0.08, 0.19], cases),
        _seeded("popularity", [42], [0.05], cases),
    ]
    new = _rep({}, when="t1")
    new.protocol("P1").models = [
        _seeded("lmrec", [50, 51], [0.15, 0.12], cases),
        _seeded("lmrec[dim=32]", [50, 51], [0.13, 0.10], cases),
    ]
    merged = merge_reports(old, new, add_seeds=True)
    rows = {m.model: m for m in merged.protocol("P1").models}
    assert rows["lmrec"].train_seeds == [42, 43, 50, 51]
    assert rows["popularity"].train_seeds == [42]  # not re-run: kept as it was
    pairs = {c.model: c for c in comparisons(merged.protocol("P1"))}
    seeds = pairs["lmrec[dim=32]"].seeds
    assert seeds is not None and seeds.paired and seeds.seeds_a == 4
    assert seeds.difference == pytest.approx(0.0175)
    # without add_seeds the re-run rows replace the old ones
    plain = {m.model: m for m in merge_reports(old, new).protocol("P1").models}
    assert plain["lmrec"].train_seeds == [50, 51]
    # the report says which run added seeds
    merged.runs[-1].update(add_seeds=True, first_train_seed=50)
    assert "- t1: P1; all models; 1 s; seeds added to the rows (from seed 50)" in (
        merged.to_markdown()
    )


def test_seeds_already_in_the_report_are_refused_before_any_fitting() -> None:
    rep = _rep({})
    rep.protocol("P1").models = [_seeded("lmrec", [42, 43], [0.1, 0.2], [0.0] * 4)]
    check_seeds_can_be_added(rep, ["P1"], ["lmrec"], range(44, 46))
    check_seeds_can_be_added(rep, ["P2"], None, range(42, 44))  # P1 not re-run
    with pytest.raises(InvalidInputError, match=r"already holds training seeds \[43\]"):
        check_seeds_can_be_added(rep, ["P1"], None, range(43, 45))
    rep.protocol("P1").n_folds = 5
    with pytest.raises(InvalidInputError, match="one-fold"):
        check_seeds_can_be_added(rep, ["P1"], None, range(44, 46))


@pytest.mark.slow
def test_command_add_seeds_equals_one_run_with_all_seeds(
    synth: Interactions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seeds 42-43 and then 44-45 added with --first-train-seed give the row that one
    run with seeds 42-45 gives."""
    ds = _dataset(synth)
    monkeypatch.setattr(command, "_load", lambda name, settings: ds)
    kw = {"quick": True, "data_dir": tmp_path, "encoder": "fake"}
    once = command.run(
        "s", ["P1"], ["random", "sasrec"], out_dir=tmp_path / "a", train_seeds=4, **kw
    )
    two = tmp_path / "b"
    command.run("s", ["P1"], ["random", "sasrec"], out_dir=two, train_seeds=2, **kw)
    with pytest.raises(InvalidInputError, match="already holds"):
        command.run(
            "s", ["P1"], ["random"], out_dir=two, train_seeds=2, merge=True, add_seeds=True, **kw
        )
    with pytest.raises(InvalidInputError, match="needs --merge"):
        command.run("s", ["P1"], ["random"], out_dir=two, add_seeds=True, **kw)
    command.run(
        "s",
        ["P1"],
        ["random", "sasrec"],
        out_dir=two,
        train_seeds=2,
        first_train_seed=44,
        merge=True,
        add_seeds=True,
        **kw,
    )
    a, b = (load_report(d).protocol("P1") for d in (once, two))
    for name in ("random", "sasrec"):
        x, y = a.model(name), b.model(name)
        assert x is not None and y is not None
        assert y.train_seeds == x.train_seeds == [42, 43, 44, 45]
        assert y.folds == x.folds
        assert y.metrics == pytest.approx(x.metrics) and y.std == pytest.approx(x.std)
        assert y.case_values == pytest.approx(x.case_values, abs=2e-6)
    runs = json.loads((two / "report.json").read_text())["runs"]
    assert runs[-1]["first_train_seed"] == 44 and runs[-1]["add_seeds"] is True
