"""lmrec's own model: two towers over frozen language-model vectors, plus pairwise heads.

Verbs are kept apart: :func:`train_model` trains (randomness, dropout, early
stopping) and :func:`refit_model` trains on over every event; :class:`TrainedModel`
scores (pure, deterministic);
:func:`save_checkpoint` / :func:`load_checkpoint` persist (safetensors + JSON).
The evaluation harness runs the model through :mod:`lmrec.model.adapters`.
"""

from lmrec.model.checkpoint import (
    load_checkpoint,
    load_rating_checkpoint,
    save_checkpoint,
    save_rating_checkpoint,
)
from lmrec.model.config import ModelConfig, RatingConfig
from lmrec.model.scoring import EpochLog, TrainedModel
from lmrec.model.train import refit_model, train_model

__all__ = [
    "EpochLog",
    "ModelConfig",
    "RatingConfig",
    "TrainedModel",
    "load_checkpoint",
    "load_rating_checkpoint",
    "refit_model",
    "save_checkpoint",
    "save_rating_checkpoint",
    "train_model",
]
