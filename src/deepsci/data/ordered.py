"""Data whose rows are windows of one ordered record: forecasting series and next-symbol text.

Series: a record (T, C) is cut into windows of `input_length` steps; the targets are the next
`horizon` steps of the target channels, step-major (n, H*k). The split is in time order: a window
belongs to the part its targets lie in (test = the last `test_size` steps, or a separate
`test_source` record that continues the training one); windows straddling a boundary are dropped
and counted. The channel scaler is fitted on the training part of the record only. A window's id is
the time stamp of its last input step, so predicting on a record file gives one forecast per window
and reproduces the run's test windows.

Text: non-overlapping windows of `seq_length` symbols with their next-symbol targets (n, L); the
text is cut in order (train, valid, test).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from deepsci.data.batch import Inputs
from deepsci.data.dataset import Dataset, Split
from deepsci.data.featurisers import Bad, Featuriser, register_input
from deepsci.data.formats import container_format
from deepsci.data.preprocess import PREPROCESSORS, Preprocessor
from deepsci.data.raw import Raw
from deepsci.data.readers import read_table
from deepsci.data.scalers import Scaler
from deepsci.data.schema import InputSchema
from deepsci.data.sequences import Vocabulary, unigram_entropy
from deepsci.data.spec import SeriesData, TextData
from deepsci.data.summary import DataSummary
from deepsci.data.timeseries import (RecordCheck, TimeAxis, check_continuation, check_record, co2_frame,
                                     sunspots_frame, time_boundaries)
from deepsci.errors import DataError
from deepsci.tasks import MULTICLASS, REGRESSION

RECORDS = {"co2": (co2_frame, "month", ["co2"]), "sunspots": (sunspots_frame, "year", ["sunspots"])}


# -- readers ---------------------------------------------------------------------------------------
def read_checked_record(reader: dict[str, Any], source: Any, axis: TimeAxis | None = None) -> tuple[Raw, RecordCheck]:
    """A (T, C) record in time order ('co2', 'sunspots', a CSV with a time column, or a DataFrame) and what its
    integrity check did (deepsci.data.timeseries.check_record: stamps merged, steps filled, the time axis).
    `axis`: the step to hold the record to (a test record's or a predicted record's: the training step)."""
    if isinstance(source, (str, Path)) and str(source) in RECORDS and not Path(source).exists():
        make, time_col, values = RECORDS[str(source)]
        frame, label = make(), f"record '{source}'"
        reader["time_column"] = reader.get("time_column") or time_col
        reader["value_columns"] = reader.get("value_columns") or values
    else:
        frame = source.copy() if isinstance(source, pd.DataFrame) else _read_csv(source)
        label = "the DataFrame" if isinstance(source, pd.DataFrame) else f"'{source}'"
    time_col = str(reader.get("time_column"))
    if reader.get("time_column") is None or time_col not in frame.columns:
        raise DataError(f"time column '{time_col}' not in {label}; its columns are: {', '.join(map(str, frame.columns))}. "
                        "Set data.time_column.")
    cols = reader.get("value_columns") or [c for c in frame.columns if c != time_col]
    reader["value_columns"] = list(cols)
    if time_col in cols:
        raise DataError(f"the time column '{time_col}' is also listed in data.value_columns; remove it from "
                        "value_columns (the time column orders the record, it is not a value).")
    absent = [c for c in cols if c not in frame.columns]
    if absent:
        raise DataError(f"value column(s) {absent} not in {label}; columns are: {', '.join(map(str, frame.columns))}.")
    values = frame[cols].apply(pd.to_numeric, errors="coerce")
    n_missing = int(values.isna().sum().sum())
    interpolate = reader.get("missing") == "interpolate"
    if n_missing and not interpolate:
        raise DataError(f"{label} has {n_missing} missing or non-numeric value(s) in {list(cols)} "
                        f"({_first_bad(frame, values)}); fix the file or set data.missing = 'interpolate'.")
    out, check = check_record(pd.concat([frame[[time_col]], values], axis=1), time_col, label,
                              duplicates=str(reader.get("duplicates") or "error"),
                              missing="interpolate" if interpolate else "error", axis=axis)
    if interpolate:
        out[list(cols)] = out[list(cols)].interpolate(limit_direction="both")
    return Raw(out, {}, out[time_col].astype(str).tolist(), label), check


def _first_bad(frame: pd.DataFrame, values: pd.DataFrame) -> str:
    """'first: column c, row r (value)' of the first missing or non-numeric value (rows counted from 1)."""
    col = next(c for c in values.columns if values[c].isna().any())
    row = int(np.flatnonzero(values[col].isna().to_numpy())[0])
    return f"first: column '{col}', row {row + 1}, {frame[col].iloc[row]!r}"


def _read_csv(path: Any) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file() and not (p.is_dir() and container_format(p) is not None):  # a Zarr store is a folder
        raise DataError(f"record file '{p}' not found; check the path.")
    if container_format(p) is not None:  # a point's time series in NetCDF/Zarr, HDF5, FITS or Excel
        return read_table(p)
    return pd.read_csv(p)


def read_text(source: Any) -> Raw:
    p = Path(source)
    if not p.is_file():
        raise DataError(f"text file '{p}' not found. Set data.source to the path of a UTF-8 text file.")
    text = p.read_text(encoding="utf-8")
    return Raw(pd.DataFrame(index=range(1)), {"text": text}, ["0"], f"'{p}'")


# -- featurisers -----------------------------------------------------------------------------------
@register_input("window")
class WindowFeaturiser(Featuriser):
    """Input windows (n, L, C) of a record, channels standardised with training-part statistics."""

    def fit(self, raw: Raw, rows: np.ndarray) -> None:
        values = raw.frame[self.settings["channels"]].to_numpy(np.float64)[rows]
        self.state = {"feature_names": list(self.settings["channels"])}
        if self.settings.get("scale", True):
            self.state["scaler"] = Scaler().fit(values).to_dict()

    def scaled(self, raw: Raw) -> torch.Tensor:
        t = torch.as_tensor(np.array(raw.frame[self.settings["channels"]], dtype=np.float64))
        return Scaler.from_dict(self.state["scaler"]).transform(t) if "scaler" in self.state else t

    def transform(self, raw: Raw) -> tuple[Inputs, Bad]:
        L = int(self.settings["input_length"])
        series = self.scaled(raw)
        if len(series) < L:
            raise DataError(f"{raw.source} has {len(series)} steps; a window needs {L}.")
        starts = torch.arange(0, len(series) - L + 1)
        X = series[starts[:, None] + torch.arange(L)[None]]
        return X.float().contiguous(), {}

    def schema(self) -> InputSchema:
        return InputSchema(self.name, "window", (int(self.settings["input_length"]), len(self.settings["channels"])),
                           feature_names=list(self.settings["channels"]))


@register_input("text")
class TextFeaturiser(Featuriser):
    """Windows (n, L) of symbol indices of a text (vocabulary from the training text)."""

    def fit(self, raw: Raw, rows: np.ndarray) -> None:
        self.state = {"vocabulary": Vocabulary.from_text(raw.arrays["text"]).to_dict()}

    def encode(self, raw: Raw) -> torch.Tensor:
        return Vocabulary.from_dict(self.state["vocabulary"]).encode(raw.arrays["text"])

    def transform(self, raw: Raw) -> tuple[Inputs, Bad]:
        L = int(self.settings["seq_length"])
        idx = self.encode(raw)
        starts = torch.arange(0, len(idx) - L, L)
        return idx[starts[:, None] + torch.arange(L)[None]], {}

    def schema(self) -> InputSchema:
        return InputSchema(self.name, "sequence", (int(self.settings["seq_length"]),),
                           n_symbols=len(self.state["vocabulary"]["symbols"]))


class SeriesPreprocessor(Preprocessor):
    """The preprocessor of a forecasting run: rows are the windows of the record read, named by their last
    input step's time."""

    #: what the last `read` changed in its record (stamps averaged, steps filled), one line each
    read_notes: list[str] = []

    def read(self, source: Any) -> Raw:
        step = self.reader.get("time_step")
        raw, check = read_checked_record(dict(self.reader), source, TimeAxis(**step) if step else None)
        self.read_notes = check.notes(raw.source)
        return raw

    def transform(self, raw: Raw) -> tuple[Inputs, list[str], list[dict[str, Any]]]:
        f = self.featurisers["x"]
        X, _ = f.transform(raw)
        L = int(f.settings["input_length"])
        return X, [raw.ids[s + L - 1] for s in range(int(X.shape[0]))], []  # type: ignore[union-attr]

    def labelled_rows(self, raw: Raw) -> np.ndarray:
        """Rows of `transform(raw)` whose targets lie inside the record."""
        L, H = int(self.featurisers["x"].settings["input_length"]), int(self.reader["horizon"])
        return np.arange(max(0, len(raw) - L - H + 1))

    def targets(self, raw: Raw, rows: np.ndarray | list[int] | None = None) -> torch.Tensor:
        """(n, H*k) the next H values of the k target channels after each window, step-major."""
        L, H = int(self.featurisers["x"].settings["input_length"]), int(self.reader["horizon"])
        tc = [raw.frame.columns.get_loc(c) for c in self.reader["targets"]]
        values = raw.frame.to_numpy()[:, tc].astype(np.float64)
        starts: np.ndarray = np.arange(len(raw) - L + 1) if rows is None else np.asarray(rows, dtype=np.int64)
        late = starts[starts + L + H > len(raw)]
        if len(late):
            raise DataError(f"window(s) ending at {raw.ids[int(late[0]) + L - 1]} have no observed targets: the "
                            f"record ends before their {H}-step horizon. Evaluate on labelled_rows(raw).")
        y = np.stack([values[s + L:s + L + H].reshape(-1) for s in starts]) if len(starts) else np.zeros((0, H * len(tc)))
        return torch.as_tensor(y, dtype=torch.float32)


