"""An int8 copy of the encoder for search queries (opt-in: ``LMREC_QUERY_INT8``).

A search request encodes its query on the request path, and on a CPU that
forward pass is most of the request's time. Dynamic int8 quantization of the
transformer's linear layers (weights stored as int8 per output channel,
activations quantized on the fly; PyTorch's stock ``quantize_dynamic``) makes it
about 2.5x faster on this machine for short queries.

The price is fidelity: an int8 query vector is close to, not equal to, the
float32 vector of the same text (on 400 MovieLens titles with all-MiniLM-L6-v2:
cosine 0.97 on average, 0.91 at worst), while item vectors stay float32. So it
is off by default; the search benchmark reports quality and latency with it on
and off (``benchmarks/search.py``), and only single query texts use it, never
the item or profile vectors the index and the model are built from.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any


def int8_copy(transformer: Any) -> Any:
    """A copy of ``transformer`` whose ``nn.Linear`` layers run in int8."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    model = copy.deepcopy(transformer).eval()
    spec = {
        name: per_channel_dynamic_qconfig
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
    }
    with warnings.catch_warnings():
        # torch.ao's eager quantization is slated to move to torchao; it is the
        # stock API of the pinned torch and does what is needed here.
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, spec, dtype=torch.qint8)  # type: ignore[no-untyped-call]
