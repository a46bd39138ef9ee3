"""Statistics for comparing two systems on the same instances.

- Paired bootstrap (Koehn 2004, "Statistical Significance Tests for Machine Translation
  Evaluation"): resample instances with replacement, keeping each A/B pair together, and read
  the confidence interval of the mean difference off the percentiles. The seed is fixed, so a
  rerun prints the same interval.
- Sign test: wins vs losses of B over A per instance (ties dropped), exact two-sided binomial
  p-value under H0 p = 1/2 — no normality assumption, robust to a few huge differences.
- Pearson correlation, used for "do judge verdicts follow answer length?".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class PairedComparison:
    n: int
    mean_a: float
    mean_b: float
    delta: float  # mean(B - A)
    ci_low: float
    ci_high: float
    wins: int  # instances where B > A
    losses: int
    ties: int
    p_sign: float  # exact two-sided sign-test p-value

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def bootstrap_ci(values: Sequence[float], *, samples: int = 1000, confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return (math.nan, math.nan)
    if len(x) == 1:
        return (float(x[0]), float(x[0]))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(samples, len(x)))
    means = x[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    return (float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha)))


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided binomial p-value for `wins` vs `losses` (ties already removed)."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    # P(X <= k) for X ~ Bin(n, 1/2), doubled for two sides; exact integer arithmetic.
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2**n)


def paired_compare(a: Sequence[float], b: Sequence[float], *, samples: int = 1000, confidence: float = 0.95,
                   seed: int = 0, tie_eps: float = 1e-9) -> PairedComparison:
    """B vs A on the same instances: mean delta with a paired bootstrap CI, and a sign test."""
    if len(a) != len(b):
        raise ValueError(f"paired comparison needs equal lengths, got {len(a)} and {len(b)}")
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = xb - xa
    lo, hi = bootstrap_ci(diff, samples=samples, confidence=confidence, seed=seed)
    wins = int((diff > tie_eps).sum())
    losses = int((diff < -tie_eps).sum())
    n = len(diff)
    return PairedComparison(
        n=n, mean_a=float(xa.mean()) if n else math.nan, mean_b=float(xb.mean()) if n else math.nan,
        delta=float(diff.mean()) if n else math.nan, ci_low=lo, ci_high=hi,
        wins=wins, losses=losses, ties=n - wins - losses, p_sign=sign_test(wins, losses),
    )


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson r, or None when either side is constant or there are fewer than 3 points."""
    if len(x) < 3:
        return None
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.std() == 0 or ya.std() == 0:
        return None
    return float(np.corrcoef(xa, ya)[0, 1])
