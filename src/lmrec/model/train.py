"""Training: next-item softmax at every position of each user's history, plus a rating head.

Why this shape:
- Predicting the next item at *every* position (SASRec-style) gives one training
  signal per event instead of one per user.
- Each step computes the softmax twice: with full item vectors (text + ``i0``,
  ``i0`` randomly dropped) and with text-only vectors. The second term trains
  the path new items take, so a cold item is ranked by its text well.
- Search queries (when given) are read in the history as text-only tokens, as
  the served user tower reads them, and the item a user chose after a query is
  predicted from the state that includes it; queries are never targets.
- Early stopping keeps the epoch with the best validation NDCG@10 (or RMSE when
  only the rating head trains). The budget is counted in epochs, so a seed
  gives the same model however busy the machine is; a wall-clock budget
  (``max_seconds``) is there for those who prefer bounded time to reproducibility.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor
from tqdm.auto import tqdm

from lmrec.errors import InvalidInputError
from lmrec.evaluate.base import ValidationSplit
from lmrec.evaluate.metrics import multi_relevant_values
from lmrec.interactions import Interactions
from lmrec.model.config import ModelConfig
from lmrec.model.cooccurrence import (
    MAX_ITEMS,
    FloatMatrix,
    fit_item_item,
    fit_transitions,
    item_item_scores,
    transition_scores,
)
from lmrec.model.history import QueryLog, UserSequences
from lmrec.model.losses import (
    exclusion_mask,
    full_softmax_loss,
    rating_loss,
    sampled_softmax_loss,
)
from lmrec.model.network import LmrecNet
from lmrec.model.rerank import (
    MixFit,
    RerankFit,
    ShortlistRanker,
    choose_mix,
    fit_ranker,
    rerank_scores,
    shortlists,
    target_positions,
)
from lmrec.model.scoring import EpochLog, TrainedModel
from lmrec.model.towers import gap_buckets, value_buckets
from lmrec.text import resolve_device

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Vectors = npt.NDArray[np.float32]


@dataclass
class _Windows:
    """Left-padded training windows of ``max_len`` events (a long history gives several)."""

    users: Tensor  # (S,)
    items: Tensor  # (S, L), -1 = padding, n_items + q = query q
    gaps: Tensor  # (S, L) gap buckets
    values: Tensor  # (S, L) rating buckets
    nexts: Tensor  # (S, L) the event after each position, -1 = none
    next_w: Tensor  # (S, L) its weight, clipped at 0 (0 = not a next-item target)
    raw_v: Tensor  # (S, L) rating at each position, NaN = none
    own_w: Tensor  # (S, L) each position's own event's target weight
    ties: Tensor  # (S, L) timestamp group of each position (non-decreasing), -1 = padding
    query_text: Tensor | None = None  # (Q, text_dim) LM vectors of the queries


def _recent_weight(
    weights: npt.NDArray[np.float32], back: npt.NDArray[np.int64], cfg: ModelConfig
) -> npt.NDArray[np.float32]:
    """Target ``weights`` scaled up for targets ``back`` events before the user's newest
    (see :attr:`ModelConfig.recent_boost`)."""
    if cfg.recent_boost <= 0:
        return weights
    boost = 1.0 + cfg.recent_boost * np.power(0.5, back / cfg.recent_half_life)
    return (weights * boost).astype(np.float32)


def _windows(seqs: UserSequences, cfg: ModelConfig, device: torch.device) -> _Windows:
    length = cfg.max_len
    spans: list[tuple[int, int, int]] = []
    for u in range(seqs.n_users):
        lo, hi = int(seqs.indptr[u]), int(seqs.indptr[u + 1])
        end = hi
        while end > lo:
            spans.append((u, max(lo, end - length), end))
            end -= length
    s = len(spans)
    items = np.full((s, length), -1, dtype=np.int64)
    gaps = np.zeros((s, length), dtype=np.int64)
    values = np.zeros((s, length), dtype=np.int64)
    nexts = np.full((s, length), -1, dtype=np.int64)
    next_w = np.zeros((s, length), dtype=np.float32)
    raw_v = np.full((s, length), np.nan, dtype=np.float32)
    own_w = np.zeros((s, length), dtype=np.float32)
    ties = np.full((s, length), -1, dtype=np.int64)
    all_gaps = np.full(len(seqs.ts), np.nan)
    for u in range(seqs.n_users):
        lo, hi = int(seqs.indptr[u]), int(seqs.indptr[u + 1])
        all_gaps[lo:hi] = seqs.gaps_of(u)
    for j, (u, lo, hi) in enumerate(spans):
        n = hi - lo
        end = int(seqs.indptr[u + 1])
        items[j, length - n :] = seqs.item[lo:hi]
        gaps[j, length - n :] = gap_buckets(all_gaps[lo:hi], cfg.gap_buckets)
        values[j, length - n :] = value_buckets(seqs.value[lo:hi])
        raw_v[j, length - n :] = seqs.value[lo:hi]
        own_w[j, length - n :] = _recent_weight(
            np.clip(seqs.weight[lo:hi], 0, None), end - 1 - np.arange(lo, hi), cfg
        )
        ts = seqs.ts[lo:hi]
        ties[j, length - n :] = np.concatenate([[0], np.cumsum(ts[1:] != ts[:-1])])
        # Position t predicts the user's next event, which may open the next window.
        nxt = min(hi + 1, end)
        m = nxt - (lo + 1)
        nexts[j, length - n : length - n + m] = seqs.item[lo + 1 : nxt]
        next_w[j, length - n : length - n + m] = _recent_weight(
            np.clip(seqs.weight[lo + 1 : nxt], 0, None), end - 1 - np.arange(lo + 1, nxt), cfg
        )

    def t(a: npt.NDArray[np.generic]) -> Tensor:
        return torch.from_numpy(a).to(device)

    return _Windows(
        users=t(np.asarray([sp[0] for sp in spans], dtype=np.int64)),
        items=t(items),
        gaps=t(gaps),
        values=t(values),
        nexts=t(nexts),
        next_w=t(next_w),
        raw_v=t(raw_v),
        own_w=t(own_w),
        ties=t(ties),
    )


def _targets_per_window(win: _Windows, cfg: ModelConfig, train_rating: bool) -> IntArray:
    """How many training samples each window holds, the unit of the training
    throughput: its next-item targets (positions whose next event has positive
    weight), or its rated positions for a rating-only model. One sample is one
    (user state, target item) pair scored against the catalog."""
    if cfg.next_item_weight > 0:
        count = ((win.nexts >= 0) & (win.next_w > 0)).sum(dim=1)
    elif train_rating:
        count = torch.isfinite(win.raw_v).sum(dim=1)
    else:
        count = torch.zeros(win.items.shape[0], dtype=torch.int64)
    return count.cpu().numpy()


class _ValidationContext:
    """``UserSequences.context_for`` remembered per question.

    Validation asks the same question (the same users and histories) every epoch,
    and building the gaps and ratings in Python was a third of validating; the
    answer depends on the training sequences alone, which do not change.
    """

    def __init__(self, seqs: UserSequences) -> None:
        self.seqs = seqs
        self._memo: dict[bytes, tuple[list[FloatArray], list[FloatArray]]] = {}

    def context_for(
        self, users: IntArray, histories: Sequence[IntArray]
    ) -> tuple[list[FloatArray], list[FloatArray]]:
        hist = [np.asarray(h, dtype=np.int64) for h in histories]
        lengths = np.fromiter((len(h) for h in hist), np.int64, len(hist))
        flat = np.concatenate(hist) if hist else np.empty(0, np.int64)
        key = b"".join(
            (np.asarray(users, dtype=np.int64).tobytes(), lengths.tobytes(), flat.tobytes())
        )
        if key not in self._memo:
            self._memo[key] = self.seqs.context_for(users, histories)
        return self._memo[key]


def _distinct_cases(
    users: IntArray, histories: Sequence[IntArray]
) -> tuple[list[int], npt.NDArray[np.int64]]:
    """First case of each distinct (user, history), and each case's distinct index.

    Cold-start validation has many cases per user with one history; scoring each
    distinct history once keeps validation cheap.
    """
    seen: dict[tuple[int, bytes], int] = {}
    first: list[int] = []
    inverse = np.empty(len(users), dtype=np.int64)
    for j, (u, h) in enumerate(zip(users, histories, strict=True)):
        key = (int(u), np.asarray(h, dtype=np.int64).tobytes())
        if key not in seen:
            seen[key] = len(first)
            first.append(j)
        inverse[j] = seen[key]
    return first, inverse


def _ndcg_at_10(
    model: TrainedModel,
    valid: ValidationSplit,
    seqs: UserSequences | _ValidationContext,
    candidates: npt.NDArray[np.bool_] | None,
) -> tuple[float, float]:
    """Validation NDCG@10 and HR@10 (Recall@10 with ``valid.per_user``), ranking all
    candidates except the user's history."""
    if valid.per_user:
        return _per_user_ndcg_at_10(model, valid, seqs, candidates)
    first, inverse = _distinct_cases(valid.users, valid.histories)
    users = valid.users[first]
    hist = [valid.histories[j] for j in first]
    gaps, values = seqs.context_for(users, hist)
    vecs = model.user_vectors(users, hist, gaps=gaps, values=values)
    ranks = np.empty(len(valid.users), dtype=np.int64)
    for s in range(0, len(first), 512):
        scores = model.score_vectors(vecs[s : s + 512])
        if candidates is not None:
            scores[:, ~candidates] = -np.inf
        for k, h in enumerate(hist[s : s + 512]):
            scores[k, np.asarray(h, dtype=np.int64)] = -np.inf
        cases = np.flatnonzero((inverse >= s) & (inverse < s + 512))
        rows = inverse[cases] - s
        target = scores[rows, valid.items[cases]]
        ranks[cases] = (scores[rows] > target[:, None]).sum(axis=1)
    hit = ranks < 10
    ndcg = np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0)
    return float(ndcg.mean()), float(hit.mean())


