"""Time series helpers: sliding windows, time-ordered part boundaries, the bundled records and baselines.

A record (T, C) gives windows of L inputs x[s : s+L, :] (n, L, C) and targets x[s+L : s+L+H, targets]
(n, H*k), step-major; how windows are split in time and scaled is `deepsci.data.ordered`'s docstring.
Bundled records: `co2` (Mauna Loa, statsmodels; weekly 1958-2001 resampled to monthly means, the
5 empty months linearly interpolated) and `sunspots` (yearly Wolf numbers 1700-2008, statsmodels).
Baselines for the same windows: `persistence_forecast`, `seasonal_naive_forecast`,
`fit_linear_autoregression`.

Every record read (fit, test record, predict, evaluate) passes `check_record`: one time format,
put in time order, unique stamps (or averaged with `duplicates = "mean"`), regular at the inferred
step (gaps refused, or filled with `missing = "interpolate"`); see docs/data.md "Series integrity".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from pandas.tseries.api import guess_datetime_format

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
        raise DataError(f"the test part must hold between 1 and {T - 1} steps of the {T}-step record; received "
                        f"{n_test} (data.test_size / test_fraction): the record is too short for it. Use a smaller "
                        "test_size or a longer record.")
    n_valid = valid_size if valid_size is not None else int(round((T - n_test) * valid_fraction))
    b_test = T - n_test
    b_valid = b_test - n_valid
    if b_valid < 1:
        raise DataError(f"nothing left for training: {T} steps, {n_test} test, {n_valid} valid. "
                        "Use smaller test/valid parts.")
    return b_valid, b_test


# ---------------------------------------------------------------------------------------------
# Series integrity: what the file says is what the model sees

@dataclass(frozen=True)
class TimeAxis:
    """How a record's time stamps map to step positions.

    Attributes:
        kind: "number" (a numeric column, e.g. years as integers), "year" / "month" (calendar stamps that
            share the same day and time of day: positions count years / months), or "time" (positions in
            nanoseconds since 1970, UTC).
        step: the inferred step in those units (the smallest difference between neighbouring stamps).
        fmt: the strftime format of the stamps (None for a numeric column or a format pandas cannot name).
    """

    kind: str
    step: float
    fmt: str | None

    def describe(self) -> str:
        """The step in words, e.g. "1 month", "7 days 00:00:00", "1 (time units)"."""
        if self.kind in ("year", "month"):
            return f"{self.step:g} {self.kind}{'s' if self.step != 1 else ''}"
        if self.kind == "time":
            return str(pd.Timedelta(int(self.step), unit="ns"))
        return f"{self.step:g} (time units)"


@dataclass(frozen=True)
class RecordCheck:
    """The outcome of `check_record`: the axis, the stamps merged and filled, the first and last positions."""

    axis: TimeAxis
    duplicates_merged: int
    steps_filled: int
    first: float
    last: float

    def to_json(self) -> dict[str, object]:
        """metrics.json's data.integrity: {"frequency", "duplicates_merged", "steps_filled"}."""
        return {"frequency": self.axis.describe(), "duplicates_merged": self.duplicates_merged,
                "steps_filled": self.steps_filled}

    def notes(self, label: str) -> list[str]:
        """One line per change made to the record read (stamps averaged, steps filled); [] when none."""
        out = []
        if self.duplicates_merged:
            out.append(f"{label}: {self.duplicates_merged} row(s) of repeated time stamps averaged "
                       "(data.duplicates = 'mean').")
        if self.steps_filled:
            out.append(f"{label}: {self.steps_filled} missing step(s) of {self.axis.describe()} filled by linear "
                       "interpolation (data.missing = 'interpolate').")
        return out


def _stamp(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def parse_times(column: pd.Series, label: str) -> tuple[pd.Series, str | None]:
    """Time stamps as numbers (a numeric column) or datetimes parsed with one format inferred from the first.

    Raises DataError naming the first row (counted from 1, the header not counted) that is empty, has
    another format or another time zone than the first row.
    """
    empty = column.isna().to_numpy()
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise DataError(f"{label}: row {row + 1} has no time stamp; every row needs one.")
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(np.float64), None
    text = column.astype(str)
    fmt = guess_datetime_format(text.iloc[0])
    try:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce") if fmt else pd.to_datetime(text)
    except (ValueError, TypeError, OverflowError) as e:
        if "timezone" in str(e).lower():
            _refuse_mixed_zones(text, label)
        what = "time stamps in several formats" if fmt else "a time stamp that is neither a number nor a date"
        raise DataError(f"{label}: {what} (row 1: '{text.iloc[0]}'); write every stamp as a number or as a date "
                        "in one format, e.g. 2000-01-31.") from None
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"{label}: row {row + 1} time stamp '{text.iloc[row]}' does not match the format "
                        f"{fmt or '?'} of row 1 ('{text.iloc[0]}'); write every stamp in one format.")
    return parsed, fmt


