"""ONNX Runtime for single texts: the same vectors as PyTorch, used only when it checks out."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from lmrec.errors import ModelError
from lmrec.settings import Settings
from lmrec.text import SentenceEncoder, load_encoder, onnx_runtime
from lmrec.text.direct import TOLERANCE
from lmrec.text.onnx_runtime import GraphCache, OnnxTransformer, onnx_forwards

pytestmark = pytest.mark.slow


def _library_encode(encoder: SentenceEncoder, texts: list[str]) -> np.ndarray:
    return encoder._model.encode(texts, convert_to_numpy=True, normalize_embeddings=True)


def test_default_encoder_runs_single_texts_on_onnx_runtime(real_encoder, ml100k) -> None:  # type: ignore[no-untyped-def]
    assert real_encoder.runtime == "onnx"
    titles = sorted({it.title for it in ml100k.items})[::10]
    texts = [*titles, "北京烤鸭 and 寿司", "Amélie", " ".join(["long"] * 400)]
    got = np.stack([real_encoder.encode([t])[0] for t in texts])
    np.testing.assert_allclose(got, _library_encode(real_encoder, texts), rtol=0, atol=TOLERANCE)
    # The serving model itself is untouched by the export (batches run on it).
    np.testing.assert_allclose(
        real_encoder.encode(texts[:20]), _library_encode(real_encoder, texts[:20]), atol=1e-6
    )


def test_torch_runtime_is_kept_when_asked_for() -> None:
    enc = load_encoder(device="cpu", runtime="torch")
    assert isinstance(enc, SentenceEncoder) and enc.runtime == "torch"
    np.testing.assert_allclose(
        enc.encode(["toy story"])[0], _library_encode(enc, ["toy story"])[0], atol=TOLERANCE
    )


def test_without_onnxruntime_auto_falls_back_and_onnx_is_an_error(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    enc = load_encoder(device="cpu")
    assert isinstance(enc, SentenceEncoder) and enc.runtime == "torch"
    with pytest.raises(ModelError, match="runtime 'onnx'"):
        load_encoder(device="cpu", runtime="onnx")


def test_a_graph_with_different_vectors_is_refused(real_encoder, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    run = OnnxTransformer.__call__

    def off_by_a_little(self, **batch):  # type: ignore[no-untyped-def]
        out = run(self, **batch)
        out.last_hidden_state = out.last_hidden_state + 1e-3
        return out

    monkeypatch.setattr(OnnxTransformer, "__call__", off_by_a_little)
    fp32, int8 = onnx_forwards(real_encoder._direct, threads=1, int8=False)
    assert fp32 is None and int8 is None


def test_int8_graph_is_close_to_float32(real_encoder, ml100k) -> None:  # type: ignore[no-untyped-def]
    fp32, int8 = onnx_forwards(real_encoder._direct, threads=1, int8=True)
    assert fp32 is not None and int8 is not None
    titles = sorted({it.title for it in ml100k.items})[::8]
    exact = _library_encode(real_encoder, titles)
    approx = np.concatenate([int8([t]) for t in titles])
    cos = (exact * approx).sum(axis=1)
    assert cos.mean() > 0.97 and cos.min() > 0.9, (cos.mean(), cos.min())
    assert not np.allclose(exact, approx, atol=1e-3)  # it really is the quantized graph


def test_setting_reaches_the_engine_encoder(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from lmrec.engine import Engine

    monkeypatch.setenv("LMREC_ENCODER_RUNTIME", "torch")
    settings = Settings(data_dir=tmp_path, device="cpu")
    assert settings.encoder_runtime == "torch"
    with Engine.open(settings=settings) as engine:
        assert isinstance(engine.encoder, SentenceEncoder)
        assert engine.encoder.runtime == "torch"
    monkeypatch.setenv("LMREC_ENCODER_RUNTIME", "tensorflow")
    with pytest.raises(ValueError, match="encoder_runtime"):
        Settings(data_dir=tmp_path)


def test_graphs_are_kept_on_disk_and_loaded_at_the_next_start(  # type: ignore[no-untyped-def]
    real_encoder, tmp_path, monkeypatch
) -> None:
    direct = real_encoder._direct
    fp32, int8 = onnx_forwards(direct, threads=1, int8=True, cache_dir=tmp_path)
    assert fp32 is not None and int8 is not None
    kept = sorted(p.name.split(".", 1)[1] for p in tmp_path.iterdir())
    assert kept == ["fp32.onnx", "int8.onnx"]

    def not_again(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("made again although it was cached")

    monkeypatch.setattr(onnx_runtime, "_export", not_again)
    monkeypatch.setattr(onnx_runtime, "_quantize_int8", not_again)
    fp32_b, int8_b = onnx_forwards(direct, threads=1, int8=True, cache_dir=tmp_path)
    assert fp32_b is not None and int8_b is not None
    texts = ["toy story", "北京烤鸭", "a film about a long journey home"]
    for t in texts:
        np.testing.assert_array_equal(fp32_b([t]), fp32([t]))
        np.testing.assert_array_equal(int8_b([t]), int8([t]))


def test_a_damaged_cached_graph_is_made_again(real_encoder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    direct = real_encoder._direct
    cache = GraphCache(tmp_path, direct.transformer, list(direct.tokenize(["x"])))
    cache.save("fp32", b"not a graph")
    fp32, _ = onnx_forwards(direct, threads=1, int8=False, cache_dir=tmp_path)
    assert fp32 is not None
    np.testing.assert_allclose(fp32(["toy story"]), direct(["toy story"]), atol=TOLERANCE)
    assert cache.load("fp32") not in (None, b"not a graph")  # replaced by the fresh export


def test_a_folder_that_cannot_be_written_costs_only_the_cache(real_encoder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    blocked = tmp_path / "a-file"
    blocked.write_text("in the way")
    fp32, _ = onnx_forwards(real_encoder._direct, threads=1, int8=False, cache_dir=blocked)
    assert fp32 is not None
    assert blocked.read_text() == "in the way"


def test_the_engine_keeps_its_graphs_in_the_cache_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from lmrec.engine import Engine

    settings = Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", device="cpu")
    with Engine.open(settings=settings) as engine:
        assert isinstance(engine.encoder, SentenceEncoder) and engine.encoder.runtime == "onnx"
    assert any((tmp_path / "cache" / "onnx").glob("*.fp32.onnx"))