def _per_user_ndcg_at_10(
    model: TrainedModel,
    valid: ValidationSplit,
    seqs: UserSequences | _ValidationContext,
    candidates: npt.NDArray[np.bool_] | None,
) -> tuple[float, float]:
    """NDCG@10 and Recall@10 with one question per user, its held-out items relevant
    (P3's test question; see :meth:`ValidationSplit.user_cases`)."""
    first, relevant = valid.user_cases()
    users = valid.users[first]
    hist = [valid.histories[j] for j in first]
    gaps, values = seqs.context_for(users, hist)
    vecs = model.user_vectors(users, hist, gaps=gaps, values=values)
    ndcg, recall = [], []
    for s in range(0, len(first), 512):
        scores = model.score_vectors(vecs[s : s + 512])
        mask = valid.candidate_mask(scores.shape[1], first[s : s + 512])
        if candidates is not None:
            mask &= candidates
        got = multi_relevant_values(scores, relevant[s : s + 512], 10, mask)
        ndcg.append(got["NDCG@10"])
        recall.append(got["Recall@10"])
    return float(np.concatenate(ndcg).mean()), float(np.concatenate(recall).mean())


def _valid_rmse(model: TrainedModel, valid: ValidationSplit, seqs: UserSequences) -> float:
    ok = np.isfinite(valid.values)
    users = valid.users[ok]
    hist = [seqs.items_of(int(u)) for u in users]
    gaps = [seqs.gaps_of(int(u)) for u in users]
    values = [seqs.values_of(int(u)) for u in users]
    pred = model.predict_ratings(users, valid.items[ok], hist, gaps=gaps, values=values)
    return float(np.sqrt(np.mean((pred - valid.values[ok]) ** 2)))


