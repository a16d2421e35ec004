"""Diagnostic figures of a fitted model, and their inline form for the HTML report.

Every function builds a `matplotlib.figure.Figure` with the object API (Agg canvas, no pyplot state, no
window) and returns it; `figure_to_data_uri` turns one into a base64 PNG data URI and frees it.
"""

from __future__ import annotations

import base64
import io
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from sklearn import metrics as skm

from deepsci.errors import DataError
from deepsci.evaluation.metrics import (check_classification_inputs, check_finite, classification_metrics, real_steps,
                                        rmse)

#: Colour cycle used for every figure (matplotlib's tab10, colour-blind friendlier than the default order).
_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf"]


def _new_figure(width: float = 5.0, height: float = 4.0) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plain_text(text: object) -> str:
    """`text` as matplotlib will draw it verbatim: every user text (column, target, class, units) goes
    through here before it reaches a label, title, legend or tick.

    matplotlib reads a string holding an even number of unescaped `$` as mathtext, and a `$x^2$` or a
    lone `\\` inside it can raise ParseFatalException at savefig, after training. Escaping every `$`
    as `\\$` leaves no math (the count of `$` equals the count of `\\$`), and matplotlib turns each
    `\\$` back into `$` when it draws.
    """
    return str(text).replace("$", "\\$")


def _legend_text(text: object) -> str:
    """`plain_text` for a legend entry: a legend drops labels that start with `_`, a zero-width space keeps them."""
    out = plain_text(text)
    return "\u200b" + out if out.startswith("_") else out


def _axis_label(name: str, units: str) -> str:
    return f"{name} ({units})" if units else name


