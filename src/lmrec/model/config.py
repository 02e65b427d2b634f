"""The model's hyper-parameters, declared once and saved with every checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Self, get_type_hints

from lmrec.errors import InvalidInputError, LmrecError, ModelError


class _SavedConfig:
    """JSON round-trip shared by the configs saved with checkpoints."""

    #: Name used in error messages ("model config", "rating config").
    _what: ClassVar[str] = "config"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible form."""
        return asdict(self)  # type: ignore[call-overload, no-any-return]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Rebuild from :meth:`to_dict`; unknown keys are an error (they signal a mismatch)."""
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - known
        if unknown:
            raise ModelError(f"{cls._what} has unknown fields {sorted(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ModelError(f"invalid {cls._what}: {exc}") from exc

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed."""
        return self.from_dict({**self.to_dict(), **changes})

    @classmethod
    def parse_overrides(cls, pairs: Sequence[str]) -> dict[str, Any]:
        """Typed field values from ``KEY=VALUE`` strings, as a command line gives them.

        Each value is parsed as its field's declared type (``none`` for a field
        that may be unset), and the result is checked by building the config, so
        a mistyped name, a wrong type or an out-of-range value fails here, with
        the field named, rather than minutes into a training run.

        Raises:
            InvalidInputError: A pair without ``=``, an unknown field, a value of
                the wrong type, or a combination the config rejects.
        """
        from pydantic import TypeAdapter, ValidationError

        hints = get_type_hints(cls)
        known = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        out: dict[str, Any] = {}
        for pair in pairs:
            key, sep, raw = pair.partition("=")
            key, raw = key.strip(), raw.strip()
            if not sep or not key:
                raise InvalidInputError(f"expected KEY=VALUE, got {pair!r}", field="set")
            if key not in known:
                raise InvalidInputError(
                    f"{cls._what} has no field {key!r}; fields: {', '.join(known)}", field="set"
                )
            kind = hints[key]
            if raw.lower() in ("none", "null"):
                try:
                    out[key] = TypeAdapter(kind).validate_python(None)
                except ValidationError:
                    raise InvalidInputError(f"{key} cannot be none", field=f"set.{key}") from None
                continue
            try:
                out[key] = TypeAdapter(kind).validate_strings(raw)
            except ValidationError as exc:
                why = exc.errors()[0]["msg"]
                raise InvalidInputError(f"{key}={raw!r}: {why}", field=f"set.{key}") from None
        try:
            cls().replace(**out)
        except LmrecError as exc:
            raise InvalidInputError(exc.detail, field="set") from None
        return out


@dataclass(frozen=True)
class ModelConfig(_SavedConfig):
    """Shape and training knobs of the lmrec two-tower model.

    The defaults are the ones tuned on MovieLens-100K (see ``tests/model`` and the
    evaluation report); they train in well under three minutes on two CPU cores.
    """

    _what: ClassVar[str] = "model config"

    dim: int = 64
    """Width of user and item vectors (the retrieval dot product lives here)."""
    text_hidden: int = 256
    """Hidden width of the projection from the language-model vector. 512 raised the
    first stage's validation NDCG@10 but moved the nested split's P1 NDCG@10 by
    -0.0024 (95% interval -0.0067 to +0.0019) and P4 by -0.0035 on MovieLens-100K."""
    max_len: int = 200
    """How many of a user's most recent events the sequence encoder reads."""
    n_layers: int = 2
    """Causal Transformer blocks in the user tower. On MovieLens-100K one block was
    lower on validation, and three moved the nested split's P1 NDCG@10 by -0.0006
    (95% interval -0.0055 to +0.0044) and P4 by -0.0058."""
    n_heads: int = 2
    """Attention heads per block. On MovieLens-100K four were tried early and not kept,
    and one moved the nested split's P1 NDCG@10 by -0.0030 (95% interval -0.0064 to
    +0.0003) and P4 by -0.0055 on eight seeds (docs/tuning.md)."""
    ffn_mult: int = 2
    """Width of each block's feed-forward layer as a multiple of ``dim``. On
    MovieLens-100K 4 (the usual Transformer ratio) moved the nested split's P1
    NDCG@10 by -0.0015 (95% interval -0.0044 to +0.0016) and P4 by -0.0017 on eight
    seeds, with about the same fit time (docs/tuning.md)."""
    gap_buckets: int = 24
    """Log2 buckets for the time gap between consecutive events (bucket 0 = unknown)."""
    dropout: float = 0.2
    """Dropout inside the towers."""
    fast_masks: bool = False
    """Draw the user tower's training-time dropout masks (its feature dropout and
    DropKey) on a CPU from numpy's PCG64 as 16-bit integers instead of
    ``torch.rand``'s floats. Those draws were 14% of a CPU training step; this
    makes them about four times cheaper (see ``towers.drop_mask``). The drop chance
    is then a multiple of 1/65536 (0.2 becomes 0.199997). Off by default: it changes
    the random stream, so a seed's model is another draw of the same training, and
    every published figure would have to be trained again. On the nested split that
    draw came out behind the defaults on seeds 42-49 (P1 NDCG@10 -0.0033, P4 -0.0060
    on 2026-12-07; -0.0019 and -0.0041 when re-run on 2026-12-08) and ahead on seeds
    50-57 (+0.0043, +0.0069), each outside the case bootstrap's interval; over the
    sixteen seeds +0.0012 (90% paired seed interval -0.0015 to +0.0039) and +0.0014
    (-0.0029 to +0.0056): no difference, as it should be (docs/tuning.md). CUDA draws
    on the device either way."""
    id_dropout: float = 0.1
    """Chance an item or user ID embedding is dropped during training, so text alone works.
    On MovieLens-100K 0 was tried earlier and not kept, and 0.2 moved the nested split's
    P1 NDCG@10 by -0.0015 (95% interval -0.0039 to +0.0010) and P4 by -0.0043 on eight
    seeds (docs/tuning.md)."""
    user_id_dropout: float | None = None
    """Chance a user's ID embedding ``u0`` is dropped during training, when it should
    differ from :attr:`id_dropout` (``None``: the same chance as items). Kept apart
    because a user with no ``u0`` (a new user) still has history and profile text,
    while a new item has text alone, so the two sides need not lean on text equally.
    On MovieLens-100K neither side of 0.1 helped: 0 moved the nested split's P1
    NDCG@10 by -0.0020 (95% interval -0.0049 to +0.0009) and P4 by -0.0035 (-0.0066
    to -0.0004), 0.2 by +0.0006 (-0.0017 to +0.0031) and -0.0010 on eight seeds
    (docs/tuning.md)."""
    user_id: bool = True
    """Add a learned ID embedding ``u0`` to each known user's vector. Off, a user is their
    behaviour and profile text alone (SASRec has no user embedding): on MovieLens-100K
    that moved the nested split's P1 NDCG@10 by -0.0015 (95% interval -0.0044 to
    +0.0012) and P4 by -0.0056 (-0.0089 to -0.0024) on eight seeds (docs/tuning.md).
    Off, ``u0`` is still allocated and saved (unused), so checkpoints keep one layout;
    the switch changes what the model reads, not its size."""
    gap_dropout: float = 0.1
    """Chance a time gap is hidden during training (serving may not know every gap)."""
    value_dropout: float = 0.1
    """Chance an event's rating is hidden during training (most events carry none)."""
    mask_seen: bool = True
    """Leave items the user already had out of the training softmax, as ranking does."""
    text_loss_weight: float = 0.5
    """Weight of the next-item loss computed with text-only item vectors (cold items).

    0.25 scored higher on P1's test cases (seeds 42-44, HR@10 0.2287 -> 0.2340,
    dev runs) without a better validation NDCG@10 (0.1238 against 0.1235-0.1277 at
    0.5), and cost the default model its cold items: P3 with this configuration
    (seed 42) fell from 0.2273 / 0.1383 to 0.2116 / 0.1243 NDCG@10 / Recall@10.
    So it stays at 0.5; P3's own figures use :data:`~lmrec.model.adapters.COLD_START_CONFIG`.
    Keeping this loss out of the user tower (a stop-gradient on the user vectors,
    so it trains the item text path only) was tried on seeds 42-44: P1 test cases
    0.1322 / 0.2393 against 0.1287 / 0.2287, P4 0.2784 against 0.2773, P5
    real-time HR@10 0.2135 (one training), P3 of the default model 0.2325 /
    0.1298 (seed 42); but validation did not see it (first-stage NDCG@10 0.1227
    against 0.1234; cross-fitted after the mix 0.1351 against 0.1364), and on a
    nested split (each user's P1 test event removed, the validation events
    scored as test cases) the item mix's former one-standard-error margin
    switched mixing off in all three of its trainings (NDCG@10 0.1182, 0.1231,
    0.1042 against 0.1327, 0.1355, 0.1155). It was not adopted. Without that
    margin (since removed) its trainings scored 0.1377, 0.1395 and 0.1236 on the
    nested split against the default's 0.1327, 0.1355 and 0.1310: +0.0005 on
    the seed-averaged cases (95% interval -0.0035 to +0.0046), so the gain on
    P1's test cases does not carry over to other held-out cases either."""
    rating_weight: float = 0.0
    """Weight of the MSE rating loss; 0 trains the next-item head only."""
    rating_mask: float = 0.2
    """Share of ratings hidden per step and predicted from the rest of the history (cloze)."""
    next_item_weight: float = 1.0
    """Weight of the next-item softmax loss; 0 trains the rating head only."""
    negatives: int = 0
    """Sampled negatives per step for sampled softmax; 0 means full softmax over the catalog."""
    skip_target_weight: float = 0.0
    """Weight of a second next-item target per position: the event two steps ahead,
    scored on the same logits with the next event left out of its softmax (so the
    two do not compete). Behaviour near in time is often near in order only by
    chance (several ratings in one sitting); this asks each state for the near
    future rather than one exact successor. 0 (the default) trains on the next
    event alone. Full softmax only (``negatives=0``). On MovieLens-100K 0.5 moved the
    nested split's P1 NDCG@10 by -0.0012 (95% interval -0.0043 to +0.0019) and P4 by
    -0.0018 on eight seeds, and fits took ~187 s instead of ~170 s (docs/tuning.md)."""
    lr: float = 2e-3
    """AdamW learning rate.

    The best validation epoch comes at 16-18 of 18, so a faster rate was tried:
    3e-3 on seeds 42-44 (dev runs on P1's split) moved validation NDCG@10 by
    +0.0006 on the mean (0.1234 -> 0.1240; up on two seeds, down on one), P1
    0.1287 / 0.2287 -> 0.1306 / 0.2305 and P4 0.2773 -> 0.2793 on the test cases,
    and P5 real-time HR@10 0.2117 -> 0.2091 (one training). A validation gain that
    small is noise, and P5 fell, so it stays at 2e-3; 4e-3 (seed 42) was lower on
    validation (0.1217). AdamW's betas stay PyTorch's (0.9, 0.999): SASRec's 0.98 for
    the second moment moved the nested split's P1 NDCG@10 by -0.0001 (95% interval
    -0.0027 to +0.0024) and P4 by -0.0018 on eight seeds (docs/tuning.md)."""
    weight_decay: float = 1e-4
    """AdamW weight decay. On MovieLens-100K 0.05 was tried early and not kept; 1e-3
    passed the nested gate by a hair on seeds 42-49 (P1 NDCG@10 +0.0008, ahead in 90.5%
    of resamples) and came out even when replicated on seeds 50-57 (+0.0000, P4 -0.0002),
    so it was not adopted (docs/tuning.md)."""
    batch_size: int = 32
    """History windows per training step.

    32 since 2026-12-08 (64 before): twice the optimiser steps per epoch, and the
    best epoch comes late. Tried first on three seeds, it raised the first stage's
    validation NDCG@10 on every one (mean +0.0043) but moved the two-stage nested
    P1 NDCG@10 by only +0.0008 (95% interval -0.0040 to +0.0056), too few seeds to
    tell. Judged again on sixteen seeds by the rule of docs/tuning.md: nested P1
    +0.0048 (90% paired seed interval +0.0019 to +0.0076; ahead in 99.7% of case
    resamples), nested P4 +0.0050 (+0.0010 to +0.0089), so it was adopted. Fewer
    windows per step pad less, but the per-step costs (the item tower over the
    whole catalog, the optimiser) come twice as often: a training takes about a
    fifth longer on two CPU cores (see README's training figures)."""
    length_batches: bool = False
    """Group histories of similar length per step: faster (less padding), but on
    MovieLens-100K next-item quality was lower than with random batches."""
    sort_groups: int = 0
    """Shuffle, then sort histories by length within random groups of this many
    batches (0 = plain random batches). Most of the padding goes, and with it
    about a third of each epoch's time, but on MovieLens-100K the evaluation
    with 8 was lower on P1, P4 and P5 than with random batches (within noise
    each, consistent together), so it is off by default. Spending the time it
    saves on epochs did not help either: 8 with 32 epochs (about the wall time of
    22 random-batch epochs) moved the nested split's P1 NDCG@10 by -0.0040 (95%
    interval -0.0085 to +0.0005) and P4 by -0.0107 on eight seeds, its trainings
    stopping early at 16-29 epochs. Ignored when ``length_batches`` is set."""
    shuffle_ties: bool = True
    """Shuffle, at every training step, the order of a history's events that share
    one timestamp (a burst of ratings logged in the same second, whose logged order
    means nothing; 51% of MovieLens-100K's events share their second with the
    user's previous one). Items, ratings and target weights move together, each
    position's next-item target is the event now after it, and time gaps stay by
    position (the first event of a burst keeps the gap to the one before).

    The model then sees every order of a burst instead of one arbitrary order,
    epoch after epoch. Judged on the nested splits with the rule written before
    the run (three seeds against the default of the time): P1-nested NDCG@10
    +0.0033 (95% interval -0.0009 to +0.0075, ahead in 94% of bootstrap
    resamples), P4-nested +0.0052 (-0.0004 to +0.0109), fits no slower; P3 (0.2436
    / 0.1323 NDCG@10 / Recall@10 over three seeds) and P5 (real-time HR@10 0.2268)
    held, so it is on by default. Off, training reads each burst in log order."""
    rerank_shortlist: int = 100
    """Retrieval candidates the second-stage ranker re-scores (0 = no ranker).
    The ranker is trained on the validation cases and kept only if cross-fitting
    shows it ranks them better than retrieval alone (see :mod:`lmrec.model.rerank`).
    200 moved the nested split's P1 NDCG@10 by +0.0009 (95% interval -0.0028 to
    +0.0045) and P4 by +0.0004 on MovieLens-100K: not enough to change it."""
    rerank_hidden: int = 64
    """Hidden width of the ranker's MLP."""
    rerank_epochs: int = 20
    """Most epochs of ranker training; cross-fitting picks the count."""
    rerank_lr: float = 1e-3
    """AdamW learning rate of the ranker."""
    rerank_weight_decay: float = 0.05
    """AdamW weight decay of the ranker (strong: it learns from one case per user)."""
    co_neighbours: int = 30
    """Item-to-item weights kept per item for the second stage (0 = none); see
    :mod:`lmrec.model.cooccurrence`. Catalogs over its ``MAX_ITEMS`` train without."""
    co_l2: float = 100.0
    """Ridge penalty of the item-to-item (EASE) weights."""
    co_decay: float = 0.9
    """Recency weight per step back in the history for item-to-item scores."""
    seq_successors: int = 50
    """Next items kept per item for the second stage's transition scores (0 = none);
    see :func:`lmrec.model.cooccurrence.fit_transitions`."""
    seq_window: int = 3
    """Largest gap between two of a user's events that counts as a transition."""
    seq_last: int = 5
    """How many of the latest history items the transition scores look at."""
    recent_boost: float = 0.0
    """Extra weight of a user's latest next-item targets: a target ``k`` events
    before the user's newest one weighs ``1 + recent_boost * 0.5 ** (k /
    recent_half_life)`` times its event weight (0 = every target alike).
    Off by default: on MovieLens-100K a boost of 2 (half-life 20) raised the
    best validation NDCG@10 on all four seeds tried (mean 0.1230 -> 0.1275)
    and nudged P1 and P4 up (HR@10 0.2287 -> 0.2294, P4 0.2759 -> 0.2793 over
    seeds 42-44), but on P5 (trained on the first 80% of events by time) early
    stopping ended sooner and real-time HR@10 fell from 0.2065 to 0.1976.
    A boost of 1 did better on P1 (seeds 42-44: HR@10 0.2287 -> 0.2326, NDCG@10
    0.1285 -> 0.1309; P4 0.2759 -> 0.2796, dev runs) but still cost P5: real-time
    HR@10 0.1994, below its 0.20 target; with the refit on every event (see
    ``refit_epochs``) it was 0.2030 against the default's 0.2117 (dev run). A
    boost of 5 with a half-life of 10 was no better on P1 and P4."""
    recent_half_life: float = 20.0
    """Events back from a user's newest one at which the extra weight halves."""
    max_epochs: int = 22
    """Most epochs; the best validation epoch among them is kept. Counted in epochs
    rather than seconds so that a seed reproduces its model on a busy machine
    too. Twenty-two epochs take under three minutes on MovieLens-100K on two CPU
    cores (about 6-7 s each with validation; 141-171 s a fit at 32 windows a step).
    With :attr:`shuffle_ties` the best of 18 epochs came at epochs 15-18 on seven of
    eight nested seeds; 22 moved
    nested P1 NDCG@10 by +0.0019 on three seeds (ahead in 88% of bootstrap resamples,
    short of the rule) and, replicated on eight seeds (42-49), by +0.0021 (ahead in 98%;
    nested P4 +0.0039), so it was adopted. With tie-aware transitions as well, P5's
    real-time HR@10 fell from 0.2268 to 0.2195 (docs/tuning.md)."""
    refit_epochs: int = 2
    """Epochs the engine trains on after early stopping, over every event including
    each user's last one that validation held out (see
    :func:`lmrec.model.train.refit_model`). Used by ``Engine.train`` and the
    background trainer; the evaluation harness does not refit (its baselines learn
    from the training split alone, and so does lmrec there)."""
    refit_lr_scale: float = 0.25
    """Learning rate of those epochs as a share of ``lr``: they start from a model
    validation already chose, as the background trainer's fine-tuning does (the same
    share). Dev runs on MovieLens-100K (models early-stopped on P1's split, then two
    epochs over it plus the validation events, scored on P1's test cases; seeds 42,
    43): at a quarter rate P1 NDCG@10 / HR@10 0.1283 / 0.2301 -> 0.1309 / 0.2375 and
    0.1286 / 0.2280 -> 0.1291 / 0.2322, P4 0.2696 -> 0.2776 and 0.2801 -> 0.2828; at
    the full rate 0.1273 / 0.2322 and 0.1246 / 0.2227, P4 0.2787 and 0.2803."""
    patience: int = 6
    """Epochs without validation improvement before training stops. Per-epoch validation
    noise on MovieLens-100K is as large as late-epoch progress, so this stops some trainings
    early (seed 45 on P1's split at epoch 11, best epoch 5, where other seeds climb to epochs
    15-17). Patience 18, the whole budget, judged on the nested split with seeds 42-49: only
    one seed stopped early there, one epoch short, and the runs were identical. Patience 22
    with 32 windows a step (seeds 50-57, 2026-12-08) let one stopped training run on: its
    validation NDCG@10 rose 0.1446 -> 0.1505, nested P1 +0.0024 but P4 -0.0041, a fail
    (docs/tuning.md)."""
    max_seconds: float | None = None
    """Optional wall-clock budget; the best epoch so far is kept when it runs out.
    It trades reproducibility for bounded time (the epoch reached depends on load)."""
    seed: int = 42
    """Seed for every random choice in training."""
    device: str = "auto"
    """``auto``, ``cpu`` or ``cuda``; resolved by :func:`lmrec.text.resolve_device`."""

    def __post_init__(self) -> None:
        for name in (
            "dim",
            "text_hidden",
            "max_len",
            "n_layers",
            "n_heads",
            "ffn_mult",
            "batch_size",
        ):
            if getattr(self, name) < 1:
                raise ModelError(f"{name} must be >= 1, not {getattr(self, name)}")
        if self.dim % self.n_heads:
            raise ModelError(f"dim ({self.dim}) must be a multiple of n_heads ({self.n_heads})")
        for name in ("dropout", "id_dropout", "gap_dropout", "value_dropout", "rating_mask"):
            if not 0 <= getattr(self, name) < 1:
                raise ModelError(f"{name} must be in [0, 1), not {getattr(self, name)}")
        if self.user_id_dropout is not None and not 0 <= self.user_id_dropout < 1:
            raise ModelError(f"user_id_dropout must be in [0, 1), not {self.user_id_dropout}")
        if self.skip_target_weight < 0:
            raise ModelError(f"skip_target_weight must be >= 0, not {self.skip_target_weight}")
        if self.skip_target_weight > 0 and self.negatives > 0:
            raise ModelError("skip_target_weight needs the full softmax (negatives=0)")
        if self.lr <= 0:
            raise ModelError(f"lr must be > 0, not {self.lr}")
        if self.max_epochs < 1 or self.patience < 1:
            raise ModelError("max_epochs and patience must be >= 1")
        if self.recent_boost < 0:
            raise ModelError(f"recent_boost must be >= 0, not {self.recent_boost}")
        if self.recent_half_life <= 0:
            raise ModelError(f"recent_half_life must be > 0, not {self.recent_half_life}")
        if self.refit_epochs < 0:
            raise ModelError(f"refit_epochs must be >= 0, not {self.refit_epochs}")
        if self.refit_lr_scale <= 0:
            raise ModelError(f"refit_lr_scale must be > 0, not {self.refit_lr_scale}")


