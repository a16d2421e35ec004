"""Split conformal prediction (pure numpy): intervals for regression, prediction sets for classification.

Calibrate on a split the model never trained on (the validation split; never the test split). For n
calibration scores s_1..s_n and level 1 - alpha, the threshold is the k-th smallest score with
k = ceil((n + 1)(1 - alpha)) (infinite when k > n). If calibration and test rows are exchangeable,
P(y_test in C(x_test)) >= 1 - alpha, and <= 1 - alpha + 1/(n + 1) for continuous scores without ties
(Vovk et al. 2005; Lei et al. 2018; Angelopoulos & Bates 2023, "A gentle introduction", sec. 1-2).

Scores:
- regression "absolute": |y - mu|, interval mu +- q (same width everywhere);
- regression "normalised": |y - mu| / sigma, interval mu +- q sigma (width follows the model's sigma);
- regression CV+ (`cv_plus_interval`): out-of-fold residuals around each fold model (cross-conformal, see
  cross_conformal.py);
- classification "lac" (least ambiguous set-valued classifier, Sadinle et al. 2019): 1 - p_y;
  set {c : 1 - p_c <= q}. Smallest average sets; may be empty for confident wrong-looking rows.
- classification "aps" (adaptive prediction sets, Romano et al. 2020): the probability mass of the
  classes ranked at or above y. Not randomised by default (coverage >= 1 - alpha; a set is empty when
  the top class alone carries more mass than the threshold); `randomised=True` uses the randomised score (mass above y + U p_y), whose coverage is exact
  in expectation. Sets of every method may be empty (the model is confident and the level is low).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from deepsci.errors import ConfigError, DataError, unknown_name
from deepsci.training.uncertainty_spec import REGRESSION_SCORES, SET_METHODS

RegressionScore = Literal["absolute", "normalised"]
SetMethod = Literal["lac", "aps"]

__all__ = ["conformal_quantile", "regression_scores", "conformal_interval", "cv_plus_interval", "classification_scores",
           "conformal_sets"]


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1) (the interval level is 1 - alpha); received {alpha}. "
                          "For 90% intervals use alpha = 0.1.")


def conformal_quantile(scores: ArrayLike, alpha: float) -> NDArray[np.float64]:
    """The finite-sample conformal threshold: the ceil((n+1)(1-alpha))-th smallest score (inf if > n).

    Args:
        scores: (n,) calibration scores, or (n, t) for t targets calibrated separately.
        alpha: miscoverage, in (0, 1).

    Returns:
        the threshold: a 0-d array for (n,) scores, else (t,).
    """
    _check_alpha(alpha)
    s = np.asarray(scores, dtype=np.float64)
    n = s.shape[0] if s.ndim else 0
    if n == 0:
        raise DataError("conformal calibration needs at least one calibration row; received none. "
                        "Give the data a validation split (data.valid_fraction > 0).")
    if not np.all(np.isfinite(s)):
        raise DataError("conformal calibration scores contain NaN or inf; check predictions and sigma (> 0).")
    k = math.ceil((n + 1) * (1.0 - alpha))
    if k > n:  # too few calibration rows for this level: the only valid interval is unbounded
        return np.full(s.shape[1:], np.inf)
    return np.sort(s, axis=0)[k - 1]


def regression_scores(y: ArrayLike, mean: ArrayLike, sigma: ArrayLike | None = None,
                      score: RegressionScore = "absolute") -> NDArray[np.float64]:
    """Nonconformity scores |y - mean| ("absolute") or |y - mean| / sigma ("normalised"); shape of y."""
    y_, mu = np.asarray(y, dtype=np.float64), np.asarray(mean, dtype=np.float64)
    if y_.shape != mu.shape:
        raise DataError(f"targets {y_.shape} and predicted means {mu.shape} must have the same shape.")
    residual = np.abs(y_ - mu)
    if score == "absolute":
        return residual
    if score == "normalised":
        if sigma is None:
            raise ConfigError("the 'normalised' conformal score needs a predicted sigma; this model gives none. "
                              "Use score = 'absolute', or an ensemble / heteroscedastic / MC-dropout model.")
        sd = np.broadcast_to(np.asarray(sigma, dtype=np.float64), y_.shape)
        if np.any(sd <= 0):
            raise DataError("predicted sigma must be > 0 for the 'normalised' conformal score; some are <= 0.")
        return residual / sd
    raise ConfigError(unknown_name("conformal score", str(score), REGRESSION_SCORES))


def conformal_interval(y_cal: ArrayLike, mean_cal: ArrayLike, mean_test: ArrayLike, alpha: float = 0.1, *,
                       sigma_cal: ArrayLike | None = None, sigma_test: ArrayLike | None = None,
                       score: RegressionScore = "absolute") -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Split conformal prediction intervals at level 1 - alpha.

    Args:
        y_cal, mean_cal: calibration targets and predictions (n,) or (n, t) (validation split).
        mean_test: predictions to put intervals on (m,) or (m, t).
        alpha: miscoverage (0.1 for 90% intervals).
        sigma_cal, sigma_test: predicted standard deviations (needed for score = "normalised").
        score: "absolute" or "normalised".

    Returns:
        (lower, upper), each shaped like mean_test, in the units of y.
    """
    q = conformal_quantile(regression_scores(y_cal, mean_cal, sigma_cal, score), alpha)
    if score == "normalised" and sigma_test is None:
        raise ConfigError("score = 'normalised' needs sigma_test as well as sigma_cal.")
    mu = np.asarray(mean_test, dtype=np.float64)
    half = q * np.asarray(sigma_test, dtype=np.float64) if score == "normalised" else np.broadcast_to(q, mu.shape)
    return mu - half, mu + half


