"""An acknowledged event survives ``kill -9`` the next instant (a real child process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from lmrec.store.sqlite import SQLiteStore

CHILD = Path(__file__).with_name("_durability_child.py")
BATCH = 40


@pytest.mark.parametrize("kill_after", [1, 4, 25])
def test_acknowledged_events_survive_sigkill(tmp_path: Path, kill_after: int) -> None:
    path = tmp_path / "crash.db"
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(path), str(BATCH)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    acknowledged: set[str] = set()
    try:
        for _ in range(kill_after):
            line = proc.stdout.readline()
            assert line.endswith("\n"), f"child stopped early: {proc.stderr.read()}"
            acknowledged.update(json.loads(line))
        os.kill(proc.pid, signal.SIGKILL)  # the child is normally mid-append right now
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    # Lines already in the pipe were acknowledged too; a torn last line was not.
    for line in proc.stdout.read().splitlines(keepends=True):
        if line.endswith("\n"):
            acknowledged.update(json.loads(line))
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    with SQLiteStore(path) as store:
        stored = [e.event.id for e in store.iter_events()]
        seqs = [e.seq for e in store.iter_events()]
    assert acknowledged <= set(stored), "an acknowledged event was lost"
    assert len(stored) == len(set(stored))
    assert seqs == sorted(seqs)
    # Each call is atomic: a batch is in the log completely or not at all.
    per_batch = Counter(str(i).split("-")[0] for i in stored)
    assert set(per_batch.values()) == {BATCH}
