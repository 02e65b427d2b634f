"""Re-running some rows of an evaluation report while keeping the others.

A full ``lmrec evaluate`` on ML-100K takes most of an hour on two CPU cores,
nearly all of it in baselines that did not change. After changing lmrec's model
a user wants to re-run *lmrec's* rows (or one protocol) and keep every other row
as it was measured. :func:`merge_reports` does that on the saved
``report.json``: rows of the models that were re-run replace the old rows of
the same protocol; everything else is kept. Every run that contributed rows is
listed in the report (``runs``), so a reader sees which rows came from which
run, and a full run without ``--merge`` remains the way to regenerate all of it.

With ``add_seeds`` a re-run row is not replaced but joined with the old row of
the same name (:func:`combine_seeds`): a run with other training seeds on the
same split (``--first-train-seed``) adds its fits to the row, so a figure can be
made more precise without fitting the seeds already in the report again.
"""

from __future__ import annotations

import csv
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.errors import InvalidInputError
from lmrec.evaluate.report import (
    EvaluationReport,
    ModelResult,
    ProtocolResult,
    RatingSample,
    case_file,
    fold_summary,
    stored_case_values,
)

#: Report fields that must agree for two runs' rows to be comparable.
_SAME = ("seed", "quick", "encoder")


def load_report(out_dir: Path) -> EvaluationReport:
    """Read ``report.json`` (and its prediction CSVs) back into a report.

    Raises:
        InvalidInputError: There is no readable report in ``out_dir``.
    """
    path = out_dir / "report.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidInputError(f"no report to merge into: {path} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}") from exc
    report = EvaluationReport(
        dataset=dict(data["dataset"]),
        seed=int(data["seed"]),
        quick=bool(data["quick"]),
        encoder=str(data["encoder"]),
        protocols=[_protocol(p) for p in data.get("protocols", [])],
        total_seconds=float(data.get("total_seconds") or 0.0),
        runs=[dict(r) for r in data.get("runs", [])],
        # Kept so that writing a loaded report again keeps its Charts section (the
        # PNGs stay beside it); a merge run draws them anew.
        charts=[dict(c) for c in data.get("charts", [])],
    )
    if not report.runs:  # written before runs were recorded: one run of everything in it
        report.runs = [
            {
                "started": "an earlier run (time not recorded)",
                "protocols": [p.name for p in report.protocols],
                "models": [],
                "seconds": report.total_seconds,
            }
        ]
    for name in data.get("predictions", []):
        sample = _read_sample(out_dir / name)
        if sample is not None:
            report.samples.append(sample)
    for p in report.protocols:
        _read_cases(out_dir / case_file(p.name), p)
    return report


def merge_reports(
    old: EvaluationReport, new: EvaluationReport, *, add_seeds: bool = False
) -> EvaluationReport:
    """``old`` with every row of ``new`` put in (replacing rows of the same protocol and
    model, or with ``add_seeds`` joined with them by :func:`combine_seeds`).

    Raises:
        InvalidInputError: The two runs used another dataset, seed, mode or encoder,
            or (``add_seeds``) rows of the same name cannot be joined.
    """
    for name in _SAME:
        if getattr(old, name) != getattr(new, name):
            raise InvalidInputError(
                f"cannot merge: the existing report has {name}={getattr(old, name)!r}, "
                f"this run {name}={getattr(new, name)!r}",
                field=name,
            )
    if old.dataset != new.dataset:
        raise InvalidInputError(
            f"cannot merge: the existing report is on {old.dataset}, this run on {new.dataset}",
            field="dataset",
        )
    merged = EvaluationReport(
        dataset=old.dataset,
        seed=old.seed,
        quick=old.quick,
        encoder=old.encoder,
        protocols=[_merge_protocol(p, new, add_seeds) for p in old.protocols],
        total_seconds=old.total_seconds + new.total_seconds,
        runs=[*old.runs, *new.runs],
    )
    known = {p.name for p in old.protocols}
    merged.protocols += [p for p in new.protocols if p.name not in known]
    merged.samples = _merge_samples(old.samples, new.samples)
    return merged


