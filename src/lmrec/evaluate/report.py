"""The evaluation report: results per protocol and model, as JSON and Markdown.

``report.json`` is for machines (every fold, every chosen hyper-parameter,
timings, the per-epoch training logs and the per-history-length breakdown);
``report.md`` is for people: one table per protocol with the best value in
bold, the charts, and one line per target stating whether lmrec met it, with
the measured figure. A target that was not met is printed as NOT MET; a
target whose protocol was not run is listed as not evaluated, never dropped.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from lmrec.evaluate.significance import (
    RESAMPLES,
    PairedDifference,
    SeedDifference,
    paired_bootstrap,
    seed_difference,
)

LMREC = "lmrec"


def lmrec_variant(overrides: Mapping[str, object]) -> str:
    """Row name of lmrec trained with :class:`~lmrec.model.ModelConfig` ``overrides``:
    ``lmrec[key=value,...]``, or ``lmrec`` for none.

    The name lists the changes, so a variant's rows never replace the default
    model's when reports are merged, and a report says what was run.
    """
    if not overrides:
        return LMREC
    return f"{LMREC}[{','.join(f'{k}={v}' for k, v in sorted(overrides.items()))}]"


#: Names of the lmrec variants in protocol P5 (see :mod:`lmrec.evaluate.streaming`).
P5_REALTIME = "lmrec real-time"
P5_LEARNING = "lmrec real-time + learning"


@dataclass(frozen=True)
class Target:
    """A goal lmrec is held to.

    Either an absolute goal (``reference``) or a comparison with another row of
    the same protocol (``versus``: "``model`` must beat ``versus``").

    Attributes:
        protocol: Protocol name.
        metric: Metric name.
        op: ``>=`` or ``<=`` against ``reference``; ``>`` or ``<`` against ``versus``.
        reference: The value to reach, or None for a comparison target.
        model: Which row of the protocol is judged.
        versus: The row ``model`` must beat, or None.
    """

    protocol: str
    metric: str
    op: Literal[">=", "<=", ">", "<"]
    reference: float | None = None
    model: str = LMREC
    versus: str | None = None

    def describe(self) -> str:
        """The goal in words, e.g. ``P1 lmrec NDCG@10 >= 0.119``."""
        rhs = f"{self.reference:.3f}" if self.reference is not None else f"{self.versus}'s"
        return f"{self.protocol} {self.model} {self.metric} {self.op} {rhs}"


#: The targets of the evaluation issue (issues 3 and 6).
TARGETS: tuple[Target, ...] = (
    Target("P1", "NDCG@10", ">=", 0.119),
    Target("P1", "HR@10", ">=", 0.229),
    Target("P2", "RMSE", "<=", 0.905),
    Target("P3", "NDCG@10", ">=", 0.20),
    Target("P3", "Recall@10", ">=", 0.13),
    Target("P4", "NDCG@10", ">=", 0.287),
    Target("P5", "HR@10", ">=", 0.20, model=P5_REALTIME),
    Target("P5", "HR@10", ">", model=P5_LEARNING, versus=P5_REALTIME),
)


@dataclass(frozen=True)
class TargetStatus:
    """How one target fared in one report.

    Attributes:
        target: The goal.
        status: ``met``, ``not met`` or ``not evaluated`` (protocol or model not run, or failed).
        value: The judged row's measured figure, when there is one.
        compared_to: The figure it was compared with (the reference or the other row's).
        best_baseline: The best figure among the protocol's other rows, for context.
    """

    target: Target
    status: Literal["met", "not met", "not evaluated"]
    value: float | None = None
    compared_to: float | None = None
    best_baseline: float | None = None

    def sentence(self) -> str:
        head = self.target.describe()
        if self.status == "not evaluated" or self.value is None:
            return f"{head}: not evaluated in this report."
        verdict = "MET" if self.status == "met" else "NOT MET"
        vs = ""
        if self.target.versus is not None and self.compared_to is not None:
            vs = f" vs {self.compared_to:.4f}"
        best = ""
        if self.best_baseline is not None and self.target.versus is None:
            best = f"; best baseline in this report {self.best_baseline:.4f}"
        return f"{head}: {self.target.model} {self.value:.4f}{vs}, **{verdict}**{best}."

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self.target), **{k: v for k, v in asdict(self).items() if k != "target"}}


def fold_summary(
    folds: list[dict[str, float]], keys: Iterable[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """A row's ``metrics`` and ``std``: each metric's mean and population spread over
    its folds (one entry per fold and training seed)."""
    keys = list(keys)
    return (
        {k: float(np.mean([f[k] for f in folds])) for k in keys},
        {k: float(np.std([f[k] for f in folds])) for k in keys},
    )


def stored_case_values(values: npt.ArrayLike) -> list[float]:
    """Per-case values as a row keeps them: rounded to 6 decimals, enough for any mean
    or interval and a third of the JSON."""
    return [round(float(v), 6) for v in np.asarray(values, dtype=np.float64).ravel()]


@dataclass
class ModelResult:
    """One model on one protocol.

    Attributes:
        model: Registry name.
        metrics: Mean over folds.
        std: Standard deviation over folds (population, 0 for one fold).
        folds: Metrics of each fold.
        fit_seconds: Wall time of ``fit`` summed over folds (tuning included).
        score_seconds: Wall time of scoring the test cases summed over folds.
        params: Hyper-parameters chosen on validation, per fold.
        error: Why the model failed, if it did (its metrics are then empty).
        by_history: Headline metric per bucket of history length (see
            :func:`lmrec.evaluate.diagnostics.history_buckets`), over all folds.
        training: Per fold, the per-epoch log of models that keep one (lmrec):
            ``epoch`` (0-based), ``loss``, ``valid`` (validation metric) and ``seconds``.
        training_metric: Name of the validation metric in ``training``.
        train_seeds: Training seeds fitted on each fold; ``folds`` then holds one
            entry per fold and seed, fold by fold.
        shared_fits: How many of those fits were taken over from an earlier
            protocol with the same split instead of fitted again.
        case_values: The headline metric of every test case (mean over the
            training seeds), folds in order; empty where the protocol gives no
            per-case values. Rows of the same protocol list the same cases, so
            two rows can be compared case by case (see :func:`comparisons`).
            Kept out of ``report.json`` (about a thousand numbers per row, which
            the console would fetch with every report): written to
            ``cases-<protocol>.csv`` beside it, one column per row.
    """

    model: str
    metrics: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)
    folds: list[dict[str, float]] = field(default_factory=list)
    fit_seconds: float = 0.0
    score_seconds: float = 0.0
    params: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    by_history: list[dict[str, Any]] = field(default_factory=list)
    training: list[list[dict[str, float]]] = field(default_factory=list)
    training_metric: str | None = None
    train_seeds: list[int] = field(default_factory=list)
    shared_fits: int = 0
    case_values: list[float] = field(default_factory=list)


@dataclass
class ProtocolResult:
    """Every model's results on one protocol."""

    name: str
    title: str
    metrics: list[str]
    lower_is_better: list[str]
    n_folds: int
    n_test_cases: int
    models: list[ModelResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def model(self, name: str) -> ModelResult | None:
        """The row of ``name`` that has metrics, or None."""
        return next((m for m in self.models if m.model == name and m.metrics), None)

    def best(self, metric: str, *, baselines_only: bool = False) -> float | None:
        """The best value of ``metric``; with ``baselines_only``, lmrec's rows are skipped."""
        vals = [
            m.metrics[metric]
            for m in self.models
            if metric in m.metrics
            and not math.isnan(m.metrics[metric])
            and not (baselines_only and m.model.startswith(LMREC))
        ]
        if not vals:
            return None
        return min(vals) if metric in self.lower_is_better else max(vals)


@dataclass(frozen=True)
class Comparison:
    """The protocol's leading row against another row, case by case.

    Attributes:
        leader: The row with the best headline value among those with per-case values.
        model: The row it is compared with.
        metric: The headline metric.
        paired: ``leader`` minus ``model`` over the same test cases, with intervals.
        seeds: ``leader`` minus ``model`` over training seeds (paired by seed when
            both rows have the same seeds, else Welch), where the
            protocol has one fold and both rows several seeds; else None.
    """

    leader: str
    model: str
    metric: str
    paired: PairedDifference
    seeds: SeedDifference | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "leader": self.leader,
            "model": self.model,
            "metric": self.metric,
            **asdict(self.paired),
            "seeds": None if self.seeds is None else asdict(self.seeds),
        }


def comparisons(p: ProtocolResult) -> list[Comparison]:
    """The leading row (best headline value) against every other row, by paired bootstrap.

    Only rows that carry one value per test case take part (rows merged in from a
    report written before per-case values were kept have none). Deterministic: the
    resampler's seed is fixed, so a report re-rendered from its JSON shows the same
    intervals.
    """
    metric = p.metrics[0]
    rows = [
        r
        for r in p.models
        if r.error is None
        and metric in r.metrics
        and not math.isnan(r.metrics[metric])
        and len(r.case_values) == p.n_test_cases
        and p.n_test_cases >= 2
    ]
    if len(rows) < 2:
        return []
    sign = -1.0 if metric in p.lower_is_better else 1.0
    leader = max(rows, key=lambda r: sign * r.metrics[metric])
    return [
        Comparison(
            leader.model,
            r.model,
            metric,
            paired_bootstrap(leader.case_values, r.case_values),
            _seed_difference(p, leader, r, metric),
        )
        for r in rows
        if r is not leader
    ]


def _seed_difference(
    p: ProtocolResult, a: ModelResult, b: ModelResult, metric: str
) -> SeedDifference | None:
    """``a`` minus ``b`` over training seeds, where each row's folds are its seeds;
    paired by seed when both rows were fitted with the same seeds."""
    if p.n_folds != 1:
        return None
    per_seed = []
    for r in (a, b):
        if len(r.train_seeds) < 2 or len(r.folds) != len(r.train_seeds):
            return None
        per_seed.append(dict(zip(r.train_seeds, (f[metric] for f in r.folds), strict=True)))
    first, second = per_seed
    if first.keys() == second.keys():
        seeds = sorted(first)
        return seed_difference([first[s] for s in seeds], [second[s] for s in seeds], paired=True)
    return seed_difference(list(first.values()), list(second.values()))


@dataclass
class RatingSample:
    """One fold's test ratings and each rating model's predictions of them.

    Kept out of ``report.json`` (tens of thousands of numbers); written as a CSV
    beside it and drawn as the predicted-vs-actual chart.
    """

    protocol: str
    fold: int
    actual: npt.NDArray[np.float64]
    predicted: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)

    @property
    def file_name(self) -> str:
        return f"predictions-{self.protocol}-fold{self.fold}.csv"


