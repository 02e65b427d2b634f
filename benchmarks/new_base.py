"""Turn a judged report's variant row into a kept nested base, once the variant is adopted.

A judgement (docs/tuning.md, "How a change is judged") merges a variant row,
``lmrec[KEY=VALUE,...]``, into a copy of a kept base report. When the variant
becomes the default, its row *is* the defaults' nested run: this writes a report
holding that row alone, renamed ``lmrec``, with the run that produced it (its
charts, case values and per-seed figures unchanged), so the next judgement is
merged into a copy of it and compared with it by ``benchmarks/judge.py``. The
judged folder itself stays as the record of the comparison.

Usage::

    .venv/bin/python benchmarks/new_base.py --variant 'lmrec[batch_size=32]' \\
        /tmp/judged-42 benchmarks/results/nested-base
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from lmrec.errors import InvalidInputError
from lmrec.evaluate.charts import draw_all
from lmrec.evaluate.merge import load_report
from lmrec.evaluate.report import EvaluationReport


def variant_as_base(report: EvaluationReport, variant: str) -> EvaluationReport:
    """``report`` with only ``variant``'s rows, renamed ``lmrec``, and the run that made them.

    Raises:
        InvalidInputError: A protocol without exactly one ``variant`` row, or not
            exactly one run listing it.
    """
    for p in report.protocols:
        rows = [m for m in p.models if m.model == variant]
        if len(rows) != 1:
            raise InvalidInputError(f"{p.name} has {len(rows)} rows named {variant!r}, not 1")
        rows[0].model = "lmrec"
        p.models = rows
    runs = [r for r in report.runs if variant in (r.get("models") or [])]
    if len(runs) != 1:
        raise InvalidInputError(f"{len(runs)} runs list {variant!r}; expected 1")
    runs[0]["models"] = ["lmrec"]
    report.runs = runs
    report.total_seconds = float(runs[0].get("seconds", 0.0))
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", required=True, help="the adopted row, e.g. 'lmrec[batch_size=32]'")
    ap.add_argument("judged", type=Path, help="report folder holding the variant's row")
    ap.add_argument("out", type=Path, help="folder to (re)write as the new base")
    args = ap.parse_args(argv)
    if args.out.resolve() == args.judged.resolve():
        print("the new base must be another folder than the judged report", file=sys.stderr)
        return 2
    try:
        report = variant_as_base(load_report(args.judged), args.variant)
    except InvalidInputError as exc:
        print(exc.detail, file=sys.stderr)
        return 2
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    report.charts = draw_all(report, args.out)
    report.write(args.out)
    print(f"new base written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
