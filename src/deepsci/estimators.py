"""scikit-learn estimators: `Regressor` and `Classifier`, MLPs trained by the deepsci Trainer.

They follow scikit-learn's contract (`__init__` stores its arguments unchanged; `fit` validates,
builds and returns self; learned state ends in `_`), so they work in `cross_val_score`,
`GridSearchCV` and `Pipeline`. Inputs are standardised inside (fitted on the training rows only),
and so are regression targets; predictions come back in the target's own units.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

from deepsci.data.scalers import Scaler
from deepsci.models import MLP, head_predictions
from deepsci.training import Trainer, get_loss


class _MLPEstimator(BaseEstimator):
    """Shared fit machinery; subclasses set the task and the target encoding."""

    def __init__(self, hidden: Sequence[int] = (64, 64), activation: str = "relu", *, dropout: float = 0.0,
                 batch_norm: bool = False, init: str = "default", optimizer: str = "adam", lr: float = 1e-3,
                 weight_decay: float = 0.0, momentum: float = 0.9, batch_size: int = 32, epochs: int = 100,
                 schedule: str | None = None, clip_grad_norm: float | None = None, patience: int | None = None,
                 valid_fraction: float = 0.1, seed: int = 0, progress: bool = False) -> None:
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
        self.seed = seed
        self.progress = progress

    _task = "regression"

    def _fit(self, X: np.ndarray, y: torch.Tensor, n_outputs: int, task: str) -> "_MLPEstimator":
        from deepsci.experiment import resolve_init

        self.n_features_in_ = X.shape[1]
        Xt = torch.as_tensor(X, dtype=torch.float32)
        train, valid = self._split(len(Xt))
        self.x_scaler_ = Scaler().fit(Xt[train])
        Xt = self.x_scaler_.transform(Xt)
        init, cb, cw = resolve_init(self.activation, self.init)
        self.model_ = MLP(X.shape[1], n_outputs, tuple(self.hidden), self.activation, dropout=self.dropout,
                          batch_norm=self.batch_norm, init=init, cb=cb, cw=cw, seed=self.seed)
        trainer = Trainer(self.model_, loss=get_loss(None, task), optimizer=self.optimizer, lr=self.lr,
                          weight_decay=self.weight_decay, momentum=self.momentum, batch_size=self.batch_size,
                          epochs=self.epochs, schedule=self.schedule, clip_grad_norm=self.clip_grad_norm,
                          patience=self.patience, seed=self.seed, progress=self.progress)
        X_valid, y_valid = (Xt[valid], y[valid]) if valid is not None else (None, None)
        trainer.fit(Xt[train], y[train], X_valid, y_valid)
        self.history_ = trainer.history_
        return self

    def _split(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Training rows and, with early stopping, a random validation slice carved from them."""
        if self.patience is None:
            return torch.arange(n), None
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))
        n_valid = max(1, int(round(self.valid_fraction * n)))
        return order[n_valid:], order[:n_valid]

    @torch.no_grad()
    def _outputs(self, X: Any) -> torch.Tensor:
        check_is_fitted(self, "model_")
        X = check_array(X, dtype=np.float32)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but this model was fitted on {self.n_features_in_}.")
        self.model_.eval()
        return self.model_(self.x_scaler_.transform(torch.as_tensor(X)))


class Regressor(RegressorMixin, _MLPEstimator):
    """An MLP regressor (one or several targets), trained with the deepsci Trainer.

    Example:
        >>> reg = Regressor(hidden=(64, 64), epochs=100).fit(X_train, y_train)
        >>> reg.score(X_test, y_test)   # R²
    """

    def fit(self, X: Any, y: Any) -> "Regressor":
        X, y = check_X_y(X, y, dtype=np.float32, y_numeric=True, multi_output=True)
        self._y_1d = y.ndim == 1
        yt = torch.as_tensor(y.reshape(len(y), -1), dtype=torch.float32)
        self.y_scaler_ = Scaler().fit(yt)
        self._fit(X, self.y_scaler_.transform(yt), yt.shape[1], "regression")
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions in the target's units: (n,) for one target, (n, t) for several."""
        pred = self.y_scaler_.inverse_transform(self._outputs(X)).numpy()
        return pred[:, 0] if self._y_1d else pred


class Classifier(ClassifierMixin, _MLPEstimator):
    """An MLP classifier (binary: one logit; multiclass: softmax over k logits)."""

    def fit(self, X: Any, y: Any) -> "Classifier":
        X, y = check_X_y(X, y, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"Classifier needs at least 2 classes in y; got only {self.classes_.tolist()}.")
        task = "binary" if len(self.classes_) == 2 else "multiclass"
        self._task = task
        self._fit(X, torch.as_tensor(codes, dtype=torch.long), 1 if task == "binary" else len(self.classes_), task)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n, k), columns in the order of `classes_`."""
        return head_predictions(self._outputs(X), self._task).numpy()

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
