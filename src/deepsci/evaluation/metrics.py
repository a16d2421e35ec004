"""Metrics of a fitted model on one split: pure functions on numpy arrays, built on scikit-learn and scipy.

Every value returned is a plain Python float/int/list/dict (JSON-able). A metric that is undefined on the
data given (a correlation when one side is constant, ROC-AUC when only one class is present) is ``None``,
never NaN. Non-finite inputs raise `DataError`: a NaN prediction must stop the run, not hide in a table.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats
from sklearn import metrics as skm

from deepsci.errors import DataError
from deepsci.tasks import BINARY, MULTICLASS, MULTILABEL, REGRESSION, TAGGING, task_of

#: Rows of `proba` must sum to 1 within this tolerance (float32 softmax is accurate to ~1e-6).
PROBA_SUM_TOL = 1e-3


def _as_float_array(values: Any, what: str) -> np.ndarray:
    """`values` (array, tensor, list) as a float64 numpy array, or DataError if it cannot be one."""
    if hasattr(values, "detach"):  # a torch tensor: avoid importing torch here
        values = values.detach().cpu().numpy()
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} must be numeric; received {type(values).__name__} ({exc}).") from exc


def check_finite(arr: np.ndarray, what: str) -> None:
    """DataError naming the first rows of `arr` that hold NaN or infinity (shared with the figures)."""
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise DataError(f"{what} holds {int(bad.sum())} non-finite value(s) (NaN or inf) in {rows.size} row(s), "
                        f"first at row {int(rows[0])}. Metrics of non-finite predictions are meaningless: check that "
                        "training converged (lower the learning rate, clip gradients) and that the inputs hold no NaN.")


def _correlation(fn: Any, a: np.ndarray, b: np.ndarray) -> float | None:
    """A correlation coefficient, or None when undefined (one side constant)."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(fn(a, b)[0])
    return value if np.isfinite(value) else None


