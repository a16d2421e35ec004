"""Multi-label and per-step (tagging) metrics on hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest

from deepsci.errors import DataError
from deepsci.evaluation.metrics import multilabel_metrics, tagging_metrics


def test_multilabel_metrics_by_hand():
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    p = np.array([[0.9, 0.2], [0.4, 0.3], [0.6, 0.8], [0.7, 0.1]])
    m = multilabel_metrics(y, p, ["a", "b"])
    # label a: positives 0.9, 0.6 vs negatives 0.4, 0.7 -> 3 of 4 pairs ranked right; label b: 4 of 4
    assert m["per_label"]["a"]["roc_auc"] == pytest.approx(0.75)
    assert m["per_label"]["b"]["roc_auc"] == pytest.approx(1.0)
    assert m["roc_auc_macro"] == m["roc_auc"] == pytest.approx(0.875)
    # at 0.5: predictions [[1,0],[0,0],[1,1],[1,0]]: wrong pairs (row 1, b) and (row 3, a)
    assert m["hamming_loss"] == pytest.approx(2 / 8)
    assert m["subset_accuracy"] == pytest.approx(2 / 4)
    # a: tp 2 fp 1 fn 0 -> F1 0.8; b: tp 1 fp 0 fn 1 -> F1 2/3; micro: tp 3 fp 1 fn 1 -> 0.75
    assert m["f1_macro"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert m["f1_micro"] == pytest.approx(0.75)
    assert m["log_loss"] == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    with pytest.raises(DataError, match="0/1"):
        multilabel_metrics(np.array([[2, 0], [0, 1]]), p[:2], ["a", "b"])


def test_tagging_metrics_count_real_steps_only():
    y = np.array([[0, 1, 1, -100], [1, 0, -100, -100]])
    p1 = np.array([[0.2, 0.9, 0.4, 1.0], [0.8, 0.1, 1.0, 1.0]])  # P(tag 1); padding says "1" everywhere
    proba = np.stack([1 - p1, p1], axis=-1)
    m = tagging_metrics(y, proba, ["0", "1"])
    assert m["steps"] == 5
    # real steps: truth 0 1 1 1 0, predicted 0 1 0 1 0 -> 4 of 5 right; tag 1: tp 2 fn 1 fp 0 -> F1 0.8
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["f1"] == pytest.approx(0.8) == m["per_class"]["1"]["f1"]
    assert m["confusion_matrix"] == [[2, 0], [1, 2]]
