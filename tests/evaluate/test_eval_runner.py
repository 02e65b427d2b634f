"""The runner runs registered models on protocols and writes both report files."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from lmrec.errors import NotFoundError
from lmrec.evaluate import MODELS, register_model, run_evaluation
from lmrec.evaluate.base import FitContext, FloatMatrix
from lmrec.evaluate.baselines.popularity import Popularity
from lmrec.interactions import IntArray, Interactions


class Broken:
    name = "broken"

    def fit(self, train: Interactions, ctx: FitContext) -> None:
        raise ValueError("boom")

    def score(self, users: IntArray, histories: Sequence[IntArray]) -> FloatMatrix:
        raise AssertionError("unreachable")


@pytest.fixture
def lmrec_registered() -> Iterator[None]:
    """lmrec stood in for by popularity (fast), plus a model that fails; restored after."""
    saved = MODELS.pop("lmrec")
    register_model("lmrec", lambda quick: Popularity(), kind="ranker")
    register_model("broken", lambda quick: Broken(), kind="ranker")
    yield
    MODELS["lmrec"] = saved
    MODELS.pop("broken")


def test_runner_writes_json_and_markdown(
    synth: Interactions, tmp_path: Path, lmrec_registered: object
) -> None:
    report = run_evaluation(
        synth,
        ["P1", "P2", "P3"],
        ["random", "popularity", "lmrec", "broken", "global_mean", "biased"],
        tmp_path,
        quick=True,
        encoder="fake",
    )
    data = json.loads((tmp_path / "report.json").read_text())
    md = (tmp_path / "report.md").read_text()
    assert [p["name"] for p in data["protocols"]] == ["P1", "P2", "P3"]
    p1 = report.protocol("P1")
    assert [m.model for m in p1.models] == ["random", "popularity", "lmrec", "broken"]
    assert [m.model for m in report.protocol("P2").models] == ["global_mean", "biased"]
    broken = next(m for m in p1.models if m.model == "broken")
    assert broken.error == "ValueError: boom" and not broken.metrics
    pop = next(m for m in p1.models if m.model == "popularity")
    assert pop.metrics["NDCG@10"] > 0 and pop.fit_seconds >= 0
    p2 = report.protocol("P2")
    assert p2.n_folds == 5 and all(len(m.folds) == 5 for m in p2.models)
    assert "## P1" in md and "## P2" in md and "## P3" in md
    assert "| popularity |" in md and "failed: ValueError: boom" in md
    # best NDCG@10 in P1 is bold, and lmrec's target lines are stated
    best = max(m.metrics["NDCG@10"] for m in p1.models if m.metrics)
    assert f"**{best:.4f}**" in md
    assert "P1 lmrec NDCG@10 >= 0.119: lmrec" in md
    assert "NOT MET" in md
    assert "P5 lmrec real-time HR@10 >= 0.200: not evaluated in this report." in md
    # vectors are cached for the next run
    assert list((tmp_path / "cache").glob("vectors-*.npy"))


def test_cached_vectors_are_reused(synth: Interactions, tmp_path: Path) -> None:
    from lmrec.evaluate.vectors import cached_vectors

    a = cached_vectors(synth.item_texts, "fake", tmp_path)
    (f,) = list(tmp_path.glob("*.npy"))
    np.save(f, np.ones_like(a), allow_pickle=False)  # a hit must read the file, not re-encode
    assert np.array_equal(cached_vectors(synth.item_texts, "fake", tmp_path), np.ones_like(a))


def test_unknown_model_is_not_found(synth: Interactions, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="popularity"):
        run_evaluation(synth, ["P1"], ["nope"], tmp_path, quick=True, encoder="fake")
