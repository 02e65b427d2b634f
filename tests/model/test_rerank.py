"""The shortlist ranker: a no-op until trained, used only when cross-fitting shows a clear gain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from lmrec.model import TrainedModel, load_checkpoint, save_checkpoint
from lmrec.model.adapters import LmrecRanker
from lmrec.model.history import UserSequences
from lmrec.model.rerank import (
    ShortlistRanker,
    fit_ranker,
    mix_scale,
    rerank_scores,
    shortlists,
    stage_two_scores,
)

DIM = 8


def _cases(n: int, n_items: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    rng = np.random.default_rng(seed)
    users = torch.from_numpy(rng.standard_normal((n, DIM)).astype(np.float32))
    catalog = torch.from_numpy(rng.standard_normal((n_items, DIM)).astype(np.float32))
    short = np.stack([rng.permutation(n_items)[:20] for _ in range(n)]).astype(np.int64)
    return users, catalog, short


def test_untrained_ranker_scores_are_the_retrieval_scores() -> None:
    users, catalog, short = _cases(5, 50, 0)
    ranker = ShortlistRanker(DIM, 50, hidden=16, dropout=0.0).eval()
    vecs = catalog.numpy()[short]
    ranker.enabled.fill_(True)
    got = rerank_scores(ranker, users.numpy(), short, vecs)
    np.testing.assert_allclose(got, np.einsum("nd,nsd->ns", users.numpy(), vecs), atol=1e-5)


@pytest.mark.parametrize("enabled", [False, True])
def test_a_reference_shortlist_scores_other_candidates_on_its_scale(enabled: bool) -> None:
    """Candidates drawn from elsewhere (a query's matches) get the scores they would
    have inside the user's own shortlist, whatever else is among them."""
    users, catalog, short = _cases(4, 50, 5)
    rng = np.random.default_rng(6)
    ranker = ShortlistRanker(DIM, 50, hidden=16, dropout=0.0, neighbours=3).eval()
    ranker.enabled.fill_(enabled)
    ranker.co_sources.copy_(torch.from_numpy(rng.integers(0, 50, (50, 3))))
    ranker.co_weights.copy_(torch.from_numpy(rng.random((50, 3)).astype(np.float32)))
    ranker.co_mix.fill_(1.0)
    histories = [rng.integers(0, 50, 6) for _ in range(4)]
    cat = catalog.numpy()
    whole = rerank_scores(ranker, users.numpy(), short, cat[short], histories)
    part = short[:, [2, 5, 11, 17]]
    alone = rerank_scores(ranker, users.numpy(), part, cat[part], histories)
    placed = rerank_scores(
        ranker, users.numpy(), part, cat[part], histories, reference=(short, cat[short])
    )
    np.testing.assert_allclose(placed, whole[:, [2, 5, 11, 17]], atol=1e-4)
    assert not np.allclose(alone, placed, atol=1e-3)
    # The reference's scale, computed once, places them exactly as the reference does.
    scale = mix_scale(
        ranker, stage_two_scores(ranker, users.numpy(), short, cat[short]), short, histories
    )
    assert scale is not None
    reused = rerank_scores(ranker, users.numpy(), part, cat[part], histories, scale=scale)
    np.testing.assert_array_equal(reused, placed)
    ranker.co_mix.fill_(0.0)
    assert mix_scale(ranker, cat[short][..., 0], short, histories) is None  # nothing to scale


def test_a_learnable_signal_switches_the_ranker_on() -> None:
    # Retrieval order says nothing; the target is always the shortlist's most
    # frequent item, which only the per-item count feature reveals.
    n, n_items = 400, 60
    users, catalog, short = _cases(n, n_items, 1)
    ranker = ShortlistRanker(DIM, n_items, hidden=16, dropout=0.0)
    counts = np.random.default_rng(2).permutation(n_items).astype(np.float32)
    ranker.log_count.copy_(torch.from_numpy(np.log1p(counts)))
    targets = short[np.arange(n), counts[short].argmax(axis=1)]
    fit = fit_ranker(
        ranker, users, catalog, short, targets, epochs=30, lr=1e-2, weight_decay=0.0, seed=0
    )
    assert fit.enabled and bool(ranker.enabled)
    assert fit.reranked_ndcg10 > fit.retrieval_ndcg10 + 0.2
    ranker.eval()
    got = rerank_scores(ranker, users.numpy(), short, catalog.numpy()[short])
    hit = (short[np.arange(n), got.argmax(axis=1)] == targets).mean()
    assert hit > 0.8


def test_noise_leaves_the_ranker_off() -> None:
    n, n_items = 300, 60
    users, catalog, short = _cases(n, n_items, 3)
    # fit_ranker's contract: shortlists come best first by retrieval score. (Unsorted,
    # "retrieval alone" would be judged in an order the ranker never starts from.)
    dots = np.einsum("nd,nsd->ns", users.numpy(), catalog.numpy()[short])
    short = np.take_along_axis(short, np.argsort(-dots, axis=1), axis=1)
    torch.manual_seed(0)
    ranker = ShortlistRanker(DIM, n_items, hidden=16, dropout=0.0)
    targets = short[np.arange(n), np.random.default_rng(4).integers(0, 20, n)]
    fit = fit_ranker(
        ranker, users, catalog, short, targets, epochs=10, lr=1e-2, weight_decay=0.0, seed=0
    )
    assert not fit.enabled and not bool(ranker.enabled)
    got = rerank_scores(ranker, users.numpy(), short, catalog.numpy()[short])
    np.testing.assert_allclose(
        got, np.einsum("nd,nsd->ns", users.numpy(), catalog.numpy()[short]), atol=1e-5
    )


def test_shortlists_skip_history_and_are_best_first() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.7, 0.3]], dtype=np.float32)
    assert shortlists(scores, [np.array([1])], 3).tolist() == [[3, 2, 4]]


