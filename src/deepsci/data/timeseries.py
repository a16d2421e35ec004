"""Time series as forecasting windows, with time-ordered splits and train-only scaling.

A record of T time steps and C channels (T, C) is cut into windows: the input is L consecutive
steps of all channels, the target the next H steps of the target channels:

    inputs  x[s : s+L, :]            -> Split.X (n, L, C)
    targets x[s+L : s+L+H, targets]  -> Split.y (n, H*k), step-major (reshape to (n, H, k))

Time-ordered split (no future data in training): the time axis is cut at two boundaries,
train | valid | test, with the test part the last `test_size` steps of the record. A window
belongs to the part its *targets* lie in; its inputs may reach back into earlier parts (that is
observed history, not the future). Windows whose targets straddle a boundary are dropped and
counted in `summary["windows_dropped"]`. The channel scaler is fitted on the training part of the
record only, so no statistic of the valid/test future leaks into training.

Bundled records: `co2` (Mauna Loa, statsmodels; weekly 1958-2001 resampled to monthly means, the
5 empty months linearly interpolated) and `sunspots` (yearly Wolf numbers 1700-2008, statsmodels).
Baselines for the same windows: `persistence_forecast`, `seasonal_naive_forecast`,
`fit_linear_autoregression`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from deepsci.data.dataset import Dataset, Split
from deepsci.data.scalers import Scaler
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


def timeseries_dataset(values: np.ndarray | pd.DataFrame, *, times: Sequence[Any] | None = None,
                       channel_names: Sequence[str] | None = None, target_channels: Sequence[int] = (0,),
                       input_length: int = 24, horizon: int = 1, stride: int = 1, test_fraction: float = 0.2,
                       valid_fraction: float = 0.1, test_size: int | None = None, valid_size: int | None = None,
                       scale: bool = True, source: str = "arrays", notes: Sequence[str] = ()) -> Dataset:
    """Forecasting windows of a (T, C) record with a time-ordered split (see the module docstring).

    Args:
        values: (T,) or (T, C) record (rows in time order) or a DataFrame of its value columns.
        times: one label per step (dates, years); used as ids (the first target step's time).
        target_channels: indices of the channels to forecast.
        input_length, horizon, stride: window sizes in steps (stride applies to the training
            windows; valid and test windows use stride 1 so every target step is evaluated).
        test_size / valid_size: part sizes in steps (override the fractions).
        scale: standardise each channel with mean/std of the training part only.

    Returns:
        Dataset with task "regression", X (n, L, C), y (n, H*k) (scaled if `scale`), x_scaler a
        Scaler over the C channels (apply to X.reshape(-1, C)), y_scaler a Scaler over the H*k
        target columns (its `inverse_transform` takes predictions (n, H*k) back to data units).
    """
    if isinstance(values, pd.DataFrame):
        channel_names = list(channel_names or values.columns)
        values = values.to_numpy(dtype=np.float64)
    arr = np.array(values, dtype=np.float64)  # a writable copy
    arr = arr[:, None] if arr.ndim == 1 else arr
    T, C = arr.shape
    names = [str(c) for c in channel_names] if channel_names is not None else [f"x{j}" for j in range(C)]
    if len(names) != C:
        raise DataError(f"{len(names)} channel names for {C} channels.")
    if not np.isfinite(arr).all():
        bad = [names[j] for j in np.nonzero(~np.isfinite(arr).all(0))[0]]
        raise DataError(f"the record has NaN/inf in channel(s) {bad} ({int((~np.isfinite(arr)).sum())} values); "
                        "interpolate gaps first (load_timeseries_csv(missing='interpolate')).")
    tc = list(target_channels)
    if any(not 0 <= t < C for t in tc):
        raise DataError(f"target channels {tc} must index the {C} channels {names}.")
    time_ids = [str(t) for t in times] if times is not None else [str(i) for i in range(T)]
    b_valid, b_test = time_boundaries(T, test_fraction=test_fraction, valid_fraction=valid_fraction,
                                      test_size=test_size, valid_size=valid_size)
    series = torch.as_tensor(arr, dtype=torch.float64)
    x_scaler = Scaler().fit(series[:b_valid]) if scale else None  # training part only: no future leaks
    scaled = x_scaler.transform(series) if x_scaler is not None else series
    X, y, starts = make_windows(scaled, input_length, horizon, target_channels=tc)
    first, last = starts + input_length, starts + input_length + horizon - 1  # target steps of each window
    in_train = (last < b_valid) & (starts % stride == 0)
    in_valid = (first >= b_valid) & (last < b_test)
    in_test = first >= b_test
    n_dropped = int((~((last < b_valid) | in_valid | in_test)).sum())  # straddle a boundary
    if int(in_train.sum()) == 0 or int(in_test.sum()) == 0:
        raise DataError(f"no {'training' if int(in_train.sum()) == 0 else 'test'} windows: {T} steps, boundaries "
                        f"{b_valid}/{b_test}, window {input_length}+{horizon}. Shorten the window or change "
                        "the part sizes.")
    y_scaler = None
    if x_scaler is not None:
        mean, std = x_scaler.mean_, x_scaler.scale_  # type: ignore[union-attr]
        # targets are step-major (h, k): repeat the target channels' statistics for each step
        y_scaler = Scaler.from_dict({"mean": [float(mean[t]) for _ in range(horizon) for t in tc],  # type: ignore[index]
                                     "scale": [float(std[t]) for _ in range(horizon) for t in tc]})  # type: ignore[index]

    def part(mask: torch.Tensor) -> Split:
        i = mask.nonzero().flatten()
        return Split(X[i].float().contiguous(), y[i].float().contiguous(),
                     [time_ids[int(starts[j]) + input_length] for j in i])

    target_names = [f"{names[t]}[t+{h + 1}]" for h in range(horizon) for t in tc]
    return Dataset(
        train=part(in_train), valid=part(in_valid), test=part(in_test), task="regression",
        feature_names=names, target_names=target_names, x_scaler=x_scaler, y_scaler=y_scaler,
        featuriser={"kind": "windows", "input_length": input_length, "horizon": horizon, "stride": stride,
                    "channels": names, "target_channels": tc,
                    "x_scaler": x_scaler.to_dict() if x_scaler is not None else None},
        summary={"source": source, "steps": T, "channels": names, "targets": [names[t] for t in tc],
                 "input_length": input_length, "horizon": horizon, "stride": stride,
                 "split": "time-ordered", "boundaries": {"valid_start": time_ids[b_valid] if b_valid < T else None,
                                                          "test_start": time_ids[b_test]},
                 "boundary_steps": [b_valid, b_test], "n_train": int(in_train.sum()),
                 "n_valid": int(in_valid.sum()), "n_test": int(in_test.sum()), "windows_dropped": n_dropped,
                 "times": time_ids, "notes": list(notes)},
    )


def load_timeseries_csv(path: str | Path, *, time_column: str, value_columns: Sequence[str] | None = None,
                        target_columns: Sequence[str] | None = None, missing: str = "error",
                        **kwargs: Any) -> Dataset:
    """Forecasting windows from a CSV with a time column and value columns.

    Rows are sorted by time. `missing`: "error" (NaN -> DataError naming the column) or
    "interpolate" (linear in row order; the count goes to summary["interpolated"]).
    Other keyword arguments go to `timeseries_dataset`.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"time-series file {p} does not exist; check the path.")
    frame = pd.read_csv(p)
    if time_column not in frame.columns:
        raise DataError(f"time column '{time_column}' not in {p.name}; columns are: {', '.join(frame.columns)}. "
                        "Set time_column.")
    cols = list(value_columns) if value_columns is not None else [c for c in frame.columns if c != time_column]
    absent = [c for c in cols if c not in frame.columns]
    if absent:
        raise DataError(f"value column(s) {absent} not in {p.name}; columns are: {', '.join(frame.columns)}.")
    non_numeric = [c for c in cols if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise DataError(f"value column(s) {non_numeric} are not numeric; drop them from value_columns.")
    try:
        order = pd.to_datetime(frame[time_column]) if not pd.api.types.is_numeric_dtype(frame[time_column]) \
            else frame[time_column]
    except (ValueError, TypeError) as exc:
        raise DataError(f"time column '{time_column}' is neither numeric nor parseable dates ({exc}).") from None
    frame = frame.assign(_order=order).sort_values("_order").reset_index(drop=True)
    values = frame[cols].astype(float)
    n_missing = int(values.isna().sum().sum())
    if n_missing and missing == "interpolate":
        values = values.interpolate(limit_direction="both")
    elif n_missing and missing != "error":
        raise DataError(f"missing must be 'error' or 'interpolate'; received '{missing}'.")
    targets = list(target_columns) if target_columns is not None else cols[:1]
    tc = [cols.index(t) for t in targets if t in cols]
    if len(tc) != len(targets):
        raise DataError(f"target column(s) {[t for t in targets if t not in cols]} are not among the value "
                        f"columns {cols}.")
    ds = timeseries_dataset(values, times=list(frame[time_column]), target_channels=tc, source=str(p), **kwargs)
    ds.summary["interpolated"] = n_missing if missing == "interpolate" else 0
    return ds


def co2_frame() -> pd.DataFrame:
    """Mauna Loa CO2 (ppm) as monthly means, 1958-03 .. 2001-12 (526 months).

    statsmodels' weekly record (2284 weeks, 59 missing) is resampled to calendar-month means; 5
    months with no data at all are filled by linear interpolation in time.
    Keeling et al. (1976); statsmodels.datasets.co2.
    """
    import statsmodels.api as sm

    weekly = sm.datasets.co2.load_pandas().data
    monthly = weekly.resample("MS").mean()
    monthly["co2"] = monthly["co2"].interpolate(method="time")
    monthly.index.name = "month"
    return monthly.reset_index().assign(month=lambda f: f["month"].dt.strftime("%Y-%m"))


def sunspots_frame() -> pd.DataFrame:
    """Yearly sunspot (Wolf) numbers 1700-2008 (309 years); statsmodels.datasets.sunspots."""
    import statsmodels.api as sm

    d = sm.datasets.sunspots.load_pandas().data
    return pd.DataFrame({"year": d["YEAR"].astype(int), "sunspots": d["SUNACTIVITY"].astype(float)})


def co2_dataset(*, input_length: int = 36, horizon: int = 12, test_size: int = 96, valid_size: int = 48,
                stride: int = 1) -> Dataset:
    """CO2 forecasting: 36 months in, the next 12 months out; test = the last 96 months (1994-2001).

    Test windows forecast months inside the last 8 years; valid the 4 years before; the scaler and
    every training window use only months before that.
    """
    f = co2_frame()
    return timeseries_dataset(f[["co2"]], times=list(f["month"]), input_length=input_length, horizon=horizon,
                              stride=stride, test_size=test_size, valid_size=valid_size, source="co2",
                              notes=["weekly record resampled to monthly means; 5 empty months linearly "
                                     "interpolated"])


def sunspots_dataset(*, input_length: int = 24, horizon: int = 1, test_size: int = 60, valid_size: int = 30,
                     stride: int = 1) -> Dataset:
    """Sunspots forecasting: 24 years in, the next year out; test = the last 60 years (1949-2008)."""
    f = sunspots_frame()
    return timeseries_dataset(f[["sunspots"]], times=list(f["year"]), input_length=input_length, horizon=horizon,
                              stride=stride, test_size=test_size, valid_size=valid_size, source="sunspots")


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
