"""Language-model vectors for items and users, computed once and cached on disk.

Encoding a catalog takes seconds to minutes, and every protocol and model of
a run needs the same vectors, so they are stored as ``.npy`` files keyed by a
hash of the encoder name and every text. Files are written to a temporary name
and renamed into place, so a crash never leaves a half-written cache.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lmrec.evaluate.base import FloatMatrix
from lmrec.text import Encoder, load_encoder


def texts_key(encoder_name: str, texts: Sequence[str]) -> str:
    """Hash of the encoder name and the texts in order (cache file stem)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(encoder_name.encode("utf-8"))
    for t in texts:
        h.update(b"\x00")
        h.update(t.encode("utf-8"))
    return h.hexdigest()


def cached_vectors(texts: Sequence[str], encoder: str | Encoder, cache_dir: Path) -> FloatMatrix:
    """Vectors of ``texts``, read from ``cache_dir`` when this exact input was seen.

    Args:
        texts: Texts to encode, in order.
        encoder: An encoder, or a name for :func:`lmrec.text.load_encoder`; a
            name is only loaded when the cache misses.
        cache_dir: Folder of the ``.npy`` files.
    """
    name = encoder if isinstance(encoder, str) else encoder.name
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"vectors-{texts_key(name, texts)}.npy"
    if path.exists():
        cached: FloatMatrix = np.load(path, allow_pickle=False).astype(np.float32, copy=False)
        return cached
    # Batches run on PyTorch whatever the runtime; ONNX Runtime serves single texts
    # only, so exporting (and quantizing) graphs here would be seconds for nothing.
    enc = load_encoder(encoder, runtime="torch") if isinstance(encoder, str) else encoder
    vecs = np.asarray(enc.encode(list(texts)), dtype=np.float32)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, vecs, allow_pickle=False)
    os.replace(tmp, path)
    return vecs