def _merge_protocol(old: ProtocolResult, new: EvaluationReport, add_seeds: bool) -> ProtocolResult:
    fresh = next((p for p in new.protocols if p.name == old.name), None)
    if fresh is None:
        return old
    if add_seeds and fresh.n_folds != old.n_folds:
        raise InvalidInputError(
            f"cannot add seeds on {old.name}: the runs split it into "
            f"{old.n_folds} and {fresh.n_folds} folds"
        )
    rerun = {m.model: m for m in fresh.models}
    rows = [
        r
        if r.model not in rerun
        else combine_seeds(r, rerun[r.model], old.name)
        if add_seeds
        else rerun[r.model]
        for r in old.models
    ]
    rows += [m for m in fresh.models if m.model not in {r.model for r in old.models}]
    return ProtocolResult(
        name=fresh.name,
        title=fresh.title,
        metrics=fresh.metrics,
        lower_is_better=fresh.lower_is_better,
        n_folds=fresh.n_folds,
        n_test_cases=fresh.n_test_cases,
        models=rows,
        notes=fresh.notes or old.notes,
    )


def check_seeds_can_be_added(
    report: EvaluationReport,
    protocols: list[str],
    models: list[str] | None,
    seeds: range,
) -> None:
    """Refuse, before any fitting, a run whose rows ``--add-seeds`` could not join.

    Args:
        report: The report the run will merge into.
        protocols: The run's protocols.
        models: The run's row names (every model when None).
        seeds: The training seeds the run will fit.

    Raises:
        InvalidInputError: A protocol is not one fold per seed in the report (P2) or
            is the streaming replay (P5, one seed), or a row of the report that the
            run redoes already holds one of ``seeds``.
    """
    new = set(seeds)
    for p in report.protocols:
        if p.name not in protocols:
            continue
        if p.n_folds != 1 or not any(m.train_seeds for m in p.models):
            raise InvalidInputError(
                f"--add-seeds joins rows of one-fold protocols; {p.name} is not one"
            )
        for row in p.models:
            if models is not None and row.model not in models:
                continue
            again = sorted(new & set(row.train_seeds))
            if again:
                raise InvalidInputError(
                    f"{p.name} {row.model} already holds training seeds {again}; "
                    "pick others with --first-train-seed"
                )


def combine_seeds(old: ModelResult, new: ModelResult, protocol: str = "") -> ModelResult:
    """One row from two runs of the same model on the same split with other training seeds.

    The fits are pooled as if one run had made them all: folds, seeds, chosen
    parameters and training logs are listed together, each metric's mean and
    (population) spread are taken over all of them, times are summed, the per-case
    values are the mean over every seed (each run's means weighed by its seeds) and
    the history buckets are joined case-weighted. Only rows with one entry per seed
    (one-fold protocols: P1, P3, P4 and their nested forms) can be joined.

    Raises:
        InvalidInputError: Either row failed, is not one entry per seed, shares a
            seed with the other, or they report other metrics.
    """
    where = f" on {protocol}" if protocol else ""
    for row in (old, new):
        if row.error:
            raise InvalidInputError(f"cannot add seeds to {row.model}{where}: a run failed")
        if not row.train_seeds or len(row.folds) != len(row.train_seeds):
            raise InvalidInputError(
                f"cannot add seeds to {row.model}{where}: its rows are not one entry per "
                "training seed (only one-fold protocols can be joined)"
            )
    again = sorted(set(old.train_seeds) & set(new.train_seeds))
    if again:
        raise InvalidInputError(
            f"cannot add seeds to {old.model}{where}: seeds {again} are in the report already"
        )
    if set(old.metrics) != set(new.metrics):
        raise InvalidInputError(f"cannot add seeds to {old.model}{where}: other metrics")
    folds = [*old.folds, *new.folds]
    n_old, n_new = len(old.train_seeds), len(new.train_seeds)
    cases: list[float] = []
    if old.case_values and len(old.case_values) == len(new.case_values):
        cases = stored_case_values(
            (np.asarray(old.case_values) * n_old + np.asarray(new.case_values) * n_new)
            / (n_old + n_new)
        )
    metrics, std = fold_summary(folds, old.metrics)
    return ModelResult(
        model=old.model,
        metrics=metrics,
        std=std,
        folds=folds,
        fit_seconds=old.fit_seconds + new.fit_seconds,
        score_seconds=old.score_seconds + new.score_seconds,
        params=[*old.params, *new.params],
        by_history=_join_buckets(old.by_history, new.by_history),
        training=[*old.training, *new.training],
        training_metric=old.training_metric or new.training_metric,
        train_seeds=[*old.train_seeds, *new.train_seeds],
        shared_fits=old.shared_fits + new.shared_fits,
        case_values=cases,
    )


