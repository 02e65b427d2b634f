"""The encoder's transformer run by ONNX Runtime, for single texts on CPU.

Search encodes one short query per request, and on a CPU PyTorch's eager
forward pass for one query is mostly per-operator overhead: about 10 ms for
all-MiniLM-L6-v2 on this project's 2-core machine, one thread. ONNX Runtime
runs the same graph with fused kernels in about 3 ms and gives the same
vectors (to ~1e-7), and its int8-quantized copy runs in about 1.2 ms while
staying closer to the float32 vectors than PyTorch's int8 copy does.

The graph is exported from the loaded model at start-up, so whatever
sentence-transformers model the settings name gets it, and nothing trusts it
blindly: :func:`onnx_forwards` checks the graph against the PyTorch path on
probe texts and returns ``None`` (the caller keeps PyTorch) when ONNX Runtime
is not installed, the export fails, or the vectors differ.

Export and int8 quantization took about 1.5 s and 2.3 s of each start-up on
the 2-core machine (every serving worker, every command that opens the
engine): building the encoder took 2.9-3.9 s, and 0.8 s with cached graphs.
Given a cache folder, the graphs are kept there under a hash of what they are
made from (the weights, the model's configuration, the library versions), and
a later start with the same model loads them; the probe check still runs, and
a cached graph that fails it is exported again.
"""

from __future__ import annotations

import copy
import hashlib
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from lmrec.text.direct import TOLERANCE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from lmrec.text.direct import DirectForward

log = logging.getLogger(__name__)

#: Lowest cosine an int8 graph's probe vector may have with the float32 one.
#: Quantization moves vectors a little (cosine ~0.99 on MiniLM); a broken
#: graph moves them a lot.
INT8_MIN_COSINE = 0.9

#: The ONNX operator set the graph is exported with (supported by every
#: ONNX Runtime release of the last few years).
OPSET = 17


class OnnxTransformer:
    """Calls an ONNX Runtime session the way ``DirectForward`` calls a Hugging Face model.

    Takes the tokenizer's tensors as keyword arguments and returns an object
    with ``last_hidden_state``, so :class:`~lmrec.text.direct.DirectForward`
    keeps its tokenization, pooling and normalisation unchanged.

    Args:
        model: The serialized ONNX graph.
        input_names: The tokenizer outputs the graph takes, in order.
        threads: Intra-operator threads (the process's torch thread count, so
            serving workers pinned to one thread stay at one).
    """

    def __init__(self, model: bytes, input_names: Sequence[str], threads: int) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        # Idle pool threads spin by default, burning a core the other requests need.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        self._inputs = tuple(input_names)

    def __call__(self, **batch: Any) -> SimpleNamespace:
        import torch

        feed = {name: batch[name].numpy() for name in self._inputs}
        (hidden,) = self._session.run(None, feed)
        return SimpleNamespace(last_hidden_state=torch.from_numpy(hidden))


def onnx_forwards(
    direct: DirectForward, *, threads: int, int8: bool, cache_dir: Path | None = None
) -> tuple[DirectForward | None, DirectForward | None]:
    """``direct`` run by ONNX Runtime: the float32 path and, if asked, the int8 one.

    Either is ``None`` when it is unsafe: ONNX Runtime missing, the export or
    quantization failing, or probe vectors off (float32: by more than
    :data:`~lmrec.text.direct.TOLERANCE` from PyTorch's; int8: cosine below
    :data:`INT8_MIN_COSINE`). The graph is exported once for both.

    Args:
        direct: The PyTorch direct path of a loaded CPU model.
        threads: Intra-operator threads for each session.
        int8: Also build the int8 path.
        cache_dir: Folder to keep the graphs in (see :class:`GraphCache`);
            ``None`` makes them every time.
    """
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        log.info("onnxruntime is not installed; single texts stay on PyTorch")
        return None, None
    probes = direct.probe_texts()
    try:
        sample = direct.tokenize(probes[:2])
    except Exception as exc:  # as for the export: any failure keeps PyTorch
        log.warning("cannot tokenize the probe texts for ONNX export (%s)", exc)
        return None, None
    names = list(sample)
    expected = [direct([p]) for p in probes]
    padded = direct(probes[:2])

    def checked(model: bytes, int8: bool) -> DirectForward | None:
        try:
            path = direct.with_transformer(OnnxTransformer(model, names, threads))
            got = [path([p]) for p in probes]
            got_padded = path(probes[:2])
        except Exception as exc:  # session errors come from many layers
            log.warning("ONNX Runtime cannot run the encoder (%s)", exc)
            return None
        if int8:
            cos = [float((e * g).sum()) for e, g in zip(expected, got, strict=True)]
            ok = min(cos) >= INT8_MIN_COSINE
        else:
            diffs = [np.abs(g - e).max() for e, g in zip(expected, got, strict=True)]
            ok = max(*diffs, np.abs(got_padded - padded).max()) <= TOLERANCE
        if not ok:
            log.warning("ONNX Runtime's vectors differ from PyTorch's; not used (int8=%s)", int8)
        return path if ok else None

    cache = GraphCache(cache_dir, direct.transformer, names) if cache_dir is not None else None

    def built(kind: str, make: Callable[[], bytes]) -> tuple[DirectForward | None, bytes]:
        """Graph ``kind``'s path and bytes: the cached graph if it checks out, else
        ``make()``'s (cached when it checks out). ``make`` may raise."""
        if cache is not None:
            graph = cache.load(kind)
            if graph is not None:
                path = checked(graph, int8=kind == "int8")
                if path is not None:
                    return path, graph
                log.warning("the cached %s ONNX graph of the encoder failed its check", kind)
        graph = make()
        path = checked(graph, int8=kind == "int8")
        if path is not None and cache is not None:
            cache.save(kind, graph)
        return path, graph

    try:
        fp32, graph = built("fp32", lambda: _export(direct.transformer, sample, names))
    except Exception as exc:  # export errors come from many layers
        log.warning("ONNX export of the encoder failed (%s); single texts stay on PyTorch", exc)
        return None, None
    if not int8:
        return fp32, None
    try:
        fast_int8, _ = built("int8", lambda: _quantize_int8(graph))
    except Exception as exc:  # the quantizer's errors come from onnx and onnxruntime
        log.warning("int8 quantization of the ONNX graph failed (%s)", exc)
        return fp32, None
    return fp32, fast_int8


