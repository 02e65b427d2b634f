"""Training a model from what the store holds, and recording it in the registry.

The engine's ``train`` verb: gather the catalog, profiles and events, hold out
each user's last interaction for early stopping (the P1 validation rule), train,
with the users' search queries woven into their histories as the served user
tower reads them,
write the checkpoint atomically under ``<data_dir>/models/<version>/`` and
register it. Activation is the caller's choice (the background trainer only
activates a candidate that is not worse than the serving model).
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lmrec.errors import InvalidInputError
from lmrec.evaluate.base import ValidationSplit
from lmrec.interactions import Interactions
from lmrec.model import (
    ModelConfig,
    TrainedModel,
    refit_model,
    save_checkpoint,
    train_model,
)
from lmrec.model.history import QueryLog
from lmrec.schema import Event, EventKind, Item, ModelVersion, User
from lmrec.settings import Settings
from lmrec.store import Store

Vector = npt.NDArray[np.float32]

#: Event kinds the model learns from (negative and query-only kinds are left out).
TRAINING_KINDS = frozenset(
    {
        EventKind.VIEW,
        EventKind.CLICK,
        EventKind.CART,
        EventKind.PURCHASE,
        EventKind.RATE,
        EventKind.LIKE,
    }
)


@dataclass(frozen=True)
class TrainingData:
    """Everything ``train_model`` needs, built from the store.

    ``train`` is ``everything`` less each user's last event, which ``valid`` holds
    out for early stopping (``train`` is ``everything`` when nothing is held out).
    """

    train: Interactions
    valid: ValidationSplit | None
    item_vectors: Vector
    user_vectors: Vector
    everything: Interactions
    queries: QueryLog | None = None


def last_event_holdout(
    data: Interactions, min_events: int = 3
) -> tuple[Interactions, ValidationSplit | None]:
    """Hold out each user's last event (by time, stable) as a validation case.

    Users with fewer than ``min_events`` events keep all of them in training.
    """
    order = data.time_order()
    users = data.user[order]
    keep = np.ones(len(data), dtype=bool)
    v_users: list[int] = []
    v_items: list[int] = []
    v_hist: list[npt.NDArray[np.int64]] = []
    v_vals: list[float] = []
    bounds = np.flatnonzero(np.diff(users)) + 1
    for rows in np.split(order, bounds):
        if len(rows) < min_events:
            continue
        last = rows[-1]
        keep[last] = False
        v_users.append(int(data.user[last]))
        v_items.append(int(data.item[last]))
        v_hist.append(data.item[rows[:-1]].astype(np.int64))
        v_vals.append(float(data.value[last]))
    if not v_users:
        return data, None
    valid = ValidationSplit(
        users=np.asarray(v_users, dtype=np.int64),
        items=np.asarray(v_items, dtype=np.int64),
        histories=v_hist,
        values=np.asarray(v_vals, dtype=np.float64),
    )
    return data.subset(keep), valid


def training_data(
    items: Sequence[Item],
    users: Sequence[User],
    events: Sequence[Event],
    item_text_vectors: Vector,
    profile_vector: Callable[[str], Vector | None],
    settings: Settings,
    query_vectors: Callable[[Sequence[str]], Sequence[Vector]] | None = None,
) -> TrainingData:
    """Dense training data: item text vectors aligned with ``items``, profile vectors per user.

    With ``query_vectors`` (LM vectors of query texts, in order), the ``search``
    events of users who have something to learn from become a :class:`QueryLog`:
    serving feeds a user's recent queries to the user tower, so training does too.
    """
    learnable = [e for e in events if e.kind in TRAINING_KINDS]
    data = Interactions.from_records(
        items,
        learnable,
        users,
        event_weights=settings.event_weights,
        text_fields=settings.item_text_fields,
    )
    if len(data) == 0:
        raise InvalidInputError("there are no interaction events to train on yet")
    dim = item_text_vectors.shape[1]
    user_vecs = np.zeros((data.n_users, dim), dtype=np.float32)
    for n, user_id in enumerate(data.users.ids):
        if data.user_texts[n]:
            vec = profile_vector(user_id)
            if vec is not None:
                user_vecs[n] = vec
    train, valid = last_event_holdout(data)
    queries = None
    if query_vectors is not None:
        queries = query_log(events, data, query_vectors)
    vectors = item_text_vectors.astype(np.float32)
    return TrainingData(train, valid, vectors, user_vecs, everything=data, queries=queries)


def query_log(
    events: Sequence[Event],
    data: Interactions,
    query_vectors: Callable[[Sequence[str]], Sequence[Vector]],
) -> QueryLog | None:
    """The ``search`` events of ``data``'s users, with their query vectors.

    Searches by users with no learnable event are left out: they have no
    sequence to be part of. Each distinct query text is encoded once.
    """
    searches = [
        (data.users.index[e.user], e.ts, e.query)
        for e in events
        if e.kind is EventKind.SEARCH and e.query and e.user in data.users.index
    ]
    if not searches:
        return None
    users, times, texts = zip(*searches, strict=True)
    distinct = sorted(set(texts))
    vec_of = dict(zip(distinct, query_vectors(distinct), strict=True))
    return QueryLog(
        user=np.asarray(users, dtype=np.int64),
        ts=np.asarray(times, dtype=np.float64),
        vectors=np.stack([vec_of[t] for t in texts]).astype(np.float32),
    )


def new_version() -> str:
    """A sortable, unique version name such as ``20261128-063000-3fa2``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


