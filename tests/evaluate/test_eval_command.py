"""``lmrec evaluate`` (``command.run``): report files, charts, targets, lmrec registration."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lmrec.data import Dataset
from lmrec.data.report import ImportReport
from lmrec.errors import NotFoundError
from lmrec.evaluate import MODELS, command, register_model, run_evaluation
from lmrec.evaluate.diagnostics import bucket_edges, history_buckets
from lmrec.evaluate.p5 import StreamingRun
from lmrec.evaluate.report import (
    P5_LEARNING,
    P5_REALTIME,
    EvaluationReport,
    ModelResult,
    ProtocolResult,
)
from lmrec.evaluate.streaming import StreamingResult
from lmrec.interactions import Interactions
from lmrec.schema import Event, EventKind, Item

PNG = b"\x89PNG\r\n\x1a\n"


def _dataset(data: Interactions) -> Dataset:
    items = [
        Item(id=data.items.ids[i], title=data.item_texts[i], categories=data.item_categories[i])
        for i in range(data.n_items)
    ]
    events = [
        Event(user=data.users.ids[u], kind=EventKind.RATE, item=data.items.ids[i], value=v, ts=t)
        for u, i, v, t in zip(
            data.user.tolist(),
            data.item.tolist(),
            data.value.tolist(),
            data.ts.tolist(),
            strict=True,
        )
    ]
    return Dataset(items, [], events, ImportReport(), "synthetic")


def _fake_p5(*args: Any, **kwargs: Any) -> StreamingRun:
    def r(name: str, hr: float) -> StreamingResult:
        return StreamingResult(name, hr, hr / 2, hr / 3, hr / 6, 400, 40, 1.0)

    return StreamingRun(
        results=[r("lmrec static", 0.15), r(P5_REALTIME, 0.22), r(P5_LEARNING, 0.21)],
        train_events=1600,
        replay_events=400,
        unseen_users=5,
        unseen_events=40,
        fit_seconds=3.0,
        learn_every=100,
    )


@pytest.fixture
def light_lmrec() -> Iterator[None]:
    """lmrec's real model code, made tiny so the command test stays fast; restored after."""
    from lmrec.model import ModelConfig
    from lmrec.model.adapters import LmrecRanker, lmrec_rating_model

    saved = MODELS.pop("lmrec")
    cfg = ModelConfig(dim=16, text_hidden=32, max_len=16, n_layers=1, max_epochs=2)
    register_model("lmrec", lambda quick: LmrecRanker(cfg), "ranker")
    register_model("lmrec", lambda quick: lmrec_rating_model(True), "rating")
    yield
    MODELS["lmrec"] = saved


@pytest.mark.slow
def test_command_writes_report_json_md_and_every_chart(
    synth: Interactions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, light_lmrec: None
) -> None:
    ds = _dataset(synth)
    monkeypatch.setattr(command, "_load", lambda name, settings: ds)
    monkeypatch.setattr(command, "run_streaming", _fake_p5)
    models = ["popularity", "random", "content_knn", "global_mean", "biased", "lmrec"]
    out = command.run(
        "synthetic",
        ["p1", "P2", "P3", "P4", "streaming"],
        models,
        quick=True,
        data_dir=tmp_path,
        encoder="fake",
    )
    assert out.parent == tmp_path / "reports"
    report = json.loads((out / "report.json").read_text())
    md = (out / "report.md").read_text()
    assert [p["name"] for p in report["protocols"]] == ["P1", "P2", "P3", "P4", "P5"]
    expected = {
        "charts/metrics-P1.png",
        "charts/metrics-P2.png",
        "charts/metrics-P3.png",
        "charts/metrics-P4.png",
        "charts/metrics-P5.png",
        "charts/predicted-vs-actual-P2.png",
        "charts/by-history-P1.png",
        "charts/cold-vs-warm.png",
        "charts/training-curves.png",
    }
    assert {c["file"] for c in report["charts"]} == expected
    for f in expected:
        assert (out / f).read_bytes().startswith(PNG), f
        assert f"]({f})" in md, f
    # every target has a verdict line; P5's come from the (faked) streaming run
    assert len(report["targets"]) == 8
    assert "P5 lmrec real-time HR@10 >= 0.200: lmrec real-time 0.2200, **MET**" in md
    assert "P5 lmrec real-time + learning HR@10 > lmrec real-time's: " in md
    assert "**NOT MET**" in md
    # lmrec ran everywhere, with a training log, and P2's predictions were saved
    for p in report["protocols"][:4]:
        (row,) = [m for m in p["models"] if m["model"] == "lmrec"]
        assert row["error"] is None and row["metrics"], p["name"]
    (p1_lmrec,) = [m for m in report["protocols"][0]["models"] if m["model"] == "lmrec"]
    assert p1_lmrec["training"] and p1_lmrec["training_metric"] == "NDCG@10"
    assert p1_lmrec["by_history"]
    rows = (out / "predictions-P2-fold0.csv").read_text().splitlines()
    assert rows[0] == "actual,global_mean,biased,lmrec" and len(rows) == 1 + 600
    # the web console finds this folder and lists the same charts
    from lmrec.web.reports import latest_report

    latest = latest_report(tmp_path / "reports")
    assert latest is not None and latest.path == out
    assert set(latest.charts()) == expected