def _join_buckets(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two runs' history buckets as one, when they cut the histories the same way."""
    if [r["bucket"] for r in a] != [r["bucket"] for r in b]:
        return []
    out = []
    for x, y in zip(a, b, strict=True):
        n = x["cases"] + y["cases"]
        out.append({**x, "cases": n, "mean": (x["mean"] * x["cases"] + y["mean"] * y["cases"]) / n})
    return out


def _merge_samples(old: list[RatingSample], new: list[RatingSample]) -> list[RatingSample]:
    out = {(s.protocol, s.fold): s for s in old}
    for s in new:
        prev = out.get((s.protocol, s.fold))
        if prev is not None and np.array_equal(prev.actual, s.actual):
            s = RatingSample(s.protocol, s.fold, s.actual, {**prev.predicted, **s.predicted})
        out[(s.protocol, s.fold)] = s
    return list(out.values())


def _protocol(d: dict[str, Any]) -> ProtocolResult:
    names = {f.name for f in fields(ModelResult)}
    models = [ModelResult(**{k: v for k, v in m.items() if k in names}) for m in d["models"]]
    for m in models:
        # JSON stores NaN as null; a missing metric reads back as NaN.
        m.metrics = {k: float("nan") if v is None else float(v) for k, v in m.metrics.items()}
        m.std = {k: float("nan") if v is None else float(v) for k, v in m.std.items()}
    return ProtocolResult(
        name=d["name"],
        title=d["title"],
        metrics=list(d["metrics"]),
        lower_is_better=list(d["lower_is_better"]),
        n_folds=int(d["n_folds"]),
        n_test_cases=int(d["n_test_cases"]),
        models=models,
        notes=list(d.get("notes", [])),
    )


def _read_sample(path: Path) -> RatingSample | None:
    """A prediction CSV (``predictions-P2-fold0.csv``) back into a sample; None if absent."""
    stem = path.stem.removeprefix("predictions-")
    protocol, _, fold = stem.rpartition("-fold")
    if not path.exists() or not protocol or not fold.isdigit():
        return None
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return None
    head, body = rows[0], np.asarray(rows[1:], dtype=np.float64).reshape(-1, len(rows[0]))
    return RatingSample(
        protocol,
        int(fold),
        body[:, 0].copy(),
        {name: body[:, j].copy() for j, name in enumerate(head) if j > 0},
    )


def _read_cases(path: Path, p: ProtocolResult) -> None:
    """Put a ``cases-<protocol>.csv`` back into the rows it names (by model name).

    A missing file, a column for a row the report does not have, or a column of
    the wrong length leaves those rows without per-case values (they are then
    left out of the paired comparisons), never a wrong pairing.
    """
    if not path.exists():
        return
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    head, body = rows[0], rows[1:]
    if len(body) != p.n_test_cases or any(len(r) != len(head) for r in body):
        return
    for j, name in enumerate(head):
        row = next((m for m in p.models if m.model == name), None)
        if row is not None:
            row.case_values = [float(r[j]) for r in body]
