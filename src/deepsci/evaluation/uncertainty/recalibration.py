"""Sigma recalibration: make a model's predicted standard deviations mean what they say.

Fitted on calibration rows (rows that played no part in training or model selection), applied to every
sigma reported afterwards. Two methods, each per target:

- "scaling" (variance scaling; Levi et al. 2020, "Evaluating and calibrating uncertainty prediction in
  regression tasks"; Guo et al. 2017's temperature scaling for regression): sigma' = s sigma, with the one
  factor s that minimises the Gaussian NLL on the calibration rows. d/ds of
  sum_i [log(s sigma_i) + r_i^2 / (2 s^2 sigma_i^2)] = 0 gives the closed form s^2 = mean_i(r_i^2 / sigma_i^2),
  r = y - mu.
- "isotonic" (Kuleshov, Fenner & Ermon 2018, "Accurate uncertainties for deep learning using calibrated
  regression"): the probability integral transform p_i = Phi((y_i - mu_i) / sigma_i) is mapped through an
  isotonic regression R fitted to the empirical CDF of the p_i, so the recalibrated CDF R(Phi(z)) is
  calibrated on the calibration rows. The recalibrated distribution is not Gaussian; `interval` gives its
  exact central intervals, and `apply` the standard deviation of it (moment matching: sigma' = c sigma,
  c the standard deviation of the recalibrated standardised residual) so that the `_std` a user reads is
  still the spread of the calibrated distribution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from deepsci.errors import ConfigError, DataError, unknown_name
from deepsci.training.uncertainty_spec import RECALIBRATIONS

RecalibrationMethod = Literal["none", "scaling", "isotonic"]
_GRID = (np.arange(4000) + 0.5) / 4000  # probability midpoints for the isotonic moments and quantiles

__all__ = ["SigmaCalibrator", "variance_scale", "pit"]


def _as_2d(a: ArrayLike) -> NDArray[np.float64]:
    x = np.asarray(a, dtype=np.float64)
    return x[:, None] if x.ndim == 1 else x


def _check(y: NDArray[np.float64], mean: NDArray[np.float64], std: NDArray[np.float64]) -> None:
    if not (y.shape == mean.shape == std.shape) or y.ndim != 2:
        raise DataError(f"y, mean and std must have the same shape (n,) or (n, targets); received {y.shape}, "
                        f"{mean.shape} and {std.shape}.")
    if y.shape[0] < 2:
        raise DataError(f"sigma recalibration needs at least 2 calibration rows; received {y.shape[0]}. Give the "
                        "data a calibration split (data.calib_fraction, e.g. 0.2).")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
        raise DataError("sigma recalibration got NaN or inf in y, mean or std; check the predictions.")
    if np.any(std <= 0):
        raise DataError(f"predicted sigmas must be > 0 to recalibrate; the smallest is {std.min():.3g}.")


def variance_scale(y: ArrayLike, mean: ArrayLike, std: ArrayLike) -> NDArray[np.float64]:
    """The NLL-optimal scale factor per target: s = sqrt(mean_i((y_i - mu_i)^2 / sigma_i^2)), shape (t,).

    Args:
        y, mean, std: (n,) or (n, t) calibration targets, predicted means and sigmas, in one unit.
    """
    y_, mu, sd = _as_2d(y), _as_2d(mean), _as_2d(std)
    _check(y_, mu, sd)
    return np.asarray(np.sqrt(np.mean(((y_ - mu) / sd) ** 2, axis=0)), dtype=np.float64)


def pit(y: ArrayLike, mean: ArrayLike, std: ArrayLike) -> NDArray[np.float64]:
    """Probability integral transform Phi((y - mu) / sigma): uniform on (0, 1) for a calibrated Gaussian."""
    return np.asarray(stats.norm.cdf((np.asarray(y, dtype=np.float64) - np.asarray(mean, dtype=np.float64))
                                     / np.asarray(std, dtype=np.float64)), dtype=np.float64)


def _isotonic_knots(p: NDArray[np.float64]) -> tuple[list[float], list[float]]:
    """Knots (p, R(p)) of the isotonic fit of the empirical CDF of PIT values p (Kuleshov et al. 2018).

    Anchored at (0, 0) and (1, 1) so R is a CDF on [0, 1]; R is linear between knots (as sklearn predicts).
    """
    from sklearn.isotonic import IsotonicRegression  # scikit-learn's import is slow: only for "isotonic"

    p_sorted = np.sort(p)
    ecdf = np.arange(1, len(p_sorted) + 1) / len(p_sorted)  # fraction of rows with PIT <= p_i
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(p_sorted, ecdf)
    xs = np.concatenate([[0.0], iso.X_thresholds_, [1.0]])
    ys = np.concatenate([[0.0], iso.y_thresholds_, [1.0]])
    return [float(v) for v in xs], [float(v) for v in ys]


def _inverse(xs: NDArray[np.float64], ys: NDArray[np.float64], u: NDArray[np.float64]) -> NDArray[np.float64]:
    """R^{-1}(u) for the monotone piecewise-linear R through (xs, ys) (flat parts: their left end)."""
    keep = np.concatenate([[True], np.diff(ys) > 0])  # strictly increasing ys for interpolation
    return np.asarray(np.interp(u, ys[keep], xs[keep]), dtype=np.float64)


@dataclass
class SigmaCalibrator:
    """Recalibrates predicted standard deviations; fit on calibration rows, apply to any rows.

    Attributes:
        method: "scaling", "isotonic" or "none" (identity).
        scale_: (t,) factor per target: sigma' = scale_ * sigma (for "isotonic" the moment-matched factor).
        knots_: "isotonic" only: per target, the (p, R(p)) knots of the recalibration map.
        n_: calibration rows it was fitted on.

    Example:
        cal = SigmaCalibrator("scaling").fit(y_calib, mu_calib, sd_calib)
        sd_test = cal.apply(sd_test_raw)
    """

    method: RecalibrationMethod = "scaling"
    scale_: NDArray[np.float64] | None = None
    knots_: list[tuple[list[float], list[float]]] = field(default_factory=list)
    n_: int = 0

    def __post_init__(self) -> None:
        if self.method not in RECALIBRATIONS:
            raise ConfigError(unknown_name("sigma recalibration", str(self.method), RECALIBRATIONS))

    def fit(self, y: ArrayLike, mean: ArrayLike, std: ArrayLike) -> "SigmaCalibrator":
        """Fit on calibration rows: y, mean, std (n,) or (n, t) in the same (data) units. Returns self."""
        y_, mu, sd = _as_2d(y), _as_2d(mean), _as_2d(std)
        _check(y_, mu, sd)
        self.n_ = int(y_.shape[0])
        if self.method == "none":
            self.scale_ = np.ones(y_.shape[1])
        elif self.method == "scaling":
            self.scale_ = variance_scale(y_, mu, sd)
        else:
            p = pit(y_, mu, sd)
            self.knots_ = [_isotonic_knots(p[:, j]) for j in range(p.shape[1])]
            self.scale_ = np.array([self._isotonic_std(j) for j in range(p.shape[1])])
        return self

    def _require_fit(self) -> NDArray[np.float64]:
        if self.scale_ is None:
            raise DataError("this SigmaCalibrator is not fitted; call fit(y, mean, std) on calibration rows first.")
        return self.scale_

    def _z_quantile(self, j: int, u: NDArray[np.float64]) -> NDArray[np.float64]:
        """Quantiles of the recalibrated standardised residual of target j at probabilities u."""
        xs, ys = (np.asarray(v, dtype=np.float64) for v in self.knots_[j])
        p = np.clip(_inverse(xs, ys, u), 1e-12, 1 - 1e-12)
        return np.asarray(stats.norm.ppf(p), dtype=np.float64)

    def _isotonic_std(self, j: int) -> float:
        z = self._z_quantile(j, _GRID)  # equal-probability quantiles: their moments are the distribution's
        return max(float(np.std(z)), 1e-12)

    def apply(self, std: ArrayLike) -> NDArray[np.float64]:
        """Recalibrated sigmas, shaped like `std` ((n,) for one target or (n, t))."""
        scale = self._require_fit()
        sd = np.asarray(std, dtype=np.float64)
        if sd.ndim == 1 and len(scale) != 1:
            raise DataError(f"std is (n,) but the calibrator was fitted on {len(scale)} targets; pass (n, t).")
        if sd.ndim == 2 and sd.shape[1] != len(scale):
            raise DataError(f"std has {sd.shape[1]} targets; the calibrator was fitted on {len(scale)}.")
        return np.asarray(sd * (scale[0] if sd.ndim == 1 else scale), dtype=np.float64)

    def cdf(self, y: ArrayLike, mean: ArrayLike, std: ArrayLike) -> NDArray[np.float64]:
        """The recalibrated CDF at y: uniform on (0, 1) over rows when calibrated; shaped like y."""
        scale = self._require_fit()
        y_, mu, sd = _as_2d(y), _as_2d(mean), _as_2d(std)
        if self.method == "isotonic":
            p = pit(y_, mu, sd)
            out = np.column_stack([np.interp(p[:, j], *self.knots_[j]) for j in range(p.shape[1])])
        else:
            out = pit(y_, mu, sd * scale)
        return out[:, 0] if np.ndim(y) == 1 else out

    def interval(self, mean: ArrayLike, std: ArrayLike, level: float = 0.9
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Central recalibrated interval at `level` from the raw (mean, std): (lower, upper) shaped like mean."""
        scale = self._require_fit()
        mu, sd = _as_2d(mean), _as_2d(std)
        if self.method == "isotonic":
            u = np.array([(1 - level) / 2, (1 + level) / 2])
            zq = np.stack([self._z_quantile(j, u) for j in range(mu.shape[1])], axis=1)  # (2, t)
            lo, hi = mu + zq[0] * sd, mu + zq[1] * sd
        else:
            z = float(stats.norm.ppf(0.5 + level / 2))
            lo, hi = mu - z * sd * scale, mu + z * sd * scale
        return (lo[:, 0], hi[:, 0]) if np.ndim(mean) == 1 else (lo, hi)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (for model.json / metrics.json)."""
        out: dict[str, Any] = {"method": self.method, "n": self.n_,
                               "scale": None if self.scale_ is None else [float(v) for v in self.scale_]}
        if self.knots_:
            out["knots"] = [{"p": xs, "r": ys} for xs, ys in self.knots_]
        return out

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> "SigmaCalibrator":
        """Rebuild from `to_dict()` output (validated: a run folder is untrusted)."""
        try:
            scale = state.get("scale")
            knots = [(list(map(float, k["p"])), list(map(float, k["r"]))) for k in state.get("knots", [])]
            cal = cls(method=state.get("method", "scaling"), n_=int(state.get("n", 0)),
                      scale_=None if scale is None else np.asarray(scale, dtype=np.float64), knots_=knots)
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            raise DataError(f"the stored sigma calibration is malformed ({err}); refit it or rerun the fit.") from err
        if cal.scale_ is not None and (cal.scale_.ndim != 1 or not np.all(np.isfinite(cal.scale_))
                                       or np.any(cal.scale_ <= 0)):
            raise DataError(f"the stored sigma scale must be a list of positive numbers; received {scale!r}.")
        return cal
