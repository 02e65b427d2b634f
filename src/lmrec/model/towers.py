"""The two towers: item vectors from text (+ ID), user vectors from behaviour (+ profile, ID).

Scoring is pure: nothing here samples, drops out at eval time, or updates state.
Training-time randomness (ID dropout, gap dropout) is passed in as masks by
:mod:`lmrec.model.train`, so the same modules serve both verbs.

An item vector is ``proj(LM(text)) + i0[item]``; ``i0`` is zero (and never
trained) for items without an ID embedding, e.g. items added after training or
held out as cold. A user vector is ``causal_transformer(history)[-1] +
proj(LM(profile)) + u0[user]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from lmrec.model.config import ModelConfig

#: Gap bucket meaning "time gap unknown" (first event, or serving without timestamps).
UNKNOWN_GAP = 0


def gap_buckets(gaps_seconds: npt.NDArray[np.float64], n_buckets: int) -> npt.NDArray[np.int64]:
    """Log2 buckets of time gaps; NaN (unknown) maps to :data:`UNKNOWN_GAP`.

    Log buckets because what matters is "same session / same day / months later",
    not the exact number of seconds.
    """
    g = np.asarray(gaps_seconds, dtype=np.float64)
    out = np.full(g.shape, UNKNOWN_GAP, dtype=np.int64)
    known = np.isfinite(g)
    b = np.floor(np.log2(np.clip(g[known], 0.0, None) + 1.0)).astype(np.int64)
    out[known] = 1 + np.clip(b, 0, n_buckets - 2)
    return out


#: Rating buckets: 0 = no rating, else ``1 + round(value)`` for values 0..10.
VALUE_BUCKETS = 12


def value_buckets(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Bucket of each event's rating (NaN = none = 0), so the history says what was liked."""
    v = np.asarray(values, dtype=np.float64)
    out = np.zeros(v.shape, dtype=np.int64)
    known = np.isfinite(v)
    out[known] = 1 + np.clip(np.rint(v[known]), 0, VALUE_BUCKETS - 2).astype(np.int64)
    return out


#: Resolution of :func:`drop_mask`'s integer draws.
_LEVELS = 1 << 16


