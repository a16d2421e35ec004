"""The Dataset: what the data layer hands to models and training.

Tensors live in memory; batches are index slices of them (no per-sample DataLoader). The fitted
`Preprocessor` that made them travels with the Dataset, so predict and evaluate transform new data
with the very same object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from deepsci.data.batch import Inputs, n_rows
from deepsci.data.preprocess import Preprocessor
from deepsci.data.scalers import Scaler
from deepsci.data.schema import InputSchema
from deepsci.data.summary import DataSummary
from deepsci.tasks import task_of


@dataclass
class Split:
    """One part's tensors.

    Attributes:
        X: model inputs (see `deepsci.data.batch`): a table (n, d), a signal (n, C, L), an image
            (n, C, H, W[, D]), a window (n, L, C) as one tensor; a padded sequence or set as
            {"x": ..., "mask": (n, L) bool}. Already transformed by the fitted preprocessor.
        y: targets. Regression: (n, t) float32, scaled by the preprocessor's target scaler.
            Classification: (n,) int64 class indices 0..k-1 (text: (n, L) next-symbol indices).
            Multilabel: (n, k) float32 0/1. Tagging: (n, L) int64 tag indices, -100 on padded steps
            (deepsci.data.preprocess.IGNORE), L the input's steps.
        ids: one identifier per row (the id column, the FASTA header, the row number, or for
            forecasting windows the time stamp of the window's last input step).
        y_raw: regression targets (n, t) float64 as read, before scaling, or None (other tasks, and
            builders that keep none). Scaled float32 unscaled again is off in the last digits (141 comes
            back as 141.00000000455867): predictions.csv and the metrics read the values as read.
    """

    X: Inputs
    y: torch.Tensor
    ids: Sequence[str]
    y_raw: np.ndarray | None = None

    def __len__(self) -> int:
        return n_rows(self.X)


@dataclass
class Dataset:
    """Train/valid/test (and optional calib) parts plus the fitted preprocessor that made them.

    Attributes:
        train, valid, test: the parts (valid is carved from train; test is never seen in training).
        task: "regression", "binary", "multiclass", "multilabel" or "tagging".
        inputs: the model's named inputs and their structure (`InputSchema`).
        preprocessor: fitted on the training rows only; transforms new raw data the same way.
        summary: the facts of the build (`DataSummary`); `summary.to_json()` is metrics.json's "data".
        skipped: rows that could not be used, as {"row", "id", "reason"} (skipped.csv).
        calib: rows carved from train (disjoint from valid) for conformal calibration, or None.
    """

    train: Split
    valid: Split
    test: Split
    task: str
    inputs: dict[str, InputSchema]
    preprocessor: Preprocessor
    summary: DataSummary
    skipped: list[dict[str, Any]] = field(default_factory=list)
    calib: Split | None = None

    @property
    def feature_names(self) -> list[str]:
        """Names of the features of the first input's last dimension (table columns, descriptors)."""
        return self.preprocessor.feature_names

    @property
    def target_names(self) -> list[str]:
        return self.preprocessor.target_names

    @property
    def class_names(self) -> list[str]:
        return self.preprocessor.class_names

    @property
    def y_scaler(self) -> Scaler | None:
        return self.preprocessor.y_scaler

    @property
    def n_features(self) -> int:
        """Width of a table input (d); for other structures the number of values of one sample."""
        x = self.train.X
        if not isinstance(x, (torch.Tensor, dict)):
            return 0  # a RowSource (graphs): no fixed width
        t = x if isinstance(x, torch.Tensor) else x[next(iter(x))]
        return int(t.shape[1]) if t.dim() == 2 else int(t[0].numel())

    @property
    def n_outputs(self) -> int:
        """Width of the model's last layer: targets (regression), 1 (binary), classes (multiclass), labels
        (multilabel), tag classes per step (tagging)."""
        n_targets = int(self.train.y.shape[1]) if self.train.y.dim() == 2 else 1
        return task_of(self.task).n_outputs(n_targets, len(self.class_names))
