"""``lmrec evaluate --merge``: re-run some rows, keep the others, list every run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lmrec.errors import InvalidInputError
from lmrec.evaluate import command
from lmrec.evaluate.merge import load_report, merge_reports
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