def drop_mask(
    shape: Sequence[int],
    p: float,
    device: torch.device,
    rng: np.random.Generator | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Boolean mask, True with chance ``p`` (the dropped entries).

    With ``rng`` and a CPU device the mask comes from ``rng`` as 16-bit integers
    compared with ``round(p * 65536)``: PCG64 fills bytes several times faster than
    ``torch.rand`` makes floats on a CPU (a ``(64, 1, 200, 200)`` DropKey mask took
    ~42 ms against ~10 ms here), at a chance quantised to 1/65536. Otherwise
    ``torch.rand`` on ``device`` in ``dtype`` (seeded by ``torch.manual_seed``).
    """
    if rng is not None and device.type == "cpu":
        cut = round(p * _LEVELS)
        draws = rng.integers(0, _LEVELS, size=tuple(shape), dtype=np.uint16)
        return torch.from_numpy(draws < cut)
    return torch.rand(tuple(shape), device=device, dtype=dtype) < p


def fast_dropout(x: Tensor, p: float, rng: np.random.Generator | None = None) -> Tensor:
    """Inverted dropout with a mask from :func:`drop_mask`.

    Same distribution as ``F.dropout``, but on CPU ``F.dropout``'s sampler costs
    about twice as much per element, and dropout was a quarter of a training step.
    """
    if p <= 0:
        return x
    keep = ~drop_mask(x.shape, p, x.device, rng, x.dtype)
    return x * keep.to(x.dtype) / (1.0 - p)


class ItemTower(nn.Module):
    """Item vector = learned projection of the frozen LM text vector + optional ID embedding."""

    def __init__(self, n_items: int, text_dim: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.proj = nn.Sequential(
            nn.Linear(text_dim, cfg.text_hidden),
            nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.text_hidden, cfg.dim),
        )
        self.skip = nn.Linear(text_dim, cfg.dim, bias=False)
        self.i0 = nn.Embedding(n_items, cfg.dim)
        nn.init.normal_(self.i0.weight, std=0.01)

    def text_part(self, text: Tensor) -> Tensor:
        """The text-only vector: what a brand-new item gets."""
        out: Tensor = self.proj(text) + self.skip(text)
        return out

    def forward(self, text: Tensor, items: Tensor | None, keep_id: Tensor | None) -> Tensor:
        """Vectors for ``text`` rows; ``items`` (same rows) adds ``i0`` where ``keep_id`` holds."""
        out = self.text_part(text)
        if items is not None:
            ids: Tensor = self.i0(items.clamp(min=0))
            mask = (items >= 0).to(out.dtype)
            if keep_id is not None:
                mask = mask * keep_id.to(out.dtype)
            out = out + ids * mask.unsqueeze(-1)
        return out


class UserTower(nn.Module):
    """Causal Transformer over recent items (with positions, gaps, ratings) + profile + ID."""

    def __init__(self, n_users: int, text_dim: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.max_len = cfg.max_len
        self.n_heads = cfg.n_heads
        self.pos = nn.Embedding(cfg.max_len, cfg.dim)
        self.gap = nn.Embedding(cfg.gap_buckets, cfg.dim)
        self.value = nn.Embedding(VALUE_BUCKETS, cfg.dim)
        nn.init.normal_(self.pos.weight, std=0.02)
        nn.init.normal_(self.gap.weight, std=0.02)
        nn.init.normal_(self.value.weight, std=0.02)
        self.dropout = cfg.dropout
        self.fast_masks = cfg.fast_masks
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model=cfg.dim,
                nhead=cfg.n_heads,
                dim_feedforward=cfg.dim * cfg.ffn_mult,
                dropout=cfg.dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(cfg.n_layers)
        )
        self.norm = nn.LayerNorm(cfg.dim)
        self.profile = nn.Linear(text_dim, cfg.dim)
        self.u0 = nn.Embedding(n_users, cfg.dim)
        nn.init.normal_(self.u0.weight, std=0.01)
        self.user_id = cfg.user_id
        self.scale = math.sqrt(cfg.dim)

    def states(
        self, hist: Tensor, gaps: Tensor, values: Tensor, pad: Tensor, *, last_only: bool = False
    ) -> Tensor:
        """Causal outputs ``(B, L, dim)``: position ``t`` has seen events ``<= t`` only.

        Args:
            hist: Item vectors of the (left-padded) history, ``(B, L, dim)``.
            gaps: Gap bucket of each event, ``(B, L)``.
            values: Rating bucket of each event, ``(B, L)``.
            pad: True where a position is padding, ``(B, L)``.
            last_only: Return the newest position's output alone, ``(B, 1, dim)``,
                the one a user's vector is read from. The last block then attends
                and transforms for that one query instead of all ``L``: scoring
                users (validation every epoch, serving) does about half the work.
        """
        length = hist.shape[1]
        pos = torch.arange(self.max_len - length, self.max_len, device=hist.device)
        x = hist * self.scale + self.pos(pos).unsqueeze(0) + self.gap(gaps) + self.value(values)
        p = self.dropout if self.training else 0.0
        rng = None
        if p > 0 and self.fast_masks:
            # Seeded from torch's generator, so torch.manual_seed still fixes the run.
            rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,))))
        x = fast_dropout(x, p, rng) * (~pad).unsqueeze(-1).to(x.dtype)
        causal = torch.tril(
            torch.ones(length, length, dtype=torch.bool, device=hist.device), diagonal=0
        )
        # Padding is never attended to; a padding row attends to itself so that its
        # softmax is defined (its output is ignored).
        eye = torch.eye(length, dtype=torch.bool, device=hist.device)
        allowed = (causal & ~pad.unsqueeze(1)).unsqueeze(1)
        last = len(self.blocks) - 1
        for index, module in enumerate(self.blocks):
            block = cast(nn.TransformerEncoderLayer, module)
            keys = allowed
            if p > 0:
                # DropKey: each query loses a random share of its keys before the
                # softmax, instead of dropping attention weights after it (which
                # the fused kernel does with a slow per-element sampler on CPU).
                drop = drop_mask((allowed.shape[0], 1, length, length), p, hist.device, rng)
                keys = allowed & ~drop
            keys = keys | eye
            if last_only and index == last:
                # Later positions never feed earlier ones, so the newest position's
                # output needs every key and value but only its own query.
                keys = keys[:, :, -1:]
                attended = self._attend(block, block.norm1(x), keys, queries=1)
                x = x[:, -1:] + fast_dropout(attended, p, rng)
            else:
                x = x + fast_dropout(self._attend(block, block.norm1(x), keys), p, rng)
            h = block.activation(block.linear1(block.norm2(x)))  # type: ignore[operator]
            x = x + fast_dropout(block.linear2(fast_dropout(h, p, rng)), p, rng)
        out: Tensor = self.norm(x)
        return out

    def _attend(
        self,
        block: nn.TransformerEncoderLayer,
        x: Tensor,
        allowed: Tensor,
        queries: int | None = None,
    ) -> Tensor:
        """Multi-head self-attention of one pre-norm block, through the fused kernel.

        The block's own ``forward`` is bypassed on purpose: it materialises a
        float mask per head, which the fused kernel does not need. Attention
        dropout is applied to ``allowed`` by the caller (DropKey); the parameters,
        and so checkpoints, are the block's own. With ``queries``, only the last
        that many positions ask (``allowed`` then has that many rows); every
        position still gives its key and value.
        """
        attn = block.self_attn
        b, length, dim = x.shape
        heads, width = self.n_heads, dim // self.n_heads
        w, bias = attn.in_proj_weight, attn.in_proj_bias
        if queries is None:
            qkv = F.linear(x, w, bias)
            q, k, v = (
                t.view(b, length, heads, width).transpose(1, 2) for t in qkv.chunk(3, dim=-1)
            )
        else:
            q_bias, kv_bias = (None, None) if bias is None else (bias[:dim], bias[dim:])
            q = F.linear(x[:, -queries:], w[:dim], q_bias)
            q = q.view(b, queries, heads, width).transpose(1, 2)
            kv = F.linear(x, w[dim:], kv_bias)
            k, v = (t.view(b, length, heads, width).transpose(1, 2) for t in kv.chunk(2, dim=-1))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        rows = out.shape[2]
        return attn.out_proj(out.transpose(1, 2).reshape(b, rows, dim))  # type: ignore[no-any-return]

    def static_part(self, profile: Tensor, users: Tensor | None, keep_id: Tensor | None) -> Tensor:
        """Profile projection plus ``u0`` (where the user has one, it is kept, and
        :attr:`~lmrec.model.config.ModelConfig.user_id` is on)."""
        out: Tensor = self.profile(profile)
        if users is not None and self.user_id:
            ids: Tensor = self.u0(users.clamp(min=0))
            mask = (users >= 0).to(out.dtype)
            if keep_id is not None:
                mask = mask * keep_id.to(out.dtype)
            out = out + ids * mask.unsqueeze(-1)
        return out
