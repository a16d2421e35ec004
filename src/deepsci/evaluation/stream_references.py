"""References for a streamed table (`stream = true`): trivial, and ridge from XᵀX and Xᵀy accumulated in one pass.

A streamed table does not fit in memory, so scikit-learn's RidgeCV (which holds the (n, d) matrix) cannot be
used. The ridge solution needs only the Gram matrix: one pass over the training rows in blocks accumulates
G = X̃ᵀX̃ and B = X̃ᵀY of the centred features X̃ (d x d and d x t, float64; the means from a first
accumulation of the sums in the same pass, by the parallel update of Chan et al. 1979), and

    w(α) = (G + α I)⁻¹ B,  b = ȳ - x̄ᵀ w.

The penalty is chosen among the in-memory reference's ALPHAS by generalised cross-validation, exact from the
eigenvalues λ of G: GCV(α) = n RSS(α) / (n - Σ λ/(λ+α))², RSS(α) = tr(YᵀỸ) - 2 tr(wᵀB) + tr(wᵀGw).
Memory: one block of rows and O(d²), whatever the row count. Classification fits the same ridge to one-hot
targets (a least-squares classifier); its class probabilities are the scores clipped to [1e-6, 1] and
normalised. Registered in `deepsci.evaluation.references.REFERENCES` under "stream".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from deepsci.data.batch import Inputs, n_rows, take
from deepsci.evaluation.baselines import ALPHAS, fit_trivial
from deepsci.evaluation.references import REFERENCES, Reference, TrainingRows
from deepsci.tasks import task_of

__all__ = ["BLOCK_ROWS", "GramRidge", "streamed_references"]

BLOCK_ROWS = 16_384  # rows read at once: 16,384 x 20 float64 features are 2.6 MB


class GramRidge:
    """Ridge regression from accumulated sums: `add(F, Y)` block by block, then `solve()`; `predict(F)`."""

    def __init__(self) -> None:
        self.n = 0
        self.mean_x: np.ndarray | None = None
        self.mean_y: np.ndarray | None = None
        self.G: np.ndarray | None = None  # centred X̃ᵀX̃
        self.B: np.ndarray | None = None  # centred X̃ᵀỸ
        self.yy = 0.0  # centred tr(ỸᵀỸ)
        self.coef: np.ndarray | None = None
        self.intercept: np.ndarray | None = None
        self.alpha = float("nan")

    def add(self, F: np.ndarray, Y: np.ndarray) -> None:
        """Accumulate a block of features (m, d) and targets (m, t) (Chan et al.'s pairwise update)."""
        F, Y = np.asarray(F, dtype=np.float64), np.asarray(Y, dtype=np.float64).reshape(len(F), -1)
        m = len(F)
        if m == 0:
            return
        mx, my = F.mean(0), Y.mean(0)
        Fc, Yc = F - mx, Y - my
        if self.mean_x is None or self.mean_y is None or self.G is None or self.B is None:
            self.n, self.mean_x, self.mean_y = m, mx, my
            self.G, self.B, self.yy = Fc.T @ Fc, Fc.T @ Yc, float((Yc * Yc).sum())
            return
        n, total = self.n, self.n + m
        dx, dy = mx - self.mean_x, my - self.mean_y
        w = n * m / total
        self.G += Fc.T @ Fc + w * np.outer(dx, dx)
        self.B += Fc.T @ Yc + w * np.outer(dx, dy)
        self.yy += float((Yc * Yc).sum()) + w * float(dy @ dy)
        self.mean_x, self.mean_y, self.n = self.mean_x + dx * m / total, self.mean_y + dy * m / total, total

    def solve(self, alphas: np.ndarray = ALPHAS) -> "GramRidge":
        """The penalty of least GCV among `alphas`, and the coefficients at it."""
        assert self.G is not None and self.B is not None and self.mean_x is not None and self.mean_y is not None
        lam, V = np.linalg.eigh(self.G)
        lam = np.clip(lam, 0.0, None)
        VB = V.T @ self.B  # (d, t)
        best = (np.inf, float(alphas[0]))
        for alpha in alphas:
            shrink = 1.0 / (lam + alpha)
            # RSS = tr(YᵀY) - 2 tr(wᵀB) + tr(wᵀGw), with w = V diag(shrink) VᵀB
            rss = self.yy - float(((2 * shrink - lam * shrink ** 2)[:, None] * VB ** 2).sum())
            dof = float((lam * shrink).sum())
            gcv = self.n * max(rss, 0.0) / max(self.n - dof, 1e-12) ** 2
            if gcv < best[0]:
                best = (gcv, float(alpha))
        self.alpha = best[1]
        self.coef = V @ (VB / (lam + self.alpha)[:, None])  # (d, t)
        self.intercept = self.mean_y - self.mean_x @ self.coef
        return self

    def predict(self, F: np.ndarray) -> np.ndarray:
        """(m, t) predictions for features (m, d)."""
        assert self.coef is not None and self.intercept is not None
        return np.asarray(F, dtype=np.float64) @ self.coef + self.intercept


def _blocks(X: Inputs, rows: int = BLOCK_ROWS) -> Any:
    """(start, features (m, d) float64) of X, `rows` at a time, in order."""
    n = n_rows(X)
    for start in range(0, n, rows):
        block = take(X, slice(start, min(n, start + rows)))
        assert isinstance(block, torch.Tensor)
        yield start, block.double().numpy()


def _targets(rows: TrainingRows, start: int, stop: int) -> np.ndarray:
    """The ridge's targets of training rows [start, stop): regression and multilabel as they are, classes one-hot
    (m, k); made block by block, so a classification never holds an (n, k) one-hot matrix."""
    y = rows.y[start:stop]
    if task_of(rows.task).continuous or task_of(rows.task).multilabel:
        return y.reshape(len(y), -1)
    return np.eye(rows.n_classes)[y.astype(np.int64)]


def streamed_references(rows: TrainingRows) -> list[Reference]:
    """Trivial and ridge references of a streamed table, fitted in one pass over the training blocks."""
    trivial = fit_trivial(rows.task, rows.y, rows.n_classes)
    ridge = GramRidge()
    for start, F in _blocks(rows.X):
        ridge.add(F, _targets(rows, start, start + len(F)))
    ridge.solve()
    assert ridge.coef is not None
    width = ridge.coef.shape[1]  # t targets or k classes
    continuous, multilabel = task_of(rows.task).continuous, task_of(rows.task).multilabel  # not `rows`: its y is n long

    def predict(X: Inputs) -> np.ndarray:
        out = np.concatenate([ridge.predict(F) for _, F in _blocks(X)]) if n_rows(X) else np.zeros((0, width))
        if continuous:
            return out
        scores = np.clip(out, 1e-6, 1.0)
        return scores if multilabel else scores / scores.sum(1, keepdims=True)

    what = "ridge regression" if continuous else "least-squares classifier (ridge on one-hot targets)"
    return [Reference("trivial", trivial.description, lambda X: trivial.predict(np.empty((n_rows(X), 0)))),
            Reference("linear", f"{what} (alpha {ridge.alpha:.3g}, GCV; fitted from XᵀX in one streamed pass) "
                                "on the table's scaled columns", predict)]


REFERENCES.setdefault("stream", streamed_references)
