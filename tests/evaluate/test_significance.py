"""The paired bootstrap against hand-computed and analytical cases."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lmrec.errors import InvalidInputError
from lmrec.evaluate.significance import paired_bootstrap, seed_difference


def test_identical_rows_differ_by_nothing() -> None:
    a = np.array([0.0, 1.0, 0.5, 0.25])
    d = paired_bootstrap(a, a.copy())
    assert (d.difference, d.low, d.high, d.relative) == (0.0, 0.0, 0.0, 0.0)
    assert d.share_above == 0.0 and not d.clear and d.cases == 4


def test_a_constant_gain_has_no_uncertainty() -> None:
    # Every case 0.1 better: every resample's difference is exactly 0.1.
    b = np.linspace(0.0, 0.8, 50)
    d = paired_bootstrap(b + 0.1, b)
    assert d.difference == pytest.approx(0.1)
    assert d.low == pytest.approx(0.1) and d.high == pytest.approx(0.1)
    assert d.relative == pytest.approx(0.1 / b.mean())
    assert d.share_above == 1.0 and d.clear


def test_two_cases_by_hand() -> None:
    # a = [1, 0], b = [0, 0]: a resample's mean of a is 0 (both draws the second
    # case, chance 1/4), 0.5 (chance 1/2) or 1 (chance 1/4). So a is ahead in 3/4
    # of resamples, and the 2.5th and 97.5th percentiles are 0 and 1.
    d = paired_bootstrap([1.0, 0.0], [0.0, 0.0], resamples=4000)
    assert d.difference == 0.5
    assert d.share_above == pytest.approx(0.75, abs=0.03)
    assert (d.low, d.high) == (0.0, 1.0)
    assert np.isnan(d.relative) and np.isnan(d.relative_low)  # b's mean is 0


def test_interval_width_matches_the_normal_approximation() -> None:
    # Hit-rate-like cases: with 3,000 cases the percentile interval of a paired
    # difference is close to +-1.96 standard errors of the mean difference.
    rng = np.random.default_rng(1)
    b = (rng.random(3000) < 0.2).astype(float)
    a = np.where(rng.random(3000) < 0.1, 1.0 - b, b)  # flip a tenth of the cases
    d = paired_bootstrap(a, b, seed=3)
    se = np.std(a - b, ddof=1) / np.sqrt(a.size)
    assert d.low < d.difference < d.high
    assert (d.high - d.low) / 2 == pytest.approx(1.96 * se, rel=0.12)
    assert d.relative == pytest.approx(a.mean() / b.mean() - 1)
    assert d.relative_low < d.relative < d.relative_high


def test_the_seed_fixes_the_interval() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random(200), rng.random(200)
    assert paired_bootstrap(a, b, seed=7) == paired_bootstrap(a, b, seed=7)
    assert paired_bootstrap(a, b, seed=7).low != paired_bootstrap(a, b, seed=8).low


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "message"),
    [
        ([0.0, 1.0], [0.0], {}, "one length"),
        ([1.0], [1.0], {}, "at least two"),
        ([0.0, np.nan], [0.0, 1.0], {}, "finite"),
        ([0.0, 1.0], [0.0, 1.0], {"resamples": 10}, "resamples"),
        ([0.0, 1.0], [0.0, 1.0], {"level": 1.0}, "level"),
    ],
)
def test_bad_input_is_refused(
    a: list[float], b: list[float], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        paired_bootstrap(a, b, **kwargs)


def test_seed_interval_by_hand() -> None:
    # a: mean 2, sample variance 1 over 3 seeds; b: mean 1, sample variance 1 over 3.
    # se = sqrt(1/3 + 1/3); Welch dof = (2/3)^2 / (2 * (1/3)^2 / 2) = 4; t(0.975, 4) = 2.7764.
    d = seed_difference([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
    half = 2.7764451 * np.sqrt(2 / 3)
    assert d.difference == pytest.approx(1.0)
    assert d.low == pytest.approx(1.0 - half, abs=1e-6)
    assert d.high == pytest.approx(1.0 + half, abs=1e-6)
    assert (d.seeds_a, d.seeds_b) == (3, 3) and not d.clear


def test_seed_interval_of_spread_free_rows_is_their_gap() -> None:
    d = seed_difference([0.2, 0.2], [0.1, 0.1, 0.1])
    assert d.low == pytest.approx(0.1) and d.high == pytest.approx(0.1) and d.clear


@pytest.mark.parametrize("a, b", [([0.1], [0.1, 0.2]), ([0.1, float("nan")], [0.1, 0.2])])
def test_seed_interval_refuses_too_few_or_bad_values(a: list[float], b: list[float]) -> None:
    with pytest.raises(InvalidInputError):
        seed_difference(a, b)


def test_paired_seed_interval_by_hand() -> None:
    # Per-seed differences 1.0, 1.2, 0.8: mean 1, sample sd 0.2, se 0.2 / sqrt(3);
    # t(0.975, 2) = 4.3027. Unpaired, the rows' own spread (sd 1) would swamp it.
    a, b = [1.0, 2.2, 2.8], [0.0, 1.0, 2.0]
    d = seed_difference(a, b, paired=True)
    half = 4.3026527 * 0.2 / np.sqrt(3)
    assert d.paired and d.difference == pytest.approx(1.0)
    assert d.low == pytest.approx(1.0 - half, abs=1e-6)
    assert d.high == pytest.approx(1.0 + half, abs=1e-6)
    assert d.clear and not seed_difference(a, b).clear


def test_paired_seed_interval_needs_one_value_per_seed_in_both_rows() -> None:
    with pytest.raises(InvalidInputError, match="same seeds"):
        seed_difference([0.1, 0.2, 0.3], [0.1, 0.2], paired=True)


def test_paired_seed_interval_of_a_constant_gap_is_that_gap() -> None:
    d = seed_difference([0.3, 0.5], [0.2, 0.4], paired=True)
    assert d.low == pytest.approx(0.1) and d.high == pytest.approx(0.1)