def fit(
    data: TrainingData,
    config: ModelConfig,
    *,
    progress: bool,
    init: TrainedModel | None = None,
) -> TrainedModel:
    """Train (or, with ``init``, fine-tune from a warm start) on ``data``, early-stopping
    on its held-out events, then train on over every event (``config.refit_epochs``,
    see :func:`lmrec.model.refit_model`) so the served model has learned each user's
    latest event too."""
    model = train_model(
        data.train,
        data.item_vectors,
        data.user_vectors,
        config,
        valid=data.valid,
        progress=progress,
        init=init,
        queries=data.queries,
    )
    if data.valid is None:
        return model  # nothing was held out: train is everything
    return refit_model(
        model,
        data.everything,
        data.item_vectors,
        data.user_vectors,
        queries=data.queries,
        progress=progress,
    )


def register(
    store: Store,
    model: TrainedModel,
    models_dir: Path,
    *,
    events_seen: int,
    extra_metrics: dict[str, float] | None = None,
) -> ModelVersion:
    """Write the checkpoint atomically and record it (inactive) in the registry."""
    version = new_version()
    path = save_checkpoint(model, models_dir / version)
    best = max(model.log, key=lambda e: e.metric) if model.log else None
    metrics: dict[str, float] = {"events_seen": float(events_seen)}
    if best is not None:
        metrics.update(
            {
                "valid_ndcg10": best.metric,
                "best_epoch": float(best.epoch),
                # EpochLog.seconds is the time elapsed since training started.
                "train_seconds": float(model.log[-1].seconds)
                + (model.refit_log[-1].seconds if model.refit_log else 0.0),
                "refit_epochs": float(len(model.refit_log)),
            }
        )
        rate = model.samples_per_second  # summed over the epochs: read once
        if not math.isnan(rate):
            metrics["train_samples_per_second"] = rate
    if model.rerank is not None:
        # The second stage's verdict, from cross-fitting on the validation cases.
        metrics.update(
            {
                "rerank_enabled": 1.0 if model.rerank.enabled else 0.0,
                "rerank_valid_ndcg10": model.rerank.reranked_ndcg10,
                "retrieval_valid_ndcg10": model.rerank.retrieval_ndcg10,
            }
        )
        mix = model.rerank.item_mix
        if mix is not None:
            # The item-to-item mix and the cross-fitted validation figures behind it.
            metrics.update(
                {
                    "rerank_item_mix": mix.mix,
                    "rerank_transition_mix": mix.seq_mix,
                    "item_mix_valid_ndcg10": mix.with_ndcg10,
                    "no_item_mix_valid_ndcg10": mix.without_ndcg10,
                }
            )
    metrics.update(extra_metrics or {})
    record = ModelVersion(
        version=version,
        path=str(path),
        created_at=time.time(),
        metrics=metrics,
        config=model.config.to_dict(),
        active=False,
    )
    store.register_model(record)
    return record
