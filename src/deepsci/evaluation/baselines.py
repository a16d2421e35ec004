"""Reference models on the same split as the network: is the network worth its cost?

The models every reference is made of, each fitted on the training rows only and returned as a predictor:
- the trivial model: the training mean of each target (regression), the training class frequencies
  (classification: its accuracy is the majority class's share) or label frequencies (multilabel), which
  ignores the inputs altogether;
- a linear model on features of the inputs: ridge regression (alpha chosen by generalised cross-validation on
  the training rows, scikit-learn's RidgeCV) or L2 logistic regression (C = 1; one per label for multilabel);
- a ridge classifier (alpha by leave-one-out cross-validation, RidgeClassifierCV), the published classifier on
  random-convolution features, with probabilities from a softmax of its decisions at a temperature fitted on
  the leave-one-out decisions of the training rows.
Which features each kind of input gets is `deepsci.evaluation.references`. A network that ends worse than the
trivial model has learned nothing usable, and one that predicts one class for every row has collapsed: the run
says so loudly (`worse_than_trivial`, `collapse_warnings`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.linear_model import LogisticRegression, RidgeClassifierCV, RidgeCV

from deepsci.tasks import task_of

#: Relative margin by which the model's test error may exceed the trivial model's before the run is flagged.
WORSE_MARGIN = 0.0
ALPHAS = np.logspace(-3, 3, 13)
Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Fitted:
    """A model fitted on the training rows: a one-line description and its predict on features (n, d).

    predict gives regression (n, t) values in the training targets' (scaled) units, classification (n, k)
    class probabilities, multilabel (n, k) label probabilities.
    """

    description: str
    predict: Predict


def fit_trivial(task: str, y_train: np.ndarray, n_classes: int) -> Fitted:
    """The training mean (regression), class frequencies (classification) or label frequencies (multilabel),
    predicted for every row whatever its features."""
    kind = task_of(task)
    if kind.continuous or kind.multilabel:
        row = np.asarray(y_train, dtype=np.float64).mean(axis=0, keepdims=True)  # (1, t) or (1, k)
        what = "training mean" if kind.continuous else "training label frequencies"
    else:
        counts = np.bincount(np.asarray(y_train, dtype=np.int64), minlength=n_classes).astype(np.float64)
        row = (counts / counts.sum())[None, :]
        what = "training class frequencies (the majority class)"
    return Fitted(what, lambda F: np.repeat(row, len(F), axis=0))


def fit_linear(task: str, F_train: np.ndarray, y_train: np.ndarray, n_classes: int, features: str = "") -> Fitted:
    """Ridge (alphas 1e-3..1e3, GCV) or L2 logistic regression (C = 1) on features F_train (n, d)."""
    F_train = np.asarray(F_train, dtype=np.float64)
    on = f" on {features}" if features else ""
    kind = task_of(task)
    if kind.continuous:
        ridge = RidgeCV(alphas=ALPHAS).fit(F_train, y_train)
        return Fitted(f"ridge regression (alpha {float(ridge.alpha_):.3g}){on}",
                      lambda F: ridge.predict(np.asarray(F, dtype=np.float64)).reshape(len(F), -1))
    if kind.multilabel:
        columns = [_logistic(F_train, np.asarray(y_train)[:, j].astype(np.int64), 2) for j in range(y_train.shape[1])]
        return Fitted(f"logistic regression per label (L2, C = 1){on}",
                      lambda F: np.stack([c(np.asarray(F, dtype=np.float64))[:, 1] for c in columns], axis=1))
    proba = _logistic(F_train, np.asarray(y_train, dtype=np.int64), n_classes)
    return Fitted(f"logistic regression (L2, C = 1){on}", lambda F: proba(np.asarray(F, dtype=np.float64)))


def _logistic(F_train: np.ndarray, y: np.ndarray, n_classes: int) -> Predict:
    """Class probabilities (n, n_classes) of an L2 logistic regression; a class absent from training gets 0."""
    present = np.unique(y)
    if len(present) == 1:  # one class in training: the logistic regression is undefined, its answer is not
        only = np.zeros(n_classes)
        only[present[0]] = 1.0
        return lambda F: np.repeat(only[None, :], len(F), axis=0)
    with warnings.catch_warnings():  # a linear model that has not fully converged is still a fair reference
        warnings.simplefilter("ignore")
        logistic = LogisticRegression(C=1.0, max_iter=2000).fit(F_train, y)

    def predict(F: np.ndarray) -> np.ndarray:
        proba = np.zeros((len(F), n_classes))
        proba[:, logistic.classes_] = logistic.predict_proba(F)
        return proba
    return predict


def fit_ridge_classifier(task: str, F_train: np.ndarray, y_train: np.ndarray, n_classes: int,
                         features: str) -> Fitted:
    """RidgeClassifierCV (alphas 1e-3..1e3, leave-one-out) on F_train, or RidgeCV for regression.

    Its decisions d (n, k) become probabilities softmax(d / T), T minimising the log-loss of the leave-one-out
    decisions of the training rows (so no row outside training is used, and the probabilities are not the
    over-confident in-sample ones).
    """
    kind = task_of(task)
    if kind.continuous or kind.multilabel:
        return fit_linear(task, F_train, y_train, n_classes, features)
    y = np.asarray(y_train, dtype=np.int64)
    if len(np.unique(y)) == 1:
        return fit_trivial(task, y, n_classes)
    ridge = RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)).fit(F_train, y)
    # with a scoring, scikit-learn stores the leave-one-out decisions themselves (else their squared errors)
    loo = RidgeClassifierCV(alphas=[ridge.alpha_], scoring="accuracy", store_cv_results=True).fit(F_train, y)
    classes = ridge.classes_
    temperature = _temperature(_logits(loo.cv_results_[:, :, 0]), np.searchsorted(classes, y))  # (n, k or 1)

    def predict(F: np.ndarray) -> np.ndarray:
        proba = np.zeros((len(F), n_classes))
        proba[:, classes] = softmax(_logits(ridge.decision_function(F)) / temperature, axis=1)
        return proba
    return Fitted(f"ridge classifier (alpha {float(ridge.alpha_):.3g}) on {features}", predict)


def _logits(decision: np.ndarray) -> np.ndarray:
    """Decisions as one logit per class: a binary classifier's one column d becomes (-d, d)."""
    d = np.asarray(decision, dtype=np.float64).reshape(len(decision), -1)
    return np.hstack([-d, d]) if d.shape[1] == 1 else d


