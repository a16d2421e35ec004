"""Uncertainty: heteroscedastic heads, ensemble variance parts, MC dropout, conformal prediction,
calibration metrics and figures. The vectorised ensemble itself lives in `deepsci.training.ensemble`."""

from deepsci.evaluation.uncertainty.conformal import (
    REGRESSION_SCORES,
    SET_METHODS,
    classification_scores,
    conformal_interval,
    conformal_quantile,
    conformal_sets,
    regression_scores,
)
from deepsci.evaluation.uncertainty.figures import (
    calibration_figure,
    error_vs_std_figure,
    parity_figure,
    reliability_figure,
)
from deepsci.evaluation.uncertainty.heteroscedastic import LINKS, decompose, gaussian_nll, mean_variance
from deepsci.evaluation.uncertainty.mc_dropout import mc_dropout_predict, mc_dropout_samples
from deepsci.evaluation.uncertainty.metrics import (
    calibration_curve,
    expected_calibration_error,
    gaussian_nll_score,
    interval_coverage,
    interval_width,
    miscalibration_area,
    reliability_curve,
    set_coverage,
    set_size,
    uncertainty_metrics,
)
from deepsci.evaluation.uncertainty.predictive import (
    METHODS,
    UncertaintySpec,
    apply_calibration,
    calibrate,
    format_sets,
    predictive,
)

__all__ = [
    "LINKS",
    "METHODS",
    "REGRESSION_SCORES",
    "SET_METHODS",
    "UncertaintySpec",
    "apply_calibration",
    "calibrate",
    "calibration_curve",
    "calibration_figure",
    "classification_scores",
    "conformal_interval",
    "conformal_quantile",
    "conformal_sets",
    "decompose",
    "error_vs_std_figure",
    "expected_calibration_error",
    "format_sets",
    "gaussian_nll",
    "gaussian_nll_score",
    "interval_coverage",
    "interval_width",
    "mc_dropout_predict",
    "mc_dropout_samples",
    "mean_variance",
    "miscalibration_area",
    "parity_figure",
    "predictive",
    "regression_scores",
    "reliability_curve",
    "reliability_figure",
    "set_coverage",
    "set_size",
    "uncertainty_metrics",
]
