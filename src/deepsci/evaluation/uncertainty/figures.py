"""Uncertainty figures (matplotlib object API, no pyplot, no windows): calibration curve, reliability
diagram, parity plot with error bars, |error| vs predicted sigma. Each returns a `Figure`; turn it into an
inline image with `deepsci.evaluation.figures.figure_to_data_uri`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from deepsci.evaluation.uncertainty.metrics import calibration_curve, miscalibration_area, reliability_curve

__all__ = ["calibration_figure", "coverage_levels_figure", "reliability_figure", "parity_figure",
           "error_vs_std_figure"]


def _finish(fig: Figure, ax: Axes) -> Figure:
    """The figure with the main axes' legend in the upper left, laid out."""
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def calibration_figure(y: ArrayLike, mean: ArrayLike, std: ArrayLike, *, label: str = "model") -> Figure:
    """Observed vs expected coverage of central Gaussian intervals, with the diagonal and the area between."""
    expected, observed = calibration_curve(y, mean, std, np.linspace(0, 1, 41))
    area = miscalibration_area(expected, observed)
    fig = Figure(figsize=(4.2, 4.0))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.5", linestyle="--", linewidth=1, label="ideal")
    ax.fill_between(expected, expected, observed, color="C0", alpha=0.2)
    ax.plot(expected, observed, color="C0", label=f"{label} (miscalibration area {area:.3f})")
    ax.set(xlabel="expected coverage (interval level)", ylabel="observed coverage", xlim=(0, 1), ylim=(0, 1),
           title="Calibration curve")
    return _finish(fig, ax)


def reliability_figure(y: ArrayLike, proba: ArrayLike, bins: int = 15) -> Figure:
    """Reliability diagram: accuracy vs top-label confidence per bin, bar width = bin, with counts below."""
    r = reliability_curve(y, proba, bins)
    edges, filled = r["edges"], r["count"] > 0
    centres, width = (edges[1:] + edges[:-1]) / 2, np.diff(edges)
    fig = Figure(figsize=(4.2, 5.0))
    ax, hist = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], color="0.5", linestyle="--", linewidth=1, label="ideal")
    ax.bar(centres[filled], r["accuracy"][filled], width=width[filled], edgecolor="k", color="C0", alpha=0.7,
           label="accuracy")
    ax.plot(r["confidence"][filled], r["accuracy"][filled], "o", color="C3", markersize=3,
            label="(mean confidence, accuracy)")
    ax.set(ylabel="accuracy", ylim=(0, 1), title="Reliability diagram")
    hist.bar(centres, r["count"], width=width, color="0.6", edgecolor="k")
    hist.set(xlabel="confidence (top-label probability)", ylabel="rows", xlim=(0, 1))
    return _finish(fig, ax)


def parity_figure(y: ArrayLike, mean: ArrayLike, std: ArrayLike | None = None, *, lower: ArrayLike | None = None,
                  upper: ArrayLike | None = None, target_name: str = "target") -> Figure:
    """Predicted vs true with error bars: [lower, upper] if given, else mean +- std (one target)."""
    y_, mu = np.asarray(y, dtype=float).ravel(), np.asarray(mean, dtype=float).ravel()
    if lower is not None and upper is not None:
        lo, hi = np.asarray(lower, dtype=float).ravel(), np.asarray(upper, dtype=float).ravel()
        err, what = np.vstack([mu - lo, hi - mu]), "interval"
    elif std is not None:
        err, what = np.asarray(std, dtype=float).ravel(), "+- 1 sd"
    else:
        err, what = None, ""
    fig = Figure(figsize=(4.4, 4.2))
    ax = fig.add_subplot()
    ax.errorbar(y_, mu, yerr=err, fmt="o", markersize=2.5, elinewidth=0.6, alpha=0.6, color="C0",
                label=f"prediction {what}".strip())
    lo_all, hi_all = float(min(y_.min(), mu.min())), float(max(y_.max(), mu.max()))
    ax.plot([lo_all, hi_all], [lo_all, hi_all], color="0.4", linestyle="--", linewidth=1)
    ax.set(xlabel=f"true {target_name}", ylabel=f"predicted {target_name}", title="Parity with error bars")
    return _finish(fig, ax)


def error_vs_std_figure(y: ArrayLike, mean: ArrayLike, std: ArrayLike) -> Figure:
    """|error| vs predicted sigma, with the lines |error| = sigma and = 2 sigma (a useful sigma ranks errors)."""
    y_, mu = np.asarray(y, dtype=float).ravel(), np.asarray(mean, dtype=float).ravel()
    sd = np.asarray(std, dtype=float).ravel()
    fig = Figure(figsize=(4.4, 4.0))
    ax = fig.add_subplot()
    ax.scatter(sd, np.abs(y_ - mu), s=6, alpha=0.6, color="C0")
    top = float(sd.max()) if sd.size else 1.0
    ax.plot([0, top], [0, top], color="0.4", linestyle="--", linewidth=1, label="|error| = sigma")
    ax.plot([0, top], [0, 2 * top], color="0.6", linestyle=":", linewidth=1, label="|error| = 2 sigma")
    ax.set(xlabel="predicted sigma", ylabel="|error|", title="Error vs predicted uncertainty")
    return _finish(fig, ax)


def coverage_levels_figure(levels: dict[str, dict[str, Any]]) -> Figure:
    """Coverage against nominal level: the conformal bands (and the Gaussian interval, where a sigma is reported)
    refitted at each level, read on held-out rows; on the diagonal they are calibrated.

    Args:
        levels: `deepsci.evaluation.uncertainty.levels.coverage_by_level`'s value ({"0.9": {"nominal", "coverage",
            "gaussian_coverage"?}}).
    """
    rows = sorted(levels.values(), key=lambda row: float(row["nominal"]))
    nominal = [float(row["nominal"]) for row in rows]
    fig = Figure(figsize=(4.2, 4.0))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.5", linestyle="--", linewidth=1, label="ideal")
    ax.plot(nominal, [float(row["coverage"]) for row in rows], "o-", color="C0", label="conformal")
    if all(row.get("gaussian_coverage") is not None for row in rows):
        ax.plot(nominal, [float(row["gaussian_coverage"]) for row in rows], "s--", color="C1", label="Gaussian (sigma)")
    ax.set(xlabel="nominal level", ylabel="observed coverage", xlim=(0.4, 1.0), ylim=(0.4, 1.0),
           title="Coverage vs nominal level")
    return _finish(fig, ax)
