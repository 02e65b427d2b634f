"""lmrec: real-time personalized search and recommendation powered by pretrained language models."""

from lmrec.schema import (
    Event,
    EventKind,
    IngestResult,
    Item,
    ModelVersion,
    ScoredItem,
    ScoredItems,
    User,
)
from lmrec.settings import Settings

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The Engine pulls in torch and the encoder stack; import it on first use so
    # that `import lmrec` stays cheap for the CLI's --help and for data tools.
    if name == "Engine":
        from lmrec.engine import Engine

        return Engine
    raise AttributeError(f"module 'lmrec' has no attribute {name!r}")


__all__ = [
    "Engine",
    "Event",
    "EventKind",
    "IngestResult",
    "Item",
    "ModelVersion",
    "ScoredItem",
    "ScoredItems",
    "Settings",
    "User",
    "__version__",
]