def cv_plus_interval(member_means: ArrayLike, members: ArrayLike, residuals: ArrayLike, alpha: float = 0.1,
                     rows_per_chunk: int = 4096) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """CV+ intervals (Barber, Candes, Ramdas & Tibshirani 2021, "Predictive inference with the jackknife+", sec. 3).

    Residual i was measured on a row that model members[i] never trained on. At a new x the interval is
    [the floor(alpha (n+1))-th smallest of mu_{members[i]}(x) - R_i, the ceil((1-alpha)(n+1))-th smallest of
    mu_{members[i]}(x) + R_i] (-inf / +inf when that order is out of 1..n). With K folds its coverage is
    >= 1 - 2 alpha - min(2(1 - 1/K)/(n/K + 1), (1 - K/n)/(K + 1)) for exchangeable rows, whatever the model
    (their thm. 4); in practice about 1 - alpha or above. It widens where the fold models disagree at x.

    Args:
        member_means: (K, m, t) each fold model's prediction at the m new rows.
        members: (n,) the fold model each residual belongs to, in 0..K-1.
        residuals: (n, t) out-of-fold absolute residuals |y_i - mu_{members[i]}(x_i)|.
        alpha: miscoverage.
        rows_per_chunk: new rows per (n, chunk, t) block (memory).

    Returns:
        (lower, upper), each (m, t).
    """
    _check_alpha(alpha)
    mu = np.asarray(member_means, dtype=np.float64)
    k_of = np.asarray(members, dtype=np.int64)
    r = np.asarray(residuals, dtype=np.float64)
    n = k_of.shape[0]
    if mu.ndim != 3 or r.shape != (n, mu.shape[2]) or n == 0 or k_of.min() < 0 or k_of.max() >= mu.shape[0]:
        raise DataError(f"CV+ needs member means (K, m, t), members (n,) in 0..K-1 and residuals (n, t); received "
                        f"{mu.shape}, {k_of.shape} and {r.shape}.")
    hi_k, lo_k = math.ceil((1.0 - alpha) * (n + 1)), math.floor(alpha * (n + 1))
    lower, upper = np.full(mu.shape[1:], -np.inf), np.full(mu.shape[1:], np.inf)
    for start in range(0, mu.shape[1], rows_per_chunk):
        rows = slice(start, start + rows_per_chunk)
        at_x = mu[k_of, rows]  # (n, chunk, t): row i's fold model at each new x
        if hi_k <= n:
            upper[rows] = np.partition(at_x + r[:, None], hi_k - 1, axis=0)[hi_k - 1]
        if lo_k >= 1:
            lower[rows] = np.partition(at_x - r[:, None], lo_k - 1, axis=0)[lo_k - 1]
    return lower, upper


