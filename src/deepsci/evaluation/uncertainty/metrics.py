"""Uncertainty metrics (pure numpy): interval coverage and width, Gaussian NLL, regression calibration
curve and miscalibration area, classifier expected calibration error, prediction-set coverage and size.

All regression inputs are in the target's own units (unscale predictions and sigmas first), so widths
and NLLs are comparable between runs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from deepsci.errors import DataError
from deepsci.evaluation.uncertainty.coverage import coverage

__all__ = ["interval_coverage", "interval_width", "gaussian_nll_score", "calibration_curve", "miscalibration_area",
           "reliability_curve", "expected_calibration_error", "set_coverage", "set_size", "uncertainty_metrics"]

LEVELS = np.linspace(0.0, 1.0, 21)


def _f64(a: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(a, dtype=np.float64)


def _same_shape(**arrays: NDArray[Any]) -> None:
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        raise DataError(f"arrays must have the same shape; received {shapes}.")


def interval_coverage(y: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Fraction of targets inside [lower, upper] (all targets pooled)."""
    y_, lo, hi = _f64(y), _f64(lower), _f64(upper)
    _same_shape(y=y_, lower=lo, upper=hi)
    return float(np.mean((y_ >= lo) & (y_ <= hi)))


def interval_width(lower: ArrayLike, upper: ArrayLike) -> float:
    """Mean width upper - lower, in target units."""
    return float(np.mean(_f64(upper) - _f64(lower)))


def gaussian_nll_score(y: ArrayLike, mean: ArrayLike, std: ArrayLike, floor: float = 1e-12) -> float:
    """Mean Gaussian negative log-likelihood 0.5 [log(2 pi s^2) + (y - mu)^2 / s^2], in nats per target."""
    y_, mu, sd = _f64(y), _f64(mean), _f64(std)
    _same_shape(y=y_, mean=mu, std=sd)
    var = np.maximum(sd**2, floor)
    return float(np.mean(0.5 * (np.log(2 * math.pi * var) + (y_ - mu) ** 2 / var)))


