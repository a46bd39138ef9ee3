"""Paired bootstrap, sign test and correlation: sanity against known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seedtune.evaluate.stats import bootstrap_ci, paired_compare, pearson, sign_test


def test_sign_test_exact_values():
    assert sign_test(0, 0) == 1.0
    assert sign_test(9, 1) == pytest.approx(2 * (1 + 10) / 1024)
    assert sign_test(1, 9) == sign_test(9, 1)
    assert sign_test(5, 5) == 1.0
    assert sign_test(20, 0) == pytest.approx(2 / 2**20)


def test_paired_bootstrap_is_deterministic_and_covers_the_delta():
    rng = np.random.default_rng(1)
    a = rng.random(200)
    b = np.clip(a + 0.1 + rng.normal(0, 0.05, 200), 0, 1)
    c1 = paired_compare(a, b, seed=0)
    assert c1 == paired_compare(a, b, seed=0)
    assert c1.ci_low < c1.delta < c1.ci_high and c1.ci_low > 0
    assert c1.wins > c1.losses and c1.p_sign < 1e-6
    assert c1.wins + c1.losses + c1.ties == 200


def test_no_difference_gives_an_interval_around_zero():
    rng = np.random.default_rng(2)
    a = rng.random(300)
    b = a[rng.permutation(300)]
    c = paired_compare(a, b)
    assert c.ci_low < 0 < c.ci_high and c.p_sign > 0.01


def test_pairing_matters():
    # Large between-instance variance, tiny constant gain: only a paired test sees it.
    a = np.linspace(0, 1, 50)
    c = paired_compare(a, a + 0.01)
    assert c.ci_low == pytest.approx(0.01) and c.wins == 50


def test_edge_cases():
    assert all(math.isnan(x) for x in bootstrap_ci([]))
    assert bootstrap_ci([0.5]) == (0.5, 0.5)
    with pytest.raises(ValueError):
        paired_compare([1.0], [1.0, 2.0])
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 1, 1], [1, 2, 3]) is None and pearson([1, 2], [1, 2]) is None
