"""Figures of images with their labels: test samples, and the worst misclassified examples."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from deepsci.evaluation.figures import plain_text


def image_grid(images: np.ndarray, titles: Sequence[str], *, columns: int = 8, colours: Sequence[str] = ()) -> Figure:
    """A grid of images (n, C, H, W) (first channel drawn, or RGB for C = 3), one title each."""
    n = len(images)
    rows = max(1, -(-n // columns))
    fig = Figure(figsize=(1.3 * columns, 1.5 * rows))
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i]
        if img.ndim == 3 and img.shape[0] == 3:
            ax.imshow(np.clip(np.moveaxis(img, 0, -1), 0, 1))
        else:
            ax.imshow(img[0] if img.ndim == 3 else img, cmap="gray_r")
        ax.set_title(plain_text(titles[i]), fontsize=7, color=colours[i] if colours else "black")
    fig.tight_layout()
    return fig


def classified_examples(images: np.ndarray, y_true: np.ndarray, proba: np.ndarray, class_names: Sequence[str],
                        *, n: int = 16, worst: bool = False) -> Figure:
    """The first `n` test images with true and predicted labels, or the `n` with the largest loss."""
    pred = proba.argmax(axis=1)
    if worst:
        loss = -np.log(np.clip(proba[np.arange(len(y_true)), y_true], 1e-12, 1.0))
        order = np.argsort(-loss)[:n]
    else:
        order = np.arange(min(n, len(y_true)))
    titles = [f"true {class_names[y_true[i]]} / pred {class_names[pred[i]]}" for i in order]
    colours = ["black" if pred[i] == y_true[i] else "tab:red" for i in order]
    return image_grid(images[order], titles, colours=colours)
