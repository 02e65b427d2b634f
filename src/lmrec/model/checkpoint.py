"""Checkpoints: safetensors for tensors, JSON for config and vocabularies; never pickle.

Layout of a checkpoint folder::

    model.safetensors   every parameter and buffer (incl. the LM vectors it was trained on)
    config.json         format version, kind, config, n_items, n_users, text_dim
    items.json          item ids, by item index
    users.json          user ids, by user index

A checkpoint is written to a temporary sibling folder and renamed into place,
so a reader sees either the old complete checkpoint or the new complete one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from lmrec.errors import ModelError
from lmrec.model.config import ModelConfig, RatingConfig
from lmrec.model.network import LmrecNet
from lmrec.model.rating import RatingNet, TrainedRatingModel
from lmrec.model.scoring import TrainedModel
from lmrec.text import resolve_device

FORMAT_VERSION = 1
TENSORS = "model.safetensors"
CONFIG = "config.json"
ITEMS = "items.json"
USERS = "users.json"
SEQUENCE = "sequence"
"""``kind`` of a two-tower sequence model (:class:`TrainedModel`)."""
RATING = "rating"
"""``kind`` of an explicit-rating model (:class:`TrainedRatingModel`)."""


def save_checkpoint(model: TrainedModel, path: str | Path) -> Path:
    """Write ``model`` to the folder ``path`` atomically (replacing any checkpoint there)."""
    meta = {
        "format": FORMAT_VERSION,
        "kind": SEQUENCE,
        "config": model.config.to_dict(),
        "n_items": model.n_items,
        "n_users": model.n_users,
        "text_dim": int(model.net.item_text.shape[1]),
    }
    return _write(path, model.net.state_dict(), meta, model.item_ids, model.user_ids)


def save_rating_checkpoint(model: TrainedRatingModel, path: str | Path) -> Path:
    """Write a rating model to the folder ``path`` atomically, in the same layout.

    Its tensors include the known ratings the item encoder reads at prediction time.
    """
    meta = {
        "format": FORMAT_VERSION,
        "kind": RATING,
        "config": model.config.to_dict(),
        "n_items": model.n_items,
        "n_users": model.n_users,
        "text_dim": int(model.net.item_text.shape[1]),
    }
    return _write(path, model.net.state_dict(), meta, model.item_ids, model.user_ids)


def _write(
    path: str | Path,
    tensors: Mapping[str, torch.Tensor],
    meta: dict[str, Any],
    item_ids: Sequence[str],
    user_ids: Sequence[str],
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        save_file(state, str(tmp / TENSORS))
        _write_json(tmp / CONFIG, meta)
        _write_json(tmp / ITEMS, list(item_ids))
        _write_json(tmp / USERS, list(user_ids))
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_checkpoint(
    path: str | Path,
    *,
    device: str = "auto",
    expected_item_ids: Sequence[str] | None = None,
) -> TrainedModel:
    """Read a checkpoint written by :func:`save_checkpoint`, validating it on the way.

    Args:
        path: The checkpoint folder.
        device: ``auto``, ``cpu`` or ``cuda``.
        expected_item_ids: If given, the checkpoint's item vocabulary must equal it
            (a model trained on another catalog would silently mis-score).

    Raises:
        ModelError: A file is missing or corrupt, or shapes and vocabularies disagree.
    """
    path = Path(path)
    meta, items, users, state = _read(path, SEQUENCE, expected_item_ids)
    cfg = ModelConfig.from_dict(dict(meta.get("config", {})))
    _check_shapes(path, state, meta, items, users, ("item_has_id",))
    net = LmrecNet(state["item_text"], state["user_text"], state["item_has_id"], cfg)
    _load_state(path, net, state)
    net = net.to(torch.device(resolve_device(device)))
    return TrainedModel(net, cfg, items, users)


def load_rating_checkpoint(
    path: str | Path,
    *,
    device: str = "auto",
    expected_item_ids: Sequence[str] | None = None,
) -> TrainedRatingModel:
    """Read a checkpoint written by :func:`save_rating_checkpoint` (same checks as above)."""
    path = Path(path)
    meta, items, users, state = _read(path, RATING, expected_item_ids)
    cfg = RatingConfig.from_dict(dict(meta.get("config", {})))
    _check_shapes(path, state, meta, items, users, ())
    known = ("r_item", "r_user", "r_value")
    if any(k not in state for k in known) or len({state[k].shape for k in known}) != 1:
        raise ModelError(f"checkpoint {path}: the known ratings are missing or misaligned")
    net = RatingNet(
        state["item_text"],
        state["user_text"],
        state["r_item"],
        state["r_user"],
        state["r_value"],
        cfg,
    )
    _load_state(path, net, state)
    net = net.to(torch.device(resolve_device(device)))
    return TrainedRatingModel(net, cfg, items, users)


def _read(
    path: Path, kind: str, expected_item_ids: Sequence[str] | None
) -> tuple[dict[str, Any], list[str], list[str], dict[str, torch.Tensor]]:
    """Metadata, vocabularies and tensors of a checkpoint of ``kind``, checked for consistency."""
    for name in (TENSORS, CONFIG, ITEMS, USERS):
        if not (path / name).is_file():
            raise ModelError(f"checkpoint {path} is incomplete: {name} is missing")
    meta = _read_json(path / CONFIG)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        raise ModelError(
            f"checkpoint {path} has format {meta.get('format') if isinstance(meta, dict) else '?'}"
            f", this lmrec reads format {FORMAT_VERSION}"
        )
    # Checkpoints written before rating models existed carry no kind: they are sequence models.
    found = meta.get("kind", SEQUENCE)
    if found != kind:
        raise ModelError(f"checkpoint {path} holds a {found!r} model, not a {kind!r} model")
    items = _read_json(path / ITEMS)
    users = _read_json(path / USERS)
    if not _is_str_list(items) or not _is_str_list(users):
        raise ModelError(f"checkpoint {path}: items.json and users.json must be lists of ids")
    if len(items) != meta.get("n_items") or len(users) != meta.get("n_users"):
        raise ModelError(f"checkpoint {path}: vocabulary sizes disagree with config.json")
    if expected_item_ids is not None and list(expected_item_ids) != items:
        raise ModelError(
            f"checkpoint {path} was trained on another item catalog "
            f"({len(items)} items vs {len(expected_item_ids)} expected); retrain the model"
        )
    try:
        state = load_file(str(path / TENSORS))
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"checkpoint {path}: cannot read {TENSORS}: {exc}") from exc
    return meta, items, users, state


def _check_shapes(
    path: Path,
    state: Mapping[str, torch.Tensor],
    meta: Mapping[str, Any],
    items: Sequence[str],
    users: Sequence[str],
    per_item: Sequence[str],
) -> None:
    text_dim = int(meta.get("text_dim", -1))
    expect: dict[str, tuple[int, ...]] = {
        "item_text": (len(items), text_dim),
        "user_text": (len(users), text_dim),
    }
    expect.update({key: (len(items),) for key in per_item})
    for key, shape in expect.items():
        if key not in state or tuple(state[key].shape) != shape:
            raise ModelError(f"checkpoint {path}: tensor {key} is missing or has the wrong shape")


#: Parameter prefixes a checkpoint may lack because it predates them; they keep
#: their initial (no-op) values. Anything else missing is an error.
_OPTIONAL = ("rerank.",)


def _load_state(path: Path, net: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise ModelError(f"checkpoint {path} does not match the model: {exc}") from exc
    missing = [k for k in missing if not k.startswith(_OPTIONAL)]
    if missing or unexpected:
        raise ModelError(
            f"checkpoint {path} does not match the model: missing {missing}, "
            f"unexpected {list(unexpected)}"
        )


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc


def _is_str_list(x: Any) -> bool:
    return isinstance(x, list) and all(isinstance(v, str) for v in x)
