"""A task's metrics accumulated block by block, for splits too large to hold (a streamed table).

`metrics_accumulator(task, ...)` gives an object with `add(y_true, pred)` for each block of rows (data units, as
`deepsci.evaluation.metrics` takes them) and `result(sample_true, sample_pred)` giving the dict that
`task_metrics` gives for all the rows at once, with the same keys:

    regression   per target: n, sums of (p - y)² and |p - y|, means, M2 of y and p and their co-moment, merged
                 across blocks in float64 by the pairwise update of Chan, Golub & LeVeque (1979), and min / max;
                 RMSE, MAE, R² = 1 - SS_res / SS_tot and Pearson r from them
    classes      the k x k confusion matrix and the summed log loss; accuracy, balanced accuracy, precision /
                 recall / F1 / support from the matrix (scikit-learn's own functions, each cell a weighted pair)
    multilabel   per label true / false positives and negatives, rows with every label right, summed log loss

These agree with the in-memory functions to float rounding (tests/evaluation/test_stream_metrics.py holds them to
1e-9 relative). Rank statistics have no running form: Spearman's ρ and ROC-AUC come from a uniform random sample
of the rows (`sample_rows`), and the result says so under "sample": {"rows", "of", "metrics"}.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence

import numpy as np
from scipy import stats
from sklearn import metrics as skm

from deepsci.errors import ConfigError, DataError
from deepsci.evaluation.metrics import _correlation, _roc_auc, check_classification_inputs, check_finite
from deepsci.tasks import BINARY, MULTICLASS, MULTILABEL, REGRESSION, task_of

__all__ = ["Accumulator", "STREAM_METRICS", "metrics_accumulator", "sample_rows"]


def sample_rows(n: int, size: int, seed: int) -> np.ndarray:
    """A seeded uniform random sample of min(n, size) of the rows 0..n-1 without replacement, sorted: (m,) int64.

    numpy draws it by Floyd's algorithm when size is under n / 50, so memory stays O(size) for any n.
    """
    if n <= size:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False)).astype(np.int64)


class Accumulator(Protocol):
    """Metrics of one split, one block of rows at a time."""

    rows: int

    def add(self, y_true: np.ndarray, pred: np.ndarray) -> None: ...

    def result(self, sample_true: np.ndarray, sample_pred: np.ndarray) -> dict[str, Any]: ...


def _sampled(result: dict[str, Any], keys: list[str], sample: int, rows: int) -> dict[str, Any]:
    """`result` with the "sample" note where rank metrics came from fewer rows than the split has."""
    if sample < rows:
        result["sample"] = {"rows": int(sample), "of": int(rows), "metrics": keys}
    return result


class RegressionSums:
    """Running moments of (y, p) per target, merged block by block (Chan et al. 1979), in float64."""

    def __init__(self, target_names: Sequence[str]) -> None:
        self.names = list(target_names)
        self.rows = 0
        t = len(self.names)
        self.mean_y, self.mean_p = np.zeros(t), np.zeros(t)
        self.m2_y, self.m2_p, self.c_yp = np.zeros(t), np.zeros(t), np.zeros(t)
        self.sse, self.sae = np.zeros(t), np.zeros(t)
        self.lo_y, self.hi_y = np.full(t, np.inf), np.full(t, -np.inf)
        self.lo_p, self.hi_p = np.full(t, np.inf), np.full(t, -np.inf)

    def add(self, y_true: np.ndarray, pred: np.ndarray) -> None:
        """Accumulate a block: y_true and pred (m, t) (or (m,) for one target) in the target's units."""
        y = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)
        p = np.asarray(pred, dtype=np.float64).reshape(len(pred), -1)
        check_finite(y, "y_true")
        check_finite(p, "y_pred")
        m = len(y)
        if m == 0:
            return
        my, mp = y.mean(0), p.mean(0)
        yc, pc = y - my, p - mp
        n, total = self.rows, self.rows + m
        dy, dp = my - self.mean_y, mp - self.mean_p
        w = n * m / total
        self.m2_y += (yc * yc).sum(0) + w * dy * dy
        self.m2_p += (pc * pc).sum(0) + w * dp * dp
        self.c_yp += (yc * pc).sum(0) + w * dy * dp
        self.mean_y += dy * m / total
        self.mean_p += dp * m / total
        err = p - y
        self.sse += (err * err).sum(0)
        self.sae += np.abs(err).sum(0)
        self.lo_y, self.hi_y = np.minimum(self.lo_y, y.min(0)), np.maximum(self.hi_y, y.max(0))
        self.lo_p, self.hi_p = np.minimum(self.lo_p, p.min(0)), np.maximum(self.hi_p, p.max(0))
        self.rows = total

    def _one(self, j: int, sample_true: np.ndarray, sample_pred: np.ndarray) -> dict[str, float | None]:
        """Target j's five values, as `deepsci.evaluation.metrics._regression_1d` gives them."""
        varies_y, varies_p = self.hi_y[j] > self.lo_y[j], self.hi_p[j] > self.lo_p[j]
        return {"rmse": float(np.sqrt(self.sse[j] / self.rows)), "mae": float(self.sae[j] / self.rows),
                "r2": float(1.0 - self.sse[j] / self.m2_y[j]) if varies_y else None,
                "pearson_r": (float(np.clip(self.c_yp[j] / np.sqrt(self.m2_y[j] * self.m2_p[j]), -1.0, 1.0))
                              if varies_y and varies_p else None),
                "spearman_rho": _correlation(stats.spearmanr, sample_true[:, j], sample_pred[:, j])}

    def result(self, sample_true: np.ndarray, sample_pred: np.ndarray) -> dict[str, Any]:
        """`regression_metrics` of every row added (Spearman's ρ: of the sample rows (m, t))."""
        if self.rows < 2:
            raise DataError(f"regression metrics need at least 2 rows; received {self.rows}.")
        st = np.asarray(sample_true, dtype=np.float64).reshape(len(sample_true), -1)
        sp = np.asarray(sample_pred, dtype=np.float64).reshape(len(sample_pred), -1)
        per_target = [self._one(j, st, sp) for j in range(len(self.names))]
        if len(per_target) == 1:
            return _sampled(dict(per_target[0]), ["spearman_rho"], len(st), self.rows)
        out: dict[str, Any] = {}
        for key in per_target[0]:
            defined = [v for m in per_target if (v := m[key]) is not None]
            out[key] = float(np.mean(defined)) if defined else None
        out["per_target"] = dict(zip(self.names, per_target))
        return _sampled(out, ["spearman_rho"], len(st), self.rows)