def train_model(
    interactions: Interactions,
    item_vectors: Vectors,
    user_vectors: Vectors,
    config: ModelConfig | None = None,
    *,
    valid: ValidationSplit | None = None,
    cold_items: IntArray | None = None,
    progress: bool = True,
    init: TrainedModel | None = None,
    queries: QueryLog | None = None,
) -> TrainedModel:
    """Train the lmrec model on ``interactions``.

    Args:
        interactions: Training events; their vocabularies become the model's.
        item_vectors: LM vector of each item's text ``(n_items, text_dim)``.
        user_vectors: LM vector of each user's profile ``(n_users, text_dim)``.
        config: Hyper-parameters; the defaults suit catalogs like MovieLens.
        valid: Held-out cases for early stopping (next-item NDCG@10, or RMSE when
            ``next_item_weight`` is 0). Without it, training runs ``max_epochs``.
        cold_items: Items that must get no ID parameters (their ``i0`` stays zero).
        progress: Show a progress bar with loss and validation metric per epoch.
        init: Warm start: copy this model's parameters (ID embeddings matched by
            external id; new items and users start fresh) before training, as the
            background trainer does when it fine-tunes the serving model.
        queries: Search queries of the training users, woven into their histories
            by time (see :meth:`UserSequences.with_queries`). Validation and the
            second stage read item histories only.

    Returns:
        The model from the best validation epoch.
    """
    cfg = config or ModelConfig()
    if item_vectors.shape[0] != interactions.n_items:
        raise InvalidInputError("item_vectors must have one row per item of the interactions")
    if user_vectors.shape[0] != interactions.n_users:
        raise InvalidInputError("user_vectors must have one row per user of the interactions")
    if len(interactions) == 0:
        raise InvalidInputError("cannot train on zero interactions")
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    device = torch.device(resolve_device(cfg.device))
    started = time.monotonic()

    counts = np.bincount(interactions.item, minlength=interactions.n_items)
    has_id = counts > 0
    cold_mask = None
    if cold_items is not None and len(cold_items):
        has_id[np.asarray(cold_items, dtype=np.int64)] = False
        cold_mask = np.zeros(interactions.n_items, dtype=bool)
        cold_mask[np.asarray(cold_items, dtype=np.int64)] = True
    net = LmrecNet(
        torch.from_numpy(np.asarray(item_vectors, dtype=np.float32)),
        torch.from_numpy(np.asarray(user_vectors, dtype=np.float32)),
        torch.from_numpy(has_id),
        cfg,
    ).to(device)
    if init is not None:
        warm_start(net, init, interactions.items.ids, interactions.users.ids)
    model = TrainedModel(net, cfg, interactions.items.ids, interactions.users.ids)
    seqs = UserSequences.of(interactions)
    context = _ValidationContext(seqs)
    if queries is not None and len(queries):
        if queries.vectors.shape[1] != item_vectors.shape[1]:
            raise InvalidInputError("query vectors must have the item vectors' dimension")
        win = _windows(seqs.with_queries(queries, interactions.n_items), cfg, device)
        win.query_text = torch.from_numpy(np.asarray(queries.vectors, dtype=np.float32)).to(device)
    else:
        win = _windows(seqs, cfg, device)
    has_id_t = net.item_has_id.to(torch.float32).unsqueeze(-1)
    pop = torch.from_numpy((counts + 1.0) / (counts + 1.0).sum()).float().to(device)
    log_q = pop.log()
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rated = torch.isfinite(win.raw_v)
    train_rating = cfg.rating_weight > 0 and bool(rated.any())
    if train_rating:
        with torch.no_grad():
            net.rating.mu.fill_(float(win.raw_v[rated].mean()))

    best = -np.inf
    best_state = copy.deepcopy(net.state_dict())
    bad = 0
    lengths = (win.items >= 0).sum(dim=1).cpu().numpy()
    targets = _targets_per_window(win, cfg, train_rating)
    log: list[EpochLog] = []
    if init is not None and valid is not None:
        # A warm start has to earn its changes: when no fine-tuning epoch beats
        # the starting point on validation, the starting point is returned.
        net.eval()
        model.refresh()
        best, _ = _validate(model, valid, context, cfg, cold_mask)
        log.append(EpochLog(-1, float("nan"), best, time.monotonic() - started))

    def out_of_time() -> bool:
        return cfg.max_seconds is not None and time.monotonic() - started > cfg.max_seconds

    bar = tqdm(range(cfg.max_epochs), disable=not progress, desc="training", unit="epoch")
    for epoch in bar:
        net.train()
        total, steps, samples = 0.0, 0, 0
        step_started = time.perf_counter()
        if cfg.length_batches:
            batches = _length_batches(lengths, cfg.batch_size, rng)
        elif cfg.sort_groups > 0:
            batches = _local_length_batches(lengths, cfg.batch_size, cfg.sort_groups, rng)
        else:
            batches = _random_batches(len(lengths), cfg.batch_size, rng)
        for batch in batches:
            if out_of_time():
                break  # out of budget: validate what we have and stop
            b = torch.from_numpy(batch).to(device)
            loss = _step_loss(net, win, b, has_id_t, log_q, cfg, gen, train_rating)
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            total += float(loss.detach())  # synchronises the device every step
            steps += 1
            samples += int(targets[batch].sum())
        step_seconds = time.perf_counter() - step_started
        net.eval()
        model.refresh()
        metric, shown = _validate(model, valid, context, cfg, cold_mask)
        mean_loss = total / max(steps, 1)
        bar.set_postfix(loss=f"{mean_loss:.4f}", **shown)
        log.append(
            EpochLog(epoch, mean_loss, metric, time.monotonic() - started, samples, step_seconds)
        )
        if metric > best:
            best, bad = metric, 0
            best_state = copy.deepcopy(net.state_dict())
        else:
            bad += 1
        if valid is not None and bad >= cfg.patience:
            break
        if out_of_time():
            break
    bar.close()
    if valid is not None:
        net.load_state_dict(best_state)
    net.eval()
    rerank = None
    # Cold-start ranking (cold_mask) has no shortlist: every cold item is a candidate.
    wants = cfg.rerank_shortlist > 0 and cfg.next_item_weight > 0 and cold_mask is None
    if valid is not None and wants:
        rerank = _fit_rerank(net, model, valid, seqs, cfg, interactions)
    trained = TrainedModel(net, cfg, interactions.items.ids, interactions.users.ids, log)
    trained.rerank = rerank
    return trained


