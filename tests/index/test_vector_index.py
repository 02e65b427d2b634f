"""Both vector indexes honour the same contract; HNSW recall is close to exact."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.index import ExactIndex, VectorIndex
from lmrec.index.hnsw import HNSWIndex


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(params=["exact", "hnsw"])
def index(request: pytest.FixtureRequest) -> VectorIndex:
    return ExactIndex(8, capacity=2) if request.param == "exact" else HNSWIndex(8)


def test_contract(index: VectorIndex) -> None:
    rng = np.random.default_rng(0)
    vecs = _unit(rng, 50, 8)
    ids = [f"i{n}" for n in range(50)]
    index.upsert(ids, vecs)
    assert len(index) == 50 and "i3" in index
    hits = index.search(vecs[3], 5)
    assert hits[0][0] == "i3"
    assert hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert "i3" not in [i for i, _ in index.search(vecs[3], 5, exclude={"i3"})]
    assert {i for i, _ in index.search(vecs[3], 5, allowed={"i1", "i2"})} == {"i1", "i2"}
    index.remove(["i3", "unknown"])
    assert "i3" not in index and len(index) == 49
    assert all(i != "i3" for i, _ in index.search(vecs[3], 49))
    index.upsert(["i4"], vecs[3:4])  # replace a vector
    assert index.search(vecs[3], 1)[0][0] == "i4"
    np.testing.assert_allclose(index.get("i4"), vecs[3])  # type: ignore[arg-type]
    np.testing.assert_allclose(index.scores(vecs[3], ["i4", "i5"]), [1.0, vecs[5] @ vecs[3]],
                               rtol=1e-5)  # fmt: skip
    assert index.search(vecs[0], 0) == []


def test_hnsw_recall_against_exact() -> None:
    rng = np.random.default_rng(1)
    vecs = _unit(rng, 3000, 32)
    ids = [str(n) for n in range(3000)]
    exact, ann = ExactIndex(32), HNSWIndex(32)
    exact.upsert(ids, vecs)
    ann.upsert(ids, vecs)
    queries = _unit(rng, 50, 32)
    found = sum(
        len({i for i, _ in exact.search(q, 10)} & {i for i, _ in ann.search(q, 10)})
        for q in queries
    )
    assert found / 500 >= 0.95


def test_hnsw_rebuilds_after_many_removals() -> None:
    rng = np.random.default_rng(2)
    vecs = _unit(rng, 3000, 16)
    ann = HNSWIndex(16)
    ann.upsert([str(n) for n in range(3000)], vecs)
    ann.remove([str(n) for n in range(2000)])
    assert len(ann) == 1000
    hits = ann.search(vecs[2500], 5)
    assert hits[0][0] == "2500"
    assert all(int(i) >= 2000 for i, _ in hits)
