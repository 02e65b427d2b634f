"""Language-model features and text processing."""

from lmrec.text.encoder import (
    Encoder,
    FakeEncoder,
    SentenceEncoder,
    load_encoder,
    resolve_device,
    text_hash,
)
from lmrec.text.tokenize import fold, tokenize

__all__ = [
    "Encoder",
    "FakeEncoder",
    "SentenceEncoder",
    "fold",
    "load_encoder",
    "resolve_device",
    "text_hash",
    "tokenize",
]