def refit_model(
    model: TrainedModel,
    interactions: Interactions,
    item_vectors: Vectors,
    user_vectors: Vectors,
    *,
    queries: QueryLog | None = None,
    progress: bool = True,
) -> TrainedModel:
    """Continue training ``model`` for ``config.refit_epochs`` epochs on ``interactions``:
    every event, the ones held out for early stopping included.

    Early stopping needs events the model does not learn from, each user's last
    one, and those are the newest and most telling events a served model could
    learn. So once validation has chosen the epoch (and the second stage its mix),
    the network trains on for a few epochs over everything, at a reduced learning
    rate (there is nothing left to validate on, hence a fixed count; the model is
    already tuned, so it is nudged, not moved), and the second stage keeps the ranker and
    mix weights validation chose while its item-to-item and transition tables are
    fitted again on every event. ``interactions`` must share ``model``'s
    vocabularies (the training split is a subset of it).

    Returns ``model`` itself when ``refit_epochs`` is 0.
    """
    cfg = model.config
    if cfg.refit_epochs <= 0:
        return model
    if tuple(interactions.items.ids) != model.item_ids:
        raise InvalidInputError("refit needs the items the model was trained on, in order")
    more = train_model(
        interactions,
        item_vectors,
        user_vectors,
        cfg.replace(max_epochs=cfg.refit_epochs, lr=cfg.lr * cfg.refit_lr_scale),
        progress=progress,
        init=model,
        queries=queries,
    )
    net = more.net
    ranker = copy.deepcopy(model.net.rerank).to(net.item_text.device)
    if ranker.active:
        counts = np.bincount(interactions.item, minlength=interactions.n_items)
        ranker.log_count.copy_(torch.from_numpy(np.log1p(counts).astype(np.float32)))
        if float(ranker.co_mix) > 0 or float(ranker.seq_mix) > 0:
            _load_item_tables(ranker, interactions, UserSequences.of(interactions), cfg)
    net.rerank = ranker
    refit = TrainedModel(net, cfg, model.item_ids, model.user_ids, model.log)
    refit.rerank = model.rerank
    refit.refit_log = more.log
    return refit


