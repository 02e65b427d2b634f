"""How sure a difference between two models is: a paired bootstrap over the test cases.

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
class PairedDifference:
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

    difference: float
    low: float
    high: float
    relative: float
    relative_low: float
    relative_high: float
    share_above: float
    cases: int
    level: float = LEVEL

    @property
    def clear(self) -> bool:
        """True when the interval of the difference excludes zero."""
        return self.low > 0 or self.high < 0


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
    if not 0.0 < level < 1.0:
        raise InvalidInputError(f"level must lie between 0 and 1, not {level}")
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
