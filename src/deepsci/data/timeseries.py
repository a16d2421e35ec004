"""Time series helpers: sliding windows, time-ordered part boundaries, the bundled records and baselines.

A record (T, C) gives windows of L inputs x[s : s+L, :] (n, L, C) and targets x[s+L : s+L+H, targets]
(n, H*k), step-major; how windows are split in time and scaled is `deepsci.data.ordered`'s docstring.
Bundled records: `co2` (Mauna Loa, statsmodels; weekly 1958-2001 resampled to monthly means, the
5 empty months linearly interpolated) and `sunspots` (yearly Wolf numbers 1700-2008, statsmodels).
Baselines for the same windows: `persistence_forecast`, `seasonal_naive_forecast`,
`fit_linear_autoregression`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from deepsci.errors import DataError


def make_windows(series: torch.Tensor, input_length: int, horizon: int, *, stride: int = 1,
                 target_channels: Sequence[int] = (0,)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sliding windows over a (T, C) record.

    Returns:
        X: (n, L, C) inputs; y: (n, H*k) targets, step-major; starts: (n,) int64 window starts s
        (the first target step is s + L).
    """
    if series.dim() != 2:
        raise DataError(f"a record must be (T, C); received shape {tuple(series.shape)}.")
    T = int(series.shape[0])
    if input_length < 1 or horizon < 1 or stride < 1:
        raise DataError(f"input_length, horizon and stride must be >= 1; received {input_length}, {horizon}, "
                        f"{stride}.")
    if T < input_length + horizon:
        raise DataError(f"a record of {T} steps is too short for windows of {input_length} inputs + {horizon} "
                        "targets; shorten the window or horizon.")
    starts = torch.arange(0, T - input_length - horizon + 1, stride)
    idx_in = starts[:, None] + torch.arange(input_length)[None]  # (n, L)
    idx_out = starts[:, None] + input_length + torch.arange(horizon)[None]  # (n, H)
    tc = list(target_channels)
    y = series[idx_out][:, :, tc]  # (n, H, k)
    return series[idx_in], y.reshape(len(starts), horizon * len(tc)), starts


def time_boundaries(T: int, *, test_fraction: float = 0.2, valid_fraction: float = 0.1,
                    test_size: int | None = None, valid_size: int | None = None) -> tuple[int, int]:
    """(b_valid, b_test): steps [0, b_valid) train, [b_valid, b_test) valid, [b_test, T) test.

    Sizes in steps override the fractions; valid_fraction is a fraction of the steps before the test part.
    """
    n_test = test_size if test_size is not None else int(round(T * test_fraction))
    if not 0 < n_test < T:
        raise DataError(f"the test part must hold between 1 and {T - 1} steps; received {n_test}.")
    n_valid = valid_size if valid_size is not None else int(round((T - n_test) * valid_fraction))
    b_test = T - n_test
    b_valid = b_test - n_valid
    if b_valid < 1:
        raise DataError(f"nothing left for training: {T} steps, {n_test} test, {n_valid} valid. "
                        "Use smaller test/valid parts.")
    return b_valid, b_test


def co2_frame() -> pd.DataFrame:
    """Mauna Loa CO2 (ppm) as monthly means, 1958-03 .. 2001-12 (526 months).

    statsmodels' weekly record (2284 weeks, 59 missing) is resampled to calendar-month means; 5
    months with no data at all are filled by linear interpolation in time.
    Keeling et al. (1976); statsmodels.datasets.co2.
    """
    import statsmodels.api as sm  # optional heavy dependency: imported when used

    weekly = sm.datasets.co2.load_pandas().data
    monthly = weekly.resample("MS").mean()
    monthly["co2"] = monthly["co2"].interpolate(method="time")
    monthly.index.name = "month"
    return monthly.reset_index().assign(month=lambda f: f["month"].dt.strftime("%Y-%m"))


def sunspots_frame() -> pd.DataFrame:
    """Yearly sunspot (Wolf) numbers 1700-2008 (309 years); statsmodels.datasets.sunspots."""
    import statsmodels.api as sm  # optional heavy dependency: imported when used

    d = sm.datasets.sunspots.load_pandas().data
    return pd.DataFrame({"year": d["YEAR"].astype(int), "sunspots": d["SUNACTIVITY"].astype(float)})


# ---------------------------------------------------------------------------------------------
# Baseline forecasts on the same windows (inputs X (n, L, C), outputs (n, H*k) step-major)

def persistence_forecast(X: torch.Tensor, horizon: int, target_channels: Sequence[int] = (0,)) -> torch.Tensor:
    """Every future step equals the last observed value."""
    last = X[:, -1, list(target_channels)]  # (n, k)
    return last.repeat(1, horizon)


def seasonal_naive_forecast(X: torch.Tensor, horizon: int, period: int,
                            target_channels: Sequence[int] = (0,)) -> torch.Tensor:
    """Step h (1-based) equals the value one period earlier: x[t + h - period] (needs h <= period <= L)."""
    L = X.shape[1]
    if not horizon <= period <= L:
        raise DataError(f"seasonal naive needs horizon ({horizon}) <= period ({period}) <= input length ({L}).")
    tc = list(target_channels)
    steps = [X[:, L + h - period, tc] for h in range(horizon)]  # x[t+h+1-period], t = L-1 the last input step
    return torch.cat(steps, dim=1)


def fit_linear_autoregression(X: torch.Tensor, y: torch.Tensor, ridge: float = 1e-6) -> torch.Tensor:
    """Least-squares linear AR on the flattened window (+ intercept); returns weights (L*C + 1, H*k).

    Predict with `linear_autoregression_predict`. A direct multi-step linear model: one linear map
    from the whole input window to all horizon steps.
    """
    A = torch.cat([X.reshape(len(X), -1).double(), torch.ones(len(X), 1, dtype=torch.float64)], 1)
    reg = ridge * torch.eye(A.shape[1], dtype=torch.float64)
    return torch.linalg.solve(A.T @ A + reg, A.T @ y.double())


def linear_autoregression_predict(W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    A = torch.cat([X.reshape(len(X), -1).double(), torch.ones(len(X), 1, dtype=torch.float64)], 1)
    return (A @ W).float()
