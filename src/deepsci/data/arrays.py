"""In-memory arrays as a table source: how the scikit-learn estimators hand their X and y to the data layer.

`arrays_frame` lays them out as the table a CSV file of them holds; `build_from_arrays` builds a Dataset of
training rows from them through the same reader, split, featurisers and scalers as `deepsci fit` on that file;
`arrays_inputs` transforms new rows with the fitted preprocessor, as `Run.predict` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from deepsci.data.batch import Inputs
from deepsci.data.build import build_dataset
from deepsci.data.dataset import Dataset
from deepsci.data.preprocess import Preprocessor
from deepsci.errors import DataError

#: the target column of `arrays_frame` (several targets: y[0], y[1], ...)
TARGET = "y"
#: the column of split marks that makes every fitted row a training row (not a feature, not kept)
MARKS = "split"


def feature_columns(width: int) -> list[str]:
    """The feature columns of `arrays_frame` for inputs of `width` features: x[0] ... x[width-1]."""
    return [f"x[{j}]" for j in range(width)]


def arrays_frame(X: np.ndarray, y: np.ndarray | None = None) -> pd.DataFrame:
    """The table of inputs X (n, d) and targets y ((n,) or (n, t)), as a CSV file of them reads back.

    Inputs are held as float64 (exact for float32 values), as pandas reads a CSV of numbers; the targets keep
    their dtype (float values, or integer class codes).
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise DataError(f"arrays_frame takes a table X of shape (n, d); received shape {X.shape}.")
    columns: dict[str, Any] = dict(zip(feature_columns(X.shape[1]), X.astype(np.float64).T))
    if y is not None:
        y = np.asarray(y)
        if len(y) != len(X):
            raise DataError(f"y has {len(y)} rows but X has {len(X)}; they must match one to one.")
        columns.update({TARGET: y} if y.ndim == 1 else {f"{TARGET}[{j}]": y[:, j] for j in range(y.shape[1])})
    return pd.DataFrame(columns, index=range(len(X)))


def build_from_arrays(data_config: Any, X: np.ndarray, y: np.ndarray, *, seed: int) -> Dataset:
    """The Dataset of a table `[data]` section whose source is the arrays X (n, d), y (n,) or (n, t).

    Every row is a training row: the valid and calib parts are carved from them with the section's
    fractions and `seed`, exactly as from the training rows of a file whose test rows are given apart
    (`data.test_source`); the test part is empty. Row ids are the row positions "0" ... "n-1".
    """
    frame = arrays_frame(X, y)
    frame[MARKS] = "train"
    # test_fraction = 0 with marks: no test rows wanted (deepsci.data.splits.split_codes); set past validation,
    # which asks a config for a test part.
    spec = data_config.model_copy(update={"source": frame, "split_column": MARKS, "test_fraction": 0.0})
    return build_dataset(spec, seed=seed)


def arrays_inputs(preprocessor: Preprocessor, X: np.ndarray) -> Inputs:
    """Model inputs of new rows X (n, d), transformed by the fitted preprocessor as in training."""
    inputs, _, skipped = preprocessor.transform(preprocessor.read(arrays_frame(X)))
    if skipped:
        raise DataError(f"{len(skipped)} row(s) of X cannot be used: {skipped[0]['reason']} (row {skipped[0]['row']}).")
    return inputs
