"""Pairwise heads over (user vector, item vector): ``r = MLP([u, i, u*i])``.

Retrieval uses the plain dot product (so an ANN index can serve it); these heads
re-score a shortlist. :class:`RatingHead` predicts explicit ratings with global,
user and item biases, the part of a rating that plain dot products fit poorly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class PairMLP(nn.Module):
    """``MLP([u, i, u*i, features])`` for a batch of (user, item) pairs."""

    def __init__(self, dim: int, n_features: int = 0, hidden: int = 128, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(3 * dim + n_features, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, u: Tensor, i: Tensor, features: Tensor | None = None) -> Tensor:
        """Scores ``u.shape[:-1]``; ``u`` and ``i`` broadcast against each other."""
        shape = torch.broadcast_shapes(u.shape, i.shape)  # type: ignore[no-untyped-call]
        u, i = u.expand(shape), i.expand(shape)
        parts = [u, i, u * i] if features is None else [u, i, u * i, features]
        out: Tensor = self.net(torch.cat(parts, dim=-1)).squeeze(-1)
        return out


class RatingHead(nn.Module):
    """``rating = mu + b_u + b_i + dot(u, i) + MLP([u, i, u*i])``.

    ``b_i`` has an ID part (zero for items without an ID) and a text part, so a
    new item still gets a content-based bias.
    """

    def __init__(self, n_users: int, n_items: int, dim: int, text_dim: int, dropout: float):
        super().__init__()
        self.mu = nn.Parameter(torch.zeros(1))
        self.bu = nn.Embedding(n_users, 1)
        self.bi = nn.Embedding(n_items, 1)
        nn.init.zeros_(self.bu.weight)
        nn.init.zeros_(self.bi.weight)
        self.bi_text = nn.Linear(text_dim, 1)
        self.mlp = PairMLP(dim, dropout=dropout)

    def forward(
        self,
        u: Tensor,
        i: Tensor,
        users: Tensor,
        items: Tensor,
        item_text: Tensor,
        item_keep: Tensor | None = None,
    ) -> Tensor:
        """Predicted ratings for aligned rows of users and items (index ``-1`` = no ID)."""
        bu: Tensor = self.bu(users.clamp(min=0)).squeeze(-1) * (users >= 0).to(u.dtype)
        bi_mask = (items >= 0).to(u.dtype)
        if item_keep is not None:
            bi_mask = bi_mask * item_keep.to(u.dtype)
        bi: Tensor = self.bi(items.clamp(min=0)).squeeze(-1) * bi_mask
        bt: Tensor = self.bi_text(item_text).squeeze(-1)
        out: Tensor = self.mu + bu + bi + bt + (u * i).sum(-1) + self.mlp(u, i)
        return out
