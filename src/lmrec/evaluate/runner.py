"""Run every model on every protocol and write the report.

Models are looked up by name in a registry of factories, so lmrec's own
model runs exactly like a baseline; it is registered here as ``lmrec`` (both
kinds), with factories that import :mod:`lmrec.model` only when called, so
importing :mod:`lmrec.evaluate` stays light. Another model is added with::

    from lmrec.evaluate import register_model
    register_model("mine", lambda quick: MyRanker(epochs=1 if quick else 20), kind="ranker")

A factory takes ``quick`` (small grids and few epochs, for tests) and returns
an unfitted :class:`~lmrec.evaluate.base.Ranker` or
:class:`~lmrec.evaluate.base.RatingModel`. A fresh model is built for every
fold, so no state leaks from one fold's test set into another's training;
protocols that share a split (P1 and P4) score the same fitted model of a
fold, since its training data are identical.
Besides the metrics, the runner keeps what the charts need: per-case values
by history length, lmrec's per-epoch training log and, for rating protocols,
the first fold's predictions.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from lmrec.errors import InvalidInputError, NotFoundError
from lmrec.evaluate import search_protocol  # noqa: F401  (registers protocol P4)
from lmrec.evaluate.base import FitContext, Ranker, RatingModel
from lmrec.evaluate.baselines import RANKERS, RATING_MODELS
from lmrec.evaluate.diagnostics import history_buckets, training_log
from lmrec.evaluate.protocols import (
    Fold,
    ModelKind,
    Protocol,
    RankingTest,
    RatingTest,
    get_protocol,
)
from lmrec.evaluate.report import (
    LMREC,
    EvaluationReport,
    ModelResult,
    ProtocolResult,
    RatingSample,
    fold_summary,
    lmrec_variant,
    stored_case_values,
)
from lmrec.evaluate.vectors import cached_vector_sets
from lmrec.interactions import Interactions
from lmrec.settings import DEFAULT_ENCODER

log = logging.getLogger(__name__)

Factory = Callable[[bool], Ranker | RatingModel]

#: name -> kind -> factory. Baselines are registered below; lmrec's model is
#: registered by whoever wires it in (see the module docstring).
MODELS: dict[str, dict[ModelKind, Factory]] = {}


def register_model(name: str, factory: Factory, kind: ModelKind = "ranker") -> None:
    """Make ``name`` runnable on every protocol of ``kind`` (replacing any earlier entry).

    Args:
        name: The name used in ``models=`` and in reports.
        factory: ``factory(quick) -> unfitted model``.
        kind: ``ranker`` for P1/P3-style protocols, ``rating`` for P2-style ones.
    """
    if kind not in ("ranker", "rating"):
        raise InvalidInputError(f"kind must be 'ranker' or 'rating', not {kind!r}")
    MODELS.setdefault(name, {})[kind] = factory


def lmrec_ranker(quick: bool) -> Ranker:
    """lmrec's two-tower model as a ``Ranker`` (imports torch on first call)."""
    from lmrec.model.adapters import lmrec_ranker as make

    return make(quick)


def lmrec_rating_model(quick: bool) -> RatingModel:
    """lmrec's rating head as a ``RatingModel`` (imports torch on first call)."""
    from lmrec.model.adapters import lmrec_rating_model as make

    return make(quick)


def register_lmrec_variant(overrides: Mapping[str, object], kind: ModelKind = "ranker") -> str:
    """Register lmrec's ranker (``kind="ranker"``, :class:`~lmrec.model.ModelConfig`
    ``overrides``) or rating model (``"rating"``, :class:`~lmrec.model.RatingConfig`
    ``overrides``, protocol P2); returns its name (see
    :func:`~lmrec.evaluate.report.lmrec_variant`)."""
    name = lmrec_variant(overrides)
    if name == LMREC:
        return LMREC
    changes = dict(overrides)

    def factory(quick: bool) -> Ranker | RatingModel:
        from lmrec.model import adapters

        make = adapters.lmrec_ranker if kind == "ranker" else adapters.lmrec_rating_model
        return make(quick, changes)

    register_model(name, factory, kind)
    return name


for _name, _f in RANKERS.items():
    register_model(_name, _f, "ranker")
for _name, _g in RATING_MODELS.items():
    register_model(_name, _g, "rating")
register_model(LMREC, lmrec_ranker, "ranker")
register_model(LMREC, lmrec_rating_model, "rating")


