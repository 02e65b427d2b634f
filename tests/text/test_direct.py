"""The low-latency single-text path of the real encoder gives ``encode()``'s vectors."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from lmrec.text.direct import TOLERANCE, DirectForward

pytestmark = pytest.mark.slow


def _library_encode(encoder, texts: list[str]) -> np.ndarray:  # type: ignore[no-untyped-def]
    return encoder._model.encode(texts, convert_to_numpy=True, normalize_embeddings=True)


def _queries(ml100k) -> list[str]:  # type: ignore[no-untyped-def]
    genres = sorted({g for it in ml100k.items for g in it.categories})
    titles = sorted({it.title for it in ml100k.items})
    return [*genres, *(f"{g} films from the 1990s" for g in genres[:5]), *titles[::8]]


def _single_encodes_in_threads(  # type: ignore[no-untyped-def]
    encoder, queries: list[str], alongside: threading.Thread | None = None
) -> np.ndarray:
    """Each query encoded alone, from six threads at once (and ``alongside``, if given)."""
    got: dict[int, np.ndarray] = {}

    def worker(rows: range) -> None:
        for i in rows:
            got[i] = encoder.encode([queries[i]])[0]

    n = len(queries)
    threads = [threading.Thread(target=worker, args=(range(k, n, 6),)) for k in range(6)]
    threads += [alongside] if alongside is not None else []
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    return np.stack([got[i] for i in range(n)])


def test_bundled_model_takes_the_direct_path(real_encoder) -> None:  # type: ignore[no-untyped-def]
    assert real_encoder.direct


def test_single_queries_equal_library_encode_on_real_titles(real_encoder, ml100k) -> None:  # type: ignore[no-untyped-def]
    queries = _queries(ml100k)
    assert len(queries) > 200
    expected = _library_encode(real_encoder, queries)
    got = np.stack([real_encoder.encode([q])[0] for q in queries])
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_concurrent_queries_equal_sequential_ones(real_encoder, ml100k) -> None:  # type: ignore[no-untyped-def]
    queries = _queries(ml100k)[:48]
    expected = _library_encode(real_encoder, queries)
    got = _single_encodes_in_threads(real_encoder, queries)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)


def test_parallel_passes_give_the_same_vectors_as_library_encode(ml100k) -> None:  # type: ignore[no-untyped-def]
    from lmrec.text import load_encoder

    enc = load_encoder("all-MiniLM-L6-v2", device="cpu", parallel_passes=3)
    queries = _queries(ml100k)[:60]
    expected = _library_encode(enc, queries)
    batch: list[np.ndarray] = []
    # Six query threads, while a batch encode (the item path) shares the tokenizer.
    alongside = threading.Thread(target=lambda: batch.append(enc.encode(queries)))
    got = _single_encodes_in_threads(enc, queries, alongside)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(batch[0], expected, rtol=0, atol=TOLERANCE)


def test_other_model_shapes_fall_back_to_encode(real_encoder) -> None:  # type: ignore[no-untyped-def]
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Pooling

    st = real_encoder._model
    max_pooled = SentenceTransformer(
        modules=[st[0], Pooling(384, pooling_mode="max")], device="cpu"
    )
    assert DirectForward.from_model(max_pooled) is None
    assert DirectForward.from_model(st) is not None


def test_single_queries_without_direct_path_use_library_encode(real_encoder, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(real_encoder, "_single_path", None)
    queries = ["toy story", "Film-Noir films from the 1940s"]
    got = np.stack([real_encoder.encode([q])[0] for q in queries])
    np.testing.assert_allclose(got, _library_encode(real_encoder, queries), rtol=0, atol=1e-6)