class TextPreprocessor(Preprocessor):
    """The preprocessor of a character language model: rows are windows of the text read, named by their
    first character's offset."""

    def read(self, source: Any) -> Raw:
        return read_text(source)

    def transform(self, raw: Raw) -> tuple[Inputs, list[str], list[dict[str, Any]]]:
        f = self.featurisers["x"]
        X, _ = f.transform(raw)
        step = int(f.settings["seq_length"])  # type: ignore[union-attr]
        return X, [str(i * step) for i in range(int(X.shape[0]))], []  # type: ignore[union-attr]

    def labelled_rows(self, raw: Raw) -> np.ndarray:
        """Rows of `transform(raw)` with targets: all of them."""
        return np.arange(int(self.featurisers["x"].transform(raw)[0].shape[0]))  # type: ignore[union-attr]

    def targets(self, raw: Raw, rows: np.ndarray | list[int] | None = None) -> torch.Tensor:
        """(n, L) the next symbol after each symbol of each window."""
        f = self.featurisers["x"]
        L = int(f.settings["seq_length"])
        idx = f.encode(raw)  # type: ignore[attr-defined]
        first = torch.arange(0, len(idx) - L, L)
        y = idx[first[:, None] + torch.arange(L)[None] + 1]
        return y if rows is None else y[torch.as_tensor(np.asarray(rows), dtype=torch.int64)]


