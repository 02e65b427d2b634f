"""``benchmarks/judge.py``: a change judged over the seeds of several report folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from scipy import stats

from lmrec.evaluate.report import EvaluationReport, ModelResult, ProtocolResult
from lmrec.evaluate.significance import seed_difference

VARIANT = "lmrec[dim=80]"


@pytest.fixture
def judge(benchmark_script: Callable[[str], ModuleType]) -> ModuleType:
    return benchmark_script("judge")


def _row(name: str, seeds: list[int], values: list[float], cases: list[float]) -> ModelResult:
    return ModelResult(
        model=name,
        metrics={"NDCG@10": float(np.mean(values))},
        folds=[{"NDCG@10": v} for v in values],
        train_seeds=seeds,
        fit_seconds=150.0 * len(seeds),
        case_values=cases,
    )


def _folder(
    out: Path, seeds: list[int], base: list[float], gain: float, cases: list[float]
) -> Path:
    """A report with both nested protocols, the variant ``gain`` ahead on every seed
    and on every case (P4 by half of it)."""
    rep = EvaluationReport(dataset={"name": "x"}, seed=seeds[0], quick=False, encoder="fake")
    for name, g in (("P1-nested", gain), ("P4-nested", gain / 2)):
        p = ProtocolResult(name, name, ["NDCG@10"], [], 1, len(cases))
        p.models = [
            _row("lmrec", seeds, base, cases),
            _row(VARIANT, seeds, [b + g for b in base], [c + g for c in cases]),
        ]
        rep.protocols.append(p)
    rep.write(out)
    return out


def test_seeds_of_two_folders_are_pooled_and_paired(judge: ModuleType, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    cases = list(rng.random(50))
    a = _folder(tmp_path / "a", [42, 43, 44], [0.13, 0.14, 0.12], 0.004, cases)
    b = _folder(tmp_path / "b", [50, 51, 52], [0.125, 0.13, 0.128], 0.004, cases)
    pooled = judge.pool([a, b], VARIANT, "P1-nested")
    assert pooled.seeds == [42, 43, 44, 50, 51, 52]
    assert pooled.base == [0.13, 0.14, 0.12, 0.125, 0.13, 0.128]
    want = seed_difference(pooled.variant, pooled.base, level=0.9, paired=True)
    assert pooled.difference(0.9) == want
    assert want.difference == pytest.approx(0.004)
    # every seed gained the same: paired, the interval is the gain itself
    assert want.low == pytest.approx(0.004) and want.high == pytest.approx(0.004)
    # the CSV keeps case values to 6 decimals
    assert pooled.variant_cases == pytest.approx([c + 0.004 for c in cases], abs=1e-6)
    assert pooled.cases().share_above == 1.0
    assert judge.main([str(a), str(b), "--variant", VARIANT]) == 0


def test_a_loss_or_a_slow_fit_fails_the_gate(judge: ModuleType, tmp_path: Path) -> None:
    cases = [0.1, 0.2, 0.3, 0.0]
    worse = _folder(tmp_path / "w", [42, 43], [0.13, 0.14], -0.004, cases)
    assert judge.main([str(worse), "--variant", VARIANT]) == 1
    better = _folder(tmp_path / "b", [42, 43], [0.13, 0.14], 0.004, cases)
    assert judge.main([str(better), "--variant", VARIANT, "--max-fit-seconds", "100"]) == 1


def test_folders_must_not_repeat_seeds_or_miss_a_row(judge: ModuleType, tmp_path: Path) -> None:
    cases = [0.1, 0.2]
    a = _folder(tmp_path / "a", [42, 43], [0.13, 0.14], 0.004, cases)
    b = _folder(tmp_path / "b", [43, 44], [0.13, 0.14], 0.004, cases)
    with pytest.raises(SystemExit, match="earlier folder"):
        judge.pool([a, b], VARIANT, "P1-nested")
    with pytest.raises(SystemExit, match="no row"):
        judge.pool([a], "lmrec[dim=96]", "P1-nested")


@pytest.mark.parametrize(("moved", "clears"), [(2, False), (3, True)])
def test_max_paired_t_says_how_many_movers_a_pass_needs(
    judge: ModuleType, moved: int, clears: bool
) -> None:
    """Sixteen seeds, the rest identical: two equal movers cannot clear a 90% interval,
    three can, and the ceiling is what seed_difference computes for equal movers."""
    n = 16
    base = np.linspace(0.13, 0.15, n)
    variant = base.copy()
    variant[:moved] += 0.004
    d = seed_difference(variant, base, level=0.90, paired=True)
    t = d.difference / ((d.high - d.low) / 2 / stats.t.ppf(0.95, n - 1))
    assert judge.max_paired_t(moved, n) == pytest.approx(t)
    assert (d.low > 0) is clears
    # Movers of unequal size score lower than the ceiling.
    variant[0] += 0.003
    d = seed_difference(variant, base, level=0.90, paired=True)
    t = d.difference / ((d.high - d.low) / 2 / stats.t.ppf(0.95, n - 1))
    assert t < judge.max_paired_t(moved, n)
    assert judge.max_paired_t(0, n) == 0.0 and judge.max_paired_t(n, n) == float("inf")
    with pytest.raises(ValueError):
        judge.max_paired_t(n + 1, n)
