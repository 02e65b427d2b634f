"""The real-time loop beyond the request path: background learning with safe promotion."""

from lmrec.realtime.trainer import BackgroundTrainer, TrainerPolicy, TrainerStep

__all__ = ["BackgroundTrainer", "TrainerPolicy", "TrainerStep"]
