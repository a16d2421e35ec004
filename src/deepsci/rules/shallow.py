"""Shallow learning rules: perceptron, delta rule (LMS), Hebbian and Oja's rule.

Each update is a pure function on arrays; ``*_fit`` functions run it over data and return a
small dataclass. numpy is used throughout: these are one-layer rules on small data, where a Python
loop over samples is the algorithm itself.

References:
    Rosenblatt (1958), Psychol. Rev. 65, 386 — perceptron; Novikoff (1962) — convergence bound.
    Minsky & Papert (1969), *Perceptrons* — XOR is not linearly separable.
    Widrow & Hoff (1960) — delta rule / least mean squares.
    Hebb (1949); Oja (1982), J. Math. Biol. 15, 267 — normalised Hebbian rule finds the first PC.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog

from deepsci.errors import DataError


def _check_xy(X: np.ndarray, y: np.ndarray, *, labels: tuple[int, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise DataError(f"expected X of shape (n, d) and y of shape (n,); received {X.shape} and {y.shape}.")
    if labels is not None and not np.isin(y, labels).all():
        raise DataError(f"perceptron labels must be in {labels}; received values {sorted(set(y.tolist()))[:5]}. "
                        "Map your two classes to -1 and +1.")
    return X, y


# ---------------------------------------------------------------- perceptron


def perceptron_update(w: np.ndarray, b: float, x: np.ndarray, y: float, lr: float = 1.0) -> tuple[np.ndarray, float]:
    """One perceptron step for a sample (x, y), y in {-1, +1}: w += lr*y*x, b += lr*y if misclassified.

    A sample on the boundary (w·x + b = 0) counts as misclassified.
    """
    if y * (float(w @ x) + b) <= 0.0:
        return w + lr * y * x, b + lr * y
    return w, b


@dataclass
class PerceptronResult:
    """Outcome of :func:`perceptron_fit`.

    Attributes:
        w: (d,) weights; b: bias.
        converged: an epoch passed with no mistake.
        epochs: epochs run.
        mistakes: mistakes per epoch.
        cycled: the (w, b) at the end of an epoch repeated an earlier one without converging: the
            rule is in a cycle and will never converge (happens on non-separable data).
    """

    w: np.ndarray
    b: float
    converged: bool
    epochs: int
    mistakes: list[int] = field(default_factory=list)
    cycled: bool = False


def perceptron_fit(X: np.ndarray, y: np.ndarray, *, lr: float = 1.0, max_epochs: int = 1000) -> PerceptronResult:
    """Rosenblatt's perceptron, samples in the given order each epoch, from w = 0, b = 0.

    On linearly separable data it converges after at most (R/gamma)^2 mistakes (Novikoff 1962).
    With integer inputs and lr = 1 the weights stay on a lattice, so on non-separable data the
    epoch-end state must eventually repeat; that repeat is reported as ``cycled``.

    Args:
        X: (n, d) inputs; y: (n,) labels in {-1, +1}.
    """
    X, y = _check_xy(X, y, labels=(-1, 1))
    w, b = np.zeros(X.shape[1]), 0.0
    seen: set[tuple[float, ...]] = set()
    mistakes: list[int] = []
    for epoch in range(1, max_epochs + 1):
        m = 0
        for xi, yi in zip(X, y):
            w_new, b_new = perceptron_update(w, b, xi, yi, lr)
            m += int(b_new != b or not np.array_equal(w_new, w))
            w, b = w_new, b_new
        mistakes.append(m)
        if m == 0:
            return PerceptronResult(w, b, True, epoch, mistakes)
        key = tuple(np.round(np.append(w, b), 12).tolist())
        if key in seen:
            return PerceptronResult(w, b, False, epoch, mistakes, cycled=True)
        seen.add(key)
    return PerceptronResult(w, b, False, max_epochs, mistakes)


def linearly_separable(X: np.ndarray, y: np.ndarray) -> bool:
    """Whether some (w, b) has y_i (w·x_i + b) >= 1 for all i: a linear-programming feasibility test.

    Independent of the perceptron: it proves (for XOR) that no weight vector exists at all.
    """
    X, y = _check_xy(X, y, labels=(-1, 1))
    n, d = X.shape
    # variables (w, b); constraints -y_i (x_i·w + b) <= -1
    A = -y[:, None] * np.hstack([X, np.ones((n, 1))])
    res = linprog(np.zeros(d + 1), A_ub=A, b_ub=-np.ones(n), bounds=[(None, None)] * (d + 1), method="highs")
    return bool(res.status == 0)


# ---------------------------------------------------------------- delta rule / LMS


def delta_update(w: np.ndarray, b: float, x: np.ndarray, y: float, lr: float) -> tuple[np.ndarray, float]:
    """Widrow–Hoff delta rule for a linear unit: w += lr (y - w·x - b) x (gradient of ½ error²)."""
    err = y - (float(w @ x) + b)
    return w + lr * err * x, b + lr * err


@dataclass
class DeltaResult:
    """Outcome of :func:`delta_fit`: weights, bias and mean squared error after each epoch."""

    w: np.ndarray
    b: float
    mse: list[float]


def delta_fit(X: np.ndarray, y: np.ndarray, *, lr: float = 0.01, epochs: int = 100, seed: int = 0) -> DeltaResult:
    """LMS: online delta rule over shuffled samples. With a small ``lr`` it approaches least squares.

    Stable when lr < 2 / max_i |x_i|^2 (each step then shrinks that sample's error).
    """
    X, y = _check_xy(X, y)
    rng = np.random.default_rng(seed)
    w, b = np.zeros(X.shape[1]), 0.0
    mse = []
    for _ in range(epochs):
        for i in rng.permutation(len(y)):
            w, b = delta_update(w, b, X[i], y[i], lr)
        mse.append(float(np.mean((X @ w + b - y) ** 2)))
    return DeltaResult(w, b, mse)


# ---------------------------------------------------------------- Hebbian and Oja


def hebbian_update(w: np.ndarray, x: np.ndarray, lr: float) -> np.ndarray:
    """Plain Hebb for a linear unit y = w·x: w += lr y x. Its norm grows without bound."""
    return w + lr * float(w @ x) * x


def oja_update(w: np.ndarray, x: np.ndarray, lr: float) -> np.ndarray:
    """Oja's rule: w += lr y (x - y w), y = w·x — Hebb plus a decay that keeps |w| near 1."""
    y = float(w @ x)
    return w + lr * y * (x - y * w)


@dataclass
class OjaResult:
    """Outcome of :func:`oja_fit`: the unit weight vector and its norm after each epoch."""

    w: np.ndarray
    norms: list[float]


def oja_fit(X: np.ndarray, *, lr: float = 1e-4, epochs: int = 30, seed: int = 0, center: bool = True) -> OjaResult:
    """Run Oja's rule over the rows of X (shuffled each epoch), with lr decaying as 1/(1 + epoch/10).

    The fixed point is the leading eigenvector of the covariance (up to sign), |w| = 1.

    Args:
        X: (n, d) samples. lr: initial learning rate; keep lr * largest eigenvalue well below 1.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise DataError(f"oja_fit expects X of shape (n, d); received {X.shape}.")
    if center:
        X = X - X.mean(0)
    rng = np.random.default_rng(seed)
    w: np.ndarray = np.asarray(rng.normal(size=X.shape[1]))
    w = w / np.linalg.norm(w)
    norms = []
    for epoch in range(epochs):
        eta = lr / (1.0 + epoch / 10.0)
        for i in rng.permutation(len(X)):
            w = oja_update(w, X[i], eta)
        norms.append(float(np.linalg.norm(w)))
    return OjaResult(w, norms)
