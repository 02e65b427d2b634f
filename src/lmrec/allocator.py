"""Keep freed memory in the process, so CPU training stops paying the kernel per step.

A training step on CPU allocates and frees the same few tens of megabytes over and
over (the ``(positions, catalog)`` logits, their masks and gradients). glibc's
``malloc`` serves blocks that large with ``mmap`` and hands them back with ``munmap``
when they are freed, so every step faults the same pages in again and the kernel
zeroes them: on the 2-core development machine that was 8 s of system time in 20 s
of training (two epochs on MovieLens-100K). With the thresholds below, blocks up to
:data:`THRESHOLD_BYTES` come from the heap and stay there for reuse; system time fell
to 1 s and an epoch's steps ran 10-20% faster (``benchmarks/training.py`` measures it).

The cost is resident memory: up to :data:`THRESHOLD_BYTES` of freed memory may stay
with the process instead of going back to the system, so this is set by the
commands that train or serve (:func:`lmrec.cli.main`, the benchmarks), not when the
library is imported. ``LMREC_KEEP_FREED_MEMORY=0`` turns it off. It does nothing
where the C library is not glibc (musl, macOS, Windows).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

#: glibc's ``mallopt`` parameter numbers (``malloc.h``).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Blocks up to this size are served from the heap; freed heap memory up to this
#: size stays with the process. Large enough for a training step's biggest tensors
#: at tens of thousands of items, small next to the machines that train.
THRESHOLD_BYTES = 256 * 1024 * 1024

#: Set to ``0`` to leave the C library's defaults alone.
ENV_SWITCH = "LMREC_KEEP_FREED_MEMORY"


def keep_freed_memory(threshold: int = THRESHOLD_BYTES) -> bool:
    """Ask glibc to serve and keep blocks up to ``threshold`` bytes on the heap.

    Returns True when both settings were taken; False when switched off by
    :data:`ENV_SWITCH`, when the C library is not glibc, or when it refused a value.
    Safe to call more than once; it only changes where future blocks come from.
    """
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if threshold <= 0 or threshold > 2**31 - 1:
        raise ValueError(f"threshold must be between 1 and 2**31 - 1 bytes, not {threshold}")
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    took_mmap = bool(mallopt(_M_MMAP_THRESHOLD, threshold) == 1)
    took_trim = bool(mallopt(_M_TRIM_THRESHOLD, threshold) == 1)
    return took_mmap and took_trim
