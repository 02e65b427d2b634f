"""``lmrec serve`` pins compute threads to one per process before numpy or torch loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lmrec import cli


def test_pin_threads_sets_one_and_keeps_explicit_values(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(os, "environ", {"MKL_NUM_THREADS": "4"})
    cli.pin_threads()
    assert os.environ == {
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "4",
    }


def test_serve_pins_before_the_server_starts(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    import lmrec.api.app

    env = {k: v for k, v in os.environ.items() if k not in cli.THREAD_VARIABLES}
    monkeypatch.setattr(os, "environ", env)
    monkeypatch.setattr(lmrec.api.app, "one_thread_per_worker", lambda: None)
    seen: dict[str, str | None] = {}
    monkeypatch.setattr(
        uvicorn, "run", lambda *a, **k: seen.update({v: env.get(v) for v in cli.THREAD_VARIABLES})
    )
    args = ["serve", "--data-dir", str(tmp_path / "data"), "--encoder", "fake", "--port", "0"]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    assert seen == dict.fromkeys(cli.THREAD_VARIABLES, "1")


def _run_unpinned(code: str) -> Any:
    """Run ``code`` in a fresh interpreter without thread variables; its last line as JSON."""
    env = {k: v for k, v in os.environ.items() if k not in cli.THREAD_VARIABLES}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_pinned_numpy_runs_one_blas_thread() -> None:
    """The variables take effect: numpy's BLAS pool, sized at import, has one thread."""
    pytest.importorskip("threadpoolctl")
    code = (
        "from lmrec.cli import pin_threads; pin_threads(); import numpy; "
        "from threadpoolctl import threadpool_info; import json; "
        "print(json.dumps([p['num_threads'] for p in threadpool_info() "
        "if p['user_api'] == 'blas']))"
    )
    threads = _run_unpinned(code)
    assert threads and set(threads) == {1}


def test_a_process_that_loaded_full_pools_serves_with_one_thread() -> None:
    """``lmrec demo`` trains before it serves, so its pools load at full size;
    ``one_thread_per_worker`` shrinks them (BLAS, OpenMP and torch) at run time."""
    code = (
        "import json, numpy, torch; from threadpoolctl import threadpool_info; "
        "from lmrec.api.app import one_thread_per_worker; one_thread_per_worker(); "
        "print(json.dumps({'pools': [p['num_threads'] for p in threadpool_info()], "
        "'torch': torch.get_num_threads()}))"
    )
    seen = _run_unpinned(code)
    assert seen["pools"] and set(seen["pools"]) == {1}
    assert seen["torch"] == 1
