"""Figures of an `Explanation`: importance per unit for each method, and accuracy against ε.

Each method's importances are divided by their largest value so that methods of different units
(output change, loss increase) share one axis; the ranking is what they are compared on.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from deepsci.evaluation.figures import plain_text
from deepsci.explain.adversarial import RobustnessCurve
from deepsci.explain.explanation import Explanation


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _normalised(values: np.ndarray) -> np.ndarray:
    top = np.abs(values).max()
    return values / top if top > 0 else values


def importance_figure(explanation: Explanation, *, top: int = 15) -> Figure:
    """Tables and molecular graphs: bars of the `top` features or atom features (ranked by the first
    method); images: one heat map per method;
    signals, sequences and sets: importance along the positions, one line per method."""
    structure = explanation.schema.structure
    if structure == "image" and len(explanation.schema.shape) == 3:
        return _image_maps(explanation)
    if structure in ("table", "graph", "reaction"):  # a graph's (or reaction's) units are its atom-feature columns
        return _feature_bars(explanation, top)
    return _position_lines(explanation)


def _feature_bars(explanation: Explanation, top: int) -> Figure:
    frame = explanation.frame()
    methods = list(explanation.attributions)
    order = np.argsort(-frame[methods[0]].to_numpy(), kind="stable")[:top]
    fig = _figure(7.0, 0.9 + 0.28 * len(order))
    ax = fig.subplots()
    height = 0.8 / len(methods)
    for k, method in enumerate(methods):
        ax.barh(np.arange(len(order)) + k * height, _normalised(frame[method].to_numpy())[order], height=height,
                label=method)
    ax.set_yticks(np.arange(len(order)) + 0.4 - height / 2,
                  [plain_text(frame["unit"].iloc[i]) for i in order], fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="importance / largest importance of the method")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def _image_maps(explanation: Explanation) -> Figure:
    shape = explanation.schema.shape[1:]
    methods = list(explanation.attributions)
    fig = _figure(2.3 * len(methods), 2.6)
    axes = np.atleast_1d(fig.subplots(1, len(methods)))
    for ax, method in zip(axes, methods):
        image = explanation.attributions[method].importance().numpy().reshape(shape)
        ax.imshow(_normalised(image), cmap="magma")
        ax.set_title(method, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def _position_lines(explanation: Explanation) -> Figure:
    fig = _figure(7.0, 3.0)
    ax = fig.subplots()
    for method, a in explanation.attributions.items():
        ax.plot(_normalised(a.importance().numpy()), label=method, lw=1)
    what = "element" if explanation.schema.structure == "set" else "position"
    ax.set(xlabel=f"{what} (0-based)", ylabel="importance / largest")
    ax.legend(fontsize=7)
    return fig


def robustness_figure(curve: RobustnessCurve) -> Figure:
    """Accuracy against ε, one line per attack."""
    fig = _figure(5.0, 3.4)
    ax = fig.subplots()
    for method, acc in curve.accuracy.items():
        label = f"{method.upper()}" + (f" ({curve.steps} steps)" if method == "pgd" else "")
        ax.plot(curve.epsilons, acc, "o-", label=label)
    ax.set(xlabel="ε (L∞, model input units)", ylabel="accuracy", ylim=(0, 1.02))
    ax.legend(fontsize=8)
    return fig