@dataclass(frozen=True)
class RatingConfig(_SavedConfig):
    """Knobs of the explicit-rating model (:mod:`lmrec.model.rating`).

    The defaults are the ones tuned on MovieLens-100K under protocol P2 (5-fold
    random split, early stopping on the validation part of the training folds).
    """

    _what: ClassVar[str] = "rating config"

    hidden: int = 500
    """Width of each member's item code (the AutoRec bottleneck)."""
    members: int = 5
    """Independently initialised members (each with its own input noise) averaged
    at prediction time. Item autoencoders on sparse rating columns have high
    variance; on MovieLens-100K (P2, folds 0-1) one member gave 0.897-0.901 RMSE,
    three 0.8905 and five 0.8894; each member adds about a fifth of the time."""
    input_dropout: float = 0.15
    """Share of an item's observed ratings hidden from its encoder per step
    (denoising): the encoder must predict ratings it does not see, as at test time."""
    item_dropout: float = 0.05
    """Chance an item's whole rating column is hidden per step, so the text-only
    code (what an item without ratings gets) is trained too."""
    l2: float = 100.0
    """L2 penalty on the encoder, decoder and text weights (per epoch, summed loss)."""
    lr: float = 1e-3
    """Adam learning rate."""
    batch_size: int = 64
    """Items per training step."""
    max_epochs: int = 60
    """Upper bound on epochs; early stopping usually ends sooner."""
    patience: int = 8
    """Epochs without validation improvement before training stops."""
    max_seconds: float | None = None
    """Optional wall-clock budget; the best epoch so far is kept when it runs out.
    It trades reproducibility for bounded time (the epoch reached depends on load)."""
    seed: int = 42
    """Seed for every random choice in training."""
    device: str = "auto"
    """``auto``, ``cpu`` or ``cuda``; resolved by :func:`lmrec.text.resolve_device`."""
