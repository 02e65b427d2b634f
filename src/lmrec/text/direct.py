"""A direct forward pass for the common sentence-transformers model shape.

``SentenceTransformer.encode`` is built for batches: per call it switches the
model to eval mode, resolves the device, sorts inputs by length, and routes
features through every module's generic ``forward``. For one short search
query that bookkeeping is a noticeable share of the time, and search encodes
one query per request. A model made of ``Transformer -> Pooling(mean or cls)
[-> Normalize]`` (all-MiniLM-L6-v2 and most sentence-transformers models) is
just tokenizer, transformer, pooling and L2 normalisation, so this module
calls those directly.

Nothing here guesses: :meth:`DirectForward.from_model` returns ``None`` for
any other shape (prompts, lower-casing, dense heads, other poolings) and for
any model whose direct vectors do not match ``encode``'s on probe texts, and
the caller then keeps using ``encode``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]

#: Largest difference from ``encode``'s vectors accepted when checking a model.
TOLERANCE = 1e-5

#: Texts checked against ``encode`` before the direct path is trusted: short
#: queries, a padded batch, non-Latin text, and one past the model's length limit.
_PROBES = (
    "toy story",
    "Western films from the 1950s",
    "Amélie (2001). Comedy, Romance",
    "北京烤鸭 and 寿司",
)

#: Pooling flags of sentence-transformers before 6, for the modes handled here.
_FLAG_MODES = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}


class DirectForward:
    """Tokenizer, transformer, pooling and L2 normalisation, called without ``encode``.

    Args:
        tokenizer: The model's Hugging Face tokenizer.
        transformer: The Hugging Face model that returns ``last_hidden_state``.
        pooling: ``mean`` over non-padding tokens, or the ``cls`` token.
        max_length: Token limit; longer texts are truncated, as ``encode`` does.
        device: Where the transformer's weights are.
        tokenizer_lock: Held around each tokenizer call. A fast tokenizer must not
            be entered by two threads at once (it reconfigures padding and
            truncation per call); the transformer's forward pass may be, so
            several passes can run in parallel.
    """

    def __init__(
        self,
        tokenizer: Any,
        transformer: Any,
        *,
        pooling: Literal["mean", "cls"],
        max_length: int,
        device: str,
        tokenizer_lock: threading.Lock | None = None,
    ) -> None:
        self._tokenizer = tokenizer
        self._transformer = transformer
        self._pooling = pooling
        self._max_length = max_length
        self._device = device
        self._tokenizer_lock = tokenizer_lock or threading.Lock()

    @classmethod
    def from_model(
        cls, model: Any, tokenizer_lock: threading.Lock | None = None
    ) -> DirectForward | None:
        """The direct path for a loaded ``SentenceTransformer``, or ``None`` if it is unsafe.

        Unsafe means: a module sequence other than ``Transformer, Pooling[,
        Normalize]``, a pooling other than plain mean or CLS, a default prompt,
        lower-casing, or vectors that differ from ``encode``'s by more than
        :data:`TOLERANCE` on the probe texts. ``tokenizer_lock`` is the lock every
        other user of the model's tokenizer holds (see the class).
        """
        try:
            direct = cls._build(model, tokenizer_lock)
        except (AttributeError, IndexError, KeyError, TypeError):  # another library layout
            return None
        if direct is None:
            return None
        probes = direct.probe_texts()
        expected = model.encode(probes, convert_to_numpy=True, normalize_embeddings=True)
        got = np.concatenate([direct(probes[:2]), *(direct([p]) for p in probes[2:])])
        if got.shape != expected.shape or float(np.abs(got - expected).max()) > TOLERANCE:
            return None
        return direct

    @classmethod
    def _build(cls, model: Any, tokenizer_lock: threading.Lock | None) -> DirectForward | None:
        names = [type(m).__name__ for m in model]
        if names not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            return None
        if getattr(model, "default_prompt_name", None) or getattr(model[0], "do_lower_case", False):
            return None
        pooling = model[1].get_config_dict()
        mode = pooling.get("pooling_mode")
        if mode is None:  # sentence-transformers before 6 spells the mode as flags
            on = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v is True]
            mode = _FLAG_MODES.get(on[0]) if len(on) == 1 else None
        if mode not in ("mean", "cls"):
            return None
        return cls(
            model.tokenizer,
            model[0].auto_model,
            pooling=mode,
            max_length=int(model.max_seq_length),
            device=str(model.device),
            tokenizer_lock=tokenizer_lock,
        )

    def with_transformer(self, transformer: Any) -> DirectForward:
        """The same path over another transformer (e.g. an int8 copy of this one)."""
        return DirectForward(
            self._tokenizer,
            transformer,
            pooling=self._pooling,
            max_length=self._max_length,
            device=self._device,
            tokenizer_lock=self._tokenizer_lock,
        )

    def probe_texts(self) -> list[str]:
        """Texts a path is checked on before it is trusted: short, padded, non-Latin, over-long."""
        return [*_PROBES, " ".join(["word"] * (self._max_length + 16))]

    def tokenize(self, texts: Sequence[str]) -> dict[str, Any]:
        """The transformer's inputs for ``texts`` (one padded batch), on the model's device."""
        with self._tokenizer_lock:
            batch = self._tokenizer(
                list(texts),
                padding=True,
                truncation="longest_first",
                max_length=self._max_length,
                return_tensors="pt",
            )
        return {k: v.to(self._device) for k, v in batch.items()}

    @property
    def transformer(self) -> Any:
        """The Hugging Face model this path calls."""
        return self._transformer

    def __call__(self, texts: Sequence[str]) -> Vectors:
        """L2-normalized vectors ``(len(texts), dim)`` of non-empty texts (one padded batch)."""
        import torch

        batch = self.tokenize(texts)
        with torch.inference_mode():
            hidden = self._transformer(**batch, return_dict=True).last_hidden_state
            if self._pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            return np.asarray(pooled.float().cpu().numpy(), dtype=np.float32)