def _fit_rerank(
    net: LmrecNet,
    model: TrainedModel,
    valid: ValidationSplit,
    seqs: UserSequences,
    cfg: ModelConfig,
    interactions: Interactions,
) -> RerankFit:
    """Fit the second stage on the validation cases: the shortlist ranker (see
    :mod:`lmrec.model.rerank`), then the item-to-item mix (see
    :mod:`lmrec.model.cooccurrence`)."""
    model.refresh()
    dev = net.item_text.device
    counts = np.bincount(interactions.item, minlength=interactions.n_items)
    net.rerank = ShortlistRanker(
        cfg.dim,
        net.n_items,
        cfg.rerank_hidden,
        cfg.dropout,
        cfg.co_neighbours,
        cfg.seq_successors if cfg.co_neighbours > 0 else 0,
    ).to(dev)
    net.rerank.log_count.copy_(torch.from_numpy(np.log1p(counts).astype(np.float32)))
    hist = list(valid.histories)
    gaps, values = seqs.context_for(valid.users, hist)
    vecs = model.user_vectors(valid.users, hist, gaps=gaps, values=values)
    short = shortlists(model.score_vectors(vecs), hist, cfg.rerank_shortlist)
    with torch.no_grad():
        catalog = net.catalog()
    fit = fit_ranker(
        net.rerank,
        torch.as_tensor(vecs, device=dev),
        catalog,
        short,
        np.asarray(valid.items, dtype=np.int64),
        epochs=cfg.rerank_epochs,
        lr=cfg.rerank_lr,
        weight_decay=cfg.rerank_weight_decay,
        seed=cfg.seed,
    )
    net.eval()
    if cfg.co_neighbours > 0 and net.n_items <= MAX_ITEMS:
        mix = _fit_item_mix(net.rerank, vecs, short, catalog, valid, cfg, interactions, seqs)
        fit = replace(fit, item_mix=mix)
    return fit


