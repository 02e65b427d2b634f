"""``lmrec evaluate``: run the protocols, then write the report, its charts and its data.

The CLI command is a thin wrapper around :func:`run`. Output goes to a fresh
folder under ``<data_dir>/reports/`` (named by the start time, UTC), which
is where the web console looks for the newest report. What lands there:

* ``report.md``: tables, the target verdicts and the embedded charts;
* ``report.json``: every figure, fold, chosen hyper-parameter, training log;
* ``charts/*.png``: see :mod:`lmrec.evaluate.charts`;
* ``predictions-P2-fold0.csv``: the rating predictions behind the scatter chart.

Protocols P1-P4 run through the harness (:func:`~lmrec.evaluate.runner.run_evaluation`);
P5 (alias ``streaming``) runs through the engine (:mod:`lmrec.evaluate.p5`).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from lmrec.errors import InvalidInputError, NotFoundError
from lmrec.evaluate.charts import draw_all
from lmrec.evaluate.p5 import BASELINES, P5_ALIASES, P5_NAME, VARIANTS, run_streaming
from lmrec.evaluate.protocols import PROTOCOLS, get_protocol
from lmrec.evaluate.report import LMREC, EvaluationReport
from lmrec.evaluate.runner import (
    MODELS,
    register_lmrec_variant,
    run_evaluation,
)

log = logging.getLogger(__name__)

#: What runs when no protocol is named.
DEFAULT_PROTOCOLS = ("P1", "P2", "P3", "P4", P5_NAME)


def resolve_protocols(names: Sequence[str] | None) -> list[str]:
    """Canonical protocol names (``p1`` -> ``P1``, ``streaming`` -> ``P5``), in the given order.

    Raises:
        NotFoundError: A name is not a known protocol (the message lists them).
    """
    if not names:
        return list(DEFAULT_PROTOCOLS)
    known = {**{p.lower(): p for p in PROTOCOLS}, **{a.lower(): P5_NAME for a in P5_ALIASES}}
    out: list[str] = []
    for n in names:
        canon = known.get(n.strip().lower())
        if canon is None:
            listed = ", ".join([*sorted(PROTOCOLS), P5_NAME, "streaming"])
            raise NotFoundError(f"unknown protocol {n!r}; known: {listed}", field="protocol")
        if canon not in out:
            out.append(canon)
    return out


def failed_rows(out_dir: Path) -> list[tuple[str, str, str]]:
    """``(protocol, model, error)`` of every row of the report in ``out_dir`` that failed.

    A long run records a failing model and goes on with the others; the command
    must still not look successful, or a broken model goes unnoticed.
    """
    data = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    return [
        (p["name"], m["model"], m["error"])
        for p in data.get("protocols", [])
        for m in p.get("models", [])
        if m.get("error")
    ]


def default_out_dir(data_dir: Path) -> Path:
    """``<data_dir>/reports/<UTC time>``, made unique if that folder exists."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    root = data_dir / "reports"
    path, n = root / stamp, 1
    while path.exists():
        n += 1
        path = root / f"{stamp}-{n}"
    return path


def _load(dataset: str, settings: object) -> object:
    """A dataset by name (``ml-100k``) or from a folder of GroupLens or RecBole files."""
    from lmrec.data import load_dataset, load_movielens
    from lmrec.data.download import DATASETS
    from lmrec.settings import Settings

    s = settings if isinstance(settings, Settings) else None
    if dataset in DATASETS:
        return load_dataset(dataset, settings=s)
    path = Path(dataset).expanduser()
    if path.exists():
        return load_movielens(path, s)
    raise NotFoundError(
        f"unknown dataset {dataset!r}: give {', '.join(DATASETS)} or a folder of GroupLens "
        "or RecBole files",
        field="dataset",
    )


