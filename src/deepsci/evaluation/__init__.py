"""Evaluation: metrics of a fitted model and its diagnostic figures."""

from deepsci.evaluation.figures import (
    confusion_matrix_plot,
    figure_to_data_uri,
    figures_for,
    learning_curves,
    parity_plot,
    pr_curves,
    residual_histogram,
    roc_curves,
)
from deepsci.evaluation.metrics import classification_metrics, regression_metrics

__all__ = [
    "classification_metrics",
    "confusion_matrix_plot",
    "figure_to_data_uri",
    "figures_for",
    "learning_curves",
    "parity_plot",
    "pr_curves",
    "regression_metrics",
    "residual_histogram",
    "roc_curves",
]