def _models_for(protocol: Protocol, models: list[str] | None) -> list[str]:
    if models is None:
        return [n for n, kinds in MODELS.items() if protocol.kind in kinds]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise NotFoundError(
            f"unknown model(s) {', '.join(unknown)}; known: {', '.join(sorted(MODELS))}"
        )
    return [m for m in models if protocol.kind in MODELS[m]]


def _n_cases(folds: list[Fold]) -> int:
    total = 0
    for f in folds:
        t = f.test
        total += t.users.size if isinstance(t, RankingTest) else t.values.size
    return total


#: Fitted models kept for a later protocol with the same split:
#: ``(model name, split function, fold index, training seed) -> (model, fit seconds)``.
FitCache = dict[tuple[str, object, int, int], tuple[Ranker | RatingModel, float]]


def _fit(
    model: Ranker | RatingModel, fold: Fold, ctx_base: FitContext, seed: int
) -> tuple[Ranker | RatingModel, float]:
    """``model`` fitted on ``fold`` with training seed ``seed``, and the seconds it took."""
    ctx = FitContext(
        item_vectors=ctx_base.item_vectors,
        user_vectors=ctx_base.user_vectors,
        valid=fold.valid,
        seed=seed,
        cold_items=fold.cold_items,
    )
    t0 = time.perf_counter()
    model.fit(fold.train, ctx)
    return model, time.perf_counter() - t0


def _run_model(
    name: str,
    factory: Factory,
    protocol: Protocol,
    folds: list[Fold],
    ctx_base: FitContext,
    quick: bool,
    sample: RatingSample | None = None,
    *,
    train_seeds: int = 1,
    first_seed: int | None = None,
    fits: FitCache | None = None,
) -> ModelResult:
    """Fit ``name`` on every fold (``train_seeds`` times, seeds ``first_seed,
    first_seed + 1, ...``, from the run seed when None) and score it; a fit found in
    ``fits`` (same split, fold and seed) is reused."""
    res = ModelResult(model=name)
    start = ctx_base.seed if first_seed is None else first_seed
    seeds = [start + r for r in range(train_seeds)]
    res.train_seeds = seeds
    lengths: list[np.ndarray] = []
    headline: list[np.ndarray] = []
    per_case: list[np.ndarray] = []
    try:
        for fold in folds:
            fold_cases: list[np.ndarray] = []
            for train_seed in seeds:
                key = (name, protocol.split, fold.index, train_seed)
                if fits is not None and key in fits:
                    model, fit_seconds = fits[key]
                    res.shared_fits += 1
                else:
                    model, fit_seconds = _fit(factory(quick), fold, ctx_base, train_seed)
                    if fits is not None:
                        fits[key] = (model, fit_seconds)
                t1 = time.perf_counter()
                outcome = protocol.run(model, fold)
                t2 = time.perf_counter()
                metrics = outcome.metrics
                res.fit_seconds += fit_seconds
                res.score_seconds += t2 - t1
                res.folds.append(metrics)
                res.params.append(dict(getattr(model, "params", {}) or {}))
                logged = training_log(model)
                if logged is not None:
                    res.training_metric, epochs = logged
                    res.training.append(epochs)
                first = protocol.metrics[0]
                if first in outcome.cases:
                    fold_cases.append(outcome.cases[first])
                if outcome.history_lengths is not None and first in outcome.cases:
                    lengths.append(outcome.history_lengths)
                    headline.append(outcome.cases[first])
                if (
                    sample is not None
                    and fold.index == sample.fold
                    and train_seed == seeds[0]
                    and outcome.predictions is not None
                ):
                    sample.predicted[name] = outcome.predictions
                log.info(
                    "%s %s fold %d seed %d: %s (%.1fs)",
                    protocol.name,
                    name,
                    fold.index,
                    train_seed,
                    metrics,
                    fit_seconds + t2 - t1,
                )
            if fold_cases:
                per_case.append(np.mean(fold_cases, axis=0))
    except Exception as exc:  # one failing model must not sink a long run
        log.error("%s %s failed:\n%s", protocol.name, name, traceback.format_exc())
        res.error = f"{type(exc).__name__}: {exc}"
        return res
    keys = protocol.metrics
    res.metrics, res.std = fold_summary(res.folds, keys)
    if lengths:
        res.by_history = history_buckets(np.concatenate(lengths), np.concatenate(headline))
    if per_case and len(per_case) == len(folds):
        res.case_values = stored_case_values(np.concatenate(per_case))
    return res


