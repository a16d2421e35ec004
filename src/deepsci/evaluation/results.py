"""What evaluating a run gives: frozen values that the run folder and the report read, never write.

    Evaluation
      splits      {"train", "valid", "test"[, "calib"]} -> SplitResult (ids, truth, predictions, metrics,
                  predictive distribution, conformal bands, uncertainty metrics)
      baselines   the trivial and linear references on the same split (tables), per split metrics
      forecast    forecasting baselines (persistence, seasonal-naive, linear AR) on the test windows
      uncertainty the method, the calibration and where it was fitted
      warnings    sentences the terminal, metrics.json and the report must show (e.g. worse than trivial)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SplitResult:
    """One split's predictions and metrics, in the data's own units.

    Attributes:
        name: "train", "valid", "test" or "calib".
        ids: one identifier per row.
        y_true: regression (n, t) float64; classification (n,) class indices.
        pred: regression (n, t) values; classification (n, k) class probabilities. With an
            uncertainty method, the ensemble / MC-dropout mean.
        metrics: the task's metrics (deepsci.evaluation.metrics), JSON-able.
        dist: the predictive distribution ("pred", "std", "aleatoric", "epistemic", ...) or None.
        bands: conformal intervals ("lower", "upper", (n, t)) or sets ("sets", (n, k) bool).
        uncertainty: the split's uncertainty metrics, JSON-able.
        frame: a predictions table a model brings of its own (symbol sequences), else None.
        rows: the rows the metrics cover where the arrays hold fewer (a streamed split holds its first rows,
            for predictions.csv), else None: the arrays hold every row.
        sample: a streamed split's seeded uniform random sample of rows (metrics empty), the rows the report's
            figures and the uncertainty metrics are drawn from; None where every row is held.
    """

    name: str
    ids: Sequence[str]
    y_true: np.ndarray
    pred: np.ndarray
    metrics: dict[str, Any]
    dist: dict[str, np.ndarray] | None = None
    bands: dict[str, np.ndarray] = field(default_factory=dict)
    uncertainty: dict[str, Any] = field(default_factory=dict)
    frame: pd.DataFrame | None = None
    rows: int | None = None
    sample: "SplitResult | None" = None


@dataclass(frozen=True)
class BaselineResult:
    """A reference model's metrics on each split (same rows and features as the network)."""

    name: str
    description: str
    metrics: dict[str, dict[str, Any]]  # split name -> metrics


@dataclass(frozen=True)
class Evaluation:
    """Everything measured on a trained run."""

    task: str
    splits: dict[str, SplitResult]
    baselines: tuple[BaselineResult, ...] = ()
    forecast: dict[str, Any] | None = None
    uncertainty: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()

    @property
    def shown(self) -> SplitResult:
        """The split the report draws and predictions.csv holds: test, else valid."""
        return self.splits.get("test") or self.splits["valid"]

    @property
    def drawn(self) -> SplitResult:
        """The rows the report's figures are drawn from: the shown split's random sample where it holds one (a
        streamed split), else the shown split."""
        return self.shown.sample or self.shown

    def metrics_json(self) -> dict[str, Any]:
        """The evaluation part of metrics.json: per split metrics, baselines, forecast, uncertainty, warnings."""
        out: dict[str, Any] = {name: r.metrics for name, r in self.splits.items()}
        if self.baselines:
            out["baselines"] = {b.name: {"description": b.description, **b.metrics} for b in self.baselines}
        if self.forecast is not None:
            out["forecast"] = self.forecast
        if self.uncertainty is not None:
            out["uncertainty"] = self.uncertainty
        out["warnings"] = list(self.warnings)
        return out

