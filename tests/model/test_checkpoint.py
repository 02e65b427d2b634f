"""Checkpoints round-trip exactly and refuse to load what does not match."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lmrec.errors import ModelError
from lmrec.model import TrainedModel, load_checkpoint, save_checkpoint


def test_round_trip_gives_identical_scores(
    tmp_path: Path, synthetic: Any, trained: TrainedModel
) -> None:
    s = synthetic
    path = save_checkpoint(trained, tmp_path / "ckpt")
    assert sorted(p.name for p in path.iterdir()) == [
        "config.json",
        "items.json",
        "model.safetensors",
        "users.json",
    ]
    loaded = load_checkpoint(path, device="cpu", expected_item_ids=trained.item_ids)
    assert loaded.config == trained.config
    assert loaded.user_ids == trained.user_ids
    # The training log is not part of the checkpoint: no throughput to report.
    assert np.isnan(loaded.samples_per_second) and trained.samples_per_second > 0
    np.testing.assert_array_equal(
        loaded.score(s.test_users, s.test_histories), trained.score(s.test_users, s.test_histories)
    )
    users = s.test_users
    hist = list(s.test_histories)
    np.testing.assert_array_equal(
        loaded.predict_ratings(users, s.test_items, hist),
        trained.predict_ratings(users, s.test_items, hist),
    )


def test_overwrite_is_atomic_and_leaves_no_temp(tmp_path: Path, trained: TrainedModel) -> None:
    save_checkpoint(trained, tmp_path / "ckpt")
    save_checkpoint(trained, tmp_path / "ckpt")
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_missing_file(tmp_path: Path, trained: TrainedModel) -> None:
    path = save_checkpoint(trained, tmp_path / "ckpt")
    (path / "users.json").unlink()
    with pytest.raises(ModelError, match=r"users\.json"):
        load_checkpoint(path)


def test_other_catalog(tmp_path: Path, trained: TrainedModel) -> None:
    path = save_checkpoint(trained, tmp_path / "ckpt")
    with pytest.raises(ModelError, match="another item catalog"):
        load_checkpoint(path, expected_item_ids=["x", "y"])


def test_vocabulary_mismatch(tmp_path: Path, trained: TrainedModel) -> None:
    path = save_checkpoint(trained, tmp_path / "ckpt")
    (path / "items.json").write_text(json.dumps(list(trained.item_ids)[:-1]))
    with pytest.raises(ModelError, match="vocabulary"):
        load_checkpoint(path)


def test_corrupt_tensors(tmp_path: Path, trained: TrainedModel) -> None:
    path = save_checkpoint(trained, tmp_path / "ckpt")
    (path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError):
        load_checkpoint(path)


def test_unknown_config_field(tmp_path: Path, trained: TrainedModel) -> None:
    path = save_checkpoint(trained, tmp_path / "ckpt")
    meta = json.loads((path / "config.json").read_text())
    meta["config"]["bogus"] = 1
    (path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="bogus"):
        load_checkpoint(path)
