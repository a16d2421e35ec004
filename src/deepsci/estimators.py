"""scikit-learn estimators: `Regressor` and `Classifier`, MLPs trained by the pipeline of `deepsci fit`.

They follow scikit-learn's contract (`__init__` stores its arguments unchanged; `fit` validates,
builds and returns self; learned state ends in `_`), so they work in `cross_val_score`,
`GridSearchCV` and `Pipeline`, and pass `sklearn.utils.estimator_checks.check_estimator` with the
expected failures listed by `expected_failed_checks`.

`fit` turns the settings into a Config (`config_`) and the arrays into a table (deepsci.data.arrays), and runs
`deepsci.experiment.fit_in_memory`: the reader, split, fitted preprocessor (inputs standardised on the training
rows, and so are regression targets), Trainer and uncertainty calibration of `deepsci fit`. A number from the
API therefore equals the command line's for the same settings and data (tests/test_estimators.py holds it);
predictions come back in the target's own units through the path of `Run.predict`. A DataFrame's column names
are kept in `feature_names_in_` and checked at predict time, as scikit-learn does (reordered or renamed columns
are an error, not silently different predictions).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from deepsci.config import Config, config_from_dict
from deepsci.data.arrays import TARGET, arrays_inputs, build_from_arrays, feature_columns
from deepsci.errors import ModelError
from deepsci.evaluation.evaluate import predict_with_uncertainty, truth
from deepsci.evaluation.uncertainty import conformal_interval, conformal_sets
from deepsci.experiment import fit_in_memory
from deepsci.tasks import BINARY, MULTICLASS, REGRESSION
from deepsci.training.threads import sharing_cores

__all__ = ["Classifier", "Regressor", "expected_failed_checks"]


def expected_failed_checks(estimator: Any) -> dict[str, str]:
    """The scikit-learn checks these estimators are known to fail, each with the reason.

    Pass to `check_estimator(est, expected_failed_checks=expected_failed_checks(est))` or to
    `parametrize_with_checks(..., expected_failed_checks=expected_failed_checks)` (scikit-learn >= 1.6).
    """
    return {
        "check_sample_weight_equivalence_on_dense_data":
            "mini-batch training: a row of weight 0 still moves every later row to another batch of the "
            "shuffled order (and the early-stopping slice), so a zero weight is not bit-identical to removing "
            "the row, and the input scaler sees every row; the weighted loss itself is exact "
            "(tests/training/test_trainer.py). scikit-learn runs this check on its own MLPs only with the "
            "full-batch lbfgs solver or a loose tolerance.",
    }


class _MLPEstimator(BaseEstimator):
    """Shared fit machinery: the settings as a Config, the pipeline of `deepsci fit`, predictions as `Run.predict`.

    By default every row trains for all `epochs`: no validation slice is held out unless asked for, as
    scikit-learn's MLPs hold none out unless early_stopping=True. `patience=k` asks for early stopping:
    a validation slice of valid_fraction (10%) of the rows is held out and training stops after k epochs
    without improvement of its loss, restoring the best weights. It often pays: in 5-fold cross-validation
    on diabetes patience=10 made the fit ~20x faster and raised R² from 0.35 to 0.49 (the 64x64 MLP
    overfits 353 rows in 100 epochs); benchmarks/estimator_cv.py. With an uncertainty method (or a
    heteroscedastic head) a calibration slice of calib_fraction (20%) of the rows is held out too, disjoint
    from it: the sigma scale and the conformal thresholds are fitted on rows that took no part in training.

    Training runs on deepsci's dense fast path (deepsci.training.fastdense: explicit backward, fused Adam)
    whenever the network has no dropout or batch norm, and through autograd otherwise. `device` ("cpu",
    "auto", "cuda", "cuda:N", "mps") and `precision` ("32", "bf16-mixed", "16-mixed") are where and how
    training runs, as train.device / train.precision of a config; the fitted model is kept on the CPU.
    """

    def __init__(self, hidden: Sequence[int] = (64, 64), activation: str = "relu", *, dropout: float = 0.0,
                 batch_norm: bool = False, init: str = "default", optimizer: str = "adam", lr: float = 1e-3,
                 weight_decay: float = 0.0, momentum: float = 0.9, batch_size: int = 32, epochs: int = 100,
                 schedule: str | None = None, clip_grad_norm: float | None = None, patience: int | None = None,
                 valid_fraction: float = 0.1, calib_fraction: float = 0.2, seed: int = 0, progress: bool = False,
                 uncertainty: str = "none", members: int = 8, samples: int = 50, heteroscedastic: bool = False,
                 device: str = "cpu", precision: str = "32") -> None:
        self.hidden = hidden
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.init = init
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.batch_size = batch_size
        self.epochs = epochs
        self.schedule = schedule
        self.clip_grad_norm = clip_grad_norm
        self.patience = patience
        self.valid_fraction = valid_fraction
        self.calib_fraction = calib_fraction
        self.seed = seed
        self.progress = progress
        self.uncertainty = uncertainty
        self.members = members
        self.samples = samples
        self.heteroscedastic = heteroscedastic
        self.device = device
        self.precision = precision

    def _config(self, task: str, width: int) -> Config:
        """The config of `deepsci fit` these settings are, for a table of `width` features (deepsci.data.arrays).

        The same config, with data.source the table written to a file and its test rows given apart
        (data.test_source), makes `deepsci fit` train the very same model.
        """
        raw = {"name": type(self).__name__, "seed": self.seed,
               "data": {"kind": "table", "source": "arrays", "features": feature_columns(width), "target": TARGET,
                        "task": task, "valid_fraction": self.valid_fraction if self.patience is not None else 0.0,
                        "calib_fraction": self.calib_fraction if self._error_bars() else 0.0},
               "model": {"kind": "mlp", "hidden": list(self.hidden), "activation": self.activation,
                         "dropout": self.dropout, "batch_norm": self.batch_norm, "init": self.init},
               "train": {"optimizer": self.optimizer, "lr": self.lr, "weight_decay": self.weight_decay,
                         "momentum": self.momentum, "batch_size": self.batch_size, "epochs": self.epochs,
                         "schedule": self.schedule or "constant", "clip_grad_norm": self.clip_grad_norm,
                         "patience": self.patience, "device": self.device, "precision": self.precision},
               # split conformal on the calibration slice: what predict_interval / predict_set calibrate on
               "uncertainty": {"method": self.uncertainty, "members": self.members, "samples": self.samples,
                               "heteroscedastic": self.heteroscedastic, "conformal_method": "split"}}
        return config_from_dict(raw, source=type(self).__name__)

    def _calibration_slice(self, caller: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(targets in data units, predictive distribution) of the internal calibration slice, for `caller`."""
        check_is_fitted(self, "model_")
        if self.calib_ is None:
            raise ModelError(f"{caller} needs a calibration slice, and this model was fitted without one. "
                             "Fit with uncertainty='ensemble' (or 'mc-dropout' and dropout > 0) so that "
                             "calib_fraction of the rows is held out for calibration.")
        pre, task = self.preprocessor_, self.config_.data.task
        _, cal, _ = predict_with_uncertainty(self.model_, self.calib_.X, task, pre, self.uncertainty_, None)
        assert cal is not None
        return truth(self.calib_.y, task, pre.inverse_targets), cal

    def _error_bars(self) -> bool:
        """True when the model gives error bars (a method or a variance head): a calibration slice is held out."""
        return self.uncertainty != "none" or bool(self.heteroscedastic)

    def _fit(self, X: np.ndarray, y: np.ndarray, task: str, sample_weight: np.ndarray | None) -> None:
        """Build the data from the arrays, fit in memory, keep what prediction needs."""
        config = self._config(task, X.shape[1])
        dataset = build_from_arrays(config.data, X, y, seed=config.seed)
        weight = None if sample_weight is None else torch.as_tensor(sample_weight, dtype=torch.float32)
        fitted = fit_in_memory(config, dataset, progress=self.progress,
                               sample_weight=_rows(weight, dataset.train.ids),
                               valid_sample_weight=_positive(_rows(weight, dataset.valid.ids)),
                               evaluate=self._error_bars())  # the calibration of the error bars, on calib
        self.config_ = fitted.config
        self.model_ = fitted.model
        self.preprocessor_ = dataset.preprocessor
        self.uncertainty_ = fitted.uncertainty
        self.history_ = fitted.history
        self.calibration_ = fitted.evaluation.calibration if fitted.evaluation is not None else None
        self.calib_ = dataset.calib if dataset.calib is not None and len(dataset.calib) else None

    @sharing_cores
    def _predictions(self, X: Any, calibrated: bool = True) -> tuple[np.ndarray, dict[str, np.ndarray] | None]:
        """(pred, dist) at X in data units: the path of `Run.predict` (dist None without an uncertainty method)."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        pred, dist, _ = predict_with_uncertainty(self.model_, arrays_inputs(self.preprocessor_, X),
                                                 self.config_.data.task, self.preprocessor_, self.uncertainty_,
                                                 self.calibration_ if calibrated else None)
        return pred, dist


class Regressor(RegressorMixin, _MLPEstimator):
    """An MLP regressor (one or several targets), trained by the pipeline of `deepsci fit`.

    Example:
        >>> reg = Regressor(hidden=(64, 64), epochs=100).fit(X_train, y_train)
        >>> reg.score(X_test, y_test)   # R²
    """

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "Regressor":
        """Fit on X (n, d) and y (n,) or (n, t); `sample_weight` (n,) weights each row's loss."""
        X, y = validate_data(self, X, y, dtype=np.float32, y_numeric=True, multi_output=True, ensure_min_samples=2)
        sample_weight = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=np.float32)
        self._y_1d = y.ndim == 1
        self._fit(X, np.asarray(y, dtype=np.float64), REGRESSION.name, sample_weight)
        return self

    def predict(self, X: Any, return_std: bool = False) -> Any:
        """Predictions in the target's units: (n,) for one target, (n, t) for several.

        With return_std=True, (mean, std): the predictive standard deviation of the ensemble / MC-dropout
        samples / heteroscedastic head, recalibrated on the calibration slice (needs uncertainty != "none"
        or heteroscedastic=True).
        """
        check_is_fitted(self, "model_")
        if return_std and not self.uncertainty_.active:
            raise ModelError("predict(X, return_std=True) needs a model that gives a spread; this one was fitted "
                             "with uncertainty='none'. Fit with uncertainty='ensemble' (or 'mc-dropout' and "
                             "dropout > 0), or heteroscedastic=True.")
        pred, dist = self._predictions(X)
        mean = self._shaped(pred)
        if not return_std:
            return mean
        if dist is None or dist.get("std") is None:
            raise ModelError("this model gives no spread (one network without a variance head); fit with "
                             "uncertainty='ensemble' or heteroscedastic=True to use return_std.")
        return mean, self._shaped(dist["std"])

    def predict_interval(self, X: Any, level: float = 0.9, score: str = "absolute") -> tuple[np.ndarray, np.ndarray]:
        """Split-conformal (lower, upper) at `level`, calibrated on the internal calibration slice.

        Args:
            X: (n, d) inputs.
            level: coverage level in (0, 1), e.g. 0.9.
            score: "absolute" (|y - mean|: same width everywhere) or "normalised" (|y - mean| / sigma: width
                follows the predicted sigma; needs a model with a spread).

        The slice (calib_fraction of the training rows) is carved when an uncertainty method is used and
        plays no part in training or early stopping; coverage >= level holds when the new rows are
        exchangeable with the training rows.
        """
        y_cal, cal = self._calibration_slice("predict_interval")
        _, test = self._predictions(X, calibrated=False)
        assert test is not None
        lower, upper = conformal_interval(y_cal, cal["pred"], test["pred"], 1.0 - level,
                                          score=score,  # type: ignore[arg-type]
                                          sigma_cal=cal.get("std"), sigma_test=test.get("std"))
        return self._shaped(lower), self._shaped(upper)

    def _shaped(self, values: np.ndarray) -> np.ndarray:
        """(n, t) values as the targets were given: (n,) for a 1-d y."""
        values = np.asarray(values, dtype=np.float64)
        return values[:, 0] if self._y_1d else values