def _refuse_mixed_zones(text: pd.Series, label: str) -> None:
    """Raise naming the first row whose time zone (UTC offset) differs from row 1's."""
    offsets = [pd.Timestamp(t).utcoffset() for t in text]
    row = next((i for i, o in enumerate(offsets) if o != offsets[0]), 0)
    raise DataError(f"{label}: row {row + 1} time stamp '{text.iloc[row]}' is in another time zone than row 1 "
                    f"('{text.iloc[0]}'); write every stamp in one time zone (e.g. UTC).")


def _ns(times: pd.Series) -> np.ndarray:
    """Datetimes as int64 nanoseconds since 1970 (UTC for zone-aware stamps)."""
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.to_numpy().astype("datetime64[ns]").astype(np.int64)


def _axis_kind(times: pd.Series) -> str:
    """"number", "year" (same month, day and time of day everywhere), "month" (same day and time) or "time"."""
    if pd.api.types.is_numeric_dtype(times):
        return "number"
    within_month = pd.DataFrame({a: getattr(times.dt, a) for a in ("day", "hour", "minute", "second", "microsecond")})
    if len(within_month.drop_duplicates()) > 1:
        return "time"
    return "year" if times.dt.month.nunique() == 1 and len(times) > 1 else "month"


def _held_kind(own: str, axis: TimeAxis, label: str) -> str:
    """The axis kind a record is read on when held to another record's axis (calendar stamps are compared in
    the other's calendar unit, or in time); stamps of another nature (numbers against dates, times of day
    against calendar months) are refused."""
    calendar = {"year", "month"}
    if own == axis.kind or {own, axis.kind} <= calendar or (axis.kind == "time" and own != "number"):
        return axis.kind
    raise DataError(f"{label}: its time stamps are {'numbers' if own == 'number' else 'dates'} at another step than "
                    f"the training record's ({axis.describe()}); give a record at the training step.")


def _positions(times: pd.Series, kind: str) -> np.ndarray:
    """Positions of the stamps in the axis' units (see `TimeAxis.kind`)."""
    if kind == "number":
        return times.to_numpy(np.float64)
    if kind == "year":
        return times.dt.year.to_numpy(np.float64)
    if kind == "month":
        return (times.dt.year * 12 + times.dt.month - 1).to_numpy(np.float64)
    return _ns(times).astype(np.float64)


def _stamps_at(positions: np.ndarray, like: pd.Series, times: pd.Series, axis: TimeAxis) -> list[object]:
    """Time-column values for filled positions, written like the column's (same format, same day of month)."""
    if axis.kind == "number":
        integral = pd.api.types.is_integer_dtype(like)
        return [int(p) if integral else float(p) for p in positions]
    t0, p0 = times.iloc[0], _positions(times.iloc[:1], axis.kind)[0]
    if axis.kind in ("year", "month"):
        unit = "years" if axis.kind == "year" else "months"
        new = [t0 + pd.DateOffset(**{unit: int(p - p0)}) for p in positions]
    else:
        new = [t0 + pd.Timedelta(int(p - p0), unit="ns") for p in positions]
    return [t.strftime(axis.fmt) if axis.fmt else t.isoformat() for t in new]


def check_record(frame: pd.DataFrame, time_column: str, label: str, *, duplicates: str = "error",
                 missing: str = "error", axis: TimeAxis | None = None) -> tuple[pd.DataFrame, RecordCheck]:
    """The record in time order, its stamps unique and regular; raises DataError naming the first offence.

    frame: the time column and numeric value columns. duplicates: "error" or "mean" (rows sharing a stamp
    are averaged). missing: "error" or "interpolate" (missing steps become rows of NaN values, for the
    caller to interpolate). axis: the step of another record to hold this one to (a test record is held
    to its training record's step); inferred when None. Returns the frame (index 0..T-1) and what was done.
    """
    times, fmt = parse_times(frame[time_column], label)
    kind = _axis_kind(times) if axis is None else _held_kind(_axis_kind(times), axis, label)
    order = np.argsort(_positions(times, kind), kind="stable")
    frame, times = frame.iloc[order].reset_index(drop=True), times.iloc[order].reset_index(drop=True)
    pos, rows = _positions(times, kind), order + 1  # rows: the file's row numbers, for messages
    frame, times, pos, rows, merged = _merge_duplicates(frame, times, pos, rows, label, duplicates, time_column)
    diffs = np.diff(pos)
    step = axis.step if axis is not None else (float(diffs.min()) if len(diffs) else 1.0)
    ax = TimeAxis(kind, step, fmt)
    frame, filled = _fill_gaps(frame, times, pos, rows, ax, label, missing, time_column)
    return frame, RecordCheck(ax, merged, filled, float(pos[0]), float(pos[-1]))


