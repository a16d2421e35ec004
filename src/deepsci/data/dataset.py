"""The Dataset: what the data layer hands to models and training.

Tensors live in memory; batches are index slices of them (no per-sample DataLoader).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch

Task = Literal["regression", "binary", "multiclass"]


@dataclass
class Split:
    """One split's tensors.

    Attributes:
        X: inputs, float32. Tables: (n, d), already scaled with the training split's scaler.
            Images (n, C, H, W), signals (n, C, L), windows (n, L, C) keep their own shapes.
        y: targets. Regression: (n, t) float32, scaled with the training split's target scaler.
            Classification: (n,) int64 class indices 0..k-1.
        ids: one identifier per row (the source row's name or index), for predictions.csv.
    """

    X: torch.Tensor
    y: torch.Tensor
    ids: list[str]

    def __len__(self) -> int:
        return int(self.X.shape[0])


@dataclass
class Dataset:
    """Train/valid/test splits plus everything needed to transform new inputs the same way.

    Attributes:
        train, valid, test: the splits (valid is carved from train; test is never seen in training).
        task: "regression", "binary" or "multiclass".
        feature_names: names of the d input columns (for tables).
        target_names: names of the t target columns (regression) or the one label column.
        class_names: label of each class index (classification), else [].
        x_scaler, y_scaler: fitted on train only; y_scaler is None for classification.
        featuriser: JSON-able spec that rebuilds the inputs from a raw table (see `prepare_inputs`).
        summary: JSON-able facts for the report: rows read, dropped rows and why, split sizes,
            featurisation seconds, cache hit.
        skipped: rows that could not be used (e.g. unparsable SMILES), as records
            {"row": int, "id": str, "reason": str}; written to skipped.csv in the run folder.
    """

    train: Split
    valid: Split
    test: Split
    task: Task
    feature_names: list[str]
    target_names: list[str]
    class_names: list[str] = field(default_factory=list)
    x_scaler: "Scaler | None" = None
    y_scaler: "Scaler | None" = None
    featuriser: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n_features(self) -> int:
        return int(self.train.X.shape[1]) if self.train.X.dim() == 2 else int(self.train.X[0].numel())

    @property
    def n_outputs(self) -> int:
        """Width of the model's last layer: targets (regression), 1 (binary), classes (multiclass)."""
        if self.task == "regression":
            return int(self.train.y.shape[1])
        if self.task == "binary":
            return 1
        return len(self.class_names)


from deepsci.data.scalers import Scaler  # noqa: E402  (type used in annotations above)
