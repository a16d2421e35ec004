"""Sigma recalibration against closed forms and simulated data with known sigma."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from deepsci.errors import ConfigError, DataError
from deepsci.evaluation.uncertainty import (
    SigmaCalibrator,
    calibration_curve,
    gaussian_nll_score,
    miscalibration_area,
    variance_scale,
)


def _gaussian(n, rng, sigma_factor, t=1):
    """y ~ N(mu, sigma^2) with a model that reports sigma / sigma_factor (overconfident for factor > 1)."""
    mu = rng.normal(size=(n, t))
    sigma = rng.uniform(0.2, 2.0, (n, t))
    y = rng.normal(mu, sigma)
    return y, mu, sigma / sigma_factor


def test_variance_scale_is_the_closed_form_and_the_nll_minimiser():
    rng = np.random.default_rng(0)
    y, mu, sd = _gaussian(400, rng, 3.0)
    s = variance_scale(y, mu, sd)
    np.testing.assert_allclose(s, np.sqrt(np.mean((y - mu) ** 2 / sd**2, axis=0)))
    # It minimises the Gaussian NLL over the scale (numerical oracle: a fine grid).
    grid = np.linspace(0.5 * s[0], 2 * s[0], 2001)
    nll = [gaussian_nll_score(y, mu, g * sd) for g in grid]
    assert grid[int(np.argmin(nll))] == pytest.approx(s[0], rel=2e-3)


@pytest.mark.parametrize("factor", [0.5, 3.0])
def test_scaling_recovers_the_true_factor_and_lowers_the_nll(factor):
    rng = np.random.default_rng(1)
    y, mu, sd = _gaussian(20_000, rng, factor, t=2)
    cal = SigmaCalibrator("scaling").fit(y, mu, sd)
    # s^2 = mean(z^2) with z ~ N(0, factor^2): relative sd of s is 1/sqrt(2n) = 0.005; 4 sd tolerance.
    np.testing.assert_allclose(cal.scale_, factor, rtol=0.02)
    y2, mu2, sd2 = _gaussian(5000, rng, factor, t=2)  # fresh rows
    assert gaussian_nll_score(y2, mu2, cal.apply(sd2)) < gaussian_nll_score(y2, mu2, sd2) - 0.1
    area = miscalibration_area(*calibration_curve(y2, mu2, cal.apply(sd2)))
    assert area < 0.01
    lo, hi = cal.interval(mu2, sd2, 0.9)
    assert abs(np.mean((y2 >= lo) & (y2 <= hi)) - 0.9) < 0.015


def test_isotonic_makes_heavy_tailed_errors_calibrated_on_fresh_rows():
    """Student-t (3 dof) errors under a Gaussian with the wrong scale: the PIT of the recalibrated CDF is
    uniform on fresh rows (its calibration curve hugs the diagonal), and is monotone in y."""
    rng = np.random.default_rng(2)

    def draw(n):
        mu, sd = rng.normal(size=n), rng.uniform(0.5, 1.5, n)
        return mu + sd * rng.standard_t(3, n), mu, sd * 0.4

    y, mu, sd = draw(4000)
    cal = SigmaCalibrator("isotonic").fit(y, mu, sd)
    y2, mu2, sd2 = draw(4000)
    p_raw, p_cal = stats.norm.cdf((y2 - mu2) / sd2), cal.cdf(y2, mu2, sd2)
    levels = np.linspace(0, 1, 21)
    gap_raw = max(abs(np.mean(p_raw <= q) - q) for q in levels)
    gap_cal = max(abs(np.mean(p_cal <= q) - q) for q in levels)
    assert gap_raw > 0.1 and gap_cal < 0.03  # KS-like distance: 1.36/sqrt(4000) = 0.02 at 5%
    ys = np.linspace(-5, 5, 201)
    assert np.all(np.diff(cal.cdf(ys, np.zeros(201), np.ones(201))) >= 0)  # a CDF: monotone in y
    lo, hi = cal.interval(mu2, sd2, 0.9)
    assert abs(np.mean((y2 >= lo) & (y2 <= hi)) - 0.9) < 0.02


def test_isotonic_sigma_is_the_spread_of_the_recalibrated_distribution():
    """On Gaussian errors with a wrong scale the moment-matched isotonic factor equals the true factor."""
    rng = np.random.default_rng(4)
    y, mu, sd = _gaussian(5000, rng, 2.5)
    iso = SigmaCalibrator("isotonic").fit(y, mu, sd)
    assert iso.scale_[0] == pytest.approx(2.5, rel=0.05)


def test_round_trip_and_errors():
    rng = np.random.default_rng(3)
    y, mu, sd = _gaussian(300, rng, 2.0, t=2)
    for method in ("scaling", "isotonic", "none"):
        cal = SigmaCalibrator(method).fit(y, mu, sd)
        back = SigmaCalibrator.from_dict(cal.to_dict())
        np.testing.assert_allclose(back.apply(sd), cal.apply(sd))
        np.testing.assert_allclose(back.cdf(y, mu, sd), cal.cdf(y, mu, sd))
    assert SigmaCalibrator("none").fit(y, mu, sd).apply(sd) == pytest.approx(sd)
    with pytest.raises(ConfigError, match="known"):
        SigmaCalibrator("platt")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="not fitted"):
        SigmaCalibrator().apply(sd)
    with pytest.raises(DataError, match="> 0"):
        SigmaCalibrator().fit(y, mu, np.zeros_like(sd))
    with pytest.raises(DataError, match="calib_fraction"):
        SigmaCalibrator().fit(y[:1], mu[:1], sd[:1])
    with pytest.raises(DataError, match="positive"):
        SigmaCalibrator.from_dict({"method": "scaling", "scale": [-1.0]})
    with pytest.raises(DataError, match="malformed"):
        SigmaCalibrator.from_dict({"method": "scaling", "scale": "x", "knots": [{"p": 1}]})
