"""How sure a difference between two models is: a paired bootstrap over the test cases,
and an interval over training seeds (:func:`seed_difference`).

Two models scored on the same ~1,000 test cases differ by chance as well as by
merit: which cases the split happened to hold out moves every figure by about
as much as the gaps between strong models. Training seeds (``--train-seeds``)
show how a figure moves with the model's initialisation; they say nothing about
this second source. Resampling the test cases with replacement, the same cases
for both models at once (so what the cases share cancels), does: the spread of
the resampled differences is the uncertainty of the observed one.

The percentile interval is used because the metrics are bounded, skewed per
case (most cases score 0 on NDCG@10) and the relative gain is a ratio; no
normal approximation is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lmrec.errors import InvalidInputError

#: Bootstrap resamples per comparison: the interval ends move by well under a
#: tenth of its width between seeds of the resampler at this count.
RESAMPLES = 2000

#: Coverage of the reported intervals.
LEVEL = 0.95

#: Resamples drawn per block, so memory stays at a few MB for any number of cases.
_BLOCK = 200


@dataclass(frozen=True)
class _Interval:
    """A difference of means with its interval (shared by both kinds below)."""

    difference: float
    low: float
    high: float

    @property
    def clear(self) -> bool:
        """True when the interval of the difference excludes zero."""
        return self.low > 0 or self.high < 0


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise InvalidInputError(f"level must lie between 0 and 1, not {level}")


@dataclass(frozen=True)
class PairedDifference(_Interval):
    """``a`` against ``b`` on the same cases, with percentile intervals.

    Attributes:
        difference: ``mean(a) - mean(b)``.
        low, high: Interval of the difference.
        relative: ``mean(a) / mean(b) - 1`` (NaN when ``mean(b)`` is 0).
        relative_low, relative_high: Interval of the relative difference.
        share_above: Share of resamples in which ``a``'s mean exceeds ``b``'s.
        cases: How many paired cases there were.
        level: Coverage of the intervals.
    """

    relative: float
    relative_low: float
    relative_high: float
    share_above: float
    cases: int
    level: float = LEVEL


def paired_bootstrap(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> PairedDifference:
    """Bootstrap the difference of means of two per-case metric vectors.

    Args:
        a, b: One value per test case, the same cases in the same order.
        resamples: How many resamples of the cases.
        level: Interval coverage, e.g. 0.95.
        seed: Seed of the resampler (the same seed gives the same interval).
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise InvalidInputError(
            f"paired values must be two vectors of one length, got {x.shape} and {y.shape}"
        )
    if x.size < 2:
        raise InvalidInputError("a paired bootstrap needs at least two cases")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InvalidInputError("paired values must be finite")
    if resamples < 100:
        raise InvalidInputError(f"resamples must be at least 100, not {resamples}")
    _check_level(level)
    rng = np.random.default_rng(seed)
    n = x.size
    mean_a = np.empty(resamples)
    mean_b = np.empty(resamples)
    for start in range(0, resamples, _BLOCK):
        stop = min(start + _BLOCK, resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        mean_a[start:stop] = x[idx].mean(axis=1)
        mean_b[start:stop] = y[idx].mean(axis=1)
    tails = [(1.0 - level) / 2 * 100, (1.0 + level) / 2 * 100]
    diff = mean_a - mean_b
    low, high = np.percentile(diff, tails)
    ma, mb = float(x.mean()), float(y.mean())
    relative = ma / mb - 1.0 if mb != 0 else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = mean_a / mean_b - 1.0
    if mb != 0 and np.isfinite(ratios).all():
        rel_low, rel_high = np.percentile(ratios, tails)
    else:
        rel_low = rel_high = float("nan")
    return PairedDifference(
        difference=ma - mb,
        low=float(low),
        high=float(high),
        relative=relative,
        relative_low=float(rel_low),
        relative_high=float(rel_high),
        share_above=float(np.mean(diff > 0)),
        cases=n,
        level=level,
    )


@dataclass(frozen=True)
class SeedDifference(_Interval):
    """``a`` against ``b`` over training seeds: a t interval of the difference of the
    two rows' per-seed means, paired by seed when both rows were fitted with the
    same seeds, else Welch's.

    The paired bootstrap resamples test cases with each row's per-case mean over
    its seeds held fixed, so it says nothing about how much another set of
    training seeds would move each mean. On MovieLens-100K that is as large as the
    case-sampling spread: training with the dropout masks drawn from another
    random stream (``ModelConfig.fast_masks``, the same distribution) put the
    defaults +0.0033 ahead on nested P1 NDCG@10 over seeds 42-49, the case
    bootstrap's 95% interval [+0.0001, +0.0064] excluding 0 (defaults ahead in 98%
    of its resamples), while this interval was [-0.0019, +0.0085]; on seeds 50-57
    the same change came out 0.0043 ahead of the defaults instead (docs/tuning.md).

    Pairing matters when a change moves a training only a little: two rows fitted
    with the same seed then share most of their luck, and the per-seed differences
    vary far less than either row does (weight decay 1e-3 against 1e-4 on nested P1,
    seeds 50-57: 95% interval +/-0.00004 paired, +/-0.0041 Welch). It also cancels
    what one set of seeds shares: the defaults' nested P1 NDCG@10 is 0.1368 on
    seeds 42-49 and 0.1311 on 50-57.

    Attributes:
        difference: ``mean(a) - mean(b)`` over seeds.
        low, high: The t interval of the difference.
        seeds_a, seeds_b: How many training seeds each row had.
        level: Coverage of the interval.
        paired: True when the interval is over per-seed differences (``a[k]`` and
            ``b[k]`` fitted with the same seed); False for Welch's.
    """

    seeds_a: int
    seeds_b: int
    level: float = LEVEL
    paired: bool = False


def seed_difference(
    a: npt.ArrayLike, b: npt.ArrayLike, *, level: float = LEVEL, paired: bool = False
) -> SeedDifference:
    """The interval of the difference of means of two rows' per-seed values.

    Args:
        a, b: The headline metric of each training seed of each row (at least two
            each; the seeds of the two rows need not be the same unless ``paired``).
        level: Interval coverage, e.g. 0.95.
        paired: ``a[k]`` and ``b[k]`` come from the same training seed: the
            interval is Student's over the per-seed differences (n - 1 degrees of
            freedom). Otherwise Welch's over the two samples.
    """
    from scipy import stats

    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1 or x.size < 2 or y.size < 2:
        raise InvalidInputError("a seed-level interval needs at least two seeds per row")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InvalidInputError("per-seed values must be finite")
    _check_level(level)
    if paired:
        if x.size != y.size:
            raise InvalidInputError(
                "a paired seed-level interval needs the same seeds in both rows"
            )
        d = x - y
        diff = float(d.mean())
        se = float(d.std(ddof=1) / np.sqrt(d.size))
        half = float(stats.t.ppf((1.0 + level) / 2, d.size - 1)) * se if se > 0 else 0.0
        return SeedDifference(diff, diff - half, diff + half, x.size, y.size, level, paired=True)
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    diff = float(x.mean() - y.mean())
    se = float(np.sqrt(va + vb))
    if se == 0.0:
        return SeedDifference(diff, diff, diff, x.size, y.size, level)
    # Welch-Satterthwaite degrees of freedom.
    dof = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    half = float(stats.t.ppf((1.0 + level) / 2, dof)) * se
    return SeedDifference(diff, diff - half, diff + half, x.size, y.size, level)