def _fit_item_mix(
    ranker: ShortlistRanker,
    vecs: Vectors,
    short: IntArray,
    catalog: Tensor,
    valid: ValidationSplit,
    cfg: ModelConfig,
    interactions: Interactions,
    seqs: UserSequences,
) -> MixFit:
    """Item-to-item weights and transitions from the training events, mixed in as far
    as validation says so."""
    sources, weights, transitions = _load_item_tables(ranker, interactions, seqs, cfg)
    dev = ranker.co_sources.device
    hist = list(valid.histories)
    stage_two = rerank_scores(
        ranker, vecs, short, catalog[torch.as_tensor(short, device=dev)].cpu().numpy()
    )
    co = item_item_scores(sources, weights, cfg.co_decay, hist, short)
    seq = None
    if transitions is not None:
        nexts, probs = transitions
        seq = transition_scores(nexts, probs, cfg.co_decay, cfg.seq_last, hist, short)
    positions = target_positions(short, np.asarray(valid.items, dtype=np.int64))
    fit = choose_mix(stage_two, co, positions, cfg.seed, seq)
    ranker.co_mix.fill_(fit.mix)
    ranker.seq_mix.fill_(fit.seq_mix)
    return fit


def _load_item_tables(
    ranker: ShortlistRanker, interactions: Interactions, seqs: UserSequences, cfg: ModelConfig
) -> tuple[IntArray, FloatMatrix, tuple[IntArray, FloatMatrix] | None]:
    """Fit the item-to-item weights (and transitions, when configured) on
    ``interactions`` and put them into ``ranker``; returns the tables."""
    liked = interactions.weight > 0  # a dislike or a skip is not co-occurrence
    sources, weights = fit_item_item(
        interactions.user[liked],
        interactions.item[liked],
        interactions.n_items,
        l2=cfg.co_l2,
        neighbours=cfg.co_neighbours,
    )
    dev = ranker.co_sources.device
    ranker.co_sources.copy_(torch.from_numpy(sources).to(dev))
    ranker.co_weights.copy_(torch.from_numpy(weights).to(dev))
    ranker.co_decay.fill_(cfg.co_decay)
    if not (cfg.seq_successors > 0 and cfg.seq_last > 0):
        return sources, weights, None
    ordered = [
        seqs.item[lo:hi][seqs.weight[lo:hi] > 0]
        for lo, hi in zip(seqs.indptr[:-1], seqs.indptr[1:], strict=True)
    ]
    nexts, probs = fit_transitions(
        ordered, interactions.n_items, window=cfg.seq_window, successors=cfg.seq_successors
    )
    ranker.seq_next.copy_(torch.from_numpy(nexts).to(dev))
    ranker.seq_weights.copy_(torch.from_numpy(probs).to(dev))
    ranker.seq_last.fill_(cfg.seq_last)
    return sources, weights, (nexts, probs)


def _validate(
    model: TrainedModel,
    valid: ValidationSplit | None,
    context: _ValidationContext,
    cfg: ModelConfig,
    candidates: npt.NDArray[np.bool_] | None,
) -> tuple[float, dict[str, str]]:
    """The early-stopping metric (higher is better) and what the progress bar shows.

    The metric follows the leading head: RMSE when the rating loss outweighs the
    next-item loss (and validation has ratings), else NDCG@10. The items ranked are
    the split's (``valid.among``: P3's validation items, as its test ranks its
    cold items among themselves); a split that names none but comes with cold
    items ranks among those (``candidates``), as a cold-start test does.
    """
    if valid is None or len(valid.users) == 0:
        return 0.0, {}
    rating_led = cfg.rating_weight > cfg.next_item_weight and bool(np.isfinite(valid.values).any())
    if not rating_led:
        if valid.among is not None and len(valid.among):
            candidates = np.zeros(model.n_items, dtype=bool)
            candidates[np.asarray(valid.among, dtype=np.int64)] = True
        ndcg, hit = _ndcg_at_10(model, valid, context, candidates)
        name = "val_recall10" if valid.per_user else "val_hr10"
        return ndcg, {"val_ndcg10": f"{ndcg:.4f}", name: f"{hit:.4f}"}
    rmse = _valid_rmse(model, valid, context.seqs)
    return -rmse, {"val_rmse": f"{rmse:.4f}"}


def _random_batches(n: int, size: int, rng: np.random.Generator) -> list[IntArray]:
    perm = rng.permutation(n)
    return [perm[s : s + size] for s in range(0, n, size)]