class Classifier(ClassifierMixin, _MLPEstimator):
    """An MLP classifier (binary: one logit; multiclass: softmax over k logits)."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "Classifier":
        """Fit on X (n, d) and labels y (n,); `sample_weight` (n,) weights each row's loss."""
        X, y = validate_data(self, X, y, dtype=np.float32, ensure_min_samples=2)
        sample_weight = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=np.float32)
        check_classification_targets(y)
        if sample_weight is not None and len(np.unique(y[sample_weight > 0])) < 2:
            raise ValueError("Classifier needs rows of at least 2 classes with a positive sample_weight; the weighted "
                             f"data contains only one class: {np.unique(y[sample_weight > 0]).tolist()}.")
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"Classifier needs samples of at least 2 classes in the data, but the data contains "
                             f"only one class: {self.classes_[0]!r}.")
        # Class codes 0..k-1 as the target: the data layer orders numeric labels by value, so its class j is
        # classes_[j] and the columns of predict_proba follow classes_.
        task = BINARY if len(self.classes_) == 2 else MULTICLASS
        self._fit(X, codes.astype(np.int64), task.name, sample_weight)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n, k), columns in the order of `classes_` (an ensemble's / MC dropout's mean)."""
        return np.asarray(self._predictions(X)[0])

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row, (n,), labels as in `classes_`."""
        check_is_fitted(self, "model_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def predict_set(self, X: Any, level: float = 0.9, method: str = "lac") -> np.ndarray:
        """Conformal prediction sets (n, k) bool, columns in the order of `classes_`, calibrated on the internal
        calibration slice: each holds the true class with probability >= level for rows exchangeable with the
        training rows. `method`: "lac" (smallest sets) or "aps" (sets that grow with difficulty); see
        deepsci.evaluation.uncertainty.conformal_sets. Needs an uncertainty method (the slice is carved then)."""
        y_cal, cal = self._calibration_slice("predict_set")
        proba_cal = np.asarray(cal["pred"], dtype=np.float64)
        if proba_cal.ndim == 1:  # binary: the probability of class 1
            proba_cal = np.column_stack([1.0 - proba_cal, proba_cal])
        return conformal_sets(proba_cal, y_cal, self.predict_proba(X), 1.0 - level,
                              method=method)  # type: ignore[arg-type]


def _rows(weight: torch.Tensor | None, ids: Sequence[str]) -> torch.Tensor | None:
    """The weights of the rows named `ids` (row positions, deepsci.data.arrays), or None without weights."""
    if weight is None:
        return None
    return weight[torch.as_tensor([int(i) for i in ids], dtype=torch.int64)]


def _positive(weight: torch.Tensor | None) -> torch.Tensor | None:
    """The weights, or None (an unweighted loss) when there are none or they sum to 0 on this slice."""
    return weight if weight is not None and float(weight.sum()) > 0 else None