class ClassCounts:
    """The confusion matrix and summed log loss of a binary or multiclass split."""

    def __init__(self, class_names: Sequence[str]) -> None:
        self.names = [str(c) for c in class_names]
        k = len(self.names)
        self.rows, self.confusion, self.log_loss_sum = 0, np.zeros((k, k), dtype=np.int64), 0.0

    def add(self, y_true: np.ndarray, pred: np.ndarray) -> None:
        """Accumulate a block: class indices (m,) and probabilities (m, k)."""
        if len(y_true) == 0:
            return
        labels, p = check_classification_inputs(y_true, pred, self.names)
        k = len(self.names)
        self.confusion += np.bincount(labels * k + p.argmax(1), minlength=k * k).reshape(k, k)
        self.log_loss_sum += float(skm.log_loss(labels, p, labels=list(range(k)), normalize=False))
        self.rows += len(labels)

    def result(self, sample_true: np.ndarray, sample_pred: np.ndarray) -> dict[str, Any]:
        """`classification_metrics` of every row added (ROC-AUC: of the sample rows)."""
        k = len(self.names)
        # each cell of the matrix as one (true, predicted) pair weighted by its count: scikit-learn's definitions
        true, predicted, weight = np.repeat(np.arange(k), k), np.tile(np.arange(k), k), self.confusion.ravel()
        classes = list(range(k))
        precision, recall, f1, _ = skm.precision_recall_fscore_support(true, predicted, labels=classes,
                                                                       sample_weight=weight, zero_division=0)
        support = self.confusion.sum(1)
        recall_present = np.diag(self.confusion)[support > 0] / support[support > 0]
        sample_labels, sample_p = check_classification_inputs(sample_true, sample_pred, self.names)
        out = {
            "accuracy": float(np.trace(self.confusion) / self.rows),
            "balanced_accuracy": float(recall_present.mean()),
            "log_loss": self.log_loss_sum / self.rows,
            "roc_auc": _roc_auc(sample_labels, sample_p),
            "f1_macro": float(np.mean(f1)),
            "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                                 "support": int(support[i])} for i, name in enumerate(self.names)},
            "confusion_matrix": self.confusion.astype(int).tolist(),
            "class_names": list(self.names),
        }
        return _sampled(out, ["roc_auc"], len(sample_labels), self.rows)