def calibration_curve(y: ArrayLike, mean: ArrayLike, std: ArrayLike,
                      levels: ArrayLike = LEVELS) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Expected vs observed coverage of central Gaussian intervals mu +- z_{(1+p)/2} sigma.

    For a calibrated model the observed fraction of targets inside the level-p interval is p
    (Kuleshov et al. 2018 use one-sided quantiles; central intervals are what a user reads as error bars).

    Returns:
        (expected, observed), each (levels,).
    """
    y_, mu, sd = _f64(y), _f64(mean), _f64(std)
    _same_shape(y=y_, mean=mu, std=sd)
    p = _f64(levels)
    z = np.abs(y_ - mu) / np.maximum(sd, 1e-300)  # (n, ...)
    # |y - mu| / sigma <= z_{(1+p)/2}  <=>  2 Phi(z) - 1 <= p
    central = 2.0 * stats.norm.cdf(z.ravel()) - 1.0
    observed = np.array([np.mean(central <= level) for level in p])
    return p, observed


def miscalibration_area(expected: ArrayLike, observed: ArrayLike) -> float:
    """Area between the calibration curve and the diagonal (trapezoid rule over the levels); 0 is perfect."""
    e, o = _f64(expected), _f64(observed)
    gap = np.abs(o - e)
    return float(np.sum((gap[1:] + gap[:-1]) * np.diff(e)) / 2.0)


def _top_label(proba: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    p = _f64(proba)
    if p.ndim == 1:  # binary: probability of class 1
        p = np.stack([1.0 - p, p], axis=1)
    labels = np.asarray(y).astype(np.int64)
    if p.ndim != 2 or labels.shape != (p.shape[0],):
        raise DataError(f"probabilities must be (n, classes) (or (n,) for binary) and labels (n,); received "
                        f"{p.shape} and {labels.shape}.")
    return p.max(1), (p.argmax(1) == labels).astype(np.float64)


def reliability_curve(y: ArrayLike, proba: ArrayLike, bins: int = 15) -> dict[str, NDArray[np.float64]]:
    """Top-label confidence vs accuracy in equal-width confidence bins (Guo et al. 2017).

    Returns:
        dict of (bins,) arrays: "confidence" (mean confidence per bin, NaN if empty), "accuracy", "count",
        and "edges" (bins + 1,).
    """
    conf, correct = _top_label(proba, y)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, bins - 1)  # bins are (lo, hi]
    count = np.bincount(which, minlength=bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(which, weights=conf, minlength=bins) / count
        accuracy = np.bincount(which, weights=correct, minlength=bins) / count
    return {"confidence": confidence, "accuracy": accuracy, "count": count, "edges": edges}


def expected_calibration_error(y: ArrayLike, proba: ArrayLike, bins: int = 15) -> float:
    """ECE = sum_b (n_b / n) |accuracy_b - confidence_b| over equal-width top-label confidence bins."""
    r = reliability_curve(y, proba, bins)
    filled = r["count"] > 0
    return float(np.sum(r["count"][filled] * np.abs(r["accuracy"][filled] - r["confidence"][filled]))
                 / np.sum(r["count"]))


def set_coverage(y: ArrayLike, sets: ArrayLike) -> float:
    """Fraction of rows whose label is in its prediction set; sets is (n, classes) boolean."""
    s = np.asarray(sets, dtype=bool)
    labels = np.asarray(y).astype(np.int64)
    return float(np.mean(s[np.arange(len(labels)), labels]))


def set_size(sets: ArrayLike) -> float:
    """Mean number of classes in a prediction set."""
    return float(np.mean(np.asarray(sets, dtype=bool).sum(1)))


def uncertainty_metrics(y: ArrayLike, *, mean: ArrayLike | None = None, std: ArrayLike | None = None,
                        lower: ArrayLike | None = None, upper: ArrayLike | None = None,
                        proba: ArrayLike | None = None, sets: ArrayLike | None = None,
                        std_raw: ArrayLike | None = None, level: float = 0.9, bins: int = 15,
                        confidence: float = 0.95) -> dict[str, float]:
    """The uncertainty numbers for metrics.json, from whatever the model provides.

    Regression (give `mean`; optionally `std` and/or conformal `lower`/`upper`, in target units):
        coverage, mean_width (of [lower, upper] at `level`), nll, miscalibration_area, mean_std,
        gaussian_coverage and gaussian_width (of mu +- z sigma at `level`), error_std_spearman
        (rank correlation of |error| with sigma: does a larger sigma flag a larger error?). With `std_raw`
        (the sigma before recalibration) also nll_raw, gaussian_coverage_raw, miscalibration_area_raw and
        mean_std_raw, to show what recalibration changed.
    Classification (give `proba` (n, classes) and optionally conformal `sets`):
        ece, nll (log loss), accuracy, set_coverage, mean_set_size.
    Every coverage comes with its Clopper-Pearson interval at `confidence` (`<name>_low`, `<name>_high`)
    and "n", the number of targets counted (see `coverage.binomial_interval`).

    Returns:
        a flat dict of floats, keys as above plus "level" and "n".
    """
    out: dict[str, float] = {"level": float(level)}
    if proba is not None:
        p = _f64(proba)
        labels = np.asarray(y).astype(np.int64)
        conf, correct = _top_label(p, labels)
        p2 = p if p.ndim == 2 else np.stack([1.0 - p, p], axis=1)
        out["accuracy"] = float(correct.mean())
        out["ece"] = expected_calibration_error(labels, p2, bins)
        out["nll"] = float(-np.mean(np.log(np.clip(p2[np.arange(len(labels)), labels], 1e-12, None))))
        out["n"] = float(len(labels))
        if sets is not None:
            s = np.asarray(sets, dtype=bool)
            _add_coverage(out, "set_coverage", s[np.arange(len(labels)), labels], confidence)
            out["mean_set_size"] = set_size(sets)
        return out
    if mean is None:
        raise DataError("uncertainty_metrics needs mean (regression) or proba (classification).")
    y_, mu = _f64(y), _f64(mean)
    _same_shape(y=y_, mean=mu)
    out["n"] = float(y_.size)
    if lower is not None and upper is not None:
        lo, hi = _f64(lower), _f64(upper)
        _same_shape(y=y_, lower=lo, upper=hi)
        _add_coverage(out, "coverage", (y_ >= lo) & (y_ <= hi), confidence)
        out["mean_width"] = interval_width(lo, hi)
    z = float(stats.norm.ppf(0.5 + level / 2))
    if std is not None:
        sd = np.broadcast_to(_f64(std), y_.shape)
        out["nll"] = gaussian_nll_score(y_, mu, sd)
        out["mean_std"] = float(np.mean(sd))
        _add_coverage(out, "gaussian_coverage", np.abs(y_ - mu) <= z * sd, confidence)
        out["gaussian_width"] = float(np.mean(2 * z * sd))
        expected, observed = calibration_curve(y_, mu, sd)
        out["miscalibration_area"] = miscalibration_area(expected, observed)
        # A constant sigma cannot rank errors: the correlation is undefined (NaN), not a warning.
        rho = stats.spearmanr(np.abs(y_ - mu).ravel(), sd.ravel()).statistic if np.ptp(sd) > 0 else np.nan
        out["error_std_spearman"] = float(rho) if np.isfinite(rho) else float("nan")
    if std_raw is not None:
        raw = np.broadcast_to(_f64(std_raw), y_.shape)
        out["nll_raw"] = gaussian_nll_score(y_, mu, raw)
        out["mean_std_raw"] = float(np.mean(raw))
        out["gaussian_coverage_raw"] = float(np.mean(np.abs(y_ - mu) <= z * raw))
        out["miscalibration_area_raw"] = miscalibration_area(*calibration_curve(y_, mu, raw))
    return out


def _add_coverage(out: dict[str, float], name: str, inside: NDArray[np.bool_], confidence: float) -> None:
    """out[name] = the coverage of `inside`, with out[name_low], out[name_high] its Clopper-Pearson interval."""
    c = coverage(inside, confidence)
    out[name], out[f"{name}_low"], out[f"{name}_high"] = c.value, c.low, c.high
