"""Judge a change to lmrec's defaults over the training seeds of several reports.

A judgement (docs/tuning.md, "How a change is judged") compares a variant row,
``lmrec[KEY=VALUE,...]``, with the defaults' row ``lmrec`` on the nested
protocols. Each report folder holds both rows fitted with the same training seeds
(a kept base run with the variant merged in); the folders together must cover
different seeds. Pooling them is the point: on MovieLens-100K the spread between
training seeds is as large as most changes judged there, so sixteen seeds say
more than either report's eight.

Per protocol it prints the difference of the per-seed means (variant minus
defaults) with the t interval of the per-seed differences at ``--level``, paired
by seed (:func:`lmrec.evaluate.significance.seed_difference`), and the share of
case resamples in which the variant is ahead (the paired bootstrap over the test
cases, each case's value the mean over every pooled seed), then the gate:

* nested P1 NDCG@10: the seed interval's lower end above 0 (at the default 90%,
  a one-sided 5% test) and the variant ahead in at least ``--case-share`` (95%)
  of the case resamples;
* nested P4 NDCG@10: the difference at least ``--p4-floor`` (-0.002);
* fits: the variant's mean seconds per fit at most ``--max-fit-seconds`` (180).

It also counts the seeds on which the two rows differ at all. A change that acts on
some trainings only (patience, say, which matters only where a training stops
early) leaves the others identical to the bit, and with ``k`` of ``n`` seeds moving
the paired t statistic can be at most ``sqrt(k (n - 1) / (n - k))`` (every mover
equal), whatever their size: with two movers of sixteen that is 1.46, under the
1.75 a 90% interval needs. :func:`max_paired_t` gives it, so that a rule can say
beforehand whether a candidate can pass at all (docs/tuning.md).

Exit status 0 on a pass, 1 on a fail.

Usage::

    .venv/bin/python benchmarks/judge.py --variant 'lmrec[max_len=300]' \\
        benchmarks/results/nested-base benchmarks/results/nested-base-50
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from lmrec.errors import InvalidInputError
from lmrec.evaluate.merge import combine_seeds, load_report
from lmrec.evaluate.report import ModelResult
from lmrec.evaluate.significance import (
    PairedDifference,
    SeedDifference,
    paired_bootstrap,
    seed_difference,
)

BASE = "lmrec"
P1 = "P1-nested"
P4 = "P4-nested"
METRIC = "NDCG@10"


@dataclass(frozen=True)
class Pooled:
    """One protocol's per-seed values of both rows over every folder, seed by seed,
    and each row's per-case values averaged over every folder's seeds."""

    protocol: str
    seeds: list[int]
    base: list[float]
    variant: list[float]
    base_cases: list[float]
    variant_cases: list[float]
    fit_seconds: list[float]

    def difference(self, level: float) -> SeedDifference:
        return seed_difference(self.variant, self.base, level=level, paired=True)

    def cases(self) -> PairedDifference:
        return paired_bootstrap(self.variant_cases, self.base_cases)


def max_paired_t(moved: int, seeds: int) -> float:
    """The largest paired t statistic ``seeds`` per-seed differences can give when only
    ``moved`` of them are not zero: every mover the same size (any spread among them
    lowers it). Infinite when every seed moves; 0 when none does."""
    if seeds < 2 or not 0 <= moved <= seeds:
        raise ValueError("need 0 <= moved <= seeds and at least two seeds")
    if moved == seeds:
        return float("inf")
    return float(np.sqrt(moved * (seeds - 1) / (seeds - moved)))


def _per_seed(row: ModelResult) -> dict[int, float]:
    return {s: f[METRIC] for s, f in zip(row.train_seeds, row.folds, strict=True)}


def _fit_seconds(row: ModelResult) -> float | None:
    """Mean seconds of the fits this row made itself (fits shared with an earlier
    protocol of the same split are counted there)."""
    own = len(row.train_seeds) - row.shared_fits
    return row.fit_seconds / own if own > 0 else None


def pool(folders: list[Path], variant: str, protocol: str) -> Pooled:
    """Both rows' per-seed values of ``protocol`` from every folder, seeds matched;
    each row's folders are joined as ``lmrec evaluate --add-seeds`` joins runs
    (:func:`lmrec.evaluate.merge.combine_seeds`)."""
    joined: dict[str, ModelResult] = {}
    for folder in folders:
        report = load_report(folder)
        p = next((x for x in report.protocols if x.name == protocol), None)
        if p is None:
            raise SystemExit(f"{folder}: no {protocol} in the report")
        base_row, var_row = p.model(BASE), p.model(variant)
        if base_row is None or var_row is None:
            missing = BASE if base_row is None else variant
            raise SystemExit(f"{folder}: {protocol} has no row {missing}")
        for row in (base_row, var_row):
            if row.error or len(row.folds) != len(row.train_seeds):
                raise SystemExit(f"{folder}: row {row.model} holds no result per training seed")
        if set(base_row.train_seeds) != set(var_row.train_seeds):
            raise SystemExit(f"{folder}: {protocol}'s two rows were fitted with different seeds")
        if BASE in joined:
            again = set(base_row.train_seeds) & set(joined[BASE].train_seeds)
            if again:
                raise SystemExit(f"{folder}: seeds {sorted(again)} are in an earlier folder too")
        for name, row in ((BASE, base_row), (variant, var_row)):
            try:
                joined[name] = combine_seeds(joined[name], row, protocol) if name in joined else row
            except InvalidInputError as exc:
                raise SystemExit(f"{folder}: {exc}") from exc
    base, var = joined[BASE], joined[variant]
    if not base.case_values or len(base.case_values) != len(var.case_values):
        raise SystemExit(f"{protocol}'s rows keep no per-case values")
    b, v = _per_seed(base), _per_seed(var)
    seeds = list(b)
    fit = _fit_seconds(var)
    return Pooled(
        protocol,
        seeds,
        [b[s] for s in seeds],
        [v[s] for s in seeds],
        base.case_values,
        var.case_values,
        [] if fit is None else [fit],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="report folders to pool")
    parser.add_argument("--variant", required=True, help="the variant's row name")
    parser.add_argument("--level", type=float, default=0.90, help="interval coverage")
    parser.add_argument("--case-share", type=float, default=0.95)
    parser.add_argument("--p4-floor", type=float, default=-0.002)
    parser.add_argument("--max-fit-seconds", type=float, default=180.0)
    args = parser.parse_args(argv)

    results = {name: pool(args.folders, args.variant, name) for name in (P1, P4)}
    print(f"{args.variant} against {BASE}, {METRIC}, seed-level {args.level:.0%} intervals")
    for name, r in results.items():
        d = r.difference(args.level)
        c = r.cases()
        moved = sum(v != b for v, b in zip(r.variant, r.base, strict=True))
        print(
            f"  {name}: {len(r.seeds)} seeds, defaults {np.mean(r.base):.4f}, "
            f"variant {np.mean(r.variant):.4f}, difference {d.difference:+.4f} "
            f"[{d.low:+.4f}, {d.high:+.4f}] over seeds; variant ahead in "
            f"{c.share_above:.1%} of case resamples; seeds that differ: {moved}"
        )
        if moved < len(r.seeds):
            need = float(stats.t.ppf((1.0 + args.level) / 2, len(r.seeds) - 1))
            ceiling = max_paired_t(moved, len(r.seeds))
            print(
                f"    the other {len(r.seeds) - moved} are identical: with {moved} moving, "
                f"t can reach {ceiling:.2f} at most ({need:.2f} needed)"
            )
    fits = [s for r in results.values() for s in r.fit_seconds]
    fit = sum(fits) / len(fits) if fits else float("nan")
    p1 = results[P1].difference(args.level)
    p4 = results[P4].difference(args.level)
    p1_cases = results[P1].cases().share_above
    checks = {
        f"{P1} seed interval above 0": p1.low > 0,
        f"{P1} ahead in >= {args.case_share:.0%} of case resamples": p1_cases >= args.case_share,
        f"{P4} difference >= {args.p4_floor}": p4.difference >= args.p4_floor,
        f"fits <= {args.max_fit_seconds:.0f} s ({fit:.0f} s)": fit <= args.max_fit_seconds,
    }
    for what, ok in checks.items():
        print(f"  {'pass' if ok else 'FAIL'}: {what}")
    passed = all(checks.values())
    print("verdict: " + ("pass" if passed else "fail"))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
