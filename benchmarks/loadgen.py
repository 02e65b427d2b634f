"""Loopback load for the HTTP benchmarks: a free port for the server, ``wrk`` to drive it.

A load generator written in Python (an asyncio HTTP client) costs about as
much CPU per request as the server does, and on a 2-core machine it takes that
CPU from the server it measures: with one, search latency at 4 connections read
p99 69 ms where ``wrk`` (C, one thread) reads 50 ms for the same server.
Shared by ``realtime.py`` and ``search.py``; each passes its own request script.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_wrk(url: str, script: str, connections: int, seconds: int) -> dict[str, float]:
    """One closed-loop ``wrk`` run driven by the Lua ``script``; latency percentiles and rate."""
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark needs wrk: apt-get install wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", f.name, url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(f.name)

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        if m is None:
            return float("nan")
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors:.*timeout (\d+)", out)
    return {
        "connections": float(connections),
        "requests": float(total.group(1)) if total else float("nan"),
        "p50_ms": ms("50%"),
        "p90_ms": ms("90%"),
        "p99_ms": ms("99%"),
        "requests_per_s": float(rps.group(1)) if rps else float("nan"),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
        "timeouts": float(sock.group(1)) if sock else 0.0,
    }
