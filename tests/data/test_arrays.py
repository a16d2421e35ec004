"""deepsci.data.arrays: in-memory arrays read, split and transformed as the same table in a file."""

import numpy as np
import pytest
import torch

from deepsci.config import config_from_dict
from deepsci.data.arrays import arrays_frame, arrays_inputs, build_from_arrays, feature_columns
from deepsci.data.splits import TEST, TRAIN, VALID, split_codes
from deepsci.errors import DataError


def _section(**data):
    return config_from_dict({"name": "a", "data": {"source": "arrays", "features": feature_columns(3),
                                                   "target": "y", **data}}).data


def test_the_frame_is_the_table_a_csv_of_the_arrays_holds(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
    frame = arrays_frame(X, np.stack([np.arange(4.0), -np.arange(4.0)], 1))
    assert list(frame.columns) == ["x[0]", "x[1]", "x[2]", "y[0]", "y[1]"]
    frame.to_csv(tmp_path / "t.csv", index=False)
    import pandas as pd

    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv"), frame)  # float32 values survive exactly
    with pytest.raises(DataError, match="y has 3 rows but X has 4"):
        arrays_frame(X, np.zeros(3))


def test_every_row_trains_but_the_carved_valid_and_calib_rows():
    X = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    dataset = build_from_arrays(_section(valid_fraction=0.2, calib_fraction=0.1), X, X.sum(1), seed=0)
    parts = [dataset.train.ids, dataset.valid.ids, dataset.calib.ids]
    assert len(dataset.test) == 0 and [len(p) for p in parts] == [36, 10, 4]
    assert sorted(int(i) for p in parts for i in p) == list(range(50))  # ids are the row positions
    rows = torch.as_tensor([int(i) for i in dataset.valid.ids])
    assert torch.equal(arrays_inputs(dataset.preprocessor, X[rows.numpy()]), dataset.valid.X)


def test_marks_without_test_rows_are_refused_unless_no_test_part_is_asked_for():
    marks = np.full(10, TRAIN, dtype=np.uint8)
    codes, _ = split_codes(10, marks=marks, test_fraction=0.0, valid_fraction=0.2, given="the arrays")
    assert (codes == TEST).sum() == 0 and (codes == VALID).sum() == 2
    with pytest.raises(DataError, match="no 'test' rows"):
        split_codes(10, marks=marks, test_fraction=0.2, valid_fraction=0.2, given="the arrays")
