"""Conformal prediction: the finite-sample quantile by hand, coverage on data with known noise, and
prediction sets on digits with a simple classifier."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from deepsci.errors import ConfigError, DataError
from deepsci.evaluation.uncertainty import (
    classification_scores,
    conformal_interval,
    conformal_quantile,
    conformal_sets,
    interval_coverage,
    set_coverage,
    set_size,
)


def test_quantile_is_the_ceil_n_plus_one_order_statistic():
    scores = np.array([7.0, 1.0, 9.0, 3.0, 5.0, 2.0, 10.0, 4.0, 8.0, 6.0])  # 1..10, shuffled
    assert conformal_quantile(scores, 0.1) == 10.0  # ceil(11 * 0.9) = ceil(9.9) = 10 -> 10th smallest
    assert conformal_quantile(scores, 0.2) == 9.0  # ceil(11 * 0.8) = ceil(8.8) = 9
    assert conformal_quantile(scores, 0.5) == 6.0  # ceil(5.5) = 6
    assert np.isinf(conformal_quantile(scores, 0.05))  # ceil(10.45) = 11 > n: no finite interval is valid
    two = conformal_quantile(np.c_[scores, 10 * scores], 0.2)  # targets calibrated separately
    np.testing.assert_array_equal(two, [9.0, 90.0])
    lo, hi = conformal_interval(np.zeros(10), -scores, np.array([0.0, 1.0]), 0.2)
    np.testing.assert_array_equal(lo, [-9.0, -8.0])
    np.testing.assert_array_equal(hi, [9.0, 10.0])


def _sine(n, rng):
    x = rng.uniform(-3, 3, n)
    sigma = 0.05 + 0.3 * np.abs(x)  # known heteroscedastic noise
    return x, np.sin(x) + rng.normal(0, sigma), sigma


def test_coverage_on_sine_with_known_noise():
    """Averaged over many calibration draws, coverage is in [1 - a, 1 - a + 1/(n+1)] (Monte Carlo +-0.01);
    the normalised score also covers the quiet and the noisy region alike, the absolute one does not."""
    rng = np.random.default_rng(0)
    n_cal, reps = 99, 300
    cov_abs, cov_norm, quiet, noisy, quiet_abs = [], [], [], [], []
    for _ in range(reps):
        xc, yc, sc = _sine(n_cal, rng)
        xt, yt, st = _sine(400, rng)
        lo, hi = conformal_interval(yc, np.sin(xc), np.sin(xt), 0.1)
        cov_abs.append(interval_coverage(yt, lo, hi))
        inside_abs = (yt >= lo) & (yt <= hi)
        lo, hi = conformal_interval(yc, np.sin(xc), np.sin(xt), 0.1, sigma_cal=sc, sigma_test=st, score="normalised")
        inside = (yt >= lo) & (yt <= hi)
        cov_norm.append(inside.mean())
        q, nz = np.abs(xt) < 1, np.abs(xt) > 2
        quiet.append(inside[q].mean()), noisy.append(inside[nz].mean()), quiet_abs.append(inside_abs[q].mean())
    for cov in (cov_abs, cov_norm):
        assert 0.89 <= np.mean(cov) <= 0.9 + 1 / (n_cal + 1) + 0.01
    assert abs(np.mean(quiet) - 0.9) < 0.02 and abs(np.mean(noisy) - 0.9) < 0.02
    assert np.mean(quiet_abs) > 0.97  # one width for all rows over-covers where the noise is small


def test_aps_and_lac_scores_by_hand():
    p = np.array([[0.5, 0.3, 0.2]])
    assert classification_scores(p, [1], "lac")[0] == pytest.approx(0.7)
    assert classification_scores(p, [1], "aps")[0] == pytest.approx(0.8)  # 0.5 + 0.3: mass ranked at or above
    assert classification_scores(p, [0], "aps")[0] == pytest.approx(0.5)
    u = np.random.default_rng(3).uniform(size=(1, 1))[0, 0]
    assert classification_scores(p, [2], "aps", randomised=True, seed=3)[0] == pytest.approx(0.8 + u * 0.2)
    sets = conformal_sets(np.array([[0.5, 0.3, 0.2]] * 9), [0, 0, 0, 0, 0, 1, 1, 1, 2], p, 0.2, method="aps")
    # scores 0.5 x5, 0.8 x3, 1.0; k = ceil(10 * 0.8) = 8 -> q = 0.8: classes 0 and 1
    np.testing.assert_array_equal(sets, [[True, True, False]])


@pytest.fixture(scope="module")
def digits_probabilities():
    X, y = load_digits(return_X_y=True)
    out = []
    for seed in range(5):
        Xtr, Xrest, ytr, yrest = train_test_split(X / 16, y, test_size=0.5, random_state=seed, stratify=y)
        Xcal, Xte, ycal, yte = train_test_split(Xrest, yrest, test_size=0.5, random_state=seed, stratify=yrest)
        clf = LogisticRegression(C=0.05, max_iter=500).fit(Xtr, ytr)  # weak-ish: sets are not all singletons
        out.append((clf.predict_proba(Xcal), ycal, clf.predict_proba(Xte), yte))
    return out


@pytest.mark.parametrize("method,randomised", [("lac", False), ("aps", False), ("aps", True)])
def test_prediction_sets_cover_digits(digits_probabilities, method, randomised):
    covs, sizes = [], []
    for seed, (pc, yc, pt, yt) in enumerate(digits_probabilities):
        sets = conformal_sets(pc, yc, pt, 0.1, method=method, randomised=randomised, seed=seed)
        covs.append(set_coverage(yt, sets)), sizes.append(set_size(sets))
    assert all(0.85 <= c <= 0.95 for c in covs), covs
    assert abs(np.mean(covs) - 0.9) < 0.03
    assert np.mean(sizes) < 3  # informative sets, not "all ten digits"


def test_errors_say_what_to_fix():
    with pytest.raises(ConfigError, match="alpha"):
        conformal_quantile([1.0, 2.0], 1.5)
    with pytest.raises(ConfigError, match="sigma"):
        conformal_interval([1.0], [1.0], [1.0], 0.1, score="normalised")
    with pytest.raises(ConfigError, match="Known conformal scores"):
        conformal_interval([1.0], [1.0], [1.0], 0.1, score="relative")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="validation split"):
        conformal_quantile(np.array([]), 0.1)
    with pytest.raises(DataError, match="logits"):
        conformal_sets(np.array([[2.0, -1.0]]), [0], np.array([[0.5, 0.5]]), 0.1)
