"""The Engine: recommend, search, similar, rank over one catalog."""

from lmrec.engine.engine import Engine, EngineStats
from lmrec.engine.explain import ExplainedItems, Explanation

__all__ = ["Engine", "EngineStats", "ExplainedItems", "Explanation"]
