"""Second stage: re-score the retrieval shortlist with ``r = dot(u, i) + MLP([u, i, u*i, f])``.

Retrieval must stay a plain dot product so an ANN index can serve it; a ranker
that sees the pair (and a few features) can model interactions a dot product
cannot. It is a *residual* on the retrieval score, with its last layer starting
at zero, so an untrained or weakly trained ranker changes nothing.

Training uses the validation cases only (each user's held-out next event and
the history before it): the retrieval model never trained on those targets, so
its scores there look like scores at serving time. With a few hundred cases a
ranker can easily overfit, so it is judged by two-fold cross-fitting on those
cases, against retrieval alone, and switched on only if it ranks the held-out
halves better. The verdict and both figures are saved with the model. Training
it on each user's last ten training positions instead (validation only choosing
the epochs and judging) was tried on MovieLens-100K: it beat retrieval alone on
seven of eight nested trainings but added nothing over the item mix (docs/tuning.md).

The shortlist may then be mixed with item-to-item and transition scores of the
user's history (:mod:`lmrec.model.cooccurrence`); their weights live in this module's buffers
so that they are saved, loaded and swapped with the rest of the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from lmrec.model.cooccurrence import (
    MAX_ITEMS,
    MixScale,
    item_item_scores,
    mix_scores,
    transition_scores,
)
from lmrec.model.ranker import PairMLP

IntArray = npt.NDArray[np.int64]

#: Per-pair features besides ``u``, ``i`` and ``u*i``: the retrieval score and
#: ``log(1 + training events of the item)`` (0 for items the model never saw).
N_FEATURES = 2


class ShortlistRanker(nn.Module):
    """``dot + MLP([u, i, u*i, dot, log_count])``; a no-op until trained and enabled.

    Args:
        dim: Width of user and item vectors.
        n_items: Items of the model catalog (for the per-item count feature).
        hidden: Hidden width of the MLP.
        dropout: Dropout inside the MLP during training.
        neighbours: Item-to-item weights kept per item (see :mod:`lmrec.model.cooccurrence`).
        successors: Next items kept per item for transition scores (none for catalogs
            over :data:`~lmrec.model.cooccurrence.MAX_ITEMS`, which never fit them).
    """

    enabled: Tensor
    log_count: Tensor
    co_sources: Tensor
    co_weights: Tensor
    co_mix: Tensor
    co_decay: Tensor
    seq_next: Tensor
    seq_weights: Tensor
    seq_mix: Tensor
    seq_last: Tensor

    def __init__(
        self,
        dim: int,
        n_items: int,
        hidden: int,
        dropout: float,
        neighbours: int = 0,
        successors: int = 0,
    ) -> None:
        super().__init__()
        self.mlp = PairMLP(dim, N_FEATURES, hidden, dropout)
        last = self.mlp.net[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.register_buffer("enabled", torch.zeros((), dtype=torch.bool))
        self.register_buffer("log_count", torch.zeros(n_items))
        # Item-to-item weights (see lmrec.model.cooccurrence); co_mix 0 = not used.
        self.register_buffer("co_sources", torch.full((n_items, neighbours), -1))
        self.register_buffer("co_weights", torch.zeros(n_items, neighbours))
        self.register_buffer("co_mix", torch.zeros(()))
        self.register_buffer("co_decay", torch.ones(()))
        # Transitions (next items of each item); seq_mix 0 = not used. They share co_decay.
        # Catalogs over MAX_ITEMS never fit them, so they carry no empty table either.
        successors = successors if n_items <= MAX_ITEMS else 0
        self.register_buffer("seq_next", torch.full((n_items, successors), -1))
        self.register_buffer("seq_weights", torch.zeros(n_items, successors))
        self.register_buffer("seq_mix", torch.zeros(()))
        self.register_buffer("seq_last", torch.zeros((), dtype=torch.long))

    @property
    def active(self) -> bool:
        """Whether the second stage changes anything: a trained ranker, or mixing."""
        return bool(self.enabled) or float(self.co_mix) > 0 or float(self.seq_mix) > 0

    def forward(self, u: Tensor, items: Tensor, vecs: Tensor) -> Tensor:
        """Scores ``(n, S)`` of shortlist ``items`` (``-1`` = not in the model catalog).

        Args:
            u: User vectors ``(n, dim)``.
            items: Candidate item indices ``(n, S)``.
            vecs: Their retrieval vectors ``(n, S, dim)``.
        """
        dot = (vecs * u.unsqueeze(1)).sum(-1)
        count = torch.where(items >= 0, self.log_count[items.clamp(min=0)], torch.zeros_like(dot))
        feats = torch.stack([dot, count], dim=-1)
        out: Tensor = dot + self.mlp(u.unsqueeze(1), vecs, feats)
        return out


#: Random half-splits whose cross-fitted judgements :func:`choose_mix` averages.
MIX_SPLITS = 20

#: Item-to-item mixing weights tried on the validation cases (0 = off).
MIX_GRID = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


@dataclass(frozen=True)
class MixFit:
    """How mixing fared on validation cases (two-fold cross-fitting, as the ranker)."""

    mix: float
    """The weight of the item-to-item (EASE) scores used from now on (0 = off)."""
    without_ndcg10: float
    """Validation NDCG@10 of the stage-two scores alone."""
    with_ndcg10: float
    """Cross-fitted validation NDCG@10 with mixing."""
    seq_mix: float = 0.0
    """The weight of the transition scores used from now on (0 = off)."""


@dataclass(frozen=True)
class RerankFit:
    """How the ranker fared on held-out validation cases (two-fold cross-fitting).

    ``epochs`` is the epoch count cross-fitting chose (the final ranker trains
    that long on every case when ``enabled``).
    """

    enabled: bool
    cases: int
    retrieval_ndcg10: float
    reranked_ndcg10: float
    epochs: int
    item_mix: MixFit | None = None
    """The item-to-item mix chosen after the ranker (None: not fitted)."""


def shortlists(
    scores: npt.NDArray[np.float32], histories: Sequence[IntArray], size: int
) -> IntArray:
    """Top-``size`` items per row of ``scores``, best first, never from the row's history."""
    s = np.array(scores, dtype=np.float32, copy=True)
    for k, h in enumerate(histories):
        s[k, np.asarray(h, dtype=np.int64)] = -np.inf
    size = min(size, s.shape[1])
    top = np.argpartition(-s, size - 1, axis=1)[:, :size]
    order = np.argsort(-np.take_along_axis(s, top, 1), axis=1, kind="stable")
    return np.take_along_axis(top, order, 1)