def run_evaluation(
    data: Interactions,
    protocols: list[str],
    models: list[str] | None,
    out_dir: Path,
    seed: int = 42,
    quick: bool = False,
    *,
    train_seeds: int = 1,
    first_train_seed: int | None = None,
    encoder: str = DEFAULT_ENCODER,
    cache_dir: Path | None = None,
    dataset_name: str = "dataset",
) -> EvaluationReport:
    """Run ``models`` (all registered when None) on ``protocols`` and write the report.

    Args:
        data: All events, in log order.
        protocols: Protocol names (``P1``, ``P2``, ``P3``, ...).
        models: Model names; each runs on the protocols whose kind it has.
        out_dir: Where ``report.json`` and ``report.md`` go (rewritten after each
            protocol, so a long run leaves partial results behind).
        seed: Seed of every split and every model.
        quick: Small grids and few epochs (tests, smoke runs).
        train_seeds: Fits per fold, with training seeds ``seed, seed + 1, ...`` on
            the same split; each row's metrics are the mean over folds and seeds,
            its std the spread over them. One seed hides how much a model's
            figures move with its initialisation, which on small test sets can
            exceed the gap between two models.
        first_train_seed: The first training seed in place of ``seed`` (the split
            keeps ``seed``), so a later run can add other seeds on the same split
            (``lmrec evaluate --first-train-seed 50 --merge --add-seeds``).
        encoder: Encoder name for item and user vectors (``fake`` in unit tests).
        cache_dir: Where vectors are cached; ``out_dir / "cache"`` by default.
        dataset_name: Shown in the report.

    Returns:
        The report, also written to ``out_dir``.
    """
    if train_seeds < 1:
        raise InvalidInputError(f"train_seeds must be at least 1, not {train_seeds}")
    start = time.perf_counter()
    specs = [get_protocol(p) for p in protocols]
    # Protocols with the same split (P1 and P4) score the same fitted models: a
    # model is fitted once per fold and seed, kept until the last protocol that
    # shares its split has run.
    last_use = {proto.split: i for i, proto in enumerate(specs)}
    shared = {split for split in last_use if sum(p.split is split for p in specs) > 1}
    fits: FitCache = {}
    cache = cache_dir if cache_dir is not None else out_dir / "cache"
    item_vecs, user_vecs = cached_vector_sets([data.item_texts, data.user_texts], encoder, cache)
    base_ctx = FitContext(item_vectors=item_vecs, user_vectors=user_vecs, valid=None, seed=seed)
    report = EvaluationReport(
        dataset={
            "name": dataset_name,
            "n_users": data.n_users,
            "n_items": data.n_items,
            "n_events": len(data),
        },
        seed=seed,
        quick=quick,
        encoder=encoder,
    )
    for i, proto in enumerate(specs):
        folds = proto.split(data, seed)
        pres = ProtocolResult(
            name=proto.name,
            title=proto.title,
            metrics=list(proto.metrics),
            lower_is_better=sorted(proto.lower_is_better),
            n_folds=len(folds),
            n_test_cases=_n_cases(folds),
        )
        report.protocols.append(pres)
        sample = None
        if folds and isinstance(folds[0].test, RatingTest):
            sample = RatingSample(proto.name, folds[0].index, folds[0].test.values.copy())
            report.samples.append(sample)
        for name in _models_for(proto, models):
            factory = MODELS[name][proto.kind]
            pres.models.append(
                _run_model(
                    name,
                    factory,
                    proto,
                    folds,
                    base_ctx,
                    quick,
                    sample,
                    train_seeds=train_seeds,
                    first_seed=first_train_seed,
                    fits=fits if proto.split in shared else None,
                )
            )
            report.total_seconds = time.perf_counter() - start
            report.write(out_dir)
        if any(m.shared_fits for m in pres.models):
            earlier = ", ".join(p.name for p in specs[:i] if p.split is proto.split)
            pres.notes.append(
                f"Scores the models fitted for {earlier} (same split, folds and seeds); "
                "their fit time is shown again here."
            )
        if last_use[proto.split] == i:
            for key in [k for k in fits if k[1] is proto.split]:
                del fits[key]
    report.total_seconds = time.perf_counter() - start
    report.write(out_dir)
    return report