def rmse(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error sqrt(mean((ŷ - y)²)) over every element of two same-shaped arrays, in the
    target's units: the one RMSE of the house (metrics, the parity figure, forecasts)."""
    err = np.asarray(y_pred, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)
    return float(np.sqrt(np.mean(err**2)))


def _regression_1d(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | None]:
    return {"rmse": rmse(y_true, y_pred), "mae": float(np.mean(np.abs(y_pred - y_true))),
            "r2": float(skm.r2_score(y_true, y_pred)) if np.ptp(y_true) > 0 else None,
            "pearson_r": _correlation(stats.pearsonr, y_true, y_pred),
            "spearman_rho": _correlation(stats.spearmanr, y_true, y_pred)}


def regression_metrics(y_true: Any, y_pred: Any, *, target_names: Sequence[str] | None = None) -> dict[str, Any]:
    """RMSE, MAE, R², Pearson r and Spearman ρ of predictions against true values.

    RMSE = sqrt(mean((ŷ - y)²)) and MAE = mean(|ŷ - y|) are in the target's units; R² = 1 - SS_res/SS_tot
    (scikit-learn's ``r2_score``; can be negative); r and ρ from scipy (``pearsonr``, ``spearmanr``).

    Args:
        y_true: true values, shape (n,) or (n, t), in the target's original units.
        y_pred: predictions, same shape as ``y_true``.
        target_names: names of the t targets, for the per-target dict (default ``target_0``, ...).

    Returns:
        ``{"rmse", "mae", "r2", "pearson_r", "spearman_rho"}`` as floats (``r2``, ``pearson_r`` and
        ``spearman_rho`` are None where undefined: constant ``y_true`` or ``y_pred``). With t > 1 targets
        the five values are means over the targets (over those where defined), and ``"per_target"`` maps
        each target name to its own five values.

    Raises:
        DataError: shapes differ, fewer than 2 rows, or a non-finite value in either array.
    """
    yt, yp = _as_float_array(y_true, "y_true"), _as_float_array(y_pred, "y_pred")
    yt, yp = (a[:, None] if a.ndim == 1 else a for a in (yt, yp))  # one target: (n,) -> (n, 1)
    if yt.shape != yp.shape or yt.ndim != 2:
        raise DataError(f"y_true and y_pred must have the same shape (n,) or (n, t); received {np.shape(y_true)} and "
                        f"{np.shape(y_pred)}. Pass predictions for exactly the rows and targets of y_true.")
    if yt.shape[0] < 2:
        raise DataError(f"regression metrics need at least 2 rows; received {yt.shape[0]}.")
    check_finite(yt, "y_true")
    check_finite(yp, "y_pred")

    n_targets = yt.shape[1]
    per_target = [_regression_1d(yt[:, j], yp[:, j]) for j in range(n_targets)]
    if n_targets == 1:
        return dict(per_target[0])

    names = list(target_names) if target_names is not None else [f"target_{j}" for j in range(n_targets)]
    if len(names) != n_targets:
        raise DataError(f"target_names has {len(names)} names for {n_targets} targets; give one per target.")
    result: dict[str, Any] = {}
    for key in per_target[0]:
        defined = [v for m in per_target if (v := m[key]) is not None]
        result[key] = float(np.mean(defined)) if defined else None
    result["per_target"] = dict(zip(names, per_target))
    return result


def check_classification_inputs(y_true: Any, proba: Any, class_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Validated (labels (n,) int64, proba (n, k) float64)."""
    k = len(class_names)
    if k < 2:
        raise DataError(f"classification needs at least 2 class names; received {list(class_names)}.")
    p = _as_float_array(proba, "proba")
    if p.ndim == 1 and k == 2:
        p = np.stack([1.0 - p, p], axis=1)  # the positive-class probability of a binary model
    yt = _as_float_array(y_true, "y_true")
    if yt.ndim == 2 and yt.shape[1] == 1:
        yt = yt[:, 0]
    if yt.ndim != 1 or p.ndim != 2 or p.shape != (yt.shape[0], k):
        raise DataError(f"expected y_true of shape (n,) and proba of shape (n, {k}) for {k} classes; received "
                        f"{np.shape(y_true)} and {np.shape(proba)}. For a binary model pass (n, 2) probabilities or "
                        "the (n,) positive-class probability.")
    if yt.shape[0] < 1:
        raise DataError("classification metrics need at least 1 row; received 0.")
    check_finite(yt, "y_true")
    check_finite(p, "proba")
    labels = yt.astype(np.int64)
    if not np.array_equal(labels, yt) or labels.min() < 0 or labels.max() >= k:
        raise DataError(f"y_true must hold class indices 0..{k - 1} (one per class name); received values from "
                        f"{yt.min():g} to {yt.max():g}. Map labels to indices with the dataset's class_names.")
    row_sums = p.sum(axis=1)
    worst = int(np.argmax(np.abs(row_sums - 1.0)))
    if p.min() < 0 or p.max() > 1 or abs(row_sums[worst] - 1.0) > PROBA_SUM_TOL:
        raise DataError(f"proba must hold probabilities in [0, 1] with rows summing to 1; row {worst} sums to "
                        f"{row_sums[worst]:.6g} (min {p.min():.4g}, max {p.max():.4g}). Pass softmax(logits) "
                        "(sigmoid for a binary logit), not raw logits.")
    return labels, p


def _roc_auc(labels: np.ndarray, p: np.ndarray) -> float | None:
    """Binary: AUC of the positive-class probability. Multiclass: macro mean of one-vs-rest AUCs over
    the classes that have both positives and negatives (None if there is no such class)."""
    k = p.shape[1]
    if k == 2:
        if np.unique(labels).size < 2:
            return None
        return float(skm.roc_auc_score(labels, p[:, 1]))
    aucs = []
    for c in range(k):
        positives = labels == c
        if 0 < positives.sum() < labels.size:
            aucs.append(skm.roc_auc_score(positives, p[:, c]))
    return float(np.mean(aucs)) if aucs else None


def classification_metrics(y_true: Any, proba: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, balanced accuracy, log loss, ROC-AUC, per-class precision/recall/F1 and the confusion matrix.

    The predicted class is the argmax of ``proba``. Log loss is the mean negative log-likelihood in nats
    (scikit-learn's ``log_loss``, probabilities clipped away from 0). ROC-AUC: binary, from the
    positive-class probability ``proba[:, 1]``; multiclass, the macro mean of one-vs-rest AUCs (Hand & Till
    call this the OvR average; it equals ``roc_auc_score(..., multi_class="ovr", average="macro")`` when
    every class is present).

    Args:
        y_true: true class indices, shape (n,), values in 0..k-1.
        proba: predicted class probabilities, shape (n, k), rows summing to 1; for binary tasks also the
            (n,) probability of class 1.
        class_names: the k class labels, index i naming class i.

    Returns:
        ``accuracy``, ``balanced_accuracy``, ``log_loss``, ``roc_auc`` (None when y_true holds one class
        only), ``f1_macro``, ``per_class`` ``{name: {precision, recall, f1, support}}``,
        ``confusion_matrix`` (k × k list of lists; row = true class, column = predicted), ``class_names``.

    Raises:
        DataError: wrong shapes, labels out of range, non-finite values, or rows of ``proba`` that are not
            probabilities.
    """
    labels, p = check_classification_inputs(y_true, proba, class_names)
    k = p.shape[1]
    classes = list(range(k))
    pred = p.argmax(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # balanced accuracy warns when a class is absent from y_true
        balanced = float(skm.balanced_accuracy_score(labels, pred))
    precision, recall, f1, support = skm.precision_recall_fscore_support(labels, pred, labels=classes, zero_division=0)
    names = [str(c) for c in class_names]
    return {
        "accuracy": float(skm.accuracy_score(labels, pred)),
        "balanced_accuracy": balanced,
        "log_loss": float(skm.log_loss(labels, p, labels=classes)),
        "roc_auc": _roc_auc(labels, p),
        "f1_macro": float(np.mean(f1)),
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                             "support": int(support[i])}
                      for i, name in enumerate(names)},
        "confusion_matrix": skm.confusion_matrix(labels, pred, labels=classes).astype(int).tolist(),
        "class_names": names,
    }


def multilabel_metrics(y_true: Any, proba: Any, label_names: Sequence[str], threshold: float = 0.5) -> dict[str, Any]:
    """Per-label and averaged metrics of k independent 0/1 labels (a sigmoid per label).

    A label is predicted present when its probability is at least `threshold`. ROC-AUC macro is the mean of
    the per-label AUCs over labels that have both values in y_true; micro pools every (row, label) pair into
    one ranking. F1 macro/micro likewise (scikit-learn's ``f1_score`` averages). Hamming loss is the share
    of (row, label) pairs predicted wrong; subset accuracy the share of rows with every label right. Log loss
    is the mean binary cross-entropy over rows and labels (nats).

    Args:
        y_true: (n, k) 0/1. proba: (n, k) probabilities in [0, 1]. label_names: the k labels.

    Returns:
        ``roc_auc_macro``, ``roc_auc_micro``, ``f1_macro``, ``f1_micro``, ``hamming_loss``, ``subset_accuracy``,
        ``log_loss``, ``roc_auc`` (= roc_auc_macro, the headline), ``per_label`` ``{name: {roc_auc,
        precision, recall, f1, support}}``, ``label_names``.
    """
    yt, p = _as_float_array(y_true, "y_true"), _as_float_array(proba, "proba")
    k = len(label_names)
    if yt.ndim != 2 or p.shape != yt.shape or yt.shape[1] != k or yt.shape[0] < 1:
        raise DataError(f"expected y_true and proba of shape (n, {k}) for {k} labels; received {np.shape(y_true)} "
                        f"and {np.shape(proba)}.")
    check_finite(yt, "y_true")
    check_finite(p, "proba")
    if not np.isin(yt, (0.0, 1.0)).all() or p.min() < 0 or p.max() > 1:
        raise DataError("multilabel y_true must be 0/1 and proba in [0, 1] (sigmoid of each label's logit).")
    labels, pred = yt.astype(np.int64), (p >= threshold).astype(np.int64)
    aucs = [float(skm.roc_auc_score(labels[:, j], p[:, j])) if 0 < labels[:, j].sum() < len(labels) else None
            for j in range(k)]
    defined = [a for a in aucs if a is not None]
    micro = float(skm.roc_auc_score(labels.ravel(), p.ravel())) if 0 < labels.sum() < labels.size else None
    precision, recall, f1, support = skm.precision_recall_fscore_support(labels, pred, zero_division=0)
    clipped = np.clip(p, 1e-15, 1 - 1e-15)
    macro = float(np.mean(defined)) if defined else None
    return {
        "roc_auc": macro,
        "roc_auc_macro": macro,
        "roc_auc_micro": micro,
        "f1_macro": float(skm.f1_score(labels, pred, average="macro", zero_division=0)),
        "f1_micro": float(skm.f1_score(labels, pred, average="micro", zero_division=0)),
        "hamming_loss": float(skm.hamming_loss(labels, pred)),
        "subset_accuracy": float(skm.accuracy_score(labels, pred)),
        "log_loss": float(-np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))),
        "per_label": {str(name): {"roc_auc": aucs[j], "precision": float(precision[j]), "recall": float(recall[j]),
                                  "f1": float(f1[j]), "support": int(support[j])}
                      for j, name in enumerate(label_names)},
        "label_names": [str(n) for n in label_names],
    }


