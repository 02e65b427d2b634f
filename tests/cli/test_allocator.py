"""lmrec.allocator: freed blocks stay with the process, so reusing them costs no page faults."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from lmrec.allocator import ENV_SWITCH, keep_freed_memory

#: Allocates, touches and frees a 64 MiB block five times; prints whether the
#: setting took and the page faults those allocations cost.
_PROBE = """
import resource
import numpy as np
from lmrec.allocator import keep_freed_memory
took = keep_freed_memory()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    block = np.ones(64 * 1024 * 1024 // 8)
    del block
print(took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc_only = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="mallopt is glibc's; elsewhere keep_freed_memory() is a no-op by design",
)


def _probe(switch: str) -> tuple[bool, int]:
    env = {**os.environ, ENV_SWITCH: switch}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True
    )
    took, faults = out.stdout.split()
    return took == "True", int(faults)


@glibc_only
def test_freed_blocks_are_reused_without_faulting_again() -> None:
    took, kept = _probe("1")
    off, returned = _probe("0")
    assert took and not off
    # Off: each 64 MiB block is mmapped and unmapped, so every round faults its
    # pages in again. On: only the first round does.
    assert kept * 2 < returned, (kept, returned)


def test_switch_off_leaves_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_SWITCH, "off")
    assert keep_freed_memory() is False


@pytest.mark.parametrize("bad", [0, -1, 2**31])
def test_threshold_out_of_range_is_refused(bad: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_SWITCH, raising=False)
    with pytest.raises(ValueError, match="threshold"):
        keep_freed_memory(bad)