def _check_proba(proba: NDArray[np.float64]) -> None:
    if proba.ndim != 2:
        raise DataError(f"class probabilities must be (n, classes); received shape {proba.shape}.")
    if np.any(proba < -1e-6) or not np.allclose(proba.sum(1), 1.0, atol=1e-4):
        raise DataError("class probabilities must be >= 0 and sum to 1 per row; pass softmax outputs, not logits.")


def classification_scores(proba: ArrayLike, labels: ArrayLike, method: SetMethod = "lac", *,
                          randomised: bool = False, seed: int = 0) -> NDArray[np.float64]:
    """Nonconformity score of each row's label: (n,). See the module docstring for the methods."""
    p = np.asarray(proba, dtype=np.float64)
    _check_proba(p)
    y = np.asarray(labels).astype(np.int64)
    if y.shape != (p.shape[0],) or np.any(y < 0) or np.any(y >= p.shape[1]):
        raise DataError(f"labels must be (n,) class indices 0..{p.shape[1] - 1}; received shape {y.shape}.")
    return _all_scores(p, method, randomised, seed)[np.arange(len(y)), y]


def _all_scores(p: NDArray[np.float64], method: str, randomised: bool, seed: int) -> NDArray[np.float64]:
    """The score every class would get, (n, classes)."""
    if method == "lac":
        return 1.0 - p
    if method == "aps":
        order = np.argsort(-p, axis=1, kind="stable")  # classes by decreasing probability
        sorted_p = np.take_along_axis(p, order, axis=1)
        inclusive = np.cumsum(sorted_p, axis=1)  # mass of classes ranked at or above each class
        if randomised:
            u = np.random.default_rng(seed).uniform(size=(p.shape[0], 1))
            inclusive = inclusive - (1.0 - u) * sorted_p  # mass strictly above + U * p_c
        scores = np.empty_like(p)
        np.put_along_axis(scores, order, inclusive, axis=1)
        return scores
    raise ConfigError(unknown_name("prediction-set method", str(method), SET_METHODS))


def conformal_sets(proba_cal: ArrayLike, y_cal: ArrayLike, proba_test: ArrayLike, alpha: float = 0.1, *,
                   method: SetMethod = "lac", randomised: bool = False, seed: int = 0) -> NDArray[np.bool_]:
    """Conformal prediction sets at level 1 - alpha.

    Args:
        proba_cal, y_cal: calibration probabilities (n, classes) and labels (n,) (validation split).
        proba_test: probabilities to build sets for, (m, classes).
        alpha: miscoverage (0.1 for 90% sets).
        method: "lac" or "aps".
        randomised: APS only: randomised scores (exact coverage, sets may be empty); LAC ignores it.
        seed: seeds the uniforms of randomised APS (calibration uses seed, test seed + 1).

    Returns:
        (m, classes) boolean membership: row i's set is the classes c with sets[i, c].
    """
    _check_alpha(alpha)
    q = conformal_quantile(classification_scores(proba_cal, y_cal, method, randomised=randomised, seed=seed), alpha)
    p = np.asarray(proba_test, dtype=np.float64)
    _check_proba(p)
    # Exactly {c : score(x, c) <= q}, the set the guarantee is about. (Forcing the top class in would keep sets
    # non-empty but, for an accurate classifier, push 90% sets to ~99% coverage.)
    return _all_scores(p, method, randomised, seed + 1) <= q