def test_training_records_the_verdict_and_checkpoints_keep_the_ranker(
    tmp_path: Path, synthetic: Any, trained: TrainedModel
) -> None:
    fit = trained.rerank
    assert fit is not None and fit.cases == len(synthetic.valid.users)
    assert bool(trained.net.rerank.enabled) == fit.enabled
    trained.net.rerank.enabled.fill_(True)  # compare the two-stage scores either way
    try:
        loaded = load_checkpoint(save_checkpoint(trained, tmp_path / "ck"), device="cpu")
        ranker = LmrecRanker(trained.config)
        ranker._model, ranker._seqs = trained, UserSequences.of(synthetic.train)
        assert ranker.params["ranker"] == ("on" if fit.enabled else "off")
        assert fit.item_mix is not None
        # the buffers hold the chosen weights in float32 (0.3 is not exact there)
        assert ranker.params["item mix"] == fit.item_mix.mix
        assert float(trained.net.rerank.co_mix) == pytest.approx(fit.item_mix.mix, rel=1e-6)
        assert ranker.params["transition mix"] == fit.item_mix.seq_mix
        seq_mix = float(trained.net.rerank.seq_mix)
        assert seq_mix == pytest.approx(fit.item_mix.seq_mix, rel=1e-6)
        assert ranker.params["epochs"] == len(trained.log)
        again = LmrecRanker(trained.config)
        again._model, again._seqs = loaded, UserSequences.of(synthetic.train)
        s = synthetic
        np.testing.assert_array_equal(
            ranker.score(s.test_users, s.test_histories),
            again.score(s.test_users, s.test_histories),
        )
    finally:
        trained.net.rerank.enabled.fill_(fit.enabled)


def test_a_checkpoint_without_a_ranker_loads_with_it_off(
    tmp_path: Path, trained: TrainedModel
) -> None:
    from safetensors.torch import load_file, save_file

    path = save_checkpoint(trained, tmp_path / "old")
    tensors = load_file(str(path / "model.safetensors"))
    save_file(
        {k: v for k, v in tensors.items() if not k.startswith("rerank.")},
        str(path / "model.safetensors"),
    )
    loaded = load_checkpoint(path, device="cpu")
    assert not bool(loaded.net.rerank.enabled)
    assert not loaded.net.rerank.active  # nor item-to-item mixing


def test_checkpoints_keep_the_item_to_item_weights_and_transitions(
    tmp_path: Path, trained: TrainedModel
) -> None:
    rr = trained.net.rerank
    assert (rr.co_sources >= 0).any()  # fitted at training time
    assert (rr.seq_next >= 0).any() and int(rr.seq_last) == trained.config.seq_last
    loaded = load_checkpoint(save_checkpoint(trained, tmp_path / "ck"), device="cpu").net.rerank
    names = ("co_sources", "co_weights", "co_mix", "co_decay")
    names += ("seq_next", "seq_weights", "seq_mix", "seq_last")
    for name in names:
        torch.testing.assert_close(getattr(loaded, name), getattr(rr, name))