def real_steps(y_true: Any, proba: Any, ignore: int = -100) -> tuple[np.ndarray, np.ndarray]:
    """The real steps of per-step targets: (y_true (n, T) -> (m,) tags, proba (n, T, k) -> (m, k)), padded
    steps (tag `ignore`) left out."""
    yt, p = np.asarray(y_true), _as_float_array(proba, "proba")
    if yt.ndim != 2 or p.ndim != 3 or p.shape[:2] != yt.shape:
        raise DataError(f"expected per-step y_true (n, T) and proba (n, T, k); received {np.shape(y_true)} and "
                        f"{np.shape(proba)}.")
    real = yt != ignore
    return yt[real].astype(np.int64), p[real]


def tagging_metrics(y_true: Any, proba: Any, class_names: Sequence[str], ignore: int = -100) -> dict[str, Any]:
    """Per-step (token) metrics of a tagger over the real steps only: every padded step (tag `ignore`) is left
    out, so a sequence's padding can neither help nor hurt.

    Args:
        y_true: (n, T) tag indices, `ignore` on padding. proba: (n, T, k) tag probabilities per step.
        class_names: the k tags.

    Returns:
        `classification_metrics` of the real steps pooled (accuracy is per-token accuracy, per_class the
        per-tag precision/recall/F1), plus ``steps`` (real steps counted) and, with two tags, ``f1`` (F1 of
        the second tag: "in a site" when the tags are 0/1).
    """
    labels, p = real_steps(y_true, proba, ignore)
    out = classification_metrics(labels, p, class_names)
    out["steps"] = int(labels.size)
    if len(class_names) == 2:
        out["f1"] = out["per_class"][str(class_names[1])]["f1"]
    return out