# -- builders --------------------------------------------------------------------------------------
PREPROCESSORS.update(series=SeriesPreprocessor, text=TextPreprocessor)


def build_series(spec: SeriesData) -> Dataset:
    """Forecasting windows with a time-ordered split (see the module docstring)."""
    reader: dict[str, Any] = {"kind": "series", "time_column": spec.time_column, "value_columns": spec.value_columns,
              "missing": spec.missing, "duplicates": spec.duplicates, "horizon": spec.horizon}
    raw, check = read_checked_record(reader, spec.source)
    reader["time_step"] = {"kind": check.axis.kind, "step": check.axis.step, "fmt": check.axis.fmt}
    n_train_record = None
    if spec.test_source:
        n_train_record = len(raw)
        raw, check = _join_test_record(reader, raw, check, spec.test_source)
    channels = list(reader["value_columns"])
    t = spec.target
    targets = [t] if isinstance(t, str) else list(t or channels[:1])
    if any(c not in channels for c in targets):
        raise DataError(f"target(s) {[c for c in targets if c not in channels]} are not among the value columns "
                        f"{channels}; set data.target / data.value_columns.")
    reader["targets"] = targets
    L, H, stride = spec.input_length, spec.horizon, spec.stride
    T = len(raw)
    if n_train_record is not None:
        n_valid = spec.valid_size or int(round(n_train_record * spec.valid_fraction))
        b_test, b_valid = n_train_record, n_train_record - n_valid
    else:
        _check_record_length(T, spec)
        b_valid, b_test = time_boundaries(T, test_fraction=spec.test_fraction, valid_fraction=spec.valid_fraction,
                                          test_size=spec.test_size, valid_size=spec.valid_size)
    _check_season(spec, T, raw.source)
    f = WindowFeaturiser("x", input_length=L, channels=channels, scale=spec.scale)
    f.fit(raw, np.arange(b_valid))  # the training part of the record only: no future statistics
    tc = [channels.index(c) for c in targets]
    y_scaler = None
    if "scaler" in f.state:
        mean, std = f.state["scaler"]["mean"], f.state["scaler"]["scale"]
        y_scaler = Scaler.from_dict({"mean": [mean[j] for _ in range(H) for j in tc],
                                     "scale": [std[j] for _ in range(H) for j in tc]})
    target_names = [f"{c}[t+{h + 1}]" for h in range(H) for c in targets]
    task = REGRESSION.name  # the next H values of the target channels
    pre = SeriesPreprocessor(reader, {"x": f}, task, target_names, [], y_scaler)
    X, ids, _ = pre.transform(raw)
    rows = pre.labelled_rows(raw)
    y = pre.scale_targets(pre.targets(raw, rows))
    first, last = rows + L, rows + L + H - 1
    masks = {"train": (last < b_valid) & (rows % stride == 0), "valid": (first >= b_valid) & (last < b_test),
             "test": first >= b_test}
    if not masks["train"].any() or not masks["test"].any():
        raise DataError(f"no {'training' if not masks['train'].any() else 'test'} windows: {T} steps, boundaries "
                        f"{b_valid}/{b_test}, window {L}+{H}. Shorten the window or change the part sizes.")

    def part(m: np.ndarray) -> Split:
        i = torch.as_tensor(rows[m], dtype=torch.int64)
        return Split(X[i].contiguous(), y[torch.as_tensor(np.flatnonzero(m))].contiguous(),  # type: ignore[index]
                     [ids[j] for j in i.tolist()])

    parts = {k: part(m) for k, m in masks.items()}
    n_dropped = int(len(rows) - sum(int(m.sum()) for m in masks.values()) -
                    int(((last < b_valid) & (rows % stride != 0)).sum()))
    summary = DataSummary(
        source=raw.source, kind="series", task=task, steps=T, channels=channels, targets=targets, input_length=L,
        horizon=H, stride=stride, split={"method": "time-ordered", "test_from": raw.given or "last steps",
                                         **{k: len(v) for k, v in parts.items()}, "calib": 0},
        boundaries={"valid_start": raw.ids[b_valid] if b_valid < T else None,
                    "test_start": raw.ids[b_test] if b_test < T else None},
        boundary_steps=[b_valid, b_test], n_train=len(parts["train"]), n_valid=len(parts["valid"]),
        n_test=len(parts["test"]), windows_dropped=n_dropped, times=raw.ids, season=spec.season,
        integrity=check.to_json())
    return Dataset(parts["train"], parts["valid"], parts["test"], task, pre.inputs, pre, summary)


