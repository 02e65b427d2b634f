"""lmrec's own model: two towers over frozen language-model vectors, plus pairwise heads.

Verbs are kept apart: :func:`train_model` trains (randomness, dropout, early
stopping); :class:`TrainedModel` scores (pure, deterministic);
:func:`save_checkpoint` / :func:`load_checkpoint` persist (safetensors + JSON).
The evaluation harness runs the model through :mod:`lmrec.model.adapters`.
"""

from lmrec.model.checkpoint import load_checkpoint, save_checkpoint
from lmrec.model.config import ModelConfig
from lmrec.model.scoring import EpochLog, TrainedModel
from lmrec.model.train import train_model

__all__ = [
    "EpochLog",
    "ModelConfig",
    "TrainedModel",
    "load_checkpoint",
    "save_checkpoint",
    "train_model",
]
