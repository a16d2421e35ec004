"""A run in a Jupyter notebook: its compact HTML card, its one-line text, and the report's figures as matplotlib
objects, all drawn from the run folder's files (metrics.json, history.csv, predictions.csv).

`deepsci.run.Run` calls these for `_repr_html_`, `__repr__` and `figures`; nothing here trains or evaluates.
It sits beside run.py (run.py writes report.html's text and renders nothing itself).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from deepsci.evaluation.figures import (confusion_matrix_plot, figure_to_data_uri, learning_curves, parity_plot,
                                        pr_curves, residual_histogram, roc_curves)
from deepsci.evaluation.metrics import classification_metrics
from deepsci.report.summary import format_value, metric_rows, scheme_line, with_error_bars
from deepsci.tasks import task_of

#: the figure the card shows, by preference: the parity plot of a regression, the confusion matrix of a classifier
MAIN_FIGURES = ("parity", "confusion")


def run_line(name: str, task: str, metrics: Mapping[str, Any], path: Path) -> str:
    """The run as one line: "Run('solubility', regression, test rmse=0.71 r2=0.88, runs/solubility)"."""
    key, second = task_of(task).headline
    test = metrics.get("test") or {}
    scores = " ".join(f"{k}={format_value(test[k])}" for k in (key, second) if k in test)
    return f"Run({name!r}, {task}, test {scores or 'not evaluated'}, {path})"


def data_line(metrics: Mapping[str, Any]) -> str:
    """The data in one line: source, kind, rows used of rows read, inputs, and the split sizes."""
    data = metrics.get("data") or {}
    split = data.get("split") or {}
    source = str(data.get("source", "?")).strip("'")  # metrics.json quotes a file's path
    parts = [f"{source} ({data.get('kind', '?')})"]
    if data.get("rows_used") is not None:
        parts.append(f"{data['rows_used']} of {data.get('rows_read', data['rows_used'])} rows used")
    if data.get("n_features"):
        parts.append(f"{data['n_features']} features")
    sizes = ", ".join(f"{k} {split[k]}" for k in ("train", "valid", "calib", "test") if split.get(k))
    return "; ".join(parts + ([f"split: {sizes}"] if sizes else []))


def run_figures(path: Path, task: str, target_names: Sequence[str], class_names: Sequence[str],
                units: str = "", only: Collection[str] | None = None) -> dict[str, Figure]:
    """The report's figures as matplotlib Figures, redrawn from history.csv and the test rows of predictions.csv.

    Keys: "learning_curves"; a regression's "parity" and "residuals" (suffixed " <target>" beyond one target);
    a single-label classifier's "roc", "pr" and "confusion". A caller may restyle and save them
    (`fig.savefig("parity.pdf")`). `only` names the kinds to draw (e.g. MAIN_FIGURES); None draws them all.
    """

    def wanted(key: str) -> bool:
        return only is None or key in only

    figures: dict[str, Figure] = {}
    history = path / "history.csv"
    if history.is_file() and wanted("learning_curves"):
        frame = pd.read_csv(history)
        if len(frame):
            figures["learning_curves"] = learning_curves(frame)
    predictions = path / "predictions.csv"
    if not predictions.is_file():
        return figures
    rows = pd.read_csv(predictions, dtype={"id": str})
    kind = task_of(task)
    if kind.continuous:
        shown = [t for t in target_names if t in rows.columns and f"{t}_pred" in rows.columns]
        for t in shown:
            suffix = f" {t}" if len(shown) > 1 else ""
            y, pred = rows[t].to_numpy(np.float64), rows[f"{t}_pred"].to_numpy(np.float64)
            if wanted("parity"):
                figures["parity" + suffix] = parity_plot(y, pred, name=t, units=units)
            if wanted("residuals"):
                figures["residuals" + suffix] = residual_histogram(y, pred, name=t, units=units)
    elif kind.exclusive and not kind.per_step and target_names and target_names[0] in rows.columns:
        index = {str(c): i for i, c in enumerate(class_names)}
        y_true = np.array([index[str(v)] for v in rows[target_names[0]]])
        proba = rows[[f"p_{c}" for c in class_names]].to_numpy(np.float64)
        if wanted("roc"):
            figures["roc"] = roc_curves(y_true, proba, list(class_names))
        if wanted("pr"):
            figures["pr"] = pr_curves(y_true, proba, list(class_names))
        if wanted("confusion"):
            cm = classification_metrics(y_true, proba, list(class_names))["confusion_matrix"]
            figures["confusion"] = confusion_matrix_plot(cm, list(class_names))
    return figures


def run_card(name: str, task: str, metrics: Mapping[str, Any], path: Path, main: Figure | None) -> str:
    """The run as a compact HTML card: name and task, the data line, the metrics per split with the references
    (trivial and linear models) beside them, the error bars' scheme, the main figure (`main`, e.g. the parity plot)
    inline as a base64 PNG, and a link to report.html."""
    image = f'<img src="{figure_to_data_uri(main)}" style="max-width:360px" alt="main figure">' if main else ""
    scheme = scheme_line(metrics)
    report = path / "report.html"
    link = f'<a href="{escape(str(report))}" target="_blank">report.html</a>' if report.is_file() else ""
    return (f'<div class="deepsci-run" style="border:1px solid #ccc;border-radius:6px;padding:8px 12px;'
            f'display:inline-block;font-family:sans-serif">'
            f"<b>deepsci run: {escape(name)}</b> ({escape(task)}) {link}"
            f'<div style="color:#555;margin:4px 0">{escape(data_line(metrics))}</div>'
            f'<div style="display:flex;gap:16px;align-items:flex-start"><div>{_metrics_html(metrics)}'
            f'{_references_html(task, metrics)}'
            f'{f"<p style=max-width:420px>{escape(scheme)}</p>" if scheme else ""}</div>{image}</div></div>')


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]], caption: str) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="deepsci-metrics"><caption>{escape(caption)}</caption><tr>{head}</tr>{body}</table>'


def _metrics_html(metrics: Mapping[str, Any]) -> str:
    """The metrics table: one row per metric, one column per split, the error bars' coverage and width included."""
    columns, rows = metric_rows(with_error_bars(metrics))
    return _table(["metric", *columns], [[name, *values] for name, values in rows], "Metrics")


def _references_html(task: str, metrics: Mapping[str, Any]) -> str:
    """The test split's headline metrics of this run beside the trivial and linear references (tables only)."""
    baselines, test = metrics.get("baselines") or {}, metrics.get("test") or {}
    if not baselines or not test:
        return ""
    keys = [k for k in task_of(task).headline if k in test]
    rows = [["this run", *[format_value(test.get(k)) for k in keys]]]
    rows += [[f"{name} ({entry.get('description', '')})", *[format_value(entry.get("test", {}).get(k)) for k in keys]]
             for name, entry in baselines.items() if isinstance(entry, Mapping)]
    return _table(["model", *keys], rows, "Test split against simple references")