@pytest.mark.slow
def test_registered_lmrec_runs_with_quick(synth: Interactions, tmp_path: Path) -> None:
    assert set(MODELS["lmrec"]) == {"ranker", "rating"}
    report = run_evaluation(synth, ["P1"], ["lmrec"], tmp_path, quick=True, encoder="fake")
    (row,) = report.protocol("P1").models
    assert row.error is None
    assert 0.0 < row.metrics["NDCG@10"] <= 1.0
    assert 1 <= len(row.training[0]) <= 3  # quick: at most 3 epochs


def test_importing_the_harness_does_not_import_torch() -> None:
    code = "import sys, lmrec.evaluate as e; print('torch' in sys.modules, 'P4' in e.PROTOCOLS)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def _report(**rows: dict[str, dict[str, float]]) -> EvaluationReport:
    """A report with the given protocol -> model -> metrics."""
    rep = EvaluationReport(dataset={"name": "x"}, seed=42, quick=False, encoder="fake")
    for proto, models in rows.items():
        lower = ["RMSE"] if proto == "P2" else []
        p = ProtocolResult(proto, proto, ["NDCG@10", "HR@10", "RMSE"], lower, 1, 10)
        p.models = [ModelResult(model=m, metrics=v) for m, v in models.items()]
        rep.protocols.append(p)
    return rep


def test_targets_are_judged_met_not_met_and_not_evaluated() -> None:
    rep = _report(
        P1={"lmrec": {"NDCG@10": 0.119, "HR@10": 0.228}, "sasrec": {"NDCG@10": 0.1, "HR@10": 0.3}},
        P2={"lmrec": {"RMSE": 0.91}},
        P5={P5_REALTIME: {"HR@10": 0.25}, P5_LEARNING: {"HR@10": 0.25}},
    )
    rep.protocols.append(ProtocolResult("P3", "P3", ["NDCG@10"], [], 1, 10))
    rep.protocol("P3").models.append(ModelResult(model="lmrec", error="ValueError: boom"))
    got = {(t.target.protocol, t.target.metric, t.target.model): t for t in rep.targets()}
    assert got["P1", "NDCG@10", "lmrec"].status == "met"  # equal to the goal counts
    hr = got["P1", "HR@10", "lmrec"]
    assert (hr.status, hr.value, hr.best_baseline) == ("not met", 0.228, 0.3)
    assert got["P2", "RMSE", "lmrec"].status == "not met"  # lower is better: 0.91 > 0.905
    assert got["P3", "NDCG@10", "lmrec"].status == "not evaluated"  # failed
    assert got["P4", "NDCG@10", "lmrec"].status == "not evaluated"  # not run
    assert got["P5", "HR@10", P5_REALTIME].status == "met"
    assert got["P5", "HR@10", P5_LEARNING].status == "not met"  # a tie is not "better"
    md = rep.to_markdown()
    assert (
        "- P1 lmrec HR@10 >= 0.229: lmrec 0.2280, **NOT MET**; best baseline in this report 0.3000."
        in md
    )
    assert "- P2 lmrec RMSE <= 0.905: lmrec 0.9100, **NOT MET**" in md
    assert "- P4 lmrec NDCG@10 >= 0.287: not evaluated in this report." in md
    assert "lmrec real-time + learning 0.2500 vs 0.2500, **NOT MET**" in md


def test_protocol_names_and_aliases() -> None:
    assert command.resolve_protocols(None) == ["P1", "P2", "P3", "P4", "P5"]
    assert command.resolve_protocols(["streaming", "p1", "P5"]) == ["P5", "P1"]
    with pytest.raises(NotFoundError, match="P4"):
        command.resolve_protocols(["P9"])


def test_unknown_model_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        command.run("ml-100k", ["P1"], ["nope"], data_dir=tmp_path, encoder="fake")
    assert not (tmp_path / "reports").exists()


def test_history_buckets_split_cases_by_quantile() -> None:
    lengths = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    values = lengths / 10.0
    assert bucket_edges(lengths, 2) == [1, 6, 11]
    rows = history_buckets(lengths, values, 2)
    assert [(r["bucket"], r["cases"]) for r in rows] == [("1-5", 5), ("6-10", 5)]
    assert [r["mean"] for r in rows] == pytest.approx([0.3, 0.8])
    assert history_buckets([], [], 3) == []