def _with_variants(
    changes: dict[str, object],
    rating_changes: dict[str, object],
    wanted: list[str],
    models: list[str] | None,
) -> list[str]:
    """``models`` (every model when None) with lmrec replaced by its ``--set`` (ranking)
    and ``--set-rating`` (P2) variants; each change must cover every protocol of
    its kind that is asked for, so no default row passes for a variant's."""
    kinds = {"ranker" if p == P5_NAME else get_protocol(p).kind for p in wanted}
    if changes and "rating" in kinds and not rating_changes:
        rating = [p for p in wanted if p != P5_NAME and get_protocol(p).kind == "rating"]
        raise InvalidInputError(
            f"--set changes lmrec's ranking model, which {', '.join(rating)} do not use; "
            "name the ranking protocols (P1, P3, P4) or P5 with --protocol, or change the "
            "rating model with --set-rating",
            field="set",
        )
    if rating_changes and "ranker" in kinds and not changes:
        ranking = [p for p in wanted if p == P5_NAME or get_protocol(p).kind == "ranker"]
        raise InvalidInputError(
            f"--set-rating changes lmrec's rating model, which {', '.join(ranking)} do not "
            "use; name P2 with --protocol, or change the ranking model with --set",
            field="set_rating",
        )
    if models is not None and LMREC not in models:
        raise InvalidInputError(
            "--set and --set-rating change lmrec's models; add --model lmrec", field="set"
        )
    variants = []
    if changes:
        variants.append(register_lmrec_variant(changes))
    if rating_changes:
        variants.append(register_lmrec_variant(rating_changes, "rating"))
    names = models if models is not None else [n for n in MODELS if "[" not in n]
    out: list[str] = []
    for n in names:
        for m in variants if n == LMREC else [n]:
            if m not in out:  # one name when both changes read the same
                out.append(m)
    return out


def _log_line(line: str) -> None:
    log.info("%s", line)