def _paired(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    yt = np.asarray(y_true, dtype=np.float64).reshape(-1)
    yp = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if yt.shape != yp.shape or yt.size < 2:
        raise DataError(
            f"y_true and y_pred must be one target of the same length (at least 2); received "
            f"{np.shape(y_true)} and {np.shape(y_pred)}. Plot multi-target outputs one column at a time."
        )
    check_finite(yt, "y_true")
    check_finite(yp, "y_pred")
    return yt, yp


def _history_columns(history: Any) -> dict[str, np.ndarray]:
    """Epoch, train_loss and valid_loss columns of a history (list of dicts or DataFrame) as float arrays."""
    if hasattr(history, "to_dict"):  # a pandas DataFrame
        records = history.to_dict("records")
    else:
        records = list(history)
    if not records:
        raise DataError("history is empty: there is no epoch to plot. Train for at least one epoch.")
    if "train_loss" not in records[0]:
        raise DataError(
            f"history rows need a 'train_loss' key; received keys {sorted(records[0])}. Pass Trainer.history_."
        )

    def column(key: str) -> np.ndarray:
        return np.array([np.nan if r.get(key) is None else float(r[key]) for r in records], dtype=np.float64)

    epochs = column("epoch") if "epoch" in records[0] else np.arange(1, len(records) + 1, dtype=np.float64)
    return {"epoch": epochs, "train_loss": column("train_loss"), "valid_loss": column("valid_loss")}


def learning_curves(history: Any, *, loss_name: str = "loss") -> Figure:
    """Training and validation loss per epoch, with the epoch of the lowest validation loss marked.

    The y axis is logarithmic when every loss is positive and they span more than a factor of 20.

    Args:
        history: one dict per epoch with ``epoch``, ``train_loss`` and optionally ``valid_loss``
            (``Trainer.history_``), or a DataFrame with those columns (``history.csv``).
        loss_name: label of the y axis.
    """
    cols = _history_columns(history)
    epochs, train, valid = cols["epoch"], cols["train_loss"], cols["valid_loss"]
    fig = _new_figure()
    ax = fig.add_subplot()
    ax.plot(epochs, train, color=_COLOURS[0], label="train", marker="o" if epochs.size < 15 else None, ms=3)
    has_valid = bool(np.isfinite(valid).any())
    if has_valid:
        ax.plot(epochs, valid, color=_COLOURS[1], label="validation", marker="o" if epochs.size < 15 else None,
                ms=3)
        best = int(np.nanargmin(valid))
        ax.axvline(epochs[best], color="0.5", ls=":", lw=1)
        ax.plot(epochs[best], valid[best], "*", color=_COLOURS[1], ms=11,
                label=f"best validation (epoch {epochs[best]:g})")
    finite = np.concatenate([train[np.isfinite(train)], valid[np.isfinite(valid)]])
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 20:
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(NullFormatter())  # labelled minor ticks crowd a short log axis
    ax.set_xlabel("epoch")
    ax.set_ylabel(plain_text(loss_name))
    ax.set_title("Learning curves")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return fig


def parity_plot(y_true: Any, y_pred: Any, *, name: str = "target", units: str = "") -> Figure:
    """Predicted against true values with the y = x line, and r and RMSE written on the plot.

    Args:
        y_true: true values, shape (n,), in the target's units.
        y_pred: predictions, shape (n,), same units.
        name: the target's name, for the axis labels.
        units: the target's units (e.g. ``"log mol/L"``), for the labels and the RMSE.
    """
    name, units = plain_text(name), plain_text(units)
    yt, yp = _paired(y_true, y_pred)
    error = rmse(yt, yp)
    r = float(np.corrcoef(yt, yp)[0, 1]) if np.ptp(yt) > 0 and np.ptp(yp) > 0 else float("nan")
    fig = _new_figure(4.8, 4.5)
    ax = fig.add_subplot()
    lo, hi = float(min(yt.min(), yp.min())), float(max(yt.max(), yp.max()))
    pad = 0.05 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + pad
    ax.plot([lo, hi], [lo, hi], color="0.3", lw=1, ls="--", label="y = x")
    ax.scatter(yt, yp, s=14, alpha=0.6, color=_COLOURS[0], edgecolors="none", label=f"{yt.size} points")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("true " + _axis_label(name, units))
    ax.set_ylabel("predicted " + _axis_label(name, units))
    ax.set_title(f"Parity: {name}")
    unit = f" {units}" if units else ""
    ax.text(0.04, 0.96, f"r = {r:.3f}\nRMSE = {error:.3g}{unit}", transform=ax.transAxes, va="top",
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.7"})
    ax.legend(loc="lower right", frameon=False)
    ax.grid(alpha=0.3)
    return fig


def residual_histogram(y_true: Any, y_pred: Any, *, name: str = "target", units: str = "") -> Figure:
    """Histogram of residuals (predicted − true), with their mean and standard deviation.

    Args:
        y_true: true values, shape (n,).
        y_pred: predictions, shape (n,).
        name: the target's name; units: its units.
    """
    name, units = plain_text(name), plain_text(units)
    yt, yp = _paired(y_true, y_pred)
    res = yp - yt
    fig = _new_figure(5.0, 3.6)
    ax = fig.add_subplot()
    bins = int(np.clip(np.sqrt(res.size) * 1.5, 10, 60))
    centre, spread = float(res.mean()), float(np.ptp(res))
    # Residuals (nearly) all equal: numpy cannot cut a range of rounding-error width into bins.
    span = None if spread > 1e-9 * max(1.0, abs(centre)) else (centre - 0.5, centre + 0.5)
    ax.hist(res, bins=bins, range=span, color=_COLOURS[0], alpha=0.8, edgecolor="white")
    ax.axvline(0.0, color="0.3", lw=1, ls="--")
    unit = f" {units}" if units else ""
    ax.text(0.97, 0.95, f"mean = {res.mean():.3g}{unit}\nsd = {res.std(ddof=1):.3g}{unit}",
            transform=ax.transAxes, va="top", ha="right",
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.7"})
    ax.set_xlabel("residual, predicted − true " + _axis_label(name, units))
    ax.set_ylabel("count")
    ax.set_title(f"Residuals: {name}")
    ax.grid(alpha=0.3)
    return fig


def _one_vs_rest(y_true: Any, proba: Any, class_names: Sequence[str]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, is-positive (n,), score (n,)) for each curve: binary gives one, multiclass one per class,
    multilabel (y_true (n, k) 0/1, proba (n, k) per-label probabilities) one per label."""
    if np.ndim(y_true) == 2 and np.shape(y_true)[1] > 1 and np.shape(y_true) == np.shape(proba):
        yt, pl = np.asarray(y_true), np.asarray(proba, dtype=np.float64)
        return [(_legend_text(name), yt[:, j] == 1, pl[:, j]) for j, name in enumerate(class_names)]
    labels, p = check_classification_inputs(y_true, proba, class_names)
    if p.shape[1] == 2:
        return [(_legend_text(class_names[1]), labels == 1, p[:, 1])]
    return [(_legend_text(name), labels == c, p[:, c]) for c, name in enumerate(class_names)]


def roc_curves(y_true: Any, proba: Any, class_names: Sequence[str]) -> Figure:
    """ROC curve(s) with their AUC: binary, of the positive class; multiclass, one-vs-rest per class.

    Args:
        y_true: class indices, shape (n,).
        proba: class probabilities, shape (n, k) (binary: (n, 2) or (n,)).
        class_names: the k class labels.
    """
    fig = _new_figure(4.8, 4.5)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.5", lw=1, ls="--", label="chance")
    for i, (label, positive, score) in enumerate(_one_vs_rest(y_true, proba, class_names)):
        if positive.all() or not positive.any():
            continue  # ROC is undefined without both positives and negatives
        fpr, tpr, _ = skm.roc_curve(positive, score)
        auc = skm.auc(fpr, tpr)
        ax.plot(fpr, tpr, color=_COLOURS[i % len(_COLOURS)], lw=1.5, label=f"{label} (AUC {auc:.3f})")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve" + ("s (one vs rest)" if len(class_names) > 2 else ""))
    ax.legend(loc="lower right", frameon=False, fontsize="small" if len(class_names) > 5 else None)
    ax.grid(alpha=0.3)
    return fig


def pr_curves(y_true: Any, proba: Any, class_names: Sequence[str]) -> Figure:
    """Precision–recall curve(s) with average precision; dotted lines mark each class's prevalence
    (the precision of a random classifier).

    Args:
        y_true: class indices, shape (n,).
        proba: class probabilities, shape (n, k) (binary: (n, 2) or (n,)).
        class_names: the k class labels.
    """
    fig = _new_figure(4.8, 4.5)
    ax = fig.add_subplot()
    for i, (label, positive, score) in enumerate(_one_vs_rest(y_true, proba, class_names)):
        if not positive.any():
            continue
        colour = _COLOURS[i % len(_COLOURS)]
        precision, recall, _ = skm.precision_recall_curve(positive, score)
        ap = skm.average_precision_score(positive, score)
        ax.plot(recall, precision, color=colour, lw=1.5, label=f"{label} (AP {ap:.3f})", drawstyle="steps-post")
        ax.axhline(positive.mean(), color=colour, lw=0.8, ls=":")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision–recall" + (" (one vs rest)" if len(class_names) > 2 else ""))
    ax.legend(loc="lower left", frameon=False, fontsize="small" if len(class_names) > 5 else None)
    ax.grid(alpha=0.3)
    return fig


def confusion_matrix_plot(cm: Any, class_names: Sequence[str]) -> Figure:
    """The confusion matrix twice: counts, and normalised by row (each true class's recall on the diagonal).

    Args:
        cm: k × k counts, row = true class, column = predicted class (``classification_metrics``'s
            ``confusion_matrix``).
        class_names: the k class labels.
    """
    counts = np.asarray(cm, dtype=np.float64)
    k = len(class_names)
    if counts.shape != (k, k):
        raise DataError(f"confusion matrix must be {k} × {k} for {k} class names; received shape {counts.shape}.")
    check_finite(counts, "confusion matrix")
    row_sums = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, row_sums, out=np.zeros_like(counts), where=row_sums > 0)
    size = 3.2 + 0.35 * k
    fig = _new_figure(2 * size + 0.6, size)
    names = [plain_text(c) for c in class_names]
    annotate = k <= 20
    for ax, values, title, fmt in (
        (fig.add_subplot(1, 2, 1), counts, "counts", "{:.0f}"),
        (fig.add_subplot(1, 2, 2), normalised, "normalised by true class", "{:.2f}"),
    ):
        vmax = 1.0 if values is normalised else max(float(values.max()), 1.0)
        image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=vmax)
        fig.colorbar(image, ax=ax, shrink=0.8)
        ax.set_xticks(range(k), names, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
        ax.set_yticks(range(k), names)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(title)
        if annotate:
            for i in range(k):
                for j in range(k):
                    dark = values[i, j] > 0.6 * vmax
                    ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center",
                            color="white" if dark else "black", fontsize=9 if k <= 10 else 7)
    fig.suptitle("Confusion matrix")
    return fig


def figure_to_data_uri(fig: Figure, *, dpi: int = 110) -> str:
    """The figure as a ``data:image/png;base64,...`` URI (for an <img> in a self-contained page); then frees it.

    Args:
        fig: a matplotlib Figure (from this module, or pyplot).
        dpi: resolution of the PNG.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    if "matplotlib.pyplot" in sys.modules:  # a pyplot figure would otherwise stay alive in pyplot's registry
        sys.modules["matplotlib.pyplot"].close(fig)
    fig.clear()
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def figures_for(
    task: str,
    y_true: Any,
    y_pred_or_proba: Any,
    history: Any = None,
    class_names: Sequence[str] = (),
    target_name: str | Sequence[str] = "target",
    units: str = "",
) -> list[tuple[str, str]]:
    """The standard figures for a task, as (caption, data URI) pairs ready for `write_report`.

    Regression: learning curves, then a parity plot and a residual histogram per target. Classification
    ("binary", "multiclass"): learning curves, ROC curves, precision–recall curves, confusion matrix.
    Multilabel: learning curves, ROC and precision–recall curves per label. Tagging: the classification
    figures of the real steps pooled (padded steps left out).

    Args:
        task: "regression", "binary", "multiclass", "multilabel" or "tagging".
        y_true: true values (n,) / (n, t) in original units, class indices (n,), 0/1 labels (n, k)
            (multilabel) or tags (n, T) with -100 on padding (tagging).
        y_pred_or_proba: predictions like ``y_true`` (regression) or probabilities (n, k) / (n, T, k).
        history: ``Trainer.history_`` or a DataFrame; None or empty skips the learning curves.
        class_names: class labels (classification).
        target_name: name of the target, or one name per target column.
        units: the target's units.
    """
    figures = TASK_FIGURES.get(task)
    if figures is None:
        raise DataError(f"unknown task '{task}'. Known tasks: {', '.join(sorted(TASK_FIGURES))}.")
    out: list[tuple[str, str]] = []
    if history is not None and len(history) > 0:
        out.append(("Training and validation loss per epoch; the star marks the lowest validation loss.",
                    figure_to_data_uri(learning_curves(history))))
    return out + figures(y_true, y_pred_or_proba, list(class_names), target_name, units)


def regression_figures(y_true: Any, pred: Any, class_names: list[str], target_name: str | Sequence[str],
                       units: str) -> list[tuple[str, str]]:
    """A parity plot and a residual histogram per target (y_true, pred: (n,) or (n, t), original units)."""
    del class_names
    yt = np.asarray(y_true, dtype=np.float64)
    yp = np.asarray(pred, dtype=np.float64)
    yt = yt.reshape(yt.shape[0], -1)
    yp = yp.reshape(yp.shape[0], -1)
    if yt.shape != yp.shape:
        raise DataError(f"y_true {yt.shape} and predictions {yp.shape} must have the same shape.")
    names = [target_name] if isinstance(target_name, str) else list(target_name)
    if len(names) != yt.shape[1]:
        names = [f"{names[0]}[{j}]" for j in range(yt.shape[1])] if names else [
            f"target_{j}" for j in range(yt.shape[1])]
    out = []
    for j, name in enumerate(names):
        out.append((f"Predicted against true {name} ({yt.shape[0]} rows); dashed line y = x.",
                    figure_to_data_uri(parity_plot(yt[:, j], yp[:, j], name=name, units=units))))
        out.append((f"Residuals (predicted − true) of {name}.",
                    figure_to_data_uri(residual_histogram(yt[:, j], yp[:, j], name=name, units=units))))
    return out


def class_figures(y_true: Any, proba: Any, class_names: list[str], target_name: str | Sequence[str],
                  units: str) -> list[tuple[str, str]]:
    """ROC and precision–recall curves and the confusion matrix (y_true (n,) class indices, proba (n, k))."""
    del target_name, units
    cm = classification_metrics(y_true, proba, class_names)["confusion_matrix"]
    kind = "of the positive class" if len(class_names) == 2 else "one vs rest, per class"
    return [(f"ROC curve ({kind}) with its area under the curve.",
             figure_to_data_uri(roc_curves(y_true, proba, class_names))),
            (f"Precision–recall curve ({kind}) with average precision; dotted: prevalence.",
             figure_to_data_uri(pr_curves(y_true, proba, class_names))),
            ("Confusion matrix: counts (left) and fraction of each true class (right).",
             figure_to_data_uri(confusion_matrix_plot(cm, class_names)))]


def multilabel_figures(y_true: Any, proba: Any, class_names: list[str], target_name: str | Sequence[str],
                       units: str) -> list[tuple[str, str]]:
    """ROC and precision–recall curves per label (y_true (n, k) 0/1 labels, proba (n, k))."""
    del target_name, units
    return [("ROC curve of each label with its area under the curve.",
             figure_to_data_uri(roc_curves(y_true, proba, class_names))),
            ("Precision–recall curve of each label with average precision; dotted: prevalence.",
             figure_to_data_uri(pr_curves(y_true, proba, class_names)))]


def tagging_figures(y_true: Any, proba: Any, class_names: list[str], target_name: str | Sequence[str],
                    units: str) -> list[tuple[str, str]]:
    """The classification figures of the real steps pooled (y_true (n, T) with -100 on padding, proba (n, T, k))."""
    steps, pooled = real_steps(y_true, proba)
    return class_figures(steps, pooled, class_names, target_name, units)


TaskFigures = Callable[[Any, Any, list[str], "str | Sequence[str]", str], list[tuple[str, str]]]

#: task name -> its standard figures beside the learning curves (a new task registers its own here)
TASK_FIGURES: dict[str, TaskFigures] = {
    "regression": regression_figures, "binary": class_figures, "multiclass": class_figures,
    "multilabel": multilabel_figures, "tagging": tagging_figures}