class GraphCache:
    """Exported graphs on disk, named by a hash of everything they are made from.

    The key covers the transformer's weights (names, shapes, dtypes and bytes),
    its configuration, the tokenizer inputs the graph takes, the opset and the
    versions of torch, transformers and onnxruntime, so a changed model or
    library makes a new file rather than reusing a stale one; the probe check
    in :func:`onnx_forwards` stays the last word. Hashing MiniLM's 90 MB of
    weights takes about a tenth of a second. Writes are atomic (a temporary
    file renamed into place), so workers starting together cannot read half a
    graph; a folder that cannot be written costs the cache, never the start.
    """

    def __init__(self, folder: Path, transformer: Any, input_names: Sequence[str]) -> None:
        self.folder = Path(folder)
        self.key = graph_key(transformer, input_names)

    def path(self, kind: str) -> Path:
        return self.folder / f"{self.key}.{kind}.onnx"

    def load(self, kind: str) -> bytes | None:
        try:
            return self.path(kind).read_bytes()
        except OSError:
            return None

    def save(self, kind: str, graph: bytes) -> None:
        target = self.path(kind)
        tmp: str | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.folder, suffix=".tmp", delete=False) as f:
                tmp = f.name
                f.write(graph)
            os.replace(tmp, target)
        except OSError as exc:
            log.warning("cannot keep the ONNX graph in %s (%s)", self.folder, exc)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)


def graph_key(transformer: Any, input_names: Sequence[str]) -> str:
    """Hex digest naming the graphs made from ``transformer`` (see :class:`GraphCache`)."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    h = hashlib.blake2b(digest_size=20)
    parts = [f"opset={OPSET}", f"inputs={','.join(input_names)}"]
    for dist in ("torch", "transformers", "onnxruntime"):
        try:
            parts.append(f"{dist}={version(dist)}")
        except PackageNotFoundError:
            parts.append(f"{dist}=none")
    config = getattr(transformer, "config", None)
    to_json = getattr(config, "to_json_string", None)
    parts.append(to_json() if callable(to_json) else repr(config))
    h.update("\n".join(parts).encode())
    with torch.no_grad():
        for name, tensor in transformer.state_dict().items():
            t = tensor.detach().cpu().contiguous()
            h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy())  # hashed in place, not copied
    return h.hexdigest()


def _export(transformer: Any, sample: dict[str, Any], names: Sequence[str]) -> bytes:
    """The transformer's graph, traced on ``sample`` with batch and length left dynamic.

    A copy is traced: tracing may switch module settings, and the serving model
    must not change.
    """
    import torch

    class _LastHidden(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            kwargs = dict(zip(names, inputs, strict=True))
            return self.model(**kwargs, return_dict=True).last_hidden_state  # type: ignore[no-any-return]

    module = _LastHidden(copy.deepcopy(transformer)).eval()
    dynamic = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # The tracer warns about every Python-level branch on a tensor; the probe
        # check after export is what decides whether the trace is right.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            tuple(sample[name] for name in names),
            buf,  # type: ignore[arg-type]  # the TorchScript exporter writes to file objects
            input_names=list(names),
            output_names=["last_hidden_state"],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
    return buf.getvalue()


def _quantize_int8(graph: bytes) -> bytes:
    """Dynamic int8 quantization (weights per output channel), ONNX Runtime's stock tool."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp, _quiet_root_logger():
        src, dst = Path(tmp) / "model.onnx", Path(tmp) / "model.int8.onnx"
        src.write_bytes(graph)
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=True)
        return dst.read_bytes()


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """ONNX Runtime's quantizer logs advice on the root logger; it is not ours to show."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
