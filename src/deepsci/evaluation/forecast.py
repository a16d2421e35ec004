"""Forecasts held against simple baselines, and the forecast plot with the train/test boundary.

Every forecaster is scored on the same test windows in data units: persistence (the last value
repeated), seasonal-naive (the value one season earlier), and a linear autoregression fitted by
least squares on the training windows.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from deepsci.data.timeseries import (fit_linear_autoregression, linear_autoregression_predict,
                                     persistence_forecast, seasonal_naive_forecast)
from deepsci.evaluation.metrics import rmse


def baseline_forecasts(dataset: Any, season: int | None) -> dict[str, np.ndarray]:
    """Baseline test forecasts (n, H*k) in data units for a windows Dataset (X scaled, y scaled)."""
    summary = dataset.summary
    horizon = int(summary.horizon)
    channels = [list(summary.channels).index(t) for t in summary.targets]
    X_train, X_test = dataset.train.X, dataset.test.X
    out = {"persistence": persistence_forecast(X_test, horizon, channels)}
    if season is not None and season <= X_test.shape[1]:
        out["seasonal-naive"] = seasonal_naive_forecast(X_test, horizon, season, channels)
    W = fit_linear_autoregression(X_train, dataset.train.y)
    out["linear autoregression"] = linear_autoregression_predict(W, X_test)
    return {name: _to_units(pred, dataset) for name, pred in out.items()}


def _to_units(pred: torch.Tensor, dataset: Any) -> np.ndarray:
    return dataset.preprocessor.inverse_targets(pred.float()).double().numpy()


def forecast_comparison(y_true: np.ndarray, pred: np.ndarray, baselines: dict[str, np.ndarray]) -> dict[str, Any]:
    """Test RMSE over every forecast step of the model and of each baseline (data units)."""
    table = {"model": rmse(y_true, pred)}
    table.update({name: rmse(y_true, p) for name, p in baselines.items()})
    return {"test_rmse": table, "beats": {name: table["model"] < table[name] for name in baselines}}


def forecast_plot(times: Sequence[Any], y_true: np.ndarray, pred: np.ndarray, *, horizon: int,
                  target: str, units: str = "", boundary: Any = None) -> Figure:
    """The one-step-ahead and last-step forecasts of the test windows against the truth.

    Args:
        times: label of each test window's first target step.
        y_true, pred: (n, H*k) in data units, step-major; the first target channel is drawn.
        boundary: label of the first test step, drawn as a vertical line.
    """
    fig = Figure(figsize=(8, 3.6))
    ax = fig.subplots()
    x = np.arange(len(times))
    k = y_true.shape[1] // horizon
    ax.plot(x, y_true[:, 0], color="black", lw=1.5, label="truth")
    ax.plot(x, pred[:, 0], color="tab:blue", lw=1.2, label="forecast, 1 step ahead")
    if horizon > 1:
        last = (horizon - 1) * k
        ax.plot(x + horizon - 1, pred[:, last], color="tab:orange", lw=1.0, alpha=0.8,
                label=f"forecast, {horizon} steps ahead")
    ax.axvline(0, color="grey", ls="--", lw=1)
    ax.text(0, ax.get_ylim()[1], f" test starts {boundary}" if boundary is not None else " test", va="top",
            fontsize=8, color="grey")
    ticks = np.linspace(0, len(times) - 1, min(8, len(times))).astype(int)
    ax.set_xticks(ticks, [str(times[i])[:10] for i in ticks], rotation=30, fontsize=8)
    ax.set_ylabel(f"{target} ({units})" if units else target)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
