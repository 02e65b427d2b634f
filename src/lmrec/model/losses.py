"""Training objectives: next-item softmax (full or sampled with logQ correction) and rating MSE."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor


def full_softmax_loss(
    users: Tensor,
    catalog: Tensor,
    targets: Tensor,
    weights: Tensor,
    excluded: Tensor | None = None,
    after: Tensor | None = None,
    after_weights: Tensor | None = None,
) -> Tensor:
    """Weighted cross-entropy of each target item against the whole catalog.

    Exact and cheap while ``n_items * dim`` fits comfortably in memory (tens of
    thousands of items); use :func:`sampled_softmax_loss` beyond that.

    Args:
        users: User vectors ``(N, dim)``.
        catalog: Item vectors ``(n_items, dim)``.
        targets: Target item index per row ``(N,)``.
        weights: Non-negative weight per row ``(N,)`` (event-kind weights).
        excluded: ``(N, n_items)`` True where an item is left out of a row's
            softmax (items the user already had, which ranking never shows); build
            it with :func:`exclusion_mask`, once per step when several losses
            share the rows.
        after: Optional second positive per row ``(N,)`` (the event after the
            target), ``-1`` for none. It is scored on the same logits with the
            row's target left out of its softmax, so the two positives do not
            compete; rows where it is excluded or equals the target add nothing.
        after_weights: Weight per row of the second positive ``(N,)``; the sum
            is still divided by ``weights``' total, so these weigh against the
            first targets' weights. Required with ``after``.
    """
    logits = users @ catalog.T
    if excluded is not None:
        # In place: the product's backward needs its inputs, not this output, and a
        # copy of an (N, n_items) matrix per loss was a measurable share of a step.
        logits.masked_fill_(excluded, -torch.inf)
    ce = F.cross_entropy(logits, targets, reduction="none")
    total = (ce * weights).sum()
    if after is not None:
        if after_weights is None:
            raise ValueError("after needs after_weights")
        without = logits.scatter(1, targets.unsqueeze(1), -torch.inf)
        slot = after.clamp(min=0).unsqueeze(1)
        # A second target equal to the first, or excluded, has a -inf logit here.
        ok = (after >= 0) & (after_weights > 0)
        ok &= torch.isfinite(without.gather(1, slot).squeeze(1))
        # Rows without a usable second target are zeroed rather than selected, so
        # the step never waits on the device to count them.
        kept = without.masked_fill(~ok.unsqueeze(1), 0.0)
        ce2 = F.cross_entropy(kept, slot.squeeze(1), reduction="none")
        total = total + (ce2 * after_weights * ok).sum()
    return total / weights.sum().clamp(min=1e-8)


def exclusion_mask(exclude: Tensor, targets: Tensor, n_items: int) -> Tensor:
    """``(N, n_items)`` True where an item is excluded from a row, never at its target.

    Args:
        exclude: ``(N, K)`` item indices to leave out of each row, ``-1`` for none.
            Indices rather than a mask, because a history is far shorter than the
            catalog; the dense mask is built here in one scatter.
        targets: Target item per row ``(N,)``; a row's own target is never excluded.
        n_items: Catalog size.
    """
    n = exclude.shape[0]
    slot = torch.where(exclude >= 0, exclude, torch.full_like(exclude, n_items))
    mask = torch.zeros(n, n_items + 1, dtype=torch.bool, device=exclude.device)
    mask.scatter_(1, slot, True)
    mask.scatter_(1, targets.unsqueeze(1), False)
    return mask[:, :n_items]


def sampled_softmax_loss(
    users: Tensor,
    catalog: Tensor,
    targets: Tensor,
    weights: Tensor,
    log_q: Tensor,
    n_negatives: int,
    generator: torch.Generator,
) -> Tensor:
    """Cross-entropy against in-batch targets plus sampled negatives, with logQ correction.

    Negatives are drawn from the sampling distribution ``q`` (popularity-smoothed);
    subtracting ``log q`` from every candidate logit removes the bias toward
    popular items that sampling would otherwise teach (Yi et al., 2019).

    Args:
        users: User vectors ``(N, dim)``.
        catalog: Item vectors ``(n_items, dim)``.
        targets: Target item per row ``(N,)``.
        weights: Non-negative weight per row ``(N,)``.
        log_q: Log sampling probability of each item ``(n_items,)``.
        n_negatives: Items drawn from ``q`` and shared by all rows.
        generator: Source of randomness (seeded by the trainer).
    """
    batch_items = torch.unique(targets)
    drawn = torch.multinomial(log_q.exp(), n_negatives, replacement=True, generator=generator).to(
        targets.device
    )
    cands = torch.cat([batch_items, drawn])
    logits = users @ catalog[cands].T - log_q[cands]
    label = torch.searchsorted(batch_items, targets)
    # A drawn copy of a row's own target is not a negative for that row.
    own = drawn.unsqueeze(0) == targets.unsqueeze(1)
    mask = torch.cat([torch.zeros_like(logits[:, : batch_items.numel()], dtype=torch.bool), own], 1)
    logits = logits.masked_fill(mask, float("-inf"))
    ce = F.cross_entropy(logits, label, reduction="none")
    return (ce * weights).sum() / weights.sum().clamp(min=1e-8)


def rating_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error of predicted ratings."""
    return F.mse_loss(pred, target)
