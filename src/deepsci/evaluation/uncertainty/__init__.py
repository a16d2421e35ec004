"""Uncertainty: heteroscedastic heads, ensemble variance parts, MC dropout, sigma recalibration, conformal
prediction (split, and cross-conformal with the ensemble's own members), coverage with its confidence
interval, calibration metrics and figures. The vectorised ensemble itself lives in `deepsci.training.ensemble`;
the option vocabulary (methods, scores, links) in `deepsci.training.uncertainty_spec`."""

from deepsci.evaluation.uncertainty.conformal import (classification_scores, conformal_interval, conformal_quantile,
                                                      conformal_sets, cv_plus_interval, regression_scores)
from deepsci.evaluation.uncertainty.coverage import (Coverage, binomial_interval, conformal_coverage_beta,
                                                     conformal_coverage_interval, coverage)
from deepsci.evaluation.uncertainty.cross_conformal import held_out_calibration, held_out_means
from deepsci.evaluation.uncertainty.figures import (calibration_figure, coverage_levels_figure, error_vs_std_figure,
                                                    parity_figure, reliability_figure)
from deepsci.evaluation.uncertainty.mc_dropout import mc_dropout_predict, mc_dropout_samples, sampled_layers
from deepsci.evaluation.uncertainty.metrics import (calibration_curve, expected_calibration_error, gaussian_nll_score,
                                                    interval_coverage, interval_width, miscalibration_area,
                                                    reliability_curve, set_coverage, set_size, uncertainty_metrics)
from deepsci.evaluation.uncertainty.predictive import (Calibration, Predictive, apply_calibration, calibrate,
                                                       decompose, format_sets, predictive, recalibrate)
from deepsci.evaluation.uncertainty.recalibration import SigmaCalibrator, pit, variance_scale
from deepsci.training.losses import gaussian_nll, mean_variance
from deepsci.training.uncertainty_spec import UncertaintySpec

__all__ = ["Calibration", "Coverage", "Predictive", "SigmaCalibrator", "UncertaintySpec", "apply_calibration",
           "binomial_interval", "calibrate", "calibration_curve", "calibration_figure", "classification_scores",
           "conformal_coverage_beta", "conformal_coverage_interval", "conformal_interval", "coverage_levels_figure", "conformal_quantile",
           "conformal_sets", "coverage", "cv_plus_interval", "decompose", "error_vs_std_figure",
           "expected_calibration_error", "format_sets", "held_out_calibration", "held_out_means", "gaussian_nll",
           "gaussian_nll_score", "interval_coverage", "interval_width", "mc_dropout_predict", "mc_dropout_samples",
           "mean_variance", "miscalibration_area", "parity_figure", "pit", "predictive", "recalibrate",
           "regression_scores", "reliability_curve", "reliability_figure", "sampled_layers", "set_coverage", "set_size",
           "uncertainty_metrics", "variance_scale"]
