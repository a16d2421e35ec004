"""Error bars read at several levels, and what a run's error bars cannot honestly claim.

`coverage_by_level` checks the calibration at 50, 80, 90 and 95% (the nominal level against the share of held-out
rows whose interval or set holds the truth: the coverage-vs-nominal plot of the report); `uncertainty_notes`
are the sentences a run must show beside its error bars (console, metrics.json["warnings"], report): too few
calibration rows for the level (an infinite threshold), a validation split that K-fold members leave unused,
and a sigma that is only the members' spread.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np
from numpy.typing import NDArray
from scipy.stats import norm

from deepsci.evaluation.uncertainty.metrics import interval_coverage, interval_width, set_coverage, set_size
from deepsci.evaluation.uncertainty.predictive import Calibration, apply_calibration
from deepsci.training.uncertainty_spec import UncertaintySpec

__all__ = ["COVERAGE_LEVELS", "coverage_by_level", "reports_sigma", "smallest_calibration", "uncertainty_notes",
           "without_uncalibrated_sigma"]

COVERAGE_LEVELS: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95)


def smallest_calibration(level: float) -> int:
    """The fewest calibration rows n whose conformal threshold at `level` is finite: ceil((n + 1) level) <= n.

    With fewer, the ceil((n + 1) level)-th smallest score does not exist, the threshold is infinite and every
    interval unbounded (every set holds every class): 9 rows at 90%, 19 at 95%, 1 at 50%.
    """
    n = 1
    while math.ceil((n + 1) * level - 1e-9) > n:
        n += 1
    return n


def coverage_by_level(fit: Callable[[float], Calibration], dist: Mapping[str, Any], y: NDArray[Any],
                      continuous: bool) -> dict[str, dict[str, float | int | None]]:
    """Coverage of the conformal bands (and of the Gaussian interval mean +- z sigma, where a sigma is reported)
    at each of `COVERAGE_LEVELS`, on rows (y, dist) that took no part in training or calibration.

    Args:
        fit: level -> the run's calibration refitted at that level (same rows, same scores).
        dist: the predictive distribution on the rows (`Predictive.as_dict()`, sigma recalibrated).
        y: (n, t) targets (regression) or (n,) class indices.
        continuous: regression (intervals) or classification (sets).

    Returns:
        {"0.9": {"nominal", "coverage", "mean_width" | "mean_set_size", "gaussian_coverage"?, "calib_rows_needed"}}.
    """
    out: dict[str, dict[str, float | int | None]] = {}
    for level in COVERAGE_LEVELS:
        bands = apply_calibration(fit(level), dist)
        row: dict[str, float | int | None] = {"nominal": level, "calib_rows_needed": smallest_calibration(level)}
        if continuous:
            row["coverage"] = interval_coverage(y, bands["lower"], bands["upper"])
            width = interval_width(bands["lower"], bands["upper"])
            row["mean_width"] = width if math.isfinite(width) else None  # JSON has no inf: None is unbounded
            if dist.get("std") is not None:
                z = float(norm.ppf(0.5 + level / 2))
                inside = np.abs(np.asarray(y, dtype=np.float64) - dist["pred"]) <= z * dist["std"]
                row["gaussian_coverage"] = float(inside.mean())
        else:
            row["coverage"] = set_coverage(y, bands["sets"])
            row["mean_set_size"] = set_size(bands["sets"])
        out[f"{level:g}"] = row
    return out


def reports_sigma(spec: UncertaintySpec, calibration: Calibration | None) -> bool:
    """True when the run's sigma is a predictive sigma: a variance head trained on the Gaussian NLL, or a sigma
    rescaled on calibration rows. The spread of MSE-trained members alone is not one (it measured Gaussian 90%
    coverage 0.55 beside conformal 0.95 on a small molecule set), so its Gaussian interval is not reported."""
    return spec.heteroscedastic or (calibration is not None and calibration.sigma is not None)


def without_uncalibrated_sigma(spec: UncertaintySpec, calibration: Calibration | None,
                               dist: dict[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
    """`dist` without its sigma ("std", "std_raw") when the run does not report one (`reports_sigma`)."""
    if reports_sigma(spec, calibration) or "std" not in dist:
        return dist
    return {k: v for k, v in dist.items() if k not in ("std", "std_raw")}


def uncertainty_notes(spec: UncertaintySpec, calibration: Calibration | None, *, valid_rows: int,
                      has_sigma: bool) -> list[str]:
    """One-line warnings about the run's error bars (none when all is well).

    Args:
        spec: the run's uncertainty method.
        calibration: the fitted calibration (None when nothing was calibrated).
        valid_rows: rows of the validation split.
        has_sigma: the model gives a sigma (ensemble, MC dropout or variance head) before `reports_sigma`.
    """
    notes: list[str] = []
    if spec.k_fold and valid_rows > 0:
        notes.append(f"uncertainty.conformal_method = '{spec.conformal_method}' early-stops each ensemble member on "
                     f"its own left-out fold, so the validation split ({valid_rows} rows) chose nothing; it is "
                     "reported as one more held-out split. Leave data.valid_fraction unset (0 with CV+) to train "
                     "on those rows too.")
    if calibration is not None and calibration.conformal:
        needed = smallest_calibration(spec.level)
        if calibration.n < needed:
            bands = "interval is unbounded" if calibration.kind == "interval" else "set holds every class"
            notes.append(f"conformal {spec.level:.0%} bands need at least {needed} calibration rows and this run "
                         f"has {calibration.n} ({calibration.calibrated_on}): the threshold q is infinite, so every "
                         f"{bands}. Raise data.calib_fraction (or use more data), or lower uncertainty.level.")
    if has_sigma and not reports_sigma(spec, calibration):
        notes.append("the ensemble's sigma is only its members' spread (no variance head, no calibration split to "
                     "rescale it), which is not a predictive sigma: Gaussian intervals are not reported, the "
                     "conformal bands are. Set data.calib_fraction > 0 with recalibration = 'scaling' to get one.")
    return notes
