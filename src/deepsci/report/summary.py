"""Metrics as a table: the rows and columns shared by the HTML report and the terminal summary."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rich.table import Table

#: Split columns come in this order; any other split-like key follows in the order given.
SPLIT_ORDER = ("train", "valid", "validation", "calibration", "test")

#: Nested metric values that are not one number; the report renders them in tables of their own.
NESTED_KEYS = ("per_class", "per_target", "confusion_matrix", "class_names")


def format_value(value: Any) -> str:
    """A metric or summary value as short text: floats to 4 significant digits, None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:#.4g}"
    return str(value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (int, float, str, bool))


def split_columns(metrics: Mapping[Any, Any]) -> dict[str, Mapping[Any, Any]]:
    """The metric dict of each split, in train/valid/test order.

    ``metrics`` is ``{"train": {...}, "valid": {...}, "test": {...}}`` (every dict-valued key is a column);
    a flat dict of metrics (one split) becomes the single column ``"value"``.
    """
    if metrics and all(_is_scalar(v) or k in NESTED_KEYS for k, v in metrics.items()):
        return {"value": metrics}
    columns = {k: v for k, v in metrics.items() if isinstance(v, Mapping)}
    ordered = [k for k in SPLIT_ORDER if k in columns] + [k for k in columns if k not in SPLIT_ORDER]
    return {k: columns[k] for k in ordered}


def metric_rows(metrics: Mapping[Any, Any]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(column names, rows of (metric name, one formatted value per column)) for the scalar metrics."""
    columns = split_columns(metrics)
    names: list[str] = []
    for split in columns.values():
        for key, value in split.items():
            if key not in names and key not in NESTED_KEYS and _is_scalar(value):
                names.append(key)
    rows = [(name, [format_value(split.get(name)) for split in columns.values()]) for name in names]
    return list(columns), rows


def metrics_table(metrics: Mapping[Any, Any], *, title: str = "Metrics") -> Table:
    """The scalar metrics as a rich Table for the terminal: one row per metric, one column per split.

    Args:
        metrics: ``{"train": {...}, "valid": {...}, "test": {...}}`` of dicts from
            `deepsci.evaluation.metrics`, or one such dict.
        title: the table's title.
    """
    columns, rows = metric_rows(metrics)
    table = Table(title=title)
    table.add_column("metric", style="bold")
    for column in columns:
        table.add_column(column, justify="right")
    for name, values in rows:
        table.add_row(name, *values)
    return table


#: The error-bar numbers shown beside each split's metrics: (key in metrics.json["uncertainty"][split], row name).
ERROR_BAR_ROWS = (("coverage", "interval coverage"), ("mean_width", "interval width"),
                  ("set_coverage", "set coverage"), ("mean_set_size", "set size"), ("ece", "ece"))


def with_error_bars(metrics: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each split's metrics with its error bars' coverage and width (or set coverage, size and ECE) beside them,
    the coverage named with its nominal level: what the terminal's metrics table shows."""
    splits = {k: dict(metrics[k]) for k in SPLIT_ORDER if isinstance(metrics.get(k), Mapping)}
    uncertainty = metrics.get("uncertainty") or {}
    for split, values in splits.items():
        bars = uncertainty.get(split) if isinstance(uncertainty.get(split), Mapping) else None
        if not bars:
            continue
        level = f" ({float(bars.get('level', uncertainty.get('level', 0.9))):.0%})"
        for key, name in ERROR_BAR_ROWS:
            if key in bars:
                values[name + (level if "coverage" in key else "")] = bars[key]
    return splits


def scheme_line(metrics: Mapping[str, Any]) -> str | None:
    """The one line naming the run's error bars, their cost and how to turn them off (None for a run without)."""
    scheme = (metrics.get("uncertainty") or {}).get("scheme")
    return str(scheme) if scheme else None


def run_tables(metrics: Mapping[str, Any]) -> list[Table]:
    """What the terminal shows after a fit: the metrics per split, then the model beside its references.

    Args:
        metrics: a run's metrics.json; its "baselines" entry holds each reference's metrics per split
            (deepsci.evaluation.references: at least the trivial and a linear model, for every kind of data).
    """
    tables = [metrics_table(with_error_bars(metrics))]
    baselines = metrics.get("baselines") or {}
    test = metrics.get("test")
    if baselines and isinstance(test, Mapping):
        keys = [k for k in ("rmse", "r2", "accuracy", "roc_auc", "log_loss") if k in test]
        table = Table(title="Test split against simple references (same rows and features)")
        table.add_column("model", style="bold")
        for key in keys:
            table.add_column(key, justify="right")
        table.add_row("this run", *[format_value(test.get(k)) for k in keys])
        for name, entry in baselines.items():
            scores = entry.get("test", {}) if isinstance(entry, Mapping) else {}
            table.add_row(f"{name} ({entry.get('description', '')})", *[format_value(scores.get(k)) for k in keys])
        tables.append(table)
    return tables


def run_warnings(metrics: Mapping[str, Any]) -> list[str]:
    """The run's warnings (e.g. a model worse than the trivial baseline), to print loudly."""
    return [str(w) for w in metrics.get("warnings") or []]