def _local_length_batches(
    lengths: npt.NDArray[np.int64], size: int, group: int, rng: np.random.Generator
) -> list[IntArray]:
    """Random groups of ``group`` batches, each group split by history length.

    Every step pads to its longest history; random batches almost always hold
    one full-length history, so about half of each step was padding. Sorting
    only within random groups trims most of that padding while each batch still
    mixes users drawn from the whole population.
    """
    perm = rng.permutation(len(lengths))
    out: list[IntArray] = []
    for s in range(0, len(perm), size * group):
        chunk = perm[s : s + size * group]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        out.extend(chunk[k : k + size] for k in range(0, len(chunk), size))
    return [out[i] for i in rng.permutation(len(out))]


def _length_batches(
    lengths: npt.NDArray[np.int64], size: int, rng: np.random.Generator
) -> list[IntArray]:
    """Batches of windows of similar length, in random order.

    Histories vary from a handful of events to ``max_len``; grouping similar
    lengths lets each step trim the padding, which roughly halves training time.
    """
    jitter = rng.random(len(lengths))
    order = np.lexsort((jitter, lengths))
    batches = [order[s : s + size] for s in range(0, len(order), size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _seen_before(hist: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """``(N, L)`` items at or before each selected position (``-1`` elsewhere).

    These are what ranking would exclude at that point of the user's history.
    """
    length = hist.shape[1]
    seen = hist[rows]
    later = torch.arange(length, device=hist.device).unsqueeze(0) > cols.unsqueeze(1)
    return seen.masked_fill(later, -1)


def _shuffle_ties(
    win: _Windows, b: Tensor, hist: Tensor, gen: torch.Generator
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The batch's items (``hist``: rows ``b`` of the windows, cut to the batch's
    width), rating buckets, ratings, next items and their weights with the events of
    each timestamp group in a random order (see :attr:`ModelConfig.shuffle_ties`).
    Padding stays in front; each position's next item is the event now after it,
    and the window's last position keeps the event that opens the next window."""
    width = hist.shape[1]
    ties = win.ties[b][:, -width:]
    noise = torch.rand(ties.shape, generator=gen).to(ties.device) * 0.5
    perm = torch.argsort(ties.to(torch.float64) + noise, dim=1)
    hist = hist.gather(1, perm)
    values = win.values[b][:, -width:].gather(1, perm)
    raw_v = win.raw_v[b][:, -width:].gather(1, perm)
    own_w = win.own_w[b][:, -width:].gather(1, perm)
    nexts = win.nexts[b][:, -width:].clone()
    w_all = win.next_w[b][:, -width:].clone()
    real = hist[:, :-1] >= 0
    nexts[:, :-1] = torch.where(real, hist[:, 1:], nexts[:, :-1])
    w_all[:, :-1] = torch.where(real, own_w[:, 1:], w_all[:, :-1])
    return hist, values, raw_v, nexts, w_all


def _step_loss(
    net: LmrecNet,
    win: _Windows,
    b: Tensor,
    has_id: Tensor,
    log_q: Tensor,
    cfg: ModelConfig,
    gen: torch.Generator,
    train_rating: bool,
) -> Tensor:
    dev = b.device
    hist = win.items[b]
    width = int((hist >= 0).sum(dim=1).max())
    hist = hist[:, -width:]
    pad = hist < 0
    users = win.users[b]

    def chance(p: float, *shape: int) -> Tensor:
        return torch.rand(*shape, generator=gen).to(dev) < p

    if cfg.shuffle_ties:
        hist, values, raw_v, nexts, w_all = _shuffle_ties(win, b, hist, gen)
    else:
        values, raw_v, nexts, w_all = (
            t[b][:, -width:] for t in (win.values, win.raw_v, win.nexts, win.next_w)
        )
    gaps = win.gaps[b][:, -width:].masked_fill(chance(cfg.gap_dropout, *hist.shape), 0)
    values = values.masked_fill(chance(cfg.value_dropout, *hist.shape), 0)
    # Cloze rating targets: these ratings are hidden from the history and predicted
    # from the user's state after the whole window, as a test rating is.
    cloze = chance(cfg.rating_mask, *hist.shape) & torch.isfinite(raw_v) if train_rating else None
    if cloze is not None:
        values = values.masked_fill(cloze, 0)
    text_cat = net.items.text_part(net.item_text)
    keep_item = (~chance(cfg.id_dropout, net.n_items)).unsqueeze(-1).float()
    full_cat = text_cat + net.items.i0.weight * has_id * keep_item
    # History and targets share the projected item vectors (one projection per step);
    # queries, read by their text only, follow the catalog rows.
    hist_cat = full_cat
    if win.query_text is not None:
        hist_cat = torch.cat([full_cat, net.items.text_part(win.query_text)])
    states = net.users.states(hist_cat[hist.clamp(min=0)], gaps, values, pad)
    user_drop = cfg.id_dropout if cfg.user_id_dropout is None else cfg.user_id_dropout
    static = net.user_static(net.user_text[users], users, ~chance(user_drop, len(users)))
    u = states + static.unsqueeze(1)
    loss = torch.zeros((), device=dev)
    if cfg.next_item_weight > 0:
        sel = (nexts >= 0) & (w_all > 0)
        rows, cols = sel.nonzero(as_tuple=True)
        us, tg, w = u[rows, cols], nexts[rows, cols], w_all[rows, cols]
        after = after_w = None
        if cfg.skip_target_weight > 0:
            # The event two steps ahead: the next position's next event (none
            # after a window's last position).
            step = (cols + 1).clamp(max=nexts.shape[1] - 1)
            after = nexts[rows, step].masked_fill(cols + 1 == nexts.shape[1], -1)
            after = after.masked_fill(after >= net.n_items, -1)
            after_w = cfg.skip_target_weight * w_all[rows, step].clamp(min=0)
        items_only = hist if win.query_text is None else hist.masked_fill(hist >= net.n_items, -1)
        excluded = None
        if cfg.mask_seen and cfg.negatives <= 0:
            # One mask for both losses: building it costs about as much as a
            # masked softmax's forward pass.
            seen = _seen_before(items_only, rows, cols)
            excluded = exclusion_mask(seen, tg, net.n_items)
        for cat, weight in ((full_cat, 1.0), (text_cat, cfg.text_loss_weight)):
            if weight <= 0:
                continue
            if cfg.negatives > 0:
                part = sampled_softmax_loss(us, cat, tg, w, log_q, cfg.negatives, gen)
            else:
                part = full_softmax_loss(us, cat, tg, w, excluded, after, after_w)
            loss = loss + cfg.next_item_weight * weight * part
    if cloze is not None:
        rows, cols = cloze.nonzero(as_tuple=True)
        if len(rows):
            pred = net.predict_rating(u[rows, -1], users[rows], hist[rows, cols])
            loss = loss + cfg.rating_weight * rating_loss(pred, raw_v[rows, cols])
    return loss


#: Parameters indexed by item or user position; copied row by row, matched by external id.
_ITEM_ROWS = ("items.i0.weight", "rating.bi.weight")
_USER_ROWS = ("users.u0.weight", "rating.bu.weight")
_FEATURES = ("item_text", "user_text", "item_has_id")


def warm_start(
    net: LmrecNet, init: TrainedModel, item_ids: Sequence[str], user_ids: Sequence[str]
) -> None:
    """Copy ``init``'s parameters into ``net`` (same config, possibly larger vocabularies).

    Shared weights are copied as they are; ID rows are copied for ids both
    vocabularies know, so the fine-tuned model keeps what it learned about old
    items and users while new ones start from their text.
    """
    old = init.net.state_dict()
    new = net.state_dict()
    old_items = {i: n for n, i in enumerate(init.item_ids)}
    old_users = {u: n for n, u in enumerate(init.user_ids)}
    with torch.no_grad():
        for name, target in new.items():
            if name in _FEATURES or name not in old or name.startswith("rerank."):
                continue  # the shortlist ranker is re-fitted after every training run
            source = old[name].to(target.device)
            if name in _ITEM_ROWS or name in _USER_ROWS:
                ids, where = (item_ids, old_items) if name in _ITEM_ROWS else (user_ids, old_users)
                pairs = [(n, where[x]) for n, x in enumerate(ids) if x in where]
                if pairs:
                    dst = torch.tensor([p[0] for p in pairs], device=target.device)
                    src = torch.tensor([p[1] for p in pairs], device=target.device)
                    target[dst] = source[src]
            elif source.shape == target.shape:
                target.copy_(source)
        if "item_has_id" in new:
            # Items without an ID keep i0 = 0 (cold items, or items with no events).
            net.items.i0.weight[~net.item_has_id] = 0.0
            net.rating.bi.weight[~net.item_has_id] = 0.0
