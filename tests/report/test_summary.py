"""metrics_table: the terminal summary of the metrics."""

from __future__ import annotations

import io

from rich.console import Console

from deepsci.evaluation.metrics import regression_metrics
from deepsci.report.summary import format_value, metric_rows, metrics_table


def _render(table) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(table)
    return console.file.getvalue()


def test_format_value() -> None:
    assert format_value(0.123456) == "0.1235"
    assert format_value(1.0) == "1.000"
    assert format_value(0.0001234) == "1.234e-04"
    assert format_value(None) == "—"
    assert format_value(12) == "12" and format_value(True) == "yes"
    assert format_value(float("nan")) == "NaN"


def test_metrics_table_has_one_column_per_split_in_order() -> None:
    train = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.5, 1.5, 3.0, 5.0])  # rmse sqrt(0.375) = 0.6124
    test = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])  # rmse sqrt(1/3) = 0.5774
    metrics = {"test": test, "train": train, "valid": train}
    columns, rows = metric_rows(metrics)
    assert columns == ["train", "valid", "test"]
    assert rows[0] == ("rmse", ["0.6124", "0.6124", "0.5774"])
    text = _render(metrics_table(metrics))
    assert text.index("train") < text.index("valid") < text.index("test")
    assert "0.5774" in text and "spearman_rho" in text


def test_flat_metrics_and_nested_values_are_handled() -> None:
    metrics = {"accuracy": 0.5, "per_class": {"a": {"f1": 0.1}}, "confusion_matrix": [[1, 0], [0, 1]],
               "class_names": ["a", "b"]}
    columns, rows = metric_rows(metrics)
    assert columns == ["value"] and rows == [("accuracy", ["0.5000"])]
    assert "0.5000" in _render(metrics_table(metrics))