def _merge_duplicates(frame: pd.DataFrame, times: pd.Series, pos: np.ndarray, rows: np.ndarray, label: str,
                      duplicates: str, time_column: str) -> tuple[pd.DataFrame, pd.Series, np.ndarray, np.ndarray, int]:
    """Refuse repeated stamps, or average their rows (duplicates = "mean"); returns the count merged away."""
    repeated = np.flatnonzero(pos[1:] == pos[:-1])
    if not len(repeated):
        return frame, times, pos, rows, 0
    if duplicates != "mean":
        i = int(repeated[0])
        raise DataError(f"{label}: time stamp '{_stamp(frame[time_column].iloc[i])}' appears more than once (rows "
                        f"{min(rows[i], rows[i + 1])} and {max(rows[i], rows[i + 1])}; {len(repeated)} repeated "
                        "stamp(s) in all); stamps must be unique: remove the repeats, or set data.duplicates = "
                        "'mean' to average the rows of one stamp.")
    keep = np.concatenate([[True], pos[1:] != pos[:-1]])
    group = np.cumsum(keep) - 1
    values = frame.drop(columns=time_column).groupby(group).mean()
    out = pd.concat([frame[time_column][keep].reset_index(drop=True), values.reset_index(drop=True)], axis=1)
    return out[list(frame.columns)], times[keep].reset_index(drop=True), pos[keep], rows[keep], int(len(repeated))


def _fill_gaps(frame: pd.DataFrame, times: pd.Series, pos: np.ndarray, rows: np.ndarray, axis: TimeAxis, label: str,
               missing: str, time_column: str) -> tuple[pd.DataFrame, int]:
    """Refuse steps missing at the axis' step, or insert them as rows of NaN values (missing = "interpolate")."""
    ratio = np.diff(pos) / axis.step
    whole = np.round(ratio)
    odd = np.flatnonzero(np.abs(ratio - whole) > 1e-6 * np.maximum(1.0, whole))
    if len(odd):
        i = int(odd[0])
        a, b = _stamp(frame[time_column][i]), _stamp(frame[time_column][i + 1])
        raise DataError(f"{label}: the record is not regular: rows {rows[i]} and {rows[i + 1]} ('{a}', '{b}') are "
                        f"not a whole number of steps of {axis.describe()} apart; resample the record to one step.")
    gaps = np.flatnonzero(whole > 1)
    if not len(gaps):
        return frame, 0
    n_missing = int((whole[gaps] - 1).sum())
    if missing != "interpolate":
        i = int(gaps[0])
        a, b = _stamp(frame[time_column][i]), _stamp(frame[time_column][i + 1])
        raise DataError(f"{label}: {n_missing} step(s) missing at the inferred step of {axis.describe()}; the first "
                        f"gap is between '{a}' (row {rows[i]}) and '{b}' (row {rows[i + 1]}). Fix the file, or set "
                        "data.missing = 'interpolate' to fill the missing steps linearly.")
    k = np.round((pos - pos[0]) / axis.step).astype(np.int64)  # step numbers of the rows present
    new = pos[0] + axis.step * np.setdiff1d(np.arange(int(k[-1]) + 1), k)
    extra = pd.DataFrame({time_column: _stamps_at(new, frame[time_column], times, axis)})
    out = pd.concat([frame.assign(_pos=pos), extra.assign(_pos=new)], ignore_index=True)
    out = out.sort_values("_pos", kind="stable").drop(columns="_pos").reset_index(drop=True)
    return out[list(frame.columns)], n_missing


def check_continuation(train: RecordCheck, test: RecordCheck, train_label: str, test_label: str,
                       stamps: tuple[str, str] = ("", "")) -> int:
    """Steps missing between a training record and the test record that continues it (0: it starts one step
    after the training record's last). Raises DataError when the test record starts at or before that last
    step (its windows would overlap the training data). stamps: (the training record's last, the test
    record's first) time stamp, for the message."""
    if test.first <= train.last:
        raise DataError(f"the test record {test_label} starts ('{stamps[1]}') at or before the end of the training "
                        f"record {train_label} ('{stamps[0]}'): its windows would overlap the training data or run "
                        "backwards in time. A test record must continue the training one (its first stamp one step, "
                        f"{train.axis.describe()}, after the training record's last).")
    return int(round((test.first - train.last) / train.axis.step)) - 1


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