def _temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The T > 0 (1e-3..1e3) minimising the mean log-loss of softmax(logits / T) against classes y."""
    def loss(log_t: float) -> float:
        return float(-log_softmax(logits / np.exp(log_t), axis=1)[np.arange(len(y)), y].mean())
    return float(np.exp(minimize_scalar(loss, bounds=(np.log(1e-3), np.log(1e3)), method="bounded").x))


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


def collapse_warnings(task: str, test_pred: np.ndarray | None, train_metrics: dict[str, Any] | None,
                      trivial_train: dict[str, Any] | None, class_names: list[str]) -> list[str]:
    """Sentences for a collapsed classifier: one class predicted for every test row, or a training accuracy
    no better than always answering the majority class (the trivial model's accuracy on the training rows)."""
    if not task_of(task).exclusive:
        return []
    out: list[str] = []
    if test_pred is not None and len(test_pred) > 1 and len(class_names) > 1:
        predicted = np.unique(np.argmax(test_pred, axis=1))
        if len(predicted) == 1:
            out.append(f"the model collapsed: it predicts one class ('{class_names[int(predicted[0])]}') for every "
                       f"one of the {len(test_pred)} test rows. Train longer or with a lower train.lr, keep more "
                       "training rows (a smaller data.valid_fraction), or balance the classes.")
    ours = (train_metrics or {}).get("accuracy")
    chance = (trivial_train or {}).get("accuracy")
    if isinstance(ours, (int, float)) and isinstance(chance, (int, float)) and ours <= chance:
        out.append(f"the model's training accuracy {ours:.3g} is at chance (always answering the majority class "
                   f"gives {chance:.3g}): it has not fitted even the training rows. Train longer, raise or lower "
                   "train.lr, or check the inputs.")
    return out
