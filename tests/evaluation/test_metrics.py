"""Metrics against hand-worked examples and scikit-learn / scipy on real data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.linear_model import LogisticRegression, Ridge

from deepsci.errors import DataError
from deepsci.evaluation.metrics import TASK_METRICS, classification_metrics, regression_metrics, rmse, task_metrics
from deepsci.tasks import TASKS


def test_regression_hand_worked() -> None:
    # errors 0.5, -0.5, 0, 1 -> MSE = (0.25 + 0.25 + 0 + 1) / 4 = 0.375; MAE = 2 / 4 = 0.5.
    # y mean 2.5, SS_tot = 2.25 + 0.25 + 0.25 + 2.25 = 5; SS_res = 1.5 -> R² = 1 - 1.5 / 5 = 0.7.
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.5, 1.5, 3.0, 5.0])
    m = regression_metrics(y, p)
    assert m["rmse"] == pytest.approx(np.sqrt(0.375), abs=1e-12)
    assert m["mae"] == pytest.approx(0.5, abs=1e-12)
    assert m["r2"] == pytest.approx(0.7, abs=1e-12)
    # ranks of p: 1.5 and 1.5 tie (1.5, 1.5), then 3, 4 -> spearman = pearson of ranks
    assert m["spearman_rho"] == pytest.approx(np.corrcoef([1, 2, 3, 4], [1.5, 1.5, 3, 4])[0, 1], abs=1e-12)
    assert m["pearson_r"] == pytest.approx(np.corrcoef(y, p)[0, 1], abs=1e-12)


def test_regression_matches_sklearn_and_scipy_on_diabetes() -> None:
    X, y = load_diabetes(return_X_y=True)
    pred = Ridge(alpha=0.1).fit(X[:300], y[:300]).predict(X[300:])
    m = regression_metrics(y[300:], pred)
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y[300:], pred)), rel=1e-10)
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y[300:], pred), rel=1e-10)
    assert m["r2"] == pytest.approx(skm.r2_score(y[300:], pred), rel=1e-10)
    assert m["pearson_r"] == pytest.approx(stats.pearsonr(y[300:], pred)[0], rel=1e-10)
    assert m["spearman_rho"] == pytest.approx(stats.spearmanr(y[300:], pred)[0], rel=1e-10)
    assert 0.3 < m["r2"] < 0.7  # a real, imperfect model
    json.dumps(m, allow_nan=False)


def test_regression_multi_target_means_and_per_target() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=(50, 2))
    p = y + rng.normal(scale=[0.1, 1.0], size=(50, 2))
    m = regression_metrics(y, p, target_names=["a", "b"])
    a, b = regression_metrics(y[:, 0], p[:, 0]), regression_metrics(y[:, 1], p[:, 1])
    assert m["per_target"] == {"a": a, "b": b}
    for key in ("rmse", "mae", "r2", "pearson_r", "spearman_rho"):
        assert m[key] == pytest.approx((a[key] + b[key]) / 2, rel=1e-12)
    assert m["per_target"]["a"]["rmse"] < m["per_target"]["b"]["rmse"]
    # (n, 1) behaves like (n,)
    assert regression_metrics(y[:, :1], p[:, :1]) == a


def test_regression_undefined_correlation_is_none_not_nan() -> None:
    m = regression_metrics([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert m["pearson_r"] is None and m["spearman_rho"] is None
    assert m["rmse"] == pytest.approx(np.sqrt(2 / 3))
    json.dumps(m, allow_nan=False)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_regression_non_finite_prediction_raises(bad: float) -> None:
    with pytest.raises(DataError, match="non-finite.*row 1"):
        regression_metrics([1.0, 2.0, 3.0], [1.0, bad, 3.0])


def test_regression_shape_mismatch_raises() -> None:
    with pytest.raises(DataError, match="same shape"):
        regression_metrics(np.zeros(5), np.zeros(4))
    with pytest.raises(DataError, match="at least 2"):
        regression_metrics([1.0], [1.0])


def test_classification_binary_hand_worked() -> None:
    # true 0 0 1 1; p(1) = 0.1 0.6 0.8 0.4 -> predictions 0 1 1 0: accuracy 0.5.
    # AUC: positive scores {0.8, 0.4} vs negative {0.1, 0.6}: pairs won 0.8>0.1, 0.8>0.6, 0.4>0.1 -> 3/4.
    # log loss = -(ln 0.9 + ln 0.4 + ln 0.8 + ln 0.4) / 4.
    y = np.array([0, 0, 1, 1])
    p1 = np.array([0.1, 0.6, 0.8, 0.4])
    m = classification_metrics(y, np.stack([1 - p1, p1], axis=1), ["neg", "pos"])
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["balanced_accuracy"] == pytest.approx(0.5)
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["log_loss"] == pytest.approx(-(np.log(0.9) + np.log(0.4) + np.log(0.8) + np.log(0.4)) / 4)
    assert m["confusion_matrix"] == [[1, 1], [1, 1]]
    assert m["per_class"]["pos"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["class_names"] == ["neg", "pos"]
    # the (n,) positive-class probability gives the same
    assert classification_metrics(y, p1, ["neg", "pos"]) == m


def test_classification_binary_matches_sklearn_on_breast_cancer() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X[:400].mean(0)) / X[:400].std(0)
    proba = LogisticRegression(max_iter=500).fit(X[:400], y[:400]).predict_proba(X[400:])
    yt, pred = y[400:], proba.argmax(1)
    m = classification_metrics(yt, proba, ["malignant", "benign"])
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(yt, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(yt, pred))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(yt, proba[:, 1]))
    assert m["log_loss"] == pytest.approx(skm.log_loss(yt, proba))
    assert m["roc_auc"] > 0.95
    assert m["per_class"]["benign"]["recall"] == pytest.approx(skm.recall_score(yt, pred))
    assert m["confusion_matrix"] == skm.confusion_matrix(yt, pred).tolist()
    json.dumps(m, allow_nan=False)


def test_classification_multiclass_matches_sklearn_on_digits() -> None:
    X, y = load_digits(return_X_y=True)
    proba = LogisticRegression(max_iter=300).fit(X[:1200] / 16, y[:1200]).predict_proba(X[1200:] / 16)
    yt, pred = y[1200:], proba.argmax(1)
    names = [str(d) for d in range(10)]
    m = classification_metrics(yt, proba, names)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(yt, proba, multi_class="ovr", average="macro"))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(yt, pred, average="macro"))
    p, r, f, s = skm.precision_recall_fscore_support(yt, pred)
    for i, name in enumerate(names):
        assert m["per_class"][name]["precision"] == pytest.approx(p[i])
        assert m["per_class"][name]["f1"] == pytest.approx(f[i])
        assert m["per_class"][name]["support"] == s[i]
    assert np.sum(m["confusion_matrix"]) == len(yt)
    assert m["accuracy"] > 0.9


def test_classification_one_class_present_gives_none_auc() -> None:
    m = classification_metrics([1, 1, 1], [[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]], ["a", "b"])
    assert m["roc_auc"] is None
    json.dumps(m, allow_nan=False)


def test_classification_bad_inputs_raise() -> None:
    names = ["a", "b", "c"]
    with pytest.raises(DataError, match="not raw logits"):
        classification_metrics([0, 1], [[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]], names)
    with pytest.raises(DataError, match="non-finite"):
        classification_metrics([0, 1], [[np.nan, 0.5, 0.5], [0.2, 0.3, 0.5]], names)
    with pytest.raises(DataError, match="class indices 0..2"):
        classification_metrics([0, 3], [[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]], names)
    with pytest.raises(DataError, match=r"shape \(n, 3\)"):
        classification_metrics([0, 1], [[0.5, 0.5], [0.5, 0.5]], names)


def test_rmse_is_one_function_and_every_task_registers_its_metrics():
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    assert rmse(y, p) == pytest.approx(np.sqrt(skm.mean_squared_error(y.ravel(), p.ravel())), rel=1e-12)
    assert regression_metrics(y[:, 0], p[:, 0])["rmse"] == rmse(y[:, 0], p[:, 0])
    assert set(TASK_METRICS) == set(TASKS)
    assert task_metrics("regression", y, p, [], ["a", "b"]) == regression_metrics(y, p, target_names=["a", "b"])
