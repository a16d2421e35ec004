"""The run folder's predictions table (one registered function per task) and its place in the house."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from deepsci import run
from deepsci.tasks import TASKS

SRC = Path(run.__file__)


def test_every_task_registers_its_prediction_columns() -> None:
    assert set(run.PREDICTION_FRAMES) == set(TASKS)


def test_regression_columns_carry_truth_prediction_and_error_bars() -> None:
    pred = np.array([[1.0, 2.0], [3.0, 4.0]])
    bars = {"std": np.full((2, 2), 0.5), "lower": pred - 1, "upper": pred + 1}
    frame = run.predictions_frame(["a", "b"], pred, "regression", ["u", "v"], [], y_true=pred + 0.1,
                                  uncertainty=bars)
    assert list(frame.columns) == ["id", "u", "u_pred", "u_std", "u_lower", "u_upper",
                                   "v", "v_pred", "v_std", "v_lower", "v_upper"]
    assert frame["v_upper"].tolist() == [3.0, 5.0] and frame["u"].tolist() == pytest.approx([1.1, 3.1])


def test_class_columns_name_the_classes_and_the_conformal_sets() -> None:
    proba = np.array([[0.8, 0.2], [0.3, 0.7]])
    sets = np.array([[True, False], [True, True]])
    frame = run.predictions_frame(["a", "b"], proba, "binary", ["label"], ["no", "yes"], y_true=np.array([0, 0]),
                                  uncertainty={"sets": sets})
    assert frame["label"].tolist() == ["no", "no"] and frame["label_pred"].tolist() == ["no", "yes"]
    assert frame["p_yes"].tolist() == [0.2, 0.7]
    assert frame["label_set"].tolist() == ["no", "no|yes"] and frame["label_set_size"].tolist() == [1, 2]


def test_multilabel_columns_threshold_each_label_at_one_half() -> None:
    frame = run.predictions_frame(["a"], np.array([[0.4, 0.6]]), "multilabel", ["x"], ["red", "blue"])
    assert list(frame.columns) == ["id", "red_pred", "p_red", "blue_pred", "p_blue"]
    assert frame[["red_pred", "blue_pred"]].to_numpy().tolist() == [[0, 1]]


def test_tagging_has_one_row_per_real_step() -> None:
    proba = np.zeros((2, 3, 2))
    proba[..., 1] = 1.0
    frame = run.predictions_frame(["a", "b"], proba, "tagging", ["tag[t]"], ["O", "B"], steps=np.array([1, 3]))
    assert frame["id"].tolist() == ["a", "b", "b", "b"] and frame["position"].tolist() == [0, 0, 1, 2]
    assert set(frame["tag_pred"]) == {"B"}


def test_the_run_folder_writes_the_report_it_is_given_and_imports_no_report() -> None:
    """run.py sits below the report in the house: it writes report.html's text, never renders it."""
    imported = {node.module for node in ast.walk(ast.parse(SRC.read_text())) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for node in ast.walk(ast.parse(SRC.read_text())) if isinstance(node, ast.Import)
                 for a in node.names}
    assert not {m for m in imported if m and m.startswith("deepsci.report")}
