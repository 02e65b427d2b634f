"""A trained model ready to score: the pure API the engine and the evaluation adapters call.

Indices are dense positions in the vocabularies saved with the model
(``item_ids``, ``user_ids``); ``-1`` means "no ID" (a new item or user), in
which case only the language-model vector is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from lmrec.errors import InvalidInputError
from lmrec.model.config import ModelConfig
from lmrec.model.network import LmrecNet
from lmrec.model.rerank import RerankFit
from lmrec.model.towers import gap_buckets, value_buckets

_T = TypeVar("_T")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Vectors = npt.NDArray[np.float32]

_CHUNK = 256


@dataclass
class PaddedHistory:
    """Left-padded history tensors, as the user tower reads them."""

    items: Tensor
    new_text: Tensor  # (m, text_dim): LM vectors of the -1 entries, row-major order
    gaps: Tensor
    values: Tensor
    pad: Tensor


def pad_histories(
    net: LmrecNet,
    histories: Sequence[IntArray],
    gaps: Sequence[FloatArray] | None,
    values: Sequence[FloatArray] | None,
    history_text: Sequence[Vectors | None] | None,
    max_len: int,
) -> PaddedHistory:
    """Keep the last ``max_len`` events of each history and left-pad them.

    Entries ``-1`` in a history take their LM vector from ``history_text`` (an
    item the model has never seen); other entries use the model's own catalog,
    so only the former's vectors are gathered here.
    """
    b = len(histories)
    dev = net.item_text.device
    length = max(1, min(max_len, max((len(h) for h in histories), default=1)))
    items = np.full((b, length), -1, dtype=np.int64)
    buckets = np.zeros((b, length), dtype=np.int64)
    vbuckets = np.zeros((b, length), dtype=np.int64)
    pad = np.ones((b, length), dtype=bool)
    new_text: list[npt.NDArray[np.float32]] = []
    for j, h in enumerate(histories):
        h = np.asarray(h, dtype=np.int64)[-length:]
        n = len(h)
        if n == 0:
            continue
        if (h >= net.n_items).any() or (h < -1).any():
            raise InvalidInputError(f"history {j} names an item index outside the model catalog")
        items[j, length - n :] = h
        pad[j, length - n :] = False
        if gaps is not None:
            g = np.asarray(gaps[j], dtype=np.float64)[-n:]
            buckets[j, length - n :] = gap_buckets(g, net.cfg.gap_buckets)
        if values is not None:
            v = np.asarray(values[j], dtype=np.float64)[-n:]
            vbuckets[j, length - n :] = value_buckets(v)
        known = h >= 0
        if (~known).any():
            if history_text is None or history_text[j] is None:
                raise InvalidInputError(f"history {j} has items without an index or text vector")
            new_text.append(np.asarray(history_text[j], dtype=np.float32)[-n:][~known])
    text_dim = net.item_text.shape[1]
    gathered = np.concatenate(new_text) if new_text else np.zeros((0, text_dim), np.float32)
    return PaddedHistory(
        items=torch.from_numpy(items).to(dev),
        new_text=torch.from_numpy(gathered).to(dev),
        gaps=torch.from_numpy(buckets).to(dev),
        values=torch.from_numpy(vbuckets).to(dev),
        pad=torch.from_numpy(pad).to(dev),
    )


@dataclass(frozen=True)
class EpochLog:
    """One training epoch: mean loss, validation metric (higher is better) and elapsed seconds.

    ``seconds`` is the time since training started (validation included);
    ``samples`` and ``step_seconds`` are the training targets this epoch's steps
    learned from and the time those steps took (forward, backward and update, with
    the device synchronised), so ``samples / step_seconds`` is the training
    throughput on its own, comparable across devices.
    """

    epoch: int
    loss: float
    metric: float
    seconds: float
    samples: int = 0
    step_seconds: float = 0.0


class TrainedModel:
    """A trained lmrec network plus the vocabularies its indices refer to.

    Args:
        net: The network (moved to eval mode here).
        config: Its hyper-parameters.
        item_ids: External id of each item index.
        user_ids: External id of each user index.
        log: Per-epoch training log (empty for a model loaded from a checkpoint).
    """

    def __init__(
        self,
        net: LmrecNet,
        config: ModelConfig,
        item_ids: Sequence[str],
        user_ids: Sequence[str],
        log: Sequence[EpochLog] = (),
    ) -> None:
        self.net = net.eval()
        self.log = tuple(log)
        self.config = config
        self.item_ids = tuple(item_ids)
        self.user_ids = tuple(user_ids)
        self._catalog: Tensor | None = None
        self.rerank: RerankFit | None = None
        """How the shortlist ranker fared when it was trained (None: not trained in
        this process, e.g. loaded from a checkpoint; ``net.rerank.enabled`` says
        whether it is used)."""
        self.refit_log: tuple[EpochLog, ...] = ()
        """The epochs trained on every event after early stopping (see
        :func:`lmrec.model.train.refit_model`; no validation metric), in this process."""

    @property
    def samples_per_second(self) -> float:
        """Training throughput: targets learned from per second of optimisation steps,
        over every epoch of ``log`` and ``refit_log`` (NaN when none was timed, e.g. a
        model loaded from a checkpoint)."""
        epochs = [e for e in (*self.log, *self.refit_log) if e.step_seconds > 0]
        seconds = sum(e.step_seconds for e in epochs)
        return sum(e.samples for e in epochs) / seconds if seconds > 0 else float("nan")

    def refresh(self) -> None:
        """Forget cached catalog vectors; call after the parameters changed (training)."""
        self._catalog = None

    @property
    def device(self) -> torch.device:
        return self.net.item_text.device

    @property
    def dim(self) -> int:
        """Width of user and item vectors."""
        return self.config.dim

    @property
    def n_items(self) -> int:
        return self.net.n_items

    @property
    def n_users(self) -> int:
        return self.net.n_users

    def _catalog_tensor(self) -> Tensor:
        if self._catalog is None:
            with torch.no_grad():
                self._catalog = self.net.catalog()
        return self._catalog

    def catalog_vectors(self, *, text_only: bool = False) -> Vectors:
        """Retrieval vectors of every known item ``(n_items, dim)``; index these for ANN."""
        if not text_only:
            return self._catalog_tensor().cpu().numpy()
        with torch.no_grad():
            return self.net.catalog(text_only=True).cpu().numpy()

    def item_vectors(self, text_vectors: Vectors, items: IntArray | None = None) -> Vectors:
        """Retrieval vectors for items given by LM text vector and optional index.

        A brand-new item passes its text vector and index ``-1`` (or no ``items``):
        its vector comes from text alone, which training made good on purpose.
        """
        text = torch.as_tensor(np.asarray(text_vectors, dtype=np.float32), device=self.device)
        if text.dim() != 2 or text.shape[1] != self.net.item_text.shape[1]:
            raise InvalidInputError(
                f"item text vectors must be (m, {self.net.item_text.shape[1]}), "
                f"got {tuple(text.shape)}"
            )
        idx = None
        if items is not None:
            idx = torch.as_tensor(np.asarray(items, dtype=np.int64), device=self.device)
            if (idx >= self.n_items).any():
                raise InvalidInputError("item index outside the model catalog")
        with torch.no_grad():
            return self.net.item_vectors(text, idx).cpu().numpy()

    def _user_tensor(
        self,
        users: IntArray,
        histories: Sequence[IntArray],
        gaps: Sequence[FloatArray] | None,
        values: Sequence[FloatArray] | None,
        profiles: Vectors | None,
        history_text: Sequence[Vectors | None] | None,
    ) -> Tensor:
        u_idx = torch.as_tensor(np.asarray(users, dtype=np.int64), device=self.device)
        if (u_idx >= self.n_users).any():
            raise InvalidInputError("user index outside the model vocabulary")
        if profiles is None:
            prof = self.net.user_text[u_idx.clamp(min=0)] * (u_idx >= 0).unsqueeze(-1)
        else:
            prof = torch.as_tensor(np.asarray(profiles, dtype=np.float32), device=self.device)
        p = pad_histories(self.net, histories, gaps, values, history_text, self.config.max_len)
        states = self.net.history_states(
            self._catalog_tensor(), p.items, p.new_text, p.gaps, p.values, p.pad, last_only=True
        )
        empty = p.pad.all(dim=1, keepdim=True)
        last = states[:, -1] * (~empty).to(states.dtype)
        return last + self.net.user_static(prof, u_idx)

    def user_vectors(
        self,
        users: IntArray,
        histories: Sequence[IntArray],
        *,
        gaps: Sequence[FloatArray] | None = None,
        values: Sequence[FloatArray] | None = None,
        profiles: Vectors | None = None,
        history_text: Sequence[Vectors | None] | None = None,
    ) -> Vectors:
        """Retrieval vectors of users from what they did recently.

        Args:
            users: User index per row; ``-1`` for a new user (no ``u0``).
            histories: Item indices per user, oldest first; ``-1`` marks an item the
                model does not know, whose LM vector is then read from ``history_text``.
            gaps: Seconds since the previous event, per history entry (NaN = unknown).
            values: Rating of each history entry (NaN = none); ratings are rounded
                to whole numbers 0..10.
            profiles: LM vectors of the users' profile texts ``(n, text_dim)``;
                default: the stored vector of each known user (zero for new users).
            history_text: LM vectors aligned with ``histories`` for unknown items.
        """
        if len(users) != len(histories):
            raise InvalidInputError("users and histories must have the same length")
        out = np.zeros((len(users), self.dim), dtype=np.float32)
        users = np.asarray(users)
        prof_rows = None if profiles is None else np.asarray(profiles)
        # Chunks of users with similar history lengths: a chunk is padded to its
        # longest history, and ML-100K's histories run from 5 to several hundred.
        lengths = np.fromiter((min(len(h), self.config.max_len) for h in histories), np.int64)
        order = np.argsort(lengths, kind="stable")

        def pick(rows: npt.NDArray[np.int64], seq: Sequence[_T] | None) -> list[_T] | None:
            return None if seq is None else [seq[j] for j in rows]

        # inference_mode, not no_grad: no version counters or views are tracked,
        # which is measurable at one user per call (the serving path).
        with torch.inference_mode():
            for s in range(0, len(users), _CHUNK):
                rows = order[s : s + _CHUNK]
                out[rows] = (
                    self._user_tensor(
                        users[rows],
                        [histories[j] for j in rows],
                        pick(rows, gaps),
                        pick(rows, values),
                        None if prof_rows is None else prof_rows[rows],
                        pick(rows, history_text),
                    )
                    .cpu()
                    .numpy()
                )
        return out

    def score(
        self,
        users: IntArray,
        histories: Sequence[IntArray],
        *,
        gaps: Sequence[FloatArray] | None = None,
        values: Sequence[FloatArray] | None = None,
    ) -> Vectors:
        """Retrieval scores ``dot(u, i)`` of every catalog item, ``(n, n_items)``."""
        vecs = self.user_vectors(users, histories, gaps=gaps, values=values)
        return self.score_vectors(vecs)

    def score_vectors(self, user_vectors: Vectors) -> Vectors:
        """Scores ``dot(u, i)`` of every catalog item for precomputed user vectors."""
        u = torch.as_tensor(np.asarray(user_vectors, dtype=np.float32), device=self.device)
        with torch.no_grad():
            return (u @ self._catalog_tensor().T).cpu().numpy()

    def predict_ratings(
        self,
        users: IntArray,
        items: IntArray,
        histories: Sequence[IntArray],
        *,
        gaps: Sequence[FloatArray] | None = None,
        values: Sequence[FloatArray] | None = None,
    ) -> FloatArray:
        """Predicted explicit rating of each (user, item) pair, given each user's history.

        Rows of the same user must carry the same history: the user vector is
        computed once per distinct user.
        """
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        if not len(users) == len(items) == len(histories):
            raise InvalidInputError("users, items and histories must have the same length")
        if (items < 0).any() or (items >= self.n_items).any():
            raise InvalidInputError("item index outside the model catalog")
        uniq, first, inverse = np.unique(users, return_index=True, return_inverse=True)
        vecs = self.user_vectors(
            uniq,
            [histories[j] for j in first],
            gaps=None if gaps is None else [gaps[j] for j in first],
            values=None if values is None else [values[j] for j in first],
        )
        u_all = torch.as_tensor(vecs, device=self.device)
        out = np.zeros(len(users), dtype=np.float64)
        with torch.no_grad():
            for s in range(0, len(users), 4096):
                e = s + 4096
                inv = torch.as_tensor(inverse[s:e], device=self.device)
                it = torch.as_tensor(items[s:e], device=self.device)
                ut = torch.as_tensor(users[s:e], device=self.device)
                out[s:e] = self.net.predict_rating(u_all[inv], ut, it).cpu().numpy()
        return out
