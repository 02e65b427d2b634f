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
    (vecs,) = cached_vector_sets([texts], encoder, cache_dir)
    return vecs


def cached_vector_sets(
    text_sets: Sequence[Sequence[str]], encoder: str | Encoder, cache_dir: Path
) -> list[FloatMatrix]:
    """:func:`cached_vectors` of each list of texts (items, users...), loading a named
    encoder at most once however many of them miss the cache: loading MiniLM takes
    seconds, as long as encoding ML-100K's users."""
    name = encoder if isinstance(encoder, str) else encoder.name
    cache_dir.mkdir(parents=True, exist_ok=True)
    loaded = None if isinstance(encoder, str) else encoder
    out: list[FloatMatrix] = []
    for texts in text_sets:
        path = cache_dir / f"vectors-{texts_key(name, texts)}.npy"
        if path.exists():
            out.append(np.load(path, allow_pickle=False).astype(np.float32, copy=False))
            continue
        if loaded is None:
            # Batches run on PyTorch whatever the runtime; ONNX Runtime serves single
            # texts only, so exporting (and quantizing) graphs here would be seconds
            # for nothing.
            loaded = load_encoder(name, runtime="torch")
        vecs = np.asarray(loaded.encode(list(texts)), dtype=np.float32)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, vecs, allow_pickle=False)
        os.replace(tmp, path)
        out.append(vecs)
    return out
