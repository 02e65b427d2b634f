"""lmrec.allocator: freed blocks stay with the process, so reusing them costs no page faults."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from lmrec.allocator import ENV_SWITCH, keep_freed_memory

#: Allocates and touches a 64 MiB block, frees it, and prints whether the setting
#: took and how many MiB of it stayed resident. Resident memory rather than page
#: faults: with transparent huge pages the fault count depends on whether huge
#: pages happened to be free.
_PROBE = """
import os
import numpy as np
from lmrec.allocator import keep_freed_memory
took = keep_freed_memory()
page = os.sysconf("SC_PAGE_SIZE")
def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page
before = resident()
block = np.ones(64 * 1024 * 1024 // 8)
del block
print(took, (resident() - before) // (1024 * 1024))
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
    took, mib = out.stdout.split()
    return took == "True", int(mib)


@glibc_only
def test_a_freed_block_stays_with_the_process_for_reuse() -> None:
    took, kept = _probe("1")
    off, returned = _probe("0")
    assert took and not off
    # On: the freed block stays on the heap, ready for the next step's tensors.
    # Off: glibc unmaps it, and the next step faults its pages in again.
    assert kept >= 48, kept
    assert returned < 16, returned


def test_switch_off_leaves_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_SWITCH, "off")
    assert keep_freed_memory() is False


@pytest.mark.parametrize("bad", [0, -1, 2**31])
def test_threshold_out_of_range_is_refused(bad: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_SWITCH, raising=False)
    with pytest.raises(ValueError, match="threshold"):
        keep_freed_memory(bad)
