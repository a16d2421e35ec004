"""Coverage with its uncertainty: how far an observed coverage may be from the asked level by chance alone.

Two sources of spread, both exact:
- the test rows: k of n inside their intervals is Binomial(n, c) given the true coverage c; the
  Clopper-Pearson interval (Clopper & Pearson 1934) inverts two one-sided binomial tests, so it covers c
  with probability >= the level for every c and n;
- the calibration rows: split conformal with n calibration scores at miscoverage alpha has, conditionally
  on the calibration set, a coverage distributed as Beta(n + 1 - l, l) with l = floor((n + 1) alpha)
  (Vovk 2012, "Conditional validity of inductive conformal predictors"; Angelopoulos & Bates 2023,
  sec. 3.2). Its mean is 1 - l / (n + 1) >= 1 - alpha; its standard deviation about sqrt(alpha (1 - alpha) / n).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from deepsci.errors import ConfigError, DataError

__all__ = ["Coverage", "binomial_interval", "conformal_coverage_beta", "conformal_coverage_interval", "coverage"]


def _check_level(level: float, what: str = "confidence level") -> None:
    if not 0.0 < level < 1.0:
        raise ConfigError(f"the {what} must be in (0, 1), e.g. 0.95; received {level}.")


def binomial_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson (exact) interval for a proportion: k successes out of n, two-sided at `level`.

    lo = Beta(alpha/2; k, n - k + 1) quantile (0 when k = 0), hi = Beta(1 - alpha/2; k + 1, n - k) quantile
    (1 when k = n), alpha = 1 - level. Same as scipy.stats.binomtest(k, n).proportion_ci(level, "exact").
    """
    _check_level(level)
    if n <= 0 or not 0 <= k <= n:
        raise DataError(f"a binomial interval needs 0 <= k <= n and n >= 1; received k = {k}, n = {n}.")
    a = 1.0 - level
    lo = 0.0 if k == 0 else float(stats.beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def conformal_coverage_beta(n: int, alpha: float) -> tuple[float, float]:
    """(a, b) of the Beta law of split-conformal coverage given n calibration points: (n + 1 - l, l).

    l = floor((n + 1) alpha). When l = 0 (too few rows for this level) the interval is unbounded and the
    coverage is 1: returned as (n + 1, 0), which callers should read as a point mass at 1.
    """
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1) (the level is 1 - alpha); received {alpha}.")
    if n < 1:
        raise DataError(f"conformal coverage needs n >= 1 calibration points; received {n}.")
    l_ = math.floor((n + 1) * alpha)
    return float(n + 1 - l_), float(l_)


def conformal_coverage_interval(n: int, alpha: float, level: float = 0.95) -> tuple[float, float]:
    """Central `level` range of the coverage of split conformal calibrated on n points (Beta law above)."""
    _check_level(level)
    a, b = conformal_coverage_beta(n, alpha)
    if b == 0:
        return 1.0, 1.0
    lo, hi = stats.beta.ppf([(1 - level) / 2, (1 + level) / 2], a, b)
    return float(lo), float(hi)


@dataclass(frozen=True)
class Coverage:
    """An observed coverage with its Clopper-Pearson interval.

    Attributes:
        value: k / n, the fraction of targets inside their intervals / sets.
        low, high: the Clopper-Pearson interval at `confidence`.
        n: the number of targets counted (rows x targets; targets of one row are not independent, so for
            several targets the interval is optimistic).
        confidence: the interval's level (0.95).
    """

    value: float
    low: float
    high: float
    n: int
    confidence: float = 0.95


def coverage(inside: ArrayLike, confidence: float = 0.95) -> Coverage:
    """Coverage of boolean hits (True = the target is inside its interval / set), any shape, pooled."""
    hits = np.asarray(inside, dtype=bool).ravel()
    n, k = int(hits.size), int(hits.sum())
    if n == 0:
        raise DataError("coverage needs at least one row; received none.")
    lo, hi = binomial_interval(k, n, confidence)
    return Coverage(value=k / n, low=lo, high=hi, n=n, confidence=confidence)
