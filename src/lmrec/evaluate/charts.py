"""Charts of an evaluation report, drawn with matplotlib's Agg renderer into PNG files.

Figures are built with :class:`matplotlib.figure.Figure` directly (no
``pyplot``), so nothing touches a display or global plotting state, and a
report can be drawn from a server thread. Each chart is skipped, not faked,
when the report lacks its data (for example no lmrec row on P2 means no
predicted-vs-actual chart).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lmrec.errors import MissingExtraError
from lmrec.evaluate.report import (
    LMREC,
    TARGETS,
    EvaluationReport,
    ModelResult,
    ProtocolResult,
    RatingSample,
)

if TYPE_CHECKING:  # matplotlib comes with the ``eval`` extra; imported where used
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Sub-folder of the report folder holding the charts.
CHART_DIR = "charts"

OURS = "#d95f02"
THEIRS = "#7f9cbf"
TARGET = "#b2182b"
DPI = 110

Chart = dict[str, str]


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingExtraError("matplotlib", "eval") from exc
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _save(fig: Figure, out_dir: Path, name: str) -> str:
    folder = out_dir / CHART_DIR
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp.png"
    fig.savefig(tmp, format="png")
    tmp.replace(folder / name)
    return f"{CHART_DIR}/{name}"


def _is_ours(name: str) -> bool:
    return name.startswith(LMREC)


def _spread(rows: list[ModelResult]) -> bool:
    """Whether any row is a mean over several folds or training seeds."""
    return any(len(m.folds) > 1 for m in rows)


def draw_all(report: EvaluationReport, out_dir: Path) -> list[Chart]:
    """Draw every chart the report has data for; returns ``{file, title, note}`` per chart."""
    charts: list[Chart] = []
    for p in report.protocols:
        if any(m.metrics for m in p.models):
            charts.append(metric_bars(p, out_dir))
    for s in report.samples:
        c = predicted_vs_actual(s, report.protocol(s.protocol), out_dir)
        if c is not None:
            charts.append(c)
    names = {p.name for p in report.protocols}
    if "P1" in names:
        c = history_chart(report.protocol("P1"), out_dir)
        if c is not None:
            charts.append(c)
    if {"P1", "P3"} <= names:
        c = cold_vs_warm(report.protocol("P1"), report.protocol("P3"), out_dir)
        if c is not None:
            charts.append(c)
    c = training_curves(report.protocols, out_dir)
    if c is not None:
        charts.append(c)
    return charts


# --------------------------------------------------------------------------- metric bars


def metric_bars(p: ProtocolResult, out_dir: Path) -> Chart:
    """One panel per metric: a horizontal bar per model, lmrec highlighted, targets dashed."""
    rows = [m for m in p.models if m.metrics]
    n = len(p.metrics)
    ncols = 2 if n == 4 else min(n, 3)
    nrows = -(-n // ncols)
    label_width = 0.09 * max(len(m.model) for m in rows) + 0.4
    fig = _figure(3.4 * ncols + label_width, nrows * (0.42 * len(rows) + 1.3) + 0.4)
    grid = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
    for extra in grid.flat[n:]:
        extra.set_visible(False)
    for j, (ax, metric) in enumerate(zip(grid.flat, p.metrics, strict=False)):
        lower = metric in p.lower_is_better
        vals = np.asarray([m.metrics.get(metric, np.nan) for m in rows], dtype=np.float64)
        errs = np.nan_to_num(np.asarray([m.std.get(metric, 0.0) for m in rows], dtype=np.float64))
        y = np.arange(len(rows))[::-1]
        colors = [OURS if _is_ours(m.model) else THEIRS for m in rows]
        ax.barh(
            y,
            np.nan_to_num(vals),
            xerr=errs if errs.any() else None,
            color=colors,
            edgecolor="black",
            linewidth=0.4,
        )
        ax.set_yticks(y, [m.model for m in rows])
        if j % ncols == 0:
            for label, m in zip(ax.get_yticklabels(), rows, strict=True):
                if _is_ours(m.model):
                    label.set_fontweight("bold")
                    label.set_color(OURS)
        top = float(np.nanmax(vals)) if np.isfinite(vals).any() else 1.0
        for yi, v, e in zip(y, vals, errs, strict=True):
            if np.isfinite(v):
                ax.text(v + e + top * 0.015, yi, f"{v:.3f}", va="center", fontsize=8)
        for t in TARGETS:
            if t.protocol == p.name and t.metric == metric and t.reference is not None:
                ax.axvline(t.reference, color=TARGET, linestyle="--", linewidth=1.2)
                ax.text(
                    t.reference,
                    len(rows) - 0.45,
                    f" target {t.reference:.3f}",
                    color=TARGET,
                    fontsize=8,
                    va="bottom",
                )
                top = max(top, t.reference)
        ax.set_xlim(0, top * 1.22)
        ax.set_ylim(-0.6, len(rows) + 0.2)
        ax.set_title(f"{metric} ({'lower' if lower else 'higher'} is better)", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{p.name}: {p.title}", fontsize=11)
    name = f"metrics-{p.name}.png"
    return {
        "file": _save(fig, out_dir, name),
        "title": f"{p.name} metrics per model",
        "note": "lmrec in orange; dashed red lines are the targets."
        + (" Error bars: std over folds and training seeds." if _spread(rows) else ""),
    }


# --------------------------------------------------------------------------- P2 scatter


def _rating_panel(ax: Axes, actual: np.ndarray, pred: np.ndarray, title: str) -> None:
    levels = np.unique(actual)
    data = [pred[actual == v] for v in levels]
    ax.violinplot(data, positions=levels, widths=0.8, showextrema=False)
    rng = np.random.default_rng(0)
    show = rng.choice(actual.size, size=min(actual.size, 3000), replace=False)
    jitter = rng.uniform(-0.25, 0.25, show.size)
    ax.scatter(actual[show] + jitter, pred[show], s=3, alpha=0.25, color="black")
    means = [float(d.mean()) for d in data]
    ax.plot(levels, means, "o-", color=OURS if title.startswith(LMREC) else THEIRS, label="mean")
    lo, hi = float(min(levels.min(), pred.min())), float(max(levels.max(), pred.max()))
    ax.plot([lo, hi], [lo, hi], "--", color="grey", linewidth=1, label="perfect")
    rmse = float(np.sqrt(np.mean((pred - actual) ** 2)))
    ax.set_title(f"{title} (RMSE {rmse:.3f})", fontsize=10)
    ax.set_xlabel("actual rating")
    ax.set_ylabel("predicted rating")
    ax.set_xticks(levels)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)


def predicted_vs_actual(s: RatingSample, p: ProtocolResult, out_dir: Path) -> Chart | None:
    """lmrec's predictions against the truth on one fold, beside the best baseline's."""
    if LMREC not in s.predicted:
        return None
    others = {n: v for n, v in s.predicted.items() if n != LMREC}
    best = None
    if others:
        best = min(others, key=lambda n: float(np.mean((others[n] - s.actual) ** 2)))
    fig = _figure(11 if best else 6, 4.6)
    axes = fig.subplots(1, 2 if best else 1, squeeze=False, sharey=True)[0]
    _rating_panel(axes[0], s.actual, s.predicted[LMREC], LMREC)
    if best is not None:
        _rating_panel(axes[1], s.actual, others[best], best)
    fig.suptitle(
        f"{p.name} fold {s.fold}: predicted vs actual ({s.actual.size} test ratings)", fontsize=11
    )
    name = f"predicted-vs-actual-{s.protocol}.png"
    return {
        "file": _save(fig, out_dir, name),
        "title": f"{s.protocol} predicted vs actual rating (fold {s.fold})",
        "note": f"Violins: distribution of predictions per true rating; dots: a sample of "
        f"pairs; right: the best baseline on this fold. All pairs: `{s.file_name}`.",
    }


# --------------------------------------------------------------------------- P1 by history


def history_chart(p: ProtocolResult, out_dir: Path) -> Chart | None:
    """Headline metric per bucket of user-history length, one line per model."""
    rows = [m for m in p.models if m.by_history]
    if not rows:
        return None
    metric = p.metrics[0]
    labels = [f"{b['bucket']}\n({b['cases']} users)" for b in rows[0].by_history]
    x = np.arange(len(labels))
    fig = _figure(9, 4.8)
    ax = fig.subplots()
    for m in rows:
        ys = [b["mean"] for b in m.by_history]
        ours = _is_ours(m.model)
        ax.plot(
            x[: len(ys)],
            ys,
            marker="o",
            linewidth=2.6 if ours else 1.2,
            color=OURS if ours else None,
            label=m.model,
            zorder=3 if ours else 2,
        )
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_xlabel("events in the user's history before the test event")
    ax.set_ylabel(metric)
    ax.set_title(f"{p.name}: {metric} by history length (quantile buckets)", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2, loc="best")
    name = f"by-history-{p.name}.png"
    return {
        "file": _save(fig, out_dir, name),
        "title": f"{p.name} {metric} by user history length",
        "note": "Each bucket holds about a fifth of the test users.",
    }


# --------------------------------------------------------------------------- cold vs warm


def cold_vs_warm(warm: ProtocolResult, cold: ProtocolResult, out_dir: Path) -> Chart | None:
    """NDCG@10 on warm items (P1) beside cold items (P3), per model run on both."""
    metric = "NDCG@10"
    both = [
        (w, c)
        for w in warm.models
        for c in cold.models
        if w.model == c.model and metric in w.metrics and metric in c.metrics
    ]
    if not both:
        return None
    x = np.arange(len(both))
    fig = _figure(max(6.0, 0.9 * len(both) + 2), 4.6)
    ax = fig.subplots()
    wv = [w.metrics[metric] for w, _ in both]
    cv = [c.metrics[metric] for _, c in both]
    b1 = ax.bar(x - 0.2, wv, 0.4, label=f"warm items ({warm.name})", color=THEIRS)
    b2 = ax.bar(x + 0.2, cv, 0.4, label=f"cold items ({cold.name})", color="#66a61e")
    for bars in (b1, b2):
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=1)
    ax.set_xticks(x, [w.model for w, _ in both], rotation=30, ha="right")
    for label, (w, _) in zip(ax.get_xticklabels(), both, strict=True):
        if _is_ours(w.model):
            label.set_fontweight("bold")
            label.set_color(OURS)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric}: warm items ({warm.name}) vs cold items ({cold.name})", fontsize=11)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_ylim(0, max(max(wv), max(cv)) * 1.18 + 1e-9)
    return {
        "file": _save(fig, out_dir, "cold-vs-warm.png"),
        "title": "Cold vs warm items",
        "note": f"{cold.name} ranks only held-out items never seen in training, so models "
        "without content features fall to chance level; the two protocols rank different "
        "candidate sets, so compare models within a protocol.",
    }


# --------------------------------------------------------------------------- training


def training_curves(protocols: Sequence[ProtocolResult], out_dir: Path) -> Chart | None:
    """Per-epoch training loss and validation metric of every model that logs them."""
    from matplotlib.ticker import MaxNLocator

    # P4 reuses P1's split, so lmrec trains the same way on both: draw such twins once.
    panels: list[tuple[list[str], ModelResult]] = []
    for p in protocols:
        for m in p.models:
            if not m.training:
                continue
            twin = next(
                (t for t in panels if t[1].model == m.model and t[1].training == m.training), None
            )
            if twin is not None:
                twin[0].append(p.name)
            else:
                panels.append(([p.name], m))
    if not panels:
        return None
    fig = _figure(5.2 * len(panels), 4.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (names, m) in zip(axes, panels, strict=True):
        right = ax.twinx()
        for k, epochs in enumerate(m.training):
            ep = [e["epoch"] + 1 for e in epochs]
            one = k == 0
            alpha = 1.0 if one else 0.35
            loss_label = "training loss" if one else None
            valid_label = f"validation {m.training_metric}" if one else None
            ax.plot(ep, [e["loss"] for e in epochs], color="#1b9e77", alpha=alpha, label=loss_label)
            right.plot(
                ep, [e["valid"] for e in epochs], color=OURS, alpha=alpha, marker=".",
                label=valid_label,
            )  # fmt: skip
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("training loss", color="#1b9e77")
        right.set_ylabel(f"validation {m.training_metric}", color=OURS)
        folds = f", {len(m.training)} folds" if len(m.training) > 1 else ""
        ax.set_title(f"{m.model} on {' = '.join(names)}{folds}", fontsize=10)
        ax.grid(alpha=0.3)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = right.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="center right")
    fig.suptitle("Training curves (the best validation epoch is the one kept)", fontsize=11)
    return {
        "file": _save(fig, out_dir, "training-curves.png"),
        "title": "Training curves",
        "note": "Faded lines are the other folds. Protocols sharing a split and a "
        "training run (P1 and P4) share a panel.",
    }


def chart_files(charts: Sequence[dict[str, Any]]) -> list[str]:
    """The file of each chart entry."""
    return [str(c["file"]) for c in charts]
