"""``benchmarks/new_base.py``: an adopted variant's row becomes the kept nested base."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from lmrec.evaluate.merge import load_report
from lmrec.evaluate.report import EvaluationReport, ModelResult, ProtocolResult

VARIANT = "lmrec[dim=80]"


@pytest.fixture
def script(benchmark_script: Callable[[str], ModuleType]) -> ModuleType:
    return benchmark_script("new_base")


def _row(name: str, values: list[float], cases: list[float]) -> ModelResult:
    return ModelResult(
        model=name,
        metrics={"NDCG@10": sum(values) / len(values)},
        folds=[{"NDCG@10": v} for v in values],
        train_seeds=[42, 43],
        fit_seconds=300.0,
        case_values=cases,
    )


def _judged(out: Path) -> Path:
    rep = EvaluationReport(dataset={"name": "x"}, seed=42, quick=False, encoder="fake")
    for name in ("P1-nested", "P4-nested"):
        p = ProtocolResult(name, name, ["NDCG@10"], [], 1, 3)
        p.models = [
            _row("lmrec", [0.10, 0.12], [0.0, 0.5, 0.2]),
            _row(VARIANT, [0.13, 0.15], [0.1, 0.6, 0.3]),
        ]
        rep.protocols.append(p)
    rep.runs = [
        {"started": "a", "protocols": ["P1-nested"], "models": ["lmrec"], "seconds": 10.0},
        {"started": "b", "protocols": ["P1-nested"], "models": [VARIANT], "seconds": 20.0},
    ]
    rep.write(out)
    return out


def test_the_variant_row_alone_becomes_lmrec(script: ModuleType, tmp_path: Path) -> None:
    judged = _judged(tmp_path / "judged")
    out = tmp_path / "base"
    assert script.main(["--variant", VARIANT, str(judged), str(out)]) == 0
    base = load_report(out)
    for p in base.protocols:
        assert [m.model for m in p.models] == ["lmrec"]
        row = p.models[0]
        assert [f["NDCG@10"] for f in row.folds] == [0.13, 0.15]
        assert row.case_values == [0.1, 0.6, 0.3]
        assert row.train_seeds == [42, 43]
    assert [r["started"] for r in base.runs] == ["b"]
    assert base.runs[0]["models"] == ["lmrec"]
    assert base.total_seconds == 20.0
    # The judged report is left as it was.
    assert [m.model for m in load_report(judged).protocols[0].models] == ["lmrec", VARIANT]


def test_a_missing_variant_or_the_same_folder_is_refused(
    script: ModuleType, tmp_path: Path
) -> None:
    judged = _judged(tmp_path / "judged")
    assert script.main(["--variant", "lmrec[dim=96]", str(judged), str(tmp_path / "b")]) == 2
    assert not (tmp_path / "b").exists()
    assert script.main(["--variant", VARIANT, str(judged), str(judged)]) == 2