def run(
    dataset: str = "ml-100k",
    protocols: list[str] | None = None,
    models: list[str] | None = None,
    out_dir: Path | None = None,
    quick: bool = False,
    seed: int = 42,
    data_dir: Path | None = None,
    *,
    encoder: str | None = None,
    progress: Callable[[str], None] | None = None,
    merge: bool = False,
    train_seeds: int = 1,
    lmrec_set: Sequence[str] = (),
    lmrec_rating_set: Sequence[str] = (),
    first_train_seed: int | None = None,
    add_seeds: bool = False,
) -> Path:
    """Evaluate ``models`` on ``protocols`` and write the report folder.

    Args:
        dataset: ``ml-100k`` or a folder holding GroupLens or RecBole files.
        protocols: ``P1``..``P5`` (``streaming`` = ``P5``); all when None.
        models: Registered model names (``lmrec``, ``sasrec``, ...); all when None.
            On P5, ``lmrec`` means its three variants and the other names the
            baselines replayed (popularity, itemknn, ease and sasrec when None).
        out_dir: Report folder; a new ``<data_dir>/reports/<time>/`` when None.
        quick: Small grids, few epochs, a short P5 replay (smoke runs, tests).
        seed: Seed of every split and every model.
        data_dir: The engine's data folder; ``Settings().data_dir`` when None.
        encoder: Encoder name; ``Settings().encoder`` when None (``fake`` in tests).
        progress: Called with a short line as work proceeds (the CLI prints them).
        merge: Keep the rows of ``out_dir``'s existing report that this run does
            not redo (see :mod:`lmrec.evaluate.merge`); the report must exist.
        train_seeds: Fits per fold of each model on P1-P4, with seeds ``seed``,
            ``seed + 1``, ...; rows report the mean and spread over them.
        lmrec_set: ``KEY=VALUE`` changes to lmrec's :class:`~lmrec.model.ModelConfig`
            (``--set``): lmrec's ranking rows then come from that variant, named
            ``lmrec[KEY=VALUE,...]``, in place of the default model; on P5 the
            engine trains with them (rows ``lmrec[KEY=VALUE,...] real-time`` etc.).
            P2 trains the rating model: it takes ``lmrec_rating_set``.
        lmrec_rating_set: ``KEY=VALUE`` changes to lmrec's
            :class:`~lmrec.model.RatingConfig` (``--set-rating``): lmrec's P2 rows
            come from that variant, named the same way.
        first_train_seed: First training seed in place of ``seed``; the splits
            keep ``seed``.
        add_seeds: With ``merge``, join each re-run row with the report's row of
            the same name instead of replacing it (its seeds must all be new; see
            :func:`lmrec.evaluate.merge.combine_seeds`). One-fold protocols only.

    Returns:
        The report folder.

    Raises:
        NotFoundError: Unknown dataset, protocol or model.
        InvalidInputError: ``merge`` without a readable report in ``out_dir``, or
            one made with another dataset, seed, mode or encoder; ``add_seeds``
            without ``merge``, or with rows it cannot join.
    """
    from lmrec.interactions import Interactions
    from lmrec.settings import Settings

    say: Callable[[str], None] = progress or _log_line
    started = time.perf_counter()
    wanted = resolve_protocols(protocols)
    if models is not None:
        unknown = [m for m in models if m not in MODELS]
        if unknown:
            raise NotFoundError(
                f"unknown model(s) {', '.join(unknown)}; known: {', '.join(sorted(MODELS))}",
                field="model",
            )
    named = models  # as given: P5 reads lmrec and its baselines from these
    changes: dict[str, object] = {}
    rating_changes: dict[str, object] = {}
    if lmrec_set or lmrec_rating_set:
        from lmrec.model import ModelConfig, RatingConfig

        changes = ModelConfig.parse_overrides(list(lmrec_set))
        rating_changes = RatingConfig.parse_overrides(list(lmrec_rating_set))
        models = _with_variants(changes, rating_changes, wanted, models)
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if encoder is not None:
        overrides["encoder"] = encoder
    settings = Settings(**overrides)  # type: ignore[arg-type]
    out = out_dir if out_dir is not None else default_out_dir(settings.data_dir)
    earlier = None
    if merge:
        from lmrec.evaluate.merge import load_report

        earlier = load_report(out)  # fail before an hour of work, not after
        if add_seeds:
            from lmrec.evaluate.merge import check_seeds_can_be_added

            first = seed if first_train_seed is None else first_train_seed
            check_seeds_can_be_added(earlier, wanted, models, range(first, first + train_seeds))
    elif add_seeds:
        raise InvalidInputError("--add-seeds joins rows of a report: it needs --merge")
    out.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    say(f"loading {dataset}")
    ds = _load(dataset, settings)
    items, users, events = ds.items, ds.users, ds.events  # type: ignore[attr-defined]
    data = Interactions.from_records(items, events, users)
    name = str(getattr(ds, "name", dataset))
    harness = [p for p in wanted if p != P5_NAME]
    if harness:
        say(f"running {', '.join(harness)} (report in {out})")
        # With --merge the old rows live only in memory until the end: partial
        # results written along the way go beside the report, not over it.
        partial = out / ".merge-partial" if earlier is not None else out
        report = run_evaluation(
            data,
            harness,
            models,
            partial,
            seed,
            quick,
            train_seeds=train_seeds,
            first_train_seed=first_train_seed,
            encoder=settings.encoder,
            cache_dir=settings.data_dir / "cache" / "vectors",
            dataset_name=name,
        )
    else:
        report = EvaluationReport(
            dataset={
                "name": name,
                "n_users": data.n_users,
                "n_items": data.n_items,
                "n_events": len(data),
            },
            seed=seed,
            quick=quick,
            encoder=settings.encoder,
        )
    if P5_NAME in wanted:
        from lmrec.text import load_encoder

        say("running P5 (streaming replay through the engine)")
        run5 = run_streaming(
            items,
            users,
            events,
            load_encoder(
                settings.encoder, device=settings.device, cache_dir=settings.cache_dir / "onnx"
            ),
            variants=VARIANTS if named is None or LMREC in named else (),
            baselines=BASELINES if named is None else [m for m in named if m != LMREC],
            quick=quick,
            seed=seed,
            progress=say,
            model_overrides=changes,
        )
        report.protocols.append(run5.protocol_result())
    report.total_seconds = time.perf_counter() - started
    report.runs = [
        {
            "started": started_at,
            "protocols": wanted,
            "models": list(models) if models is not None else [],
            "seconds": report.total_seconds,
            **({"lmrec_set": list(lmrec_set)} if lmrec_set else {}),
            **({"lmrec_rating_set": list(lmrec_rating_set)} if lmrec_rating_set else {}),
            **({"first_train_seed": first_train_seed} if first_train_seed is not None else {}),
            **({"add_seeds": True} if add_seeds else {}),
        }
    ]
    if earlier is not None:
        from lmrec.evaluate.merge import merge_reports

        report = merge_reports(earlier, report, add_seeds=add_seeds)
        shutil.rmtree(out / ".merge-partial", ignore_errors=True)
    say("drawing charts")
    report.charts = draw_all(report, out)
    report.write(out)
    say(f"report written to {out / 'report.md'}")
    return out
