"""Time-series windows: hand-worked windows, no future in training, train-only scaler, bundled sets."""

import numpy as np
import pandas as pd
import pytest
import torch

from deepsci.data import build_dataset
from deepsci.data.ordered import co2_dataset, sunspots_dataset
from deepsci.data.timeseries import make_windows, persistence_forecast, seasonal_naive_forecast
from deepsci.errors import DataError


def series(source, **kw):  # type: ignore[no-untyped-def]
    """A series Dataset; a 1-D array becomes a record with a step column."""
    if isinstance(source, np.ndarray):
        source = pd.DataFrame({"step": np.arange(len(source)), "v": source})
        kw.setdefault("time_column", "step")
    spec = {"kind": "series", "source": source, "stride": 1, "test_fraction": 0.2, "valid_fraction": 0.1}
    return build_dataset({**spec, **kw})


def x_scaler(d):  # type: ignore[no-untyped-def]
    return d.preprocessor.featurisers["x"].state["scaler"]


def test_make_windows_hand_worked():
    s = torch.arange(10.0)[:, None]
    X, y, starts = make_windows(s, 3, 2, stride=2)
    assert starts.tolist() == [0, 2, 4]
    assert X[1, :, 0].tolist() == [2, 3, 4] and y[1].tolist() == [5, 6]


def test_time_ordered_split_no_future_and_train_only_scaler():
    T = 100
    values = np.arange(T, dtype=float) * 2.0 + 1.0  # trending: any leak would change the scaler
    d = series(values, input_length=5, horizon=3, test_size=20, valid_size=10, scale=True)
    b_valid, b_test = d.summary.boundary_steps
    assert (b_valid, b_test) == (70, 80)
    train_part = values[:b_valid]
    assert x_scaler(d)["mean"][0] == pytest.approx(train_part.mean())
    assert x_scaler(d)["scale"][0] == pytest.approx(train_part.std())
    y_train = d.y_scaler.inverse_transform(d.train.y)
    y_test = d.y_scaler.inverse_transform(d.test.y)
    assert float(y_train.max()) < values[b_valid]  # no training target from the valid/test future
    assert float(y_test.min()) >= values[b_test] - 1e-6  # every test target is in the last 20 steps
    assert len(d.test) == 20 - 3 + 1
    # the windows are the raw record, scaled
    from deepsci.data import Scaler

    x0 = Scaler.from_dict(x_scaler(d)).inverse_transform(d.train.X[0]).flatten()
    assert torch.allclose(x0, torch.tensor(values[:5], dtype=torch.float32), atol=1e-4)


def test_baselines_hand_worked():
    X = torch.arange(24.0).view(1, 24, 1)
    assert persistence_forecast(X, 3).tolist() == [[23.0, 23.0, 23.0]]
    assert seasonal_naive_forecast(X, 3, 12).tolist() == [[12.0, 13.0, 14.0]]  # value one period earlier
    with pytest.raises(DataError):
        seasonal_naive_forecast(X, 13, 12)


def test_csv_reader_sorts_interpolates_and_errors(tmp_path):
    f = pd.DataFrame({"t": [3, 1, 2, 4, 5, 6, 7, 8, 9, 10], "a": [3.0, 1, np.nan, 4, 5, 6, 7, 8, 9, 10],
                      "b": np.arange(10.0)})
    f.to_csv(tmp_path / "s.csv", index=False)
    kw = dict(time_column="t", input_length=2, horizon=1, test_size=3, valid_fraction=0.0)
    with pytest.raises(DataError, match="missing"):
        series(str(tmp_path / "s.csv"), **kw)
    d = series(str(tmp_path / "s.csv"), missing="interpolate", scale=False, **kw)
    assert d.train.X.shape[1:] == (2, 2)
    assert d.train.X[0, :, 0].tolist() == [1.0, 2.0]  # sorted by time, gap filled linearly
    with pytest.raises(DataError, match="time column"):
        series(str(tmp_path / "s.csv"), time_column="time", input_length=2, horizon=1)
    with pytest.raises(DataError, match="too short for one training window .* needs at least 9"):
        series(np.arange(5.0), input_length=5, horizon=2, test_size=1)


def test_bundled_co2_and_sunspots():
    c = co2_dataset()
    assert c.summary.steps == 526 and c.summary.boundaries["test_start"] == "1994-01"
    assert c.test.ids[0] == "1993-12"  # a window's id: its last input step and c.test.y.shape[1] == 12 and c.train.X.shape[1:] == (36, 1)
    assert all(np.isfinite(c.train.X.numpy()).flat)
    s = sunspots_dataset()
    assert s.summary.steps == 309 and s.test.ids[0] == "1948" and len(s.test) == 60
