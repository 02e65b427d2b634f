"""The whole lmrec network: towers, heads and the frozen language-model features they read.

Every method here is a pure function of its inputs and the parameters; call
them under ``torch.no_grad()`` with ``.eval()`` for scoring. Training-time masks
(``keep_id``) default to "keep everything".
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lmrec.model.config import ModelConfig
from lmrec.model.ranker import RatingHead
from lmrec.model.rerank import ShortlistRanker
from lmrec.model.towers import ItemTower, UserTower


class LmrecNet(nn.Module):
    """Two towers over frozen LM vectors, with a rating head and a shortlist ranker on top.

    Args:
        item_text: LM vector of each known item, ``(n_items, text_dim)``.
        user_text: LM vector of each known user's profile, ``(n_users, text_dim)``.
        item_has_id: Which items own a trainable ``i0`` (False for cold items).
        cfg: Hyper-parameters.
    """

    item_text: Tensor
    user_text: Tensor
    item_has_id: Tensor

    def __init__(
        self, item_text: Tensor, user_text: Tensor, item_has_id: Tensor, cfg: ModelConfig
    ) -> None:
        super().__init__()
        n_items, text_dim = item_text.shape
        n_users = user_text.shape[0]
        self.cfg = cfg
        self.register_buffer("item_text", item_text.float())
        self.register_buffer("user_text", user_text.float())
        self.register_buffer("item_has_id", item_has_id.bool())
        self.items = ItemTower(n_items, text_dim, cfg)
        self.users = UserTower(n_users, text_dim, cfg)
        self.rating = RatingHead(n_users, n_items, cfg.dim, text_dim, cfg.dropout)
        self.rerank = ShortlistRanker(
            cfg.dim,
            n_items,
            cfg.rerank_hidden,
            cfg.dropout,
            cfg.co_neighbours,
            cfg.seq_successors if cfg.co_neighbours > 0 else 0,
        )
        with torch.no_grad():
            # Items without an ID keep i0 = 0 for good: the masks stop gradients and
            # decoupled weight decay keeps zero at zero.
            self.items.i0.weight[~self.item_has_id] = 0.0
            self.rating.bi.weight[~self.item_has_id] = 0.0

    @property
    def n_items(self) -> int:
        return int(self.item_text.shape[0])

    @property
    def n_users(self) -> int:
        return int(self.user_text.shape[0])

    def known_item_ids(self, items: Tensor) -> Tensor:
        """Item indices with ``-1`` wherever the item has no ID embedding."""
        has = self.item_has_id[items.clamp(min=0)] & (items >= 0)
        return torch.where(has, items, torch.full_like(items, -1))

    def catalog(self, *, text_only: bool = False, keep_id: Tensor | None = None) -> Tensor:
        """Vectors of every known item ``(n_items, dim)``; ``text_only`` drops all ``i0``."""
        idx = torch.arange(self.n_items, device=self.item_text.device)
        ids = None if text_only else self.known_item_ids(idx)
        out: Tensor = self.items(self.item_text, ids, keep_id)
        return out

    def item_vectors(self, text: Tensor, items: Tensor | None = None) -> Tensor:
        """Vectors for LM text vectors ``(m, text_dim)``, with ``i0`` where ``items[j] >= 0``."""
        ids = None if items is None else self.known_item_ids(items)
        out: Tensor = self.items(text, ids, None)
        return out

    def history_states(
        self,
        catalog: Tensor,
        hist_items: Tensor,
        new_text: Tensor,
        gaps: Tensor,
        values: Tensor,
        pad: Tensor,
        *,
        last_only: bool = False,
    ) -> Tensor:
        """Causal user states ``(B, L, dim)`` over left-padded histories, at scoring time
        (``(B, 1, dim)``, the newest position's, with ``last_only``).

        Known items are looked up in ``catalog``, the vectors this network gives
        its catalog (computed once per set of parameters): running the item tower
        again over every history position was half the cost of scoring users.

        Args:
            catalog: :meth:`catalog` ``(n_items, dim)``.
            hist_items: Item indices, ``(B, L)``; ``-1`` for an item outside the catalog.
            new_text: LM vectors of those outside items ``(m, text_dim)``, in the
                row-major order of the non-padding ``-1`` positions.
            gaps: Gap buckets, ``(B, L)``.
            values: Rating buckets, ``(B, L)``.
            pad: True at padding positions, ``(B, L)``.
            last_only: Only the newest position's state (see ``UserTower.states``).
        """
        vecs = catalog[hist_items.clamp(min=0)]
        if len(new_text):
            vecs[(hist_items < 0) & ~pad] = self.items.text_part(new_text)
        return self.users.states(vecs, gaps, values, pad, last_only=last_only)

    def user_static(self, profile: Tensor, users: Tensor, keep_id: Tensor | None = None) -> Tensor:
        """Profile projection plus ``u0``; ``users[j] = -1`` means an unknown user."""
        return self.users.static_part(profile, users, keep_id)

    def predict_rating(
        self, u: Tensor, users: Tensor, items: Tensor, item_keep: Tensor | None = None
    ) -> Tensor:
        """Ratings for aligned (user vector, user index, item index) rows of known items."""
        ids = self.known_item_ids(items)
        text = self.item_text[items]
        i = self.items(text, ids, item_keep)
        return self.rating(u, i, users, ids, text, item_keep)  # type: ignore[no-any-return]
