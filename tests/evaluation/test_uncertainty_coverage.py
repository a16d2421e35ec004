"""Coverage with its uncertainty: Clopper-Pearson against scipy, the conformal Beta law by Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from deepsci.errors import ConfigError, DataError
from deepsci.evaluation.uncertainty import (
    binomial_interval,
    conformal_coverage_beta,
    conformal_coverage_interval,
    conformal_quantile,
    coverage,
    uncertainty_metrics,
)


@pytest.mark.parametrize("k,n", [(0, 10), (10, 10), (231, 257), (1, 2), (45, 50), (500, 1000)])
@pytest.mark.parametrize("level", [0.9, 0.95])
def test_clopper_pearson_matches_scipy_binomtest(k, n, level):
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    lo, hi = binomial_interval(k, n, level)
    assert lo == pytest.approx(ci.low, abs=1e-12) and hi == pytest.approx(ci.high, abs=1e-12)
    assert lo <= k / n <= hi


def test_coverage_value_and_errors():
    c = coverage(np.array([True] * 9 + [False]))
    assert (c.value, c.n) == (0.9, 10) and (c.low, c.high) == binomial_interval(9, 10)
    with pytest.raises(DataError, match="k = 11"):
        binomial_interval(11, 10)
    with pytest.raises(ConfigError, match="0.95"):
        binomial_interval(1, 10, level=95)
    with pytest.raises(DataError, match="no"):
        coverage(np.array([], dtype=bool))


def test_uncertainty_metrics_report_the_interval():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=257)
    y = rng.normal(mu, 1.0)
    m = uncertainty_metrics(y, mean=mu, std=np.ones(257), lower=mu - 1.645, upper=mu + 1.645, std_raw=np.full(257, 0.5))
    k = int(np.sum(np.abs(y - mu) <= 1.645))
    assert m["n"] == 257 and m["coverage"] == k / 257
    assert (m["coverage_low"], m["coverage_high"]) == pytest.approx(binomial_interval(k, 257))
    assert m["gaussian_coverage_low"] < m["gaussian_coverage"] < m["gaussian_coverage_high"]
    assert m["nll_raw"] > m["nll"] and m["gaussian_coverage_raw"] < m["gaussian_coverage"]


def test_conformal_coverage_follows_its_beta_law():
    """Exchangeable calibration and test draws: the conditional coverage of the split-conformal threshold
    (computed exactly from the Gaussian CDF) is Beta(n + 1 - l, l) distributed (KS test over 2000 draws),
    and its mean is 1 - l / (n + 1)."""
    rng = np.random.default_rng(0)
    n, alpha, draws = 49, 0.1, 2000
    scores = np.abs(rng.normal(size=(draws, n)))  # |y - mu| for a N(0, 1) residual
    q = np.array([conformal_quantile(s, alpha) for s in scores])
    cover = 2 * stats.norm.cdf(q) - 1  # P(|y - mu| <= q) for a fresh row
    a, b = conformal_coverage_beta(n, alpha)
    assert (a, b) == (45.0, 5.0)  # l = floor(50 * 0.1)
    assert stats.kstest(cover, stats.beta(a, b).cdf).pvalue > 0.01
    assert np.mean(cover) == pytest.approx(a / (a + b), abs=3 * np.std(cover) / np.sqrt(draws))
    lo, hi = conformal_coverage_interval(n, alpha, 0.9)
    assert np.mean((cover >= lo) & (cover <= hi)) == pytest.approx(0.9, abs=0.02)
    assert conformal_coverage_interval(5, 0.1) == (1.0, 1.0)  # l = 0: an unbounded interval always covers