class LabelCounts:
    """Per-label confusion counts, rows with every label right and summed log loss of a multilabel split."""

    def __init__(self, label_names: Sequence[str], threshold: float = 0.5) -> None:
        self.names, self.threshold = [str(n) for n in label_names], threshold
        k = len(self.names)
        self.rows, self.exact, self.log_loss_sum = 0, 0, 0.0
        self.tp, self.fp, self.fn = (np.zeros(k, dtype=np.int64) for _ in range(3))

    def add(self, y_true: np.ndarray, pred: np.ndarray) -> None:
        """Accumulate a block: 0/1 labels (m, k) and probabilities (m, k)."""
        y, p = np.asarray(y_true, dtype=np.float64), np.asarray(pred, dtype=np.float64)
        check_finite(y, "y_true")
        check_finite(p, "proba")
        labels, hit = y.astype(np.int64), (p >= self.threshold).astype(np.int64)
        self.tp += (labels & hit).sum(0)
        self.fp += ((1 - labels) & hit).sum(0)
        self.fn += (labels & (1 - hit)).sum(0)
        self.exact += int((labels == hit).all(1).sum())
        clipped = np.clip(p, 1e-15, 1 - 1e-15)
        self.log_loss_sum += float(-(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped)).sum())
        self.rows += len(y)

    def result(self, sample_true: np.ndarray, sample_pred: np.ndarray) -> dict[str, Any]:
        """`multilabel_metrics` of every row added (the ROC-AUCs: of the sample rows)."""
        tp, fp, fn = self.tp, self.fp, self.fn
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        f1 = _ratio(2 * tp, 2 * tp + fp + fn)
        labels, p = np.asarray(sample_true).astype(np.int64), np.asarray(sample_pred, dtype=np.float64)
        aucs = [float(skm.roc_auc_score(labels[:, j], p[:, j])) if 0 < labels[:, j].sum() < len(labels) else None
                for j in range(len(self.names))]
        defined = [a for a in aucs if a is not None]
        macro = float(np.mean(defined)) if defined else None
        micro = float(skm.roc_auc_score(labels.ravel(), p.ravel())) if 0 < labels.sum() < labels.size else None
        out = {
            "roc_auc": macro, "roc_auc_macro": macro, "roc_auc_micro": micro,
            "f1_macro": float(np.mean(f1)),
            "f1_micro": float(_ratio(np.array([2 * tp.sum()]), np.array([2 * tp.sum() + fp.sum() + fn.sum()]))[0]),
            "hamming_loss": float((fp.sum() + fn.sum()) / (self.rows * len(self.names))),
            "subset_accuracy": self.exact / self.rows,
            "log_loss": self.log_loss_sum / (self.rows * len(self.names)),
            "per_label": {name: {"roc_auc": aucs[j], "precision": float(precision[j]), "recall": float(recall[j]),
                                 "f1": float(f1[j]), "support": int(tp[j] + fn[j])}
                          for j, name in enumerate(self.names)},
            "label_names": list(self.names),
        }
        return _sampled(out, ["roc_auc", "roc_auc_macro", "roc_auc_micro", "per_label.roc_auc"], len(labels),
                        self.rows)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b elementwise, 0 where b is 0 (scikit-learn's zero_division=0)."""
    return np.divide(a, b, out=np.zeros(len(a)), where=b > 0)


#: task name -> its accumulator, made from (class names, target names)
STREAM_METRICS: dict[str, Callable[[Sequence[str], Sequence[str]], Accumulator]] = {
    REGRESSION.name: lambda classes, targets: RegressionSums(targets),
    BINARY.name: lambda classes, targets: ClassCounts(classes),
    MULTICLASS.name: lambda classes, targets: ClassCounts(classes),
    MULTILABEL.name: lambda classes, targets: LabelCounts(classes),
}


def metrics_accumulator(task: str, class_names: Sequence[str], target_names: Sequence[str]) -> Accumulator:
    """The block-by-block metrics of `task` (a task name in `STREAM_METRICS`)."""
    make = STREAM_METRICS.get(task_of(task).name)
    if make is None:
        raise ConfigError(f"metrics of a '{task}' task are not accumulated block by block; a streamed table's task "
                          f"is one of {', '.join(STREAM_METRICS)}.")
    return make(class_names, target_names)
