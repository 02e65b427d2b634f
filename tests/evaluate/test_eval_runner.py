"""The runner runs registered models on protocols and writes both report files."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from lmrec.errors import InvalidInputError, NotFoundError
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


def test_a_vector_cache_miss_loads_the_encoder_without_onnx_graphs(
    synth: Interactions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches run on PyTorch, so a miss must not export ONNX graphs it never uses."""
    from lmrec.evaluate import vectors
    from lmrec.text import FakeEncoder

    asked: list[dict[str, object]] = []

    def fake_load(name: str, **kwargs: object) -> FakeEncoder:
        asked.append({"name": name, **kwargs})
        return FakeEncoder(8)

    monkeypatch.setattr(vectors, "load_encoder", fake_load)
    vectors.cached_vectors(synth.item_texts, "some-model", tmp_path)
    assert asked == [{"name": "some-model", "runtime": "torch"}]


def test_vector_sets_that_miss_the_cache_load_the_encoder_once(
    synth: Interactions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmrec.evaluate import vectors
    from lmrec.text import FakeEncoder

    loads: list[str] = []

    def fake_load(name: str, **kwargs: object) -> FakeEncoder:
        loads.append(name)
        return FakeEncoder(8)

    monkeypatch.setattr(vectors, "load_encoder", fake_load)
    items, users = vectors.cached_vector_sets(
        [synth.item_texts, synth.user_texts], "some-model", tmp_path
    )
    assert loads == ["some-model"]
    assert items.shape == (len(synth.item_texts), 8) and users.shape == (len(synth.user_texts), 8)
    assert len(list(tmp_path.glob("vectors-*.npy"))) == 2
    # Both hit now: nothing is loaded, and the files are what is returned.
    again = vectors.cached_vector_sets([synth.item_texts, synth.user_texts], "some-model", tmp_path)
    assert loads == ["some-model"]
    assert np.array_equal(again[0], items) and np.array_equal(again[1], users)


def test_unknown_model_is_not_found(synth: Interactions, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="popularity"):
        run_evaluation(synth, ["P1"], ["nope"], tmp_path, quick=True, encoder="fake")


class SeededNoise:
    """Scores drawn from the training seed, so each seed gives different metrics;
    every fit is logged as ``(split fold's training size, seed)``."""

    name = "seeded"
    fits: ClassVar[list[tuple[int, int]]] = []

    def __init__(self) -> None:
        self._n_items = 0
        self._seed = 0

    def fit(self, train: Interactions, ctx: FitContext) -> None:
        self._n_items, self._seed = train.n_items, ctx.seed
        SeededNoise.fits.append((len(train), ctx.seed))

    def score(self, users: IntArray, histories: Sequence[IntArray]) -> FloatMatrix:
        rng = np.random.default_rng(self._seed)
        return rng.random((users.size, self._n_items)).astype(np.float32)


@pytest.fixture
def seeded_registered() -> Iterator[type[SeededNoise]]:
    SeededNoise.fits = []
    register_model("seeded", lambda quick: SeededNoise(), kind="ranker")
    yield SeededNoise
    MODELS.pop("seeded")


def test_training_seeds_are_fitted_and_averaged(
    synth: Interactions, tmp_path: Path, seeded_registered: type[SeededNoise]
) -> None:
    report = run_evaluation(
        synth, ["P1"], ["seeded"], tmp_path, seed=5, quick=True, encoder="fake", train_seeds=3
    )
    assert [s for _, s in seeded_registered.fits] == [5, 6, 7]
    (row,) = report.protocol("P1").models
    assert row.train_seeds == [5, 6, 7] and len(row.folds) == 3
    ndcg = [f["NDCG@10"] for f in row.folds]
    assert len(set(ndcg)) > 1  # the seeds really differ
    assert row.metrics["NDCG@10"] == pytest.approx(np.mean(ndcg))
    assert row.std["NDCG@10"] == pytest.approx(np.std(ndcg))
    md = (tmp_path / "report.md").read_text()
    mean, spread = row.metrics["NDCG@10"], row.std["NDCG@10"]
    assert f"{mean:.4f} ± {spread:.4f}" in md
    assert "training seeds 5, 6, 7" in md


def test_one_training_seed_is_the_split_seed(
    synth: Interactions, tmp_path: Path, seeded_registered: type[SeededNoise]
) -> None:
    report = run_evaluation(synth, ["P1"], ["seeded"], tmp_path, seed=9, quick=True, encoder="fake")
    assert [s for _, s in seeded_registered.fits] == [9]
    assert report.protocol("P1").models[0].train_seeds == [9]
    assert "±" not in (tmp_path / "report.md").read_text().split("## P1")[1]


def test_p1_and_p4_score_the_same_fits(
    synth: Interactions, tmp_path: Path, seeded_registered: type[SeededNoise]
) -> None:
    report = run_evaluation(
        synth, ["P1", "P3", "P4"], ["seeded"], tmp_path, quick=True, encoder="fake", train_seeds=2
    )
    fits = seeded_registered.fits
    p1_size = fits[0][0]
    # P1: two fits; P3 (another split): its own two; P4: none, it reuses P1's.
    assert len(fits) == 4 and [s for _, s in fits] == [42, 43, 42, 43]
    assert fits[1][0] == p1_size and fits[2][0] != p1_size
    p1, p4 = report.protocol("P1").models[0], report.protocol("P4").models[0]
    assert (p1.shared_fits, p4.shared_fits) == (0, 2)
    assert p4.fit_seconds == pytest.approx(p1.fit_seconds)
    assert any("fitted for P1" in n for n in report.protocol("P4").notes)
    assert not report.protocol("P3").notes


def test_training_seeds_must_be_positive(synth: Interactions, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="train_seeds"):
        run_evaluation(synth, ["P1"], ["popularity"], tmp_path, encoder="fake", train_seeds=0)


def test_rows_keep_per_case_values_and_are_compared_case_by_case(
    synth: Interactions, tmp_path: Path, seeded_registered: type[SeededNoise]
) -> None:
    report = run_evaluation(
        synth,
        ["P1", "P4"],
        ["popularity", "random", "seeded"],
        tmp_path,
        quick=True,
        encoder="fake",
        train_seeds=2,
    )
    data = json.loads((tmp_path / "report.json").read_text())
    md = (tmp_path / "report.md").read_text()
    for name in ("P1", "P4"):
        p = report.protocol(name)
        for row in p.models:
            # one value per test case whose mean is the row's headline figure
            assert len(row.case_values) == p.n_test_cases
            assert np.mean(row.case_values) == pytest.approx(row.metrics[p.metrics[0]], abs=1e-6)
        leader = max(p.models, key=lambda r: r.metrics[p.metrics[0]])
        found = next(q for q in data["protocols"] if q["name"] == name)["comparisons"]
        assert {c["model"] for c in found} == {r.model for r in p.models} - {leader.model}
        for c in found:
            other = p.model(c["model"])
            assert other is not None and c["leader"] == leader.model
            gap = leader.metrics[p.metrics[0]] - other.metrics[p.metrics[0]]
            assert c["difference"] == pytest.approx(gap, abs=1e-6)
            assert c["low"] <= c["difference"] <= c["high"]
            assert c["cases"] == p.n_test_cases
        section = md.split(f"## {name}")[1].split("## ")[0]
        assert f"| {leader.model} vs | difference |" in section
        # the per-case values live in a CSV beside report.json, not in it
        rows = next(q for q in data["protocols"] if q["name"] == name)["models"]
        assert all("case_values" not in r for r in rows)
        assert f"cases-{name}.csv" in data["cases"]
        lines = (tmp_path / f"cases-{name}.csv").read_text().splitlines()
        assert lines[0].split(",") == [r.model for r in p.models]
        assert len(lines) == 1 + p.n_test_cases
        first = [float(x) for x in lines[1].split(",")]
        assert first == pytest.approx([r.case_values[0] for r in p.models], abs=1e-6)
    # Two training seeds of the seeded model: its per-case values are their mean.
    seeded = report.protocol("P1").model("seeded")
    assert seeded is not None and seeded.train_seeds == [42, 43]
    assert np.mean(seeded.case_values) == pytest.approx(
        np.mean([f["NDCG@10"] for f in seeded.folds]), abs=1e-6
    )


def test_rating_protocols_have_no_case_comparisons(synth: Interactions, tmp_path: Path) -> None:
    report = run_evaluation(
        synth, ["P2"], ["global_mean", "biased"], tmp_path, quick=True, encoder="fake"
    )
    assert all(not m.case_values for m in report.protocol("P2").models)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["protocols"][0]["comparisons"] == [] and data["cases"] == []
    assert not list(tmp_path.glob("cases-*.csv"))
    assert "Paired bootstrap" not in (tmp_path / "report.md").read_text()
