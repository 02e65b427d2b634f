"""The Engine: recommend, search, similar, rank over one catalog."""

from lmrec.engine.engine import Engine, EngineStats

__all__ = ["Engine", "EngineStats"]