def fit_ranker(
    ranker: ShortlistRanker,
    users: Tensor,
    catalog: Tensor,
    short: IntArray,
    targets: IntArray,
    *,
    epochs: int,
    lr: float,
    weight_decay: float,
    seed: int,
) -> RerankFit:
    """Cross-fit, decide, then train ``ranker`` on every case if it helped.

    Args:
        ranker: The (zero-initialised) ranker; trained in place.
        users: User vectors of the validation cases ``(n, dim)``.
        catalog: Retrieval vectors of every item ``(n_items, dim)``.
        short: Retrieval shortlist per case ``(n, S)``, best first.
        targets: The held-out item of each case ``(n,)``.
        epochs: Epochs over the cases; the cross-fit picks the best count up to this.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay (strong: few cases).
        seed: Seed of the fold split and of training.
    """
    pos = target_positions(short, targets)
    inside = np.flatnonzero(pos >= 0)
    n = len(targets)
    base_case = _case_ndcg(np.where(pos >= 0, pos, 10**9))
    base = float(base_case.mean()) if n else 0.0
    if len(inside) < 20:  # too few to learn or to judge anything
        return RerankFit(False, n, base, base, 0)
    rng = np.random.default_rng(seed)
    halves = np.array_split(rng.permutation(n), 2)
    per_case = np.zeros((epochs, n))  # held-out NDCG@10 of each case after each epoch
    state = {k: v.clone() for k, v in ranker.state_dict().items()}
    for a, b in ((halves[0], halves[1]), (halves[1], halves[0])):
        ranker.load_state_dict(state)
        curve = _train(ranker, users, catalog, short, pos, a, b, epochs, lr, weight_decay, seed)
        per_case[:, b] = np.stack(curve)
    best_epochs = int(np.argmax(per_case.mean(axis=1))) + 1
    # Judge each half at the epoch count the *other* half chose, so the verdict is
    # not flattered by picking the best of many epochs on the cases it is judged on.
    judged = np.empty(n)
    for mine, other in ((halves[0], halves[1]), (halves[1], halves[0])):
        pick = int(np.argmax(per_case[:, other].mean(axis=1)))
        judged[mine] = per_case[pick, mine]
    gain = judged - base_case
    reranked = float(judged.mean())
    # Switch on only for a clear gain: the paired mean difference must exceed two
    # standard errors.
    enabled = bool(gain.mean() > 2.0 * gain.std(ddof=1) / np.sqrt(n))
    ranker.load_state_dict(state)
    if enabled:
        every = np.arange(n)
        _train(ranker, users, catalog, short, pos, every, None, best_epochs, lr, weight_decay, seed)
    ranker.enabled.fill_(enabled)
    return RerankFit(enabled, n, base, reranked, best_epochs)