def _join_test_record(reader: dict[str, Any], raw: Raw, check: RecordCheck, source: Any) -> tuple[Raw, RecordCheck]:
    """The training record followed by the test record that continues it, held to the training step.

    The test record must start after the training record ends (never an overlap); the steps between them
    count as missing steps: refused, or filled with missing = "interpolate" like any other gap."""
    test, test_check = read_checked_record(dict(reader), source, check.axis)
    gap = check_continuation(check, test_check, raw.source, test.source, (raw.ids[-1], test.ids[0]))
    frame = pd.concat([raw.frame, test.frame[list(raw.frame.columns)]], ignore_index=True)
    if gap:
        if reader.get("missing") != "interpolate":
            raise DataError(f"the test record {test.source} starts {gap} step(s) of {check.axis.describe()} after the "
                            f"training record {raw.source} ends ('{raw.ids[-1]}' .. '{test.ids[0]}'); a test record "
                            "must continue the training one (at most 0 steps between them), or set data.missing = "
                            "'interpolate' to fill the gap.")
        cols = list(reader["value_columns"])
        frame, joined = check_record(frame, str(reader["time_column"]), f"{raw.source} + {test.source}",
                                     missing="interpolate", axis=check.axis)
        frame[cols] = frame[cols].interpolate(limit_direction="both")
        check = RecordCheck(check.axis, check.duplicates_merged + test_check.duplicates_merged,
                            check.steps_filled + test_check.steps_filled + gap, check.first, test_check.last)
    ids = frame[str(reader["time_column"])].astype(str).tolist()
    return Raw(frame, {}, ids, raw.source, None, f"test source {test.source}"), check


