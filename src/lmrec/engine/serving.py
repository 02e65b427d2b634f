"""The trained model bound to the live catalog: what the engine serves once a model exists.

A :class:`ModelServing` holds one loaded model version, the item vectors of
every active catalog item in the model's space (known items: text projection +
ID residual; items the model never saw: text projection alone) in their own
vector index, and the vocabularies that map external ids to model indices.

User vectors are computed per request by the trained user tower from the
user's recent events as stored at that moment, so what a user just did shapes
their next answer without retraining. An instance is never mutated in ways a
concurrent reader could observe half-done: the engine swaps whole instances
(hot swap), and item additions go through the thread-safe vector index.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lmrec.index import VectorIndex, make_vector_index
from lmrec.model import TrainedModel
from lmrec.model.cooccurrence import MixScale
from lmrec.model.rerank import mix_scale, rerank_scores, stage_two_scores, with_item_mix
from lmrec.schema import Event, EventKind

Vector = npt.NDArray[np.float32]

#: Kinds whose item goes into the tower's history (negative kinds are handled apart).
NEGATIVE_KINDS = frozenset({EventKind.DISLIKE, EventKind.SKIP})


@dataclass(frozen=True, slots=True)
class HistoryInput:
    """One user's recent behaviour, in the form the user tower reads."""

    items: npt.NDArray[np.int64]
    text: Vector
    gaps: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.items.shape[0])


