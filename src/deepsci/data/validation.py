"""How many rows to hold out for validation when `data.valid_fraction = "auto"` (signals): chosen from the data size.

A validation split earns its rows when it is large enough to rank epochs: with 10% of 36 series, 4 rows per
class decide early stopping, and one unlucky epoch that predicts a single class wins (issue 28: accuracy 0.30 at
one seed, 0.79 at another). On small sets every training row is worth more as a training row, and a fixed
budget of `train.epochs` on all of them is steadier (Ismail Fawaz et al. 2019 train the UCR networks that way,
keeping the epoch of least *training* loss). So "auto" keeps no validation rows below SMALL_SET_ROWS rows
available for training and validation, and DEFAULT_VALID_FRACTION of them above it. The choice and its reason
are written in metrics.json (`data.split.validation`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deepsci.data.splits import PART_CODES

SMALL_SET_ROWS = 1000  # below this many non-test rows, "auto" trains on all of them for a fixed budget
DEFAULT_VALID_FRACTION = 0.1


def pool_rows(n: int, test_fraction: float, marks: np.ndarray | None) -> int:
    """Rows left for training and validation: those not marked test, or (drawn split) n less the test share."""
    if marks is not None:
        return int(np.count_nonzero(marks != PART_CODES["test"]))
    return n - int(round(n * test_fraction))


def resolve_valid_fraction(value: float | str, pool: int) -> float:
    """The validation fraction `value` stands for on `pool` training-and-validation rows ("auto": by size)."""
    if value != "auto":
        return float(value)
    return 0.0 if pool < SMALL_SET_ROWS else DEFAULT_VALID_FRACTION


def validation_scheme(split: dict[str, Any]) -> str:
    """One sentence for metrics.json: what "auto" chose, and why, given the split's row counts."""
    pool = sum(int(split.get(part, 0)) for part in ("train", "valid", "calib"))  # the rows "auto" was decided on
    if int(split.get("valid", 0)) == 0:
        return (f"none ('auto': {pool} training rows < {SMALL_SET_ROWS}): every training row trains for the fixed "
                "budget of train.epochs; a handful of validation rows would pick the epoch by chance")
    return (f"{DEFAULT_VALID_FRACTION} ('auto': {pool} training rows >= {SMALL_SET_ROWS}): "
            f"{split.get('valid', 0)} validation rows")