# -- the metrics of each task, registered against its name (deepsci.tasks) ---------------------------------------
# Each: (y_true, pred, class_names, target_names) -> the split's metrics, as `task_metrics` hands them over.
SplitMetrics = Callable[[Any, Any, Sequence[str], Sequence[str]], dict[str, Any]]

TASK_METRICS: dict[str, SplitMetrics] = {
    REGRESSION.name: lambda y, pred, classes, targets: regression_metrics(y, pred, target_names=targets),
    BINARY.name: lambda y, pred, classes, targets: classification_metrics(y, pred, classes),
    MULTICLASS.name: lambda y, pred, classes, targets: classification_metrics(y, pred, classes),
    MULTILABEL.name: lambda y, pred, classes, targets: multilabel_metrics(y, pred, classes),
    TAGGING.name: lambda y, pred, classes, targets: tagging_metrics(y, pred, classes),
}


def task_metrics(task: str, y_true: Any, pred: Any, class_names: Sequence[str],
                 target_names: Sequence[str]) -> dict[str, Any]:
    """The metrics of one split for `task` (a registered task name): regression's from values (n, t),
    classification's from probabilities (n, k) (tagging: (n, T, k)); see `TASK_METRICS`."""
    return TASK_METRICS[task_of(task).name](y_true, pred, class_names, target_names)
