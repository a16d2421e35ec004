"""Uncertainty metrics and figures, against hand-worked values, scipy, and simulated calibrated data."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import stats

from deepsci.errors import DataError
from deepsci.evaluation.uncertainty import (
    calibration_curve,
    calibration_figure,
    error_vs_std_figure,
    expected_calibration_error,
    gaussian_nll_score,
    interval_coverage,
    interval_width,
    miscalibration_area,
    parity_figure,
    reliability_figure,
    uncertainty_metrics,
)


def test_coverage_width_nll_by_hand_and_scipy():
    y, lo, hi = np.array([0.0, 1.0, 2.0, 3.0]), np.array([-1.0, 1.5, 1.0, 3.0]), np.array([1.0, 2.0, 2.5, 4.0])
    assert interval_coverage(y, lo, hi) == 0.75  # row 1 is below its interval; bounds count as inside
    assert interval_width(lo, hi) == pytest.approx((2 + 0.5 + 1.5 + 1) / 4)
    rng = np.random.default_rng(0)
    mu, sd = rng.normal(size=50), rng.uniform(0.2, 2, 50)
    yy = rng.normal(size=50)
    assert gaussian_nll_score(yy, mu, sd) == pytest.approx(-stats.norm.logpdf(yy, mu, sd).mean())
    with pytest.raises(DataError, match="same shape"):
        interval_coverage(y, lo[:3], hi)


def test_calibration_curve_of_calibrated_and_overconfident_gaussians():
    rng = np.random.default_rng(1)
    mu, sd = rng.normal(size=20000), rng.uniform(0.5, 2.0, 20000)
    y = rng.normal(mu, sd)
    expected, observed = calibration_curve(y, mu, sd)
    assert np.max(np.abs(observed - expected)) < 0.015
    assert miscalibration_area(expected, observed) < 0.01
    e2, o2 = calibration_curve(y, mu, sd / 2)  # overconfident: intervals twice too narrow
    level = np.searchsorted(e2, 0.9)
    assert o2[level] == pytest.approx(2 * stats.norm.cdf(stats.norm.ppf(0.95) / 2) - 1, abs=0.01)
    assert miscalibration_area(e2, o2) > 0.1
    # the area of a curve that is off by a constant 0.1 on [0, 1] is 0.1
    assert miscalibration_area(np.linspace(0, 1, 11), np.linspace(0, 1, 11) + 0.1) == pytest.approx(0.1)


def test_ece_by_hand_and_for_calibrated_probabilities():
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    y = np.array([0, 1, 1, 1])
    # 4 bins: confidences 0.9, 0.8 fall in (0.75, 1] with accuracy 1/2; 0.7, 0.6 in (0.5, 0.75] with accuracy 1
    expected = 0.5 * abs(0.5 - 0.85) + 0.5 * abs(1.0 - 0.65)
    assert expected_calibration_error(y, proba, bins=4) == pytest.approx(expected)
    rng = np.random.default_rng(2)
    p1 = rng.uniform(size=20000)
    labels = (rng.uniform(size=20000) < p1).astype(int)  # labels drawn from the stated probabilities
    assert expected_calibration_error(labels, p1) < 0.02
    assert expected_calibration_error(labels, np.clip(p1 * 1.6 - 0.3, 0, 1)) > 0.05


def test_uncertainty_metrics_keys_and_values():
    rng = np.random.default_rng(3)
    mu, sd = rng.normal(size=500), np.full(500, 0.5)
    y = rng.normal(mu, sd)
    m = uncertainty_metrics(y, mean=mu, std=sd, lower=mu - 0.8, upper=mu + 0.8, level=0.9)
    assert set(m) >= {"coverage", "mean_width", "nll", "miscalibration_area", "mean_std", "gaussian_coverage",
                      "gaussian_width", "error_std_spearman", "level"}
    assert m["mean_width"] == pytest.approx(1.6) and abs(m["gaussian_coverage"] - 0.9) < 0.04
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    c = uncertainty_metrics([0, 1, 1], proba=proba, sets=proba > 0.3)
    assert c["accuracy"] == pytest.approx(2 / 3) and c["set_coverage"] == 1.0
    assert c["nll"] == pytest.approx(-np.log([0.9, 0.8, 0.4]).mean())
    with pytest.raises(DataError, match="mean"):
        uncertainty_metrics([1.0])


def test_figures_render_to_png():
    rng = np.random.default_rng(4)
    mu, sd = rng.normal(size=80), rng.uniform(0.1, 1, 80)
    y = rng.normal(mu, sd)
    proba = rng.dirichlet(np.ones(3), 80)
    figs = [calibration_figure(y, mu, sd), parity_figure(y, mu, sd), parity_figure(y, mu, lower=mu - 1, upper=mu + 1),
            error_vs_std_figure(y, mu, sd), reliability_figure(proba.argmax(1), proba)]
    for fig in figs:
        assert isinstance(fig, Figure) and fig.axes
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
