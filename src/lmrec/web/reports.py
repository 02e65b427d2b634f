"""Finding the latest evaluation report and serving only its own files.

``lmrec evaluate`` writes ``report.json``, ``report.md`` and chart images into
an output folder. The console shows the newest such folder under the reports
root. File names come from the browser, so a file is served only if it is one
of the report's listed files, and only after its resolved path is checked to
lie inside the report folder (no ``..``, no symlinks out).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmrec.errors import NotFoundError

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
CHART_SUFFIXES = frozenset({".png", ".svg"})
#: Charts may sit in the report folder or one folder below it (e.g. ``charts/``).
_MAX_DEPTH = 2
NO_REPORT = "no evaluation report yet; run `lmrec evaluate` to create one"


@dataclass(frozen=True)
class ReportFolder:
    """One evaluation output folder."""

    path: Path
    modified: float

    def charts(self) -> list[str]:
        """Chart files as POSIX paths relative to the folder, sorted."""
        root = self.path.resolve()
        out = []
        for p in self.path.rglob("*"):
            rel = p.relative_to(self.path)
            if (
                p.suffix.lower() in CHART_SUFFIXES
                and len(rel.parts) <= _MAX_DEPTH
                and not any(part.startswith(".") for part in rel.parts)
                and p.is_file()
                and p.resolve().is_relative_to(root)
            ):
                out.append(rel.as_posix())
        return sorted(out)

    def files(self) -> list[str]:
        """Every file the console may fetch from this report."""
        extra = [n for n in (REPORT_JSON, REPORT_MD) if (self.path / n).is_file()]
        return extra + self.charts()

    def load(self) -> dict[str, Any]:
        """The parsed ``report.json``."""
        try:
            data = json.loads((self.path / REPORT_JSON).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise NotFoundError(f"the latest report cannot be read: {exc}") from exc
        if not isinstance(data, dict):
            raise NotFoundError("the latest report.json is not a JSON object")
        return data

    def markdown(self) -> str | None:
        try:
            return (self.path / REPORT_MD).read_text(encoding="utf-8")
        except OSError:
            return None

    def file(self, name: str) -> Path:
        """The path of one listed file; anything else is "not found"."""
        if name not in self.files():
            raise NotFoundError(f"no file {name!r} in the latest report", field="name")
        path = (self.path / name).resolve()
        if not path.is_relative_to(self.path.resolve()) or not path.is_file():
            raise NotFoundError(f"no file {name!r} in the latest report", field="name")
        return path


def list_reports(root: Path) -> list[ReportFolder]:
    """Folders under ``root`` (and ``root`` itself) holding a ``report.json``, newest first."""
    if not root.is_dir():
        return []
    candidates = [root, *(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))]
    found: list[tuple[float, str, Path]] = []
    for folder in candidates:
        report = folder / REPORT_JSON
        if report.is_file():
            found.append((report.stat().st_mtime, folder.name, folder))
    found.sort(reverse=True)  # ties broken by folder name: timestamped names sort last-first
    return [ReportFolder(folder, mtime) for mtime, _, folder in found]


def latest_report(root: Path) -> ReportFolder | None:
    """The folder with the newest ``report.json``, or None when there is none."""
    reports = list_reports(root)
    return reports[0] if reports else None