@dataclass
class EvaluationReport:
    """The result of :func:`lmrec.evaluate.runner.run_evaluation` (and of ``lmrec evaluate``)."""

    dataset: dict[str, Any]
    seed: int
    quick: bool
    encoder: str
    protocols: list[ProtocolResult] = field(default_factory=list)
    total_seconds: float = 0.0
    charts: list[dict[str, str]] = field(default_factory=list)
    samples: list[RatingSample] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    """The runs whose rows this report holds (one, unless rows were merged in with
    ``lmrec evaluate --merge``): ``started`` (UTC), ``protocols``, ``models``, ``seconds``."""

    def protocol(self, name: str) -> ProtocolResult:
        for p in self.protocols:
            if p.name == name:
                return p
        raise KeyError(name)

    def targets(self) -> list[TargetStatus]:
        """Every target, judged on this report's figures."""
        run = {p.name: p for p in self.protocols}
        return [_judge(t, run.get(t.protocol)) for t in TARGETS]

    def to_dict(self) -> dict[str, Any]:
        d = {
            "dataset": self.dataset,
            "seed": self.seed,
            "quick": self.quick,
            "encoder": self.encoder,
            "protocols": [
                {
                    **asdict(p),
                    "models": [_row_dict(m) for m in p.models],
                    "comparisons": [c.to_dict() for c in comparisons(p)],
                }
                for p in self.protocols
            ],
            "total_seconds": self.total_seconds,
            "targets": [t.to_dict() for t in self.targets()],
            "charts": self.charts,
            "predictions": [s.file_name for s in self.samples],
            "cases": [case_file(p.name) for p in self.protocols if _case_rows(p)],
            "runs": self.runs,
        }
        return _finite(d)  # type: ignore[no-any-return]

    def target_lines(self) -> list[str]:
        """One sentence per target (met, not met, or not evaluated)."""
        return [t.sentence() for t in self.targets()]

    def to_markdown(self) -> str:
        d = self.dataset
        out = [
            "# lmrec evaluation report",
            "",
            f"Dataset: {d.get('name', '?')} ({d.get('n_users')} users, {d.get('n_items')} items, "
            f"{d.get('n_events')} events). Seed {self.seed}. Encoder `{self.encoder}`."
            + (" Quick mode (small grids, few epochs): not comparable." if self.quick else ""),
            f"Total time {self.total_seconds:.1f} s. Protocol definitions: docs/protocols.md. "
            "Ranking metrics are expected values under random tie-breaking.",
            *_runs_lines(self.runs),
            "",
            "## Targets",
            "",
            *(f"- {t}" for t in self.target_lines()),
            "",
        ]
        for p in self.protocols:
            out += _protocol_table(p)
        if self.charts:
            out += ["## Charts", ""]
            for c in self.charts:
                out += [f"### {c['title']}", "", f"![{c['title']}]({c['file']})", ""]
                if c.get("note"):
                    out += [c["note"], ""]
        return "\n".join(out)

    def write(self, out_dir: Path) -> None:
        """Write ``report.json``, ``report.md`` and the prediction CSVs (atomically each)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        for s in self.samples:
            _atomic(out_dir / s.file_name, _samples_csv(s))
        for p in self.protocols:
            rows = _case_rows(p)
            if rows:
                _atomic(out_dir / case_file(p.name), _cases_csv(rows))
        _atomic(out_dir / "report.md", self.to_markdown())
        # report.json last: the web console treats its presence as "report ready".
        _atomic(out_dir / "report.json", json.dumps(self.to_dict(), indent=2, allow_nan=False))


def _runs_lines(runs: list[dict[str, Any]]) -> list[str]:
    """Which run produced which rows, when rows of several runs were merged."""
    if len(runs) < 2:
        return []
    out = [
        "",
        "Rows come from these runs (later runs replaced the rows they re-ran, or added "
        "training seeds to them where said):",
        "",
    ]
    for r in runs:
        models = ", ".join(r.get("models") or ["all models"])
        protos = ", ".join(r.get("protocols") or [])
        line = (
            f"- {r.get('started', '?')}: {protos}; {models}; {float(r.get('seconds', 0.0)):.0f} s"
        )
        if r.get("add_seeds"):
            first = r.get("first_train_seed")
            line += "; seeds added to the rows" + (
                f" (from seed {first})" if first is not None else ""
            )
        out.append(line)
    return out


def _judge(t: Target, p: ProtocolResult | None) -> TargetStatus:
    if p is None:
        return TargetStatus(t, "not evaluated")
    mine = p.model(t.model)
    if mine is None or t.metric not in mine.metrics or math.isnan(mine.metrics[t.metric]):
        return TargetStatus(t, "not evaluated")
    v = mine.metrics[t.metric]
    if t.versus is not None:
        other = p.model(t.versus)
        if other is None or t.metric not in other.metrics:
            return TargetStatus(t, "not evaluated", value=v)
        ref = other.metrics[t.metric]
    else:
        ref = t.reference if t.reference is not None else float("nan")
    met = {">=": v >= ref, "<=": v <= ref, ">": v > ref, "<": v < ref}[t.op]
    best = p.best(t.metric, baselines_only=True) if t.versus is None else None
    return TargetStatus(t, "met" if met else "not met", v, ref, best)


def _protocol_table(p: ProtocolResult) -> list[str]:
    arrow = {m: " ↓" if m in p.lower_is_better else " ↑" for m in p.metrics}
    head = ["model", *(m + arrow[m] for m in p.metrics), "fit s", "score s", "chosen params"]
    lines = [
        f"## {p.name}: {p.title}",
        "",
        f"{p.n_test_cases} test cases over {p.n_folds} fold(s)"
        + (", mean ± std over folds" if p.n_folds > 1 else "")
        + (
            " (and over training seeds where a row names them)."
            if any(len(r.train_seeds) > 1 for r in p.models)
            else "."
        ),
        "",
        *(f"{n}\n" for n in p.notes),
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(head) - 2) + ["---"]) + "|",
    ]
    best = {m: p.best(m) for m in p.metrics}
    for r in p.models:
        cells = [r.model]
        for m in p.metrics:
            if r.error is not None or m not in r.metrics:
                cells.append("–")
                continue
            v = r.metrics[m]
            s = f"{v:.4f}" + (f" ± {r.std.get(m, 0.0):.4f}" if len(r.folds) > 1 else "")
            cells.append(f"**{s}**" if best[m] is not None and v == best[m] else s)
        params = "; ".join(_fmt_params(x) for x in _unique(r.params))
        if len(r.train_seeds) > 1:
            seeds = ", ".join(str(x) for x in r.train_seeds)
            params = f"training seeds {seeds}" + (f"; {params}" if params else "")
        cells += [f"{r.fit_seconds:.1f}", f"{r.score_seconds:.1f}"]
        cells.append(f"failed: {r.error}" if r.error else params)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return lines + _comparison_table(p)


def _comparison_table(p: ProtocolResult) -> list[str]:
    """The leading row against each other row, with bootstrap intervals over the cases."""
    found = comparisons(p)
    if not found:
        return []
    first = found[0]
    pct = f"{first.paired.level:.0%}"
    lines = [
        f"Paired bootstrap over the {first.paired.cases} test cases ({RESAMPLES:,} resamples "
        f"of the cases, {pct} percentile intervals): {first.leader}'s {first.metric} minus each "
        "row's, on the same cases (rows with several training seeds: the per-case mean "
        "over seeds). It shows how far the choice of test cases alone could move each "
        "gap; an interval that excludes 0 is a gap that choice does not explain.",
    ]
    with_seeds = any(c.seeds is not None for c in found)
    if with_seeds:
        lines.append(
            "It does not show how far other training seeds would move each row's mean: "
            f"the last column does, the {pct} t interval of the difference of the two rows' "
            "per-seed means (rows with two or more seeds; paired by seed, marked p, when "
            "both rows have the same seeds, else Welch's). A gap is settled only when "
            "both intervals exclude 0."
        )
    seed_head, seed_rule = (" seed-level interval |", "---:|") if with_seeds else ("", "")
    lines += [
        "",
        f"| {first.leader} vs | difference | {pct} interval | relative | {pct} interval "
        f"| resamples with {first.leader} ahead |{seed_head}",
        f"|---|---:|---:|---:|---:|---:|{seed_rule}",
    ]
    for c in found:
        d = c.paired
        row = (
            f"| {c.model} | {d.difference:+.4f} | [{d.low:+.4f}, {d.high:+.4f}] "
            f"| {_percent(d.relative)} | [{_percent(d.relative_low)}, {_percent(d.relative_high)}] "
            f"| {d.share_above:.1%} |"
        )
        if with_seeds:
            s = c.seeds
            mark = " p" if s is not None and s.paired else ""
            row += " – |" if s is None else f" [{s.low:+.4f}, {s.high:+.4f}]{mark} |"
        lines.append(row)
    lines.append("")
    return lines


def _percent(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:+.1%}"


def _unique(xs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    for x in xs:
        if x not in seen:
            seen.append(x)
    return seen


def _fmt_params(p: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in p.items()) or "defaults"


def case_file(protocol: str) -> str:
    """Name of the CSV holding a protocol's per-case values (see ``ModelResult.case_values``)."""
    return f"cases-{protocol}.csv"


def _row_dict(m: ModelResult) -> dict[str, Any]:
    d = asdict(m)
    del d["case_values"]
    return d


def _case_rows(p: ProtocolResult) -> list[ModelResult]:
    return [m for m in p.models if m.case_values and len(m.case_values) == p.n_test_cases]


def _cases_csv(rows: list[ModelResult]) -> str:
    body = zip(*(m.case_values for m in rows), strict=True)
    return _csv([m.model for m in rows], ([f"{v:.6g}" for v in values] for values in body))


def _samples_csv(s: RatingSample) -> str:
    names = list(s.predicted)
    body = (
        [f"{s.actual[j]:g}", *(f"{s.predicted[n][j]:.4f}" for n in names)]
        for j in range(s.actual.size)
    )
    return _csv(["actual", *names], body)


def _csv(header: list[str], rows: Iterable[list[str]]) -> str:
    """A CSV document (``\\n`` line ends) of ``header`` and ``rows``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _finite(x: Any) -> Any:
    """NaN and infinities become None so the JSON is standard."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
    os.replace(tmp, path)
