"""Evaluation: metrics of a fitted model, its diagnostic figures, and uncertainty (see .uncertainty)."""

from deepsci.evaluation.figures import (confusion_matrix_plot, figure_to_data_uri, figures_for, learning_curves,
                                        parity_plot, pr_curves, residual_histogram, roc_curves)
from deepsci.evaluation.metrics import classification_metrics, regression_metrics
from deepsci.evaluation.stream_references import streamed_references  # registers the "stream" references
from deepsci.evaluation.uncertainty import (apply_calibration, calibrate, conformal_interval, conformal_sets,
                                            predictive, uncertainty_metrics)

__all__ = ["apply_calibration", "calibrate", "classification_metrics", "conformal_interval", "conformal_sets",
           "confusion_matrix_plot", "figure_to_data_uri", "figures_for", "learning_curves", "parity_plot", "pr_curves",
           "predictive", "regression_metrics", "residual_histogram", "roc_curves", "streamed_references",
           "uncertainty_metrics"]