def target_positions(short: IntArray, targets: IntArray) -> IntArray:
    """Where each case's target sits in its shortlist (``-1``: not in it)."""
    hit = short == targets[:, None]
    return np.where(hit.any(axis=1), hit.argmax(axis=1), -1).astype(np.int64)


def _case_ndcg(ranks: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    r = np.asarray(ranks)
    return np.where(r < 10, 1.0 / np.log2(r + 2.0), 0.0)


def _train(
    ranker: ShortlistRanker,
    users: Tensor,
    catalog: Tensor,
    short: IntArray,
    pos: IntArray,
    train: IntArray,
    held: IntArray | None,
    epochs: int,
    lr: float,
    weight_decay: float,
    seed: int,
) -> list[npt.NDArray[np.float64]]:
    """Listwise softmax over each case's shortlist; held-out per-case NDCG@10 per epoch."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(ranker.mlp.parameters(), lr=lr, weight_decay=weight_decay)
    rows = train[pos[train] >= 0]  # a case whose target missed the shortlist teaches nothing
    dev = users.device
    short_t = torch.as_tensor(short, device=dev)
    pos_t = torch.as_tensor(pos, device=dev)
    curve: list[npt.NDArray[np.float64]] = []
    for _ in range(epochs):
        ranker.train()
        perm = torch.randperm(len(rows), generator=gen).numpy()
        for s in range(0, len(rows), 64):
            b = torch.as_tensor(rows[perm[s : s + 64]], device=dev)
            items = short_t[b]
            logits = ranker(users[b], items, catalog[items])
            loss = F.cross_entropy(logits, pos_t[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        ranker.eval()
        if held is not None:
            curve.append(_held_ndcg(ranker, users, catalog, short_t, pos, held))
    return curve


def _held_ndcg(
    ranker: ShortlistRanker,
    users: Tensor,
    catalog: Tensor,
    short: Tensor,
    pos: IntArray,
    held: IntArray,
) -> npt.NDArray[np.float64]:
    with torch.no_grad():
        b = torch.as_tensor(held, device=users.device)
        items = short[b]
        scores = ranker(users[b], items, catalog[items]).cpu().numpy()
    return shortlist_ndcg(scores, pos[held])


def shortlist_ndcg(scores: npt.NDArray[np.float32], positions: IntArray) -> npt.NDArray[np.float64]:
    """Per-case NDCG@10 of each case's target at ``positions`` in its scored shortlist
    (``-1``: the target missed the shortlist, NDCG 0)."""
    ranks = np.full(len(positions), 10**9, dtype=np.int64)
    ok = positions >= 0
    target = scores[np.flatnonzero(ok), positions[ok]]
    ranks[ok] = (scores[ok] > target[:, None]).sum(axis=1)
    return _case_ndcg(ranks)


def rerank_scores(
    ranker: ShortlistRanker,
    user_vectors: npt.NDArray[np.float32],
    items: IntArray,
    item_vectors: npt.NDArray[np.float32],
    histories: Sequence[IntArray] | None = None,
    reference: tuple[IntArray, npt.NDArray[np.float32]] | None = None,
    scale: MixScale | None = None,
) -> npt.NDArray[np.float32]:
    """Second-stage scores ``(n, S)`` of each row's shortlist (retrieval scores if inactive).

    Args:
        ranker: The model's ranker (``net.rerank``).
        user_vectors: Retrieval user vectors ``(n, dim)``.
        items: Model item index of each candidate ``(n, S)``; ``-1`` for an item
            the model does not know (added after training).
        item_vectors: Each candidate's retrieval vector ``(n, S, dim)``.
        histories: Each row's history as model item indices, oldest first
            (``-1`` = unknown); with it, item-to-item scores are mixed in when
            the model learned to (``co_mix > 0``).
        reference: The rows' reference shortlists ``(items (n, R), vectors (n, R, dim))``
            (see :func:`with_item_mix`); for candidates that are not the user's own
            shortlist, such as a query's matches.
        scale: The reference's :func:`mix_scale`, computed once for many calls
            (instead of ``reference``).
    """
    scores = stage_two_scores(ranker, user_vectors, items, item_vectors)
    ref = None
    if reference is not None and scale is None:
        ref = (stage_two_scores(ranker, user_vectors, *reference), reference[0])
    return with_item_mix(ranker, scores, items, histories, ref, scale)


def stage_two_scores(
    ranker: ShortlistRanker,
    user_vectors: npt.NDArray[np.float32],
    items: IntArray,
    item_vectors: npt.NDArray[np.float32],
) -> npt.NDArray[np.float32]:
    """The ranker's scores, or the retrieval inner products when it is off."""
    dev = ranker.log_count.device
    u = torch.as_tensor(np.asarray(user_vectors, dtype=np.float32), device=dev)
    vecs = torch.as_tensor(np.asarray(item_vectors, dtype=np.float32), device=dev)
    idx = torch.as_tensor(np.asarray(items, dtype=np.int64), device=dev)
    with torch.inference_mode():
        if not bool(ranker.enabled):
            scores: npt.NDArray[np.float32] = (vecs * u.unsqueeze(1)).sum(-1).cpu().numpy()
        else:
            scores = ranker(u, idx, vecs).cpu().numpy()
    return scores


def with_item_mix(
    ranker: ShortlistRanker,
    scores: npt.NDArray[np.float32],
    items: IntArray,
    histories: Sequence[IntArray] | None,
    reference: tuple[npt.NDArray[np.float32], IntArray] | None = None,
    scale: MixScale | None = None,
) -> npt.NDArray[np.float32]:
    """Stage-two ``scores`` ``(n, S)`` mixed with the item-to-item and transition scores
    of each row's history, as far as the model learned to mix (``co_mix``,
    ``seq_mix``); else ``scores``.

    The mix adds standardized scores, and by default each row is standardized
    over its own candidates, as for the shortlist it was fitted on. ``reference``
    (stage-two scores and items ``(n, R)`` of each row's own shortlist) standardizes
    over that shortlist instead, so candidates from elsewhere (a query's matches)
    are scored on the scale the mix was fitted on and keep the order they have
    in the user's feed, whatever other candidates come with them. ``scale``, that
    reference's :func:`mix_scale`, does the same without scoring the reference again.
    """
    mixes = (float(ranker.co_mix), float(ranker.seq_mix))
    if all(m <= 0 for m in mixes) or histories is None:
        return scores
    signals = _mix_signals(ranker, items, histories, mixes, scores.shape)
    if scale is None and reference is not None:
        scale = mix_scale(ranker, reference[0], reference[1], histories)
    return mix_scores(scores, signals, mixes, scale)


def mix_scale(
    ranker: ShortlistRanker,
    stage_two: npt.NDArray[np.float32],
    items: IntArray,
    histories: Sequence[IntArray] | None,
) -> MixScale | None:
    """The scale :func:`with_item_mix` puts candidates on when ``items`` (``(n, R)``,
    with their stage-two scores) is the reference; None when the model does not mix.

    It depends on the reference and the histories only, so a user's searches,
    which all score on the scale of the user's feed, can share one.
    """
    mixes = (float(ranker.co_mix), float(ranker.seq_mix))
    if all(m <= 0 for m in mixes) or histories is None:
        return None
    shape = np.asarray(stage_two).shape
    return MixScale.of(stage_two, _mix_signals(ranker, items, histories, mixes, shape))


def _mix_signals(
    ranker: ShortlistRanker,
    items: IntArray,
    histories: Sequence[IntArray],
    mixes: tuple[float, float],
    shape: tuple[int, ...],
) -> list[npt.NDArray[np.float32]]:
    """Item-to-item and transition scores of ``items`` (zeros for a mix that is off)."""
    cands = np.asarray(items, dtype=np.int64)
    decay = float(ranker.co_decay)
    signals = [np.zeros(shape, dtype=np.float32), np.zeros(shape, dtype=np.float32)]
    if mixes[0] > 0:
        signals[0] = item_item_scores(
            ranker.co_sources.cpu().numpy(),
            ranker.co_weights.cpu().numpy(),
            decay,
            histories,
            cands,
        )
    if mixes[1] > 0:
        signals[1] = transition_scores(
            ranker.seq_next.cpu().numpy(),
            ranker.seq_weights.cpu().numpy(),
            decay,
            int(ranker.seq_last),
            histories,
            cands,
        )
    return signals


def choose_mix(
    stage_two: npt.NDArray[np.float32],
    items: npt.NDArray[np.float32],
    positions: IntArray,
    seed: int,
    transitions: npt.NDArray[np.float32] | None = None,
) -> MixFit:
    """Pick the mix weights from :data:`MIX_GRID` on validation cases; 0 unless they help.

    Each half of the cases is judged at the weights the other half chose, so the
    judged gain is an honest estimate of what mixing does to unseen cases; the
    judgement is averaged over :data:`MIX_SPLITS` random half-splits, since which
    cases fall in which half moves it by about as much as a weak gain.
    Mixing is switched on when that paired gain over no mixing is positive.
    (The shortlist ranker must clear two standard errors: it is a network that
    can fit noise; these are two numbers picked from a short grid, and the
    cross-fitting already charges them for the picking.)

    A margin of one standard error used to be required here too. On
    MovieLens-100K it switched mixing off in four of six trainings on a nested
    split (each user's P1 test event removed, so that the original validation
    events served as test cases; three of the four trained with an
    experimental stop-gradient on the text-only loss), every time with a
    positive judged gain. Trained again without the margin, each of the four
    chose mixing and scored 0.015-0.020 higher NDCG@10 on those cases
    (default model, seed 44: 0.1155 with the margin, 0.1310 without).

    The judgement came from one half-split until then. In two further dev
    trainings (``rating_weight=0.2``, and a snapshot ensemble of the three best
    epochs, both seed 44 on the nested split) that one split judged mixing a
    small loss (0.1401 against 0.1425; 0.1350 against 0.1364) and switched it
    off; averaged over twenty splits it judged a gain, mixing stayed on, and
    nested NDCG@10 rose 0.0105 and 0.0083 for those trainings. The default
    model's decisions were unchanged on the nested split and on P1.

    Args:
        stage_two: Shortlist scores of each case ``(n, S)``.
        items: Item-to-item scores of the same candidates ``(n, S)``.
        positions: Where each case's target sits in its shortlist (``-1`` = absent).
        seed: Seed of the split into halves.
        transitions: Transition scores of the same candidates ``(n, S)``; with
            them the grid is every pair of weights, else the second weight is 0.
    """
    n = len(positions)
    seconds = MIX_GRID if transitions is not None else (0.0,)
    grid = [(a, b) for a in MIX_GRID for b in seconds]
    signals = [items, transitions if transitions is not None else items]
    ndcg = np.stack([shortlist_ndcg(mix_scores(stage_two, signals, g), positions) for g in grid])
    inside = positions >= 0
    base = float(ndcg[0].mean()) if n else 0.0
    if inside.sum() < 20:
        return MixFit(0.0, base, base)
    judged = np.zeros(n)
    for r in range(MIX_SPLITS):
        rng = np.random.default_rng(seed if r == 0 else [seed, r])
        halves = np.array_split(rng.permutation(n), 2)
        for mine, other in ((halves[0], halves[1]), (halves[1], halves[0])):
            judged[mine] += ndcg[int(np.argmax(ndcg[:, other].mean(axis=1))), mine]
    judged /= MIX_SPLITS
    if not judged.mean() > ndcg[0].mean():
        return MixFit(0.0, base, float(judged.mean()))
    mix, seq_mix = grid[int(np.argmax(ndcg.mean(axis=1)))]
    return MixFit(mix, base, float(judged.mean()), seq_mix)
