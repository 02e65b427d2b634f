"""A real ``lmrec serve`` child process and a headless Chromium for the console tests.

The server runs the fake encoder over the small ``MOVIES`` catalog with a few
events and one evaluation report. Chromium is Debian's package, driven by
Playwright (``playwright install`` cannot download browsers here); install it
with ``apt-get install -y chromium``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from lmrec.engine import Engine
from lmrec.schema import Event, EventKind

from ..conftest import MOVIES, fake_settings  # type: ignore[import-not-found]

CHROMIUM = os.environ.get("LMREC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: Final screenshots are copied here too (git-ignored), for people to look at.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "e2e"

#: Events in the log before any test runs: alice likes animation, bob sci-fi horror.
SEED_EVENTS = [
    Event("alice", EventKind.LIKE, 1.0, item="1"),
    Event("alice", EventKind.CLICK, 2.0, item="6"),
    Event("bob", EventKind.LIKE, 3.0, item="8"),
    Event("carol", EventKind.RATE, 4.0, item="10", value=5.0),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_report(folder: Path) -> None:
    """An evaluation report as ``lmrec evaluate`` writes it, plus one chart."""
    from lmrec.evaluate.report import EvaluationReport, ModelResult, ProtocolResult

    p1 = ProtocolResult(
        "P1", "leave-one-out full ranking", ["NDCG@10", "HR@10"], [], 1, 943,
        [ModelResult("popularity", {"NDCG@10": 0.052, "HR@10": 0.101}, fit_seconds=0.1),
         ModelResult("SASRec", {"NDCG@10": 0.108, "HR@10": 0.208}, fit_seconds=60.0),
         ModelResult("lmrec", {"NDCG@10": 0.112, "HR@10": 0.215}, fit_seconds=30.0)],
    )  # fmt: skip
    EvaluationReport(
        {"name": "ml-100k", "n_users": 943, "n_items": 1682, "n_events": 100_000},
        seed=0, quick=True, encoder="fake", protocols=[p1], total_seconds=91.5,
    ).write(folder)  # fmt: skip
    (folder / "ndcg.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="120">'
        '<rect x="10" y="60" width="50" height="50" fill="#6b7280"/>'
        '<rect x="90" y="20" width="50" height="90" fill="#1f77b4"/>'
        '<rect x="170" y="10" width="50" height="100" fill="#c2410c"/></svg>'
    )


@dataclass
class Server:
    base: str
    data_dir: Path
    proc: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``lmrec serve`` on a free loopback port, with the fake encoder."""
    root = tmp_path_factory.mktemp("console")
    with Engine.open(settings=fake_settings(root)) as eng:
        eng.upsert_items(MOVIES)
        eng.ingest(SEED_EVENTS)
    data_dir = root / "data"
    write_report(data_dir / "reports" / "2026-01-01T00-00-00")
    port = free_port()
    env = {**os.environ, "LMREC_ENCODER": "fake", "LMREC_DATA_DIR": str(data_dir)}
    log = root / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lmrec", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server died: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield Server(base, data_dir, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright, once per module."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; install it with: apt-get install -y chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Console:
    """A page on the console plus what it logged."""

    page: Any
    base: str
    out_dir: Path
    errors: list[str] = field(default_factory=list)
    #: Substrings of console errors a test expects (e.g. the failed request it provoked).
    expected: list[str] = field(default_factory=list)

    def open(self, path: str = "/") -> None:
        self.page.goto(self.base + path)
        self.page.wait_for_selector("body[data-ready=true]")

    def choose_user(self, user: str) -> None:
        self.page.fill("#user-input", user)
        self.page.press("#user-input", "Enter")
        self.page.wait_for_function(
            "u => document.querySelector('#user-hint').textContent.includes(u) && "
            "document.querySelectorAll('#recs li').length > 0",
            arg=user,
        )

    def rec_ids(self) -> list[str]:
        ids: list[str] = self.page.eval_on_selector_all(
            "#recs li", "els => els.map(e => e.dataset.id)"
        )
        return ids

    def snap(self, name: str) -> Path:
        """Screenshot into the test's folder, copied to ``test-output/e2e/`` for people."""
        shot = self.out_dir / f"{name}.png"
        self.page.screenshot(path=str(shot), full_page=True)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, SCREENSHOTS / shot.name)
        return shot

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(x in e for x in self.expected)]


@pytest.fixture
def console(
    browser: Any, server: Server, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Console]:
    """A fresh browser context (no saved user) whose console errors fail the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(10_000)
    c = Console(page, server.base, tmp_path)
    page.on("console", lambda m: c.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: c.errors.append(f"page error: {e}"))
    try:
        yield c
        c.snap(request.node.name)
        assert c.unexpected_errors() == []
    finally:
        context.close()