class ModelServing:
    """One model version serving the current catalog.

    Args:
        version: Registry version of the model.
        model: The loaded model.
        index: Model-space vectors of the active items.
    """

    def __init__(self, version: str, model: TrainedModel, index: VectorIndex) -> None:
        self.version = version
        self.model = model
        self.index = index
        self.item_pos = {i: n for n, i in enumerate(model.item_ids)}
        self.user_pos = {u: n for n, u in enumerate(model.user_ids)}

    @classmethod
    def build(
        cls,
        version: str,
        model: TrainedModel,
        ids: Sequence[str],
        text_vectors: Vector,
        *,
        ann_min_items: int,
    ) -> ModelServing:
        """Load the catalog's item vectors into a fresh index for ``model``."""
        index = make_vector_index(model.dim, len(ids), ann_min_items)
        serving = cls(version, model, index)
        serving.add_items(ids, text_vectors)
        return serving

    def item_vectors(self, ids: Sequence[str], text_vectors: Vector) -> Vector:
        """Model-space vectors of items from their LM text vectors (+ ID residual if known)."""
        if not ids:
            return np.zeros((0, self.model.dim), dtype=np.float32)
        pos = np.fromiter((self.item_pos.get(i, -1) for i in ids), dtype=np.int64, count=len(ids))
        return self.model.item_vectors(np.asarray(text_vectors, dtype=np.float32), pos)

    def add_items(self, ids: Sequence[str], text_vectors: Vector) -> None:
        """Index (or re-index) items; new items get their vector from text alone."""
        if ids:
            self.index.upsert(list(ids), self.item_vectors(ids, text_vectors))

    def remove_items(self, ids: Sequence[str]) -> None:
        self.index.remove(ids)

    @property
    def shortlist(self) -> int:
        """How many retrieval hits the second-stage ranker re-scores (0 = it is off)."""
        if not self.model.net.rerank.active:
            return 0
        return self.model.config.rerank_shortlist

    def rerank(
        self,
        user_vector: Vector,
        hits: Sequence[tuple[str, float]],
        history: npt.NDArray[np.int64] | None = None,
        scale: MixScale | None = None,
    ) -> list[tuple[str, float]]:
        """Re-score retrieval ``hits`` with the model's second stage, best first.

        ``history`` (the model item indices the user tower read, oldest first)
        lets the second stage mix in item-to-item scores when the model has them.
        ``scale`` is the :meth:`reference_scale` of the user's own retrieval
        shortlist when ``hits`` are not that shortlist (a query's matches, a
        filtered feed): the mix is then standardized over the shortlist, so the
        hits keep the order they have in the user's feed (see
        :func:`lmrec.model.rerank.with_item_mix`); without it, over ``hits``.

        Items added after training have no ID in the model; the ranker then sees
        their text-built vector and a zero count, as in training for rare items.
        """
        if not hits or self.shortlist == 0:
            return list(hits)
        ids = [h[0] for h in hits]
        pos = self._positions(ids)
        ranker = self.model.net.rerank
        histories = None if history is None else [history]
        if not bool(ranker.enabled):
            # Mixing only: the hits' retrieval scores are the stage-two scores, so
            # no item vector is fetched and no tensor is built (a quarter of the cost).
            base = np.fromiter((h[1] for h in hits), dtype=np.float32, count=len(hits))
            scores = with_item_mix(ranker, base[None, :], pos[None, :], histories, None, scale)[0]
        else:
            vecs = self._vectors(ids)
            if vecs is None:  # removed since the search: keep retrieval's answer
                return list(hits)
            scores = rerank_scores(
                ranker,
                np.asarray(user_vector, dtype=np.float32)[None, :],
                pos[None, :],
                vecs[None, :, :],
                histories,
                scale=scale,
            )[0]
        order = np.argsort(-scores, kind="stable")
        return [(ids[j], float(scores[j])) for j in order]

    def reference_scale(
        self,
        user_vector: Vector,
        history: npt.NDArray[np.int64] | None,
        reference: Sequence[tuple[str, float]] | None,
    ) -> MixScale | None:
        """The scale :meth:`rerank` puts hits on with this ``reference``, for reuse
        (None: no reference, a second stage that does not mix, or a reference item
        that left the index, when hits are scaled over themselves as without one)."""
        if not reference or self.shortlist == 0 or history is None:
            return None
        ids = [h[0] for h in reference]
        pos = self._positions(ids)[None, :]
        ranker = self.model.net.rerank
        if not bool(ranker.enabled):
            base = np.fromiter((h[1] for h in reference), np.float32, len(reference))[None, :]
        else:
            vecs = self._vectors(ids)
            if vecs is None:
                return None
            user = np.asarray(user_vector, dtype=np.float32)[None, :]
            base = stage_two_scores(ranker, user, pos, vecs[None, :, :])
        return mix_scale(ranker, base, pos, [history])

    def _positions(self, ids: Sequence[str]) -> npt.NDArray[np.int64]:
        """Model item index of each id; -1 for items added after training."""
        return np.fromiter((self.item_pos.get(i, -1) for i in ids), np.int64, len(ids))

    def _vectors(self, ids: Sequence[str]) -> npt.NDArray[np.float32] | None:
        """Retrieval vectors of ``ids`` stacked; None if one left the index meanwhile."""
        vecs = []
        for i in ids:
            v = self.index.get(i)
            if v is None:
                return None
            vecs.append(v)
        return np.stack(vecs).astype(np.float32, copy=False)

    def history(
        self,
        events: Sequence[Event],
        text_vector_of: Callable[[Event], Vector | None],
    ) -> HistoryInput:
        """The tower's input from a user's events, oldest first.

        Items the model knows go in by index; items it never saw and ``search``
        queries go in by their language-model vector (the tower reads both through
        the same text projection). Dislikes and skips stay out: they are negative
        feedback, applied by the engine when ranking.
        """
        idx: list[int] = []
        text: list[Vector] = []
        ts: list[float] = []
        values: list[float] = []
        dim = self.model.net.item_text.shape[1]
        for e in events[-self.model.config.max_len :]:
            if e.kind in NEGATIVE_KINDS:
                continue
            pos = self.item_pos.get(e.item, -1) if e.item is not None else -1
            if pos < 0:
                vec = text_vector_of(e)
                if vec is None:
                    continue
                text.append(vec)
            else:
                text.append(np.zeros(dim, dtype=np.float32))
            idx.append(pos)
            ts.append(e.ts)
            values.append(
                float(e.value) if e.kind is EventKind.RATE and e.value is not None else math.nan
            )
        gaps = np.full(len(ts), np.nan)
        if len(ts) > 1:
            gaps[1:] = np.maximum(np.diff(np.asarray(ts)), 0.0)
        return HistoryInput(
            items=np.asarray(idx, dtype=np.int64),
            text=np.stack(text) if text else np.zeros((0, dim), dtype=np.float32),
            gaps=gaps,
            values=np.asarray(values, dtype=np.float64),
        )

    def user_vector(
        self, user: str, history: HistoryInput, profile: Vector | None
    ) -> Vector | None:
        """The user tower's vector; None when nothing at all is known about the user."""
        pos = self.user_pos.get(user, -1)
        if len(history) == 0 and pos < 0 and profile is None:
            return None
        profiles = None
        if profile is not None and pos < 0:
            profiles = np.asarray(profile, dtype=np.float32)[None, :]
        vec = self.model.user_vectors(
            np.asarray([pos], dtype=np.int64),
            [history.items],
            gaps=[history.gaps],
            values=[history.values],
            profiles=profiles,
            history_text=[history.text],
        )
        out: Vector = vec[0]
        return out
