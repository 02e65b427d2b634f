"""The opt-in int8 query path: close to the float32 vectors, faster, and for queries only."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.settings import Settings
from lmrec.text import SentenceEncoder, load_encoder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["onnx", "torch"])
def int8_encoder(request) -> SentenceEncoder:  # type: ignore[no-untyped-def]
    """The int8 query path of each runtime: ONNX Runtime's graph and PyTorch's copy."""
    enc = load_encoder(device="cpu", query_int8=True, runtime=request.param)
    assert isinstance(enc, SentenceEncoder) and enc.runtime == request.param
    return enc


def test_int8_queries_stay_close_to_float32_and_find_the_same_titles(  # type: ignore[no-untyped-def]
    int8_encoder, ml100k
) -> None:
    titles = sorted({it.title for it in ml100k.items})[::4]
    catalog = int8_encoder.encode(titles)
    exact = np.stack([int8_encoder.encode([t])[0] for t in titles[:120]])
    approx = np.stack([int8_encoder.encode_query(t) for t in titles[:120]])
    cos = (exact * approx).sum(axis=1)
    assert cos.mean() > 0.95 and cos.min() > 0.85, (cos.mean(), cos.min())
    assert np.allclose(np.linalg.norm(approx, axis=1), 1.0, atol=1e-5)
    # Item vectors (batches and single texts through encode) stay float32.
    assert not np.allclose(exact, approx, atol=1e-3)
    agree = (np.argmax(approx @ catalog.T, axis=1) == np.argmax(exact @ catalog.T, axis=1)).mean()
    assert agree > 0.95, agree


def test_int8_empty_query_is_a_zero_vector(int8_encoder) -> None:  # type: ignore[no-untyped-def]
    assert not int8_encoder.encode_query("  ").any()


def test_without_int8_encode_query_is_encode(real_encoder) -> None:  # type: ignore[no-untyped-def]
    np.testing.assert_array_equal(
        real_encoder.encode_query("toy story"), real_encoder.encode(["toy story"])[0]
    )


def test_without_the_direct_path_queries_stay_float32(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from lmrec.text.direct import DirectForward

    monkeypatch.setattr(DirectForward, "from_model", classmethod(lambda cls, *a, **kw: None))
    enc = SentenceEncoder(device="cpu", query_int8=True)  # on by default: must not refuse
    assert enc._int8_queries is None
    np.testing.assert_array_equal(enc.encode_query("toy story"), enc.encode(["toy story"])[0])


def test_setting_reaches_the_engine_encoder(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from lmrec.engine import Engine

    monkeypatch.setenv("LMREC_QUERY_INT8", "1")
    settings = Settings(data_dir=tmp_path, device="cpu")
    assert settings.query_int8
    with Engine.open(settings=settings) as engine:
        enc = engine.encoder
        assert isinstance(enc, SentenceEncoder) and enc._int8_queries is not None
        got = engine._query_vector("space adventure")
        np.testing.assert_array_equal(got, enc.encode_query("space adventure"))