def test_shortlisted_items_rank_above_the_rest_in_the_harness(
    synthetic: Any, trained: TrainedModel
) -> None:
    s = synthetic
    ranker = LmrecRanker(trained.config)
    ranker._model, ranker._seqs = trained, UserSequences.of(s.train)
    rr = trained.net.rerank
    was, mix, seq_mix, config = (
        bool(rr.enabled),
        float(rr.co_mix),
        float(rr.seq_mix),
        trained.config,
    )
    rr.enabled.fill_(True)
    trained.config = config.replace(rerank_shortlist=5)
    try:
        scores = ranker.score(s.test_users, s.test_histories)
        rr.enabled.fill_(False)
        rr.co_mix.fill_(0.0)
        rr.seq_mix.fill_(0.0)
        plain = ranker.score(s.test_users, s.test_histories)
    finally:
        rr.enabled.fill_(was)
        rr.co_mix.fill_(mix)
        rr.seq_mix.fill_(seq_mix)
        trained.config = config
    for j, h in enumerate(s.test_histories):
        plain[j, h] = -np.inf
        top5 = set(np.argsort(-plain[j])[:5].tolist())
        masked = scores[j].copy()
        masked[h] = -np.inf
        assert set(np.argsort(-masked)[:5].tolist()) == top5


def test_large_catalogs_carry_no_empty_transition_table() -> None:
    from lmrec.model.cooccurrence import MAX_ITEMS
    from lmrec.model.rerank import ShortlistRanker

    small = ShortlistRanker(8, 100, 16, 0.1, neighbours=4, successors=5)
    assert tuple(small.seq_next.shape) == (100, 5)
    large = ShortlistRanker(8, MAX_ITEMS + 1, 16, 0.1, neighbours=4, successors=5)
    assert tuple(large.seq_next.shape) == (MAX_ITEMS + 1, 0)
    assert not large.active


def test_among_candidates_the_best_are_reranked_in_feed_order(
    synthetic: Any, trained: TrainedModel
) -> None:
    """``score_among`` (P4's path, as the engine's search): the second stage re-ranks
    the best *candidates*, and those also in the user's own shortlist keep the
    order ``score`` gives them."""
    s = synthetic
    ranker = LmrecRanker(trained.config)
    ranker._model, ranker._seqs = trained, UserSequences.of(s.train)
    rr = trained.net.rerank
    saved = {k: v.clone() for k, v in rr.state_dict().items()}
    config = trained.config
    rng = np.random.default_rng(0)
    n_items = s.data.n_items
    rr.co_sources.copy_(torch.from_numpy(rng.integers(0, n_items, tuple(rr.co_sources.shape))))
    rr.co_weights.copy_(torch.from_numpy(rng.random(tuple(rr.co_weights.shape)).astype(np.float32)))
    rr.co_mix.fill_(2.0)
    trained.config = config.replace(rerank_shortlist=10)
    cand = rng.random((len(s.test_users), n_items)) < 0.5
    try:
        full = ranker.score(s.test_users, s.test_histories)
        among = ranker.score_among(s.test_users, s.test_histories, cand)
        rr.co_mix.fill_(0.0)
        plain = ranker.score(s.test_users, s.test_histories)
    finally:
        rr.load_state_dict(saved)
        trained.config = config
    assert rr.co_sources.shape[1] > 0
    moved = 0
    for j, h in enumerate(s.test_histories):
        ok = cand[j].copy()
        ok[h] = False
        plain[j, ~ok] = -np.inf
        best = np.argsort(-plain[j])[:10]  # the candidates' first-stage shortlist
        got = np.where(ok, among[j], -np.inf)
        assert set(np.argsort(-got)[:10].tolist()) == set(best.tolist())
        mine = np.argsort(-np.where(np.isin(np.arange(n_items), h), -np.inf, full[j]))[:10]
        both = [i for i in np.argsort(-got)[:10] if i in set(mine.tolist())]
        assert both == [i for i in mine if i in set(both)]  # feed order kept
        moved += int(list(np.argsort(-got)[:10]) != list(best))
    assert moved > 0  # the second stage did re-order the candidates
