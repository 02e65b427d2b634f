"""Honest, reproducible evaluation: protocols, metrics, baselines and reports.

``run_evaluation`` runs registered models (the baselines, and lmrec's own model
once registered with ``register_model``) on named protocols and writes
``report.json`` and ``report.md``. Protocol definitions: ``docs/protocols.md``.
"""

from lmrec.evaluate.base import FitContext, Ranker, RatingModel, ValidationSplit
from lmrec.evaluate.protocols import PROTOCOLS, Fold, Protocol, get_protocol, register_protocol
from lmrec.evaluate.report import EvaluationReport, ModelResult, ProtocolResult
from lmrec.evaluate.runner import MODELS, register_model, run_evaluation

__all__ = [
    "MODELS",
    "PROTOCOLS",
    "EvaluationReport",
    "FitContext",
    "Fold",
    "ModelResult",
    "Protocol",
    "ProtocolResult",
    "Ranker",
    "RatingModel",
    "ValidationSplit",
    "get_protocol",
    "register_model",
    "register_protocol",
    "run_evaluation",
]
