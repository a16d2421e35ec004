"""Reference models on the same split and features as the network: is the network worth its cost?

Two references for every table run, each fitted on the training rows only:
- the trivial model: the training mean of each target (regression) or the training class
  frequencies (classification), which ignores the inputs altogether;
- a linear model: ridge regression (alpha chosen by generalised cross-validation on the training
  rows, scikit-learn's RidgeCV) or L2 logistic regression (C = 1).
A network that ends worse than the trivial model has learned nothing usable; the run says so loudly.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression, RidgeCV

from deepsci.tasks import task_of

#: Relative margin by which the model's test error may exceed the trivial model's before the run is flagged.
WORSE_MARGIN = 0.0


@dataclass(frozen=True)
class BaselinePredictions:
    """Predictions of one reference model, in the model's target units (scaled regression targets)."""

    name: str
    description: str
    pred: np.ndarray  # regression (n, t) values; classification (n, k) class probabilities


def trivial_predictions(task: str, y_train: np.ndarray, n: int, n_classes: int) -> BaselinePredictions:
    """The training mean (regression, (n, t)) or the training class frequencies (classification, (n, k))."""
    if task_of(task).continuous:
        mean = np.asarray(y_train, dtype=np.float64).mean(axis=0, keepdims=True)  # (1, t)
        return BaselinePredictions("trivial", "training mean", np.repeat(mean, n, axis=0))
    counts = np.bincount(np.asarray(y_train, dtype=np.int64), minlength=n_classes).astype(np.float64)
    freq = counts / counts.sum()
    return BaselinePredictions("trivial", "training class frequencies", np.repeat(freq[None, :], n, axis=0))


def linear_predictions(task: str, X_train: np.ndarray, y_train: np.ndarray, X: np.ndarray,
                       n_classes: int) -> BaselinePredictions:
    """Ridge (alphas 1e-3..1e3, GCV) or logistic regression fitted on the training rows, predicting X."""
    X_train, X = np.asarray(X_train, dtype=np.float64), np.asarray(X, dtype=np.float64)
    if task_of(task).continuous:
        ridge = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(X_train, y_train)
        pred = ridge.predict(X).reshape(len(X), -1)
        return BaselinePredictions("linear", f"ridge regression (alpha {float(ridge.alpha_):.3g})", pred)
    y_train = np.asarray(y_train, dtype=np.int64)
    with warnings.catch_warnings():  # a linear model that has not fully converged is still a fair reference
        warnings.simplefilter("ignore")
        logistic = LogisticRegression(C=1.0, max_iter=2000).fit(X_train, y_train)
    proba = np.zeros((len(X), n_classes))
    proba[:, logistic.classes_] = logistic.predict_proba(X)
    return BaselinePredictions("linear", "logistic regression (L2, C = 1)", proba)


def table_baselines(task: str, X_train: np.ndarray, y_train: np.ndarray, X: np.ndarray,
                    n_classes: int) -> list[BaselinePredictions]:
    """The trivial and the linear reference, fitted on (X_train, y_train), predicting X (n, d)."""
    return [trivial_predictions(task, y_train, len(X), n_classes),
            linear_predictions(task, X_train, y_train, X, n_classes)]


def worse_than_trivial(task: str, model_metrics: dict[str, object], trivial_metrics: dict[str, object]) -> str | None:
    """A sentence if the model's test error is worse than the trivial model's, else None.

    Regression compares RMSE (the mean over targets where there are several); classification the
    log-loss, which a model that predicts confidently and wrongly makes worse than class frequencies.
    """
    key = task_of(task).reference_metric
    ours, theirs = model_metrics.get(key), trivial_metrics.get(key)
    if not isinstance(ours, (int, float)) or not isinstance(theirs, (int, float)):
        return None
    if ours > theirs * (1 + WORSE_MARGIN):
        trivial = "training mean" if task_of(task).continuous else "class frequencies"
        return (f"the model is worse than the trivial baseline on the test split ({key} {ours:.4g} against "
                f"{theirs:.4g} for predicting the {trivial}"
                "): it has learned nothing usable. Lower train.lr, train longer, or check the features.")
    return None
