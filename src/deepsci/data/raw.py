"""Raw data as a reader leaves it: one row per sample, before any featurisation.

Readers only read: they fill a `Raw` and decide nothing about features, tasks or splits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from deepsci.errors import DataError


@dataclass
class Raw:
    """Rows as read.

    Attributes:
        frame: one row per sample: table columns, target columns, the split column (if any).
        arrays: per-sample values of non-table inputs, keyed by input name: an ndarray (n, ...)
            (signals, images, padded vectors), a list of n strings (symbol sequences) or a list of
            n arrays (s_i, d) (sets, vector sequences).
        ids: one name per row.
        source: where the rows came from, for messages.
        marks: given split marks per row ("train", "valid", "test", "calib"), or None.
        given: where the marks came from (e.g. "test arrays X_test/y_test"), "" if none.
    """

    frame: pd.DataFrame
    arrays: dict[str, Any]
    ids: list[str]
    source: str
    marks: np.ndarray | None = None
    given: str = ""

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, rows: np.ndarray | list[int]) -> "Raw":
        """The rows `rows` (positions) of every part."""
        idx = np.asarray(rows, dtype=np.int64)
        arrays = {k: (v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx]) for k, v in self.arrays.items()}
        return Raw(self.frame.iloc[idx].reset_index(drop=True), arrays, [self.ids[i] for i in idx], self.source,
                   None if self.marks is None else self.marks[idx], self.given)


def concat_raw(train: Raw, test: Raw) -> Raw:
    """A training source and its given test source as one Raw, test rows marked "test".

    Raises DataError when the test rows do not have the training rows' shape (arrays of another
    width/length, missing columns).
    """
    missing = [c for c in train.frame.columns if c not in test.frame.columns]
    if missing:
        raise DataError(f"the test source {test.source} lacks column(s) {', '.join(missing)} that "
                        f"{train.source} has; give both the same columns.")
    arrays: dict[str, Any] = {}
    for k, v in train.arrays.items():
        w = test.arrays.get(k)
        if w is None:
            raise DataError(f"the test source {test.source} has no input '{k}'.")
        if isinstance(v, np.ndarray) and isinstance(w, np.ndarray):
            v, w = _common_padding(v, w)
            if v.shape[1:] != w.shape[1:]:
                raise DataError(f"the given test inputs have shape {tuple(w.shape)} but the training inputs "
                                f"{tuple(v.shape)}: one sample must have the same shape {tuple(v.shape[1:])} in "
                                "both. Pad/crop the test arrays, or fix the array names.")
            arrays[k] = np.concatenate([v, w])
        else:
            arrays[k] = list(v) + list(w)
    marks = np.array(["train"] * len(train) + ["test"] * len(test), dtype=object)
    frame = pd.concat([train.frame, test.frame[list(train.frame.columns)]], ignore_index=True)
    return Raw(frame, arrays, train.ids + test.ids, train.source, marks, f"test source {test.source}")


def _common_padding(v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Variable-length signals (float, NaN after each series' end, in either array) padded with NaN to the wider
    array's steps, so a test file may be padded to another width; any other pair as it is."""
    nan_padded = (np.issubdtype(v.dtype, np.floating) and np.issubdtype(w.dtype, np.floating)
                  and v.shape[1:-1] == w.shape[1:-1] and v.ndim >= 2 and (np.isnan(v).any() or np.isnan(w).any()))
    if not nan_padded or v.shape[-1] == w.shape[-1]:
        return v, w
    width = max(v.shape[-1], w.shape[-1])

    def pad(a: np.ndarray) -> np.ndarray:
        return np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, width - a.shape[-1])], constant_values=np.nan)
    return pad(v), pad(w)
