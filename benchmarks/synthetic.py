"""The synthetic large catalog both benchmarks grow: ML-100K plus mixed-vector films.

Shared by ``realtime.py --large`` and ``search.py --only lexical100k`` so the two
measure the same catalog.
"""

from __future__ import annotations

import numpy as np

from lmrec.engine import Engine
from lmrec.schema import Item
from lmrec.text import text_hash


def grow_catalog(engine: Engine, total: int, seed: int = 0) -> int:
    """Grow ``engine``'s catalog to ``total`` items titled ``Synthetic film <n>``.

    Each text vector mixes two real films' vectors plus noise and is put in the
    embedding cache under the synthetic text's hash, so the engine indexes 100k
    items without running the encoder 100k times. ``film`` is in nearly every
    title: the worst case for BM25 postings. Returns the catalog size.
    """
    have = engine.stats().items
    if have >= total:
        return have
    real_ids, real = engine._active_text_vectors()
    rng = np.random.default_rng(seed)
    genres = sorted(engine.stats().categories)
    step = engine.settings.max_items_per_request
    batch: list[Item] = []
    for n in range(have, total):
        a, b = rng.integers(0, len(real_ids), 2)
        genre = genres[n % len(genres)]
        item = Item(f"syn-{n}", f"Synthetic film {n}", f"A {genre.lower()} story.", (genre,))
        vec = real[a] + real[b] + 0.3 * rng.standard_normal(real.shape[1]).astype(np.float32)
        vec /= np.linalg.norm(vec)
        engine.store.put_embeddings(
            engine.encoder.name, {text_hash(engine._text_of(item)): vec.astype(np.float32)}
        )
        batch.append(item)
        if len(batch) == step:
            engine.upsert_items(batch)
            batch = []
    if batch:
        engine.upsert_items(batch)
    return engine.stats().items