def _check_record_length(T: int, spec: SeriesData) -> None:
    """Refuse a record too short for one training and one test window with the parts asked for."""
    L, H = spec.input_length, spec.horizon
    n_test = spec.test_size if spec.test_size is not None else int(round(T * spec.test_fraction))
    n_valid = spec.valid_size if spec.valid_size is not None else int(round((T - n_test) * spec.valid_fraction))
    need = L + H + n_valid + max(n_test, H)
    if T < need:
        raise DataError(f"the record has {T} steps, too short for one training window ({L} inputs + {H} targets), "
                        f"a valid part of {n_valid} and a test part of {n_test} steps (data.test_size / test_fraction):"
                        f" it needs at least {need}. Use a longer record or a smaller input_length, horizon, test_size "
                        "or valid_size.")


def _check_season(spec: SeriesData, T: int, source: str) -> None:
    """Refuse a `season` the seasonal-naive baseline cannot use: longer than the record or the input window."""
    if spec.season is None:
        return
    if spec.season > T:
        raise DataError(f"data.season = {spec.season} steps is longer than the record {source} ({T} steps); set the "
                        "season length in steps of the record (e.g. 12 for a yearly cycle in monthly data).")
    if not spec.horizon <= spec.season <= spec.input_length:
        raise DataError(f"data.season = {spec.season} must lie between the horizon ({spec.horizon}) and the input "
                        f"length ({spec.input_length}) for the seasonal-naive baseline to see one season back; "
                        "change data.season or data.input_length.")


def build_text(spec: TextData) -> Dataset:
    """Next-symbol windows; text cut in order: train, valid, test (or a separate test text)."""
    raw = read_text(spec.source)
    L = spec.seq_length
    text = raw.arrays["text"]
    if spec.test_source:
        test_text = read_text(spec.test_source).arrays["text"]
        b_test = len(text)
        text = text + test_text
    else:
        b_test = int(len(text) * (1 - spec.test_fraction))
    if len(text) < 10 * L:
        raise DataError(f"{raw.source} has {len(text)} characters, too few for windows of {L}; use a longer text "
                        "or a smaller data.seq_length.")
    b_valid = int(b_test * (1 - spec.valid_fraction))
    whole = Raw(raw.frame, {"text": text}, ["0"], raw.source)
    f = TextFeaturiser("x", seq_length=L)
    f.fit(whole, np.arange(1))
    vocab = Vocabulary.from_dict(f.state["vocabulary"])
    task = MULTICLASS.name  # the next symbol at every step
    pre = TextPreprocessor({"kind": "text", "seq_length": L}, {"x": f}, task, ["next symbol"],
                              list(vocab.symbols), None)

    def part(lo: int, hi: int) -> Split:
        sub = Raw(raw.frame, {"text": text[lo:hi]}, ["0"], raw.source)
        X, _, _ = pre.transform(sub)
        return Split(X, pre.targets(sub), [str(lo + i * L) for i in range(int(X.shape[0]))])  # type: ignore[union-attr]

    parts = {"train": part(0, b_valid), "valid": part(b_valid, b_test), "test": part(b_test, len(text))}
    indices = vocab.encode(text[:b_valid])
    summary = DataSummary(
        source=raw.source, kind="text", task=task, characters=len(text), vocabulary=len(vocab), seq_length=L,
        split={"method": "in order", "test_from": "test source" if spec.test_source else "last part",
               **{k: len(v) for k, v in parts.items()}, "calib": 0},
        n_train=len(parts["train"]), n_valid=len(parts["valid"]), n_test=len(parts["test"]),
        unigram_entropy_nats=unigram_entropy(indices, len(vocab)))
    return Dataset(parts["train"], parts["valid"], parts["test"], task, pre.inputs, pre, summary)


def co2_dataset(*, input_length: int = 36, horizon: int = 12, test_size: int = 96, valid_size: int = 48,
                stride: int = 1) -> Dataset:
    """CO2 forecasting: 36 months in, the next 12 months out; test = the last 96 months (1994-2001)."""
    return build_series(SeriesData(source="co2", input_length=input_length, horizon=horizon, stride=stride,
                                   test_size=test_size, valid_size=valid_size))


def sunspots_dataset(*, input_length: int = 24, horizon: int = 1, test_size: int = 60, valid_size: int = 30,
                     stride: int = 1) -> Dataset:
    """Sunspots forecasting: 24 years in, the next year out; test = the last 60 years (1949-2008)."""
    return build_series(SeriesData(source="sunspots", input_length=input_length, horizon=horizon, stride=stride,
                                   test_size=test_size, valid_size=valid_size))
