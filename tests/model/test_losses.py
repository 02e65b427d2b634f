"""The next-item softmax against hand-written references."""

from __future__ import annotations

import math

import pytest
import torch

from lmrec.model.losses import (
    exclusion_mask,
    full_softmax_loss,
    rating_loss,
    sampled_softmax_loss,
)


def _reference_ce(logits: list[float], target: int, allowed: set[int]) -> float:
    """-log softmax of ``target`` over the ``allowed`` items, written out."""
    denom = sum(math.exp(logits[j]) for j in allowed)
    return -(logits[target] - math.log(denom))


def test_exclusion_mask_never_hides_the_target() -> None:
    mask = exclusion_mask(torch.tensor([[1, 2, -1], [0, -1, -1]]), torch.tensor([2, 3]), 4)
    assert mask.tolist() == [[False, True, False, False], [True, False, False, False]]


def test_full_softmax_matches_a_hand_computed_cross_entropy() -> None:
    users = torch.tensor([[1.0, 0.0], [0.5, -1.0]])
    catalog = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [-1.0, 0.5]])
    logits = (users @ catalog.T).tolist()
    targets = torch.tensor([0, 2])
    weights = torch.tensor([1.0, 3.0])
    excluded = exclusion_mask(torch.tensor([[2, -1], [-1, -1]]), targets, 4)
    loss = full_softmax_loss(users, catalog, targets, weights, excluded)
    want = (
        1.0 * _reference_ce(logits[0], 0, {0, 1, 3})
        + 3.0 * _reference_ce(logits[1], 2, {0, 1, 2, 3})
    ) / 4.0
    assert float(loss) == pytest.approx(want, rel=1e-6)


def test_a_second_target_is_scored_without_the_first_in_its_softmax() -> None:
    users = torch.tensor([[1.0, 0.0], [0.5, -1.0], [0.2, 0.3]])
    catalog = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [-1.0, 0.5]])
    logits = (users @ catalog.T).tolist()
    targets = torch.tensor([0, 2, 1])
    weights = torch.tensor([1.0, 3.0, 1.0])
    # Row 0's second target is item 2, which it already had (excluded): no term.
    # Row 1: item 3 after item 2. Row 2: none.
    after = torch.tensor([2, 3, -1])
    after_w = torch.tensor([0.5, 1.5, 0.5])
    excluded = exclusion_mask(torch.tensor([[2, -1], [-1, -1], [-1, -1]]), targets, 4)
    loss = full_softmax_loss(users, catalog, targets, weights, excluded, after, after_w)
    want = (
        1.0 * _reference_ce(logits[0], 0, {0, 1, 3})
        + 3.0 * _reference_ce(logits[1], 2, {0, 1, 2, 3})
        + 1.0 * _reference_ce(logits[2], 1, {0, 1, 2, 3})
        + 1.5 * _reference_ce(logits[1], 3, {0, 1, 3})
    ) / 5.0
    assert float(loss) == pytest.approx(want, rel=1e-6)
    # A second target equal to the first, or of weight 0, adds nothing.
    same = full_softmax_loss(users, catalog, targets, weights, excluded, targets.clone(), after_w)
    none = full_softmax_loss(users, catalog, targets, weights, excluded)
    assert float(same) == pytest.approx(float(none), rel=1e-6)
    with pytest.raises(ValueError, match="after_weights"):
        full_softmax_loss(users, catalog, targets, weights, excluded, after)
    # Rows without a usable second target (row 0's is excluded: -inf) leave the
    # gradient finite.
    u, c = users.clone().requires_grad_(), catalog.clone().requires_grad_()
    full_softmax_loss(u, c, targets, weights, excluded, after, after_w).backward()
    assert u.grad is not None and c.grad is not None
    assert bool(torch.isfinite(u.grad).all()) and bool(torch.isfinite(c.grad).all())


def test_sampled_softmax_corrects_by_log_q_and_never_counts_the_target_as_negative() -> None:
    """Candidates are the batch's distinct targets plus draws from ``q``; every
    logit is lowered by ``log q``, and a draw of a row's own target is masked."""
    gen = torch.Generator().manual_seed(3)
    users = torch.randn(3, 4, generator=gen)
    catalog = torch.randn(5, 4, generator=gen)
    targets = torch.tensor([1, 3, 1])
    weights = torch.tensor([1.0, 2.0, 1.0])
    q = torch.tensor([0.1, 0.4, 0.2, 0.2, 0.1])
    log_q = q.log()
    drawn = torch.multinomial(q, 6, replacement=True, generator=torch.Generator().manual_seed(9))
    loss = sampled_softmax_loss(
        users, catalog, targets, weights, log_q, 6, torch.Generator().manual_seed(9)
    )

    scores = (users @ catalog.T).tolist()
    total = 0.0
    for r in range(3):
        t = int(targets[r])
        cands = [1, 3] + [int(d) for d in drawn if int(d) != t]
        logits = [scores[r][c] - math.log(float(q[c])) for c in cands]
        denom = sum(math.exp(x) for x in logits)
        total += float(weights[r]) * -(scores[r][t] - math.log(float(q[t])) - math.log(denom))
    assert float(loss) == pytest.approx(total / 4.0, rel=1e-6)


def test_rating_loss_is_the_mean_squared_error() -> None:
    pred, target = torch.tensor([3.0, 4.5]), torch.tensor([4.0, 4.0])
    assert float(rating_loss(pred, target)) == pytest.approx((1.0 + 0.25) / 2)
