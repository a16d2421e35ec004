"""The capacity of a perceptron: Cover's function counting theorem, measured against the formula.

P points in general position in N dimensions have C(P, N) = 2 Σ_{k=0}^{N-1} binom(P-1, k) dichotomies
(labelings ±1) that a perceptron through the origin, sign(w·x), realises (Cover 1965). The fraction
C(P, N) / 2^P is 1 up to P = N, exactly 1/2 at P = 2N, and falls to 0 beyond: the capacity of the
perceptron is 2 bits... 2 patterns per weight (Gardner 1988; MacKay 2003, ch. 40).

The measurement draws Gaussian points (in general position with probability 1) and random labels, and
asks whether the labels are realisable: the largest margin t with y_i w·x_i ≥ t and |w_j| ≤ 1 is positive
exactly when they are, and is solved exactly by linear programming (scipy.optimize.linprog, HiGHS): no
perceptron training, whose failure to converge in a finite number of epochs would not prove a dichotomy
unrealisable.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.optimize import linprog


def cover_fraction(p: int, n: int) -> float:
    """C(P, N) / 2^P = 2^(1-P) Σ_{k=0}^{N-1} binom(P-1, k): the fraction of dichotomies a perceptron realises."""
    if p < 1 or n < 1:
        raise ValueError(f"need P >= 1 points and N >= 1 dimensions; received P={p}, N={n}.")
    return float(sum(comb(p - 1, k) for k in range(min(n, p))) * 2.0 ** (1 - p))


def separable(x: np.ndarray, y: np.ndarray, *, tol: float = 1e-9) -> bool:
    """Whether some w gives y_i w·x_i > 0 for every row.

    Solved as the bounded LP  max t  s.t.  y_i w·x_i ≥ t,  |w_j| ≤ 1,  t ≤ 1, which is always feasible
    (w = 0, t = 0) and bounded, so the solver returns an optimum; the dichotomy is realisable iff t* > 0
    (above `tol`, the solver's round-off).

    Args:
        x: (P, N) points. y: (P,) labels ±1.
    """
    p, n = x.shape
    cost = np.zeros(n + 1)
    cost[-1] = -1.0  # maximise t
    a_ub = np.hstack([-(y[:, None] * x), np.ones((p, 1))])  # t - y_i w·x_i ≤ 0
    res = linprog(cost, A_ub=a_ub, b_ub=np.zeros(p), bounds=[(-1.0, 1.0)] * n + [(None, 1.0)], method="highs")
    if res.status != 0:
        raise RuntimeError(f"linprog did not solve the margin LP: {res.message}")
    return bool(-res.fun > tol)


@dataclass
class CapacityResult:
    """Measured fraction of realisable dichotomies per P (with its binomial standard error) and Cover's."""

    n: int
    p: list[int]
    measured: list[float]
    stderr: list[float]
    formula: list[float]
    trials: int
    seed: int

    @property
    def max_deviation(self) -> float:
        return float(np.max(np.abs(np.array(self.measured) - np.array(self.formula))))


def capacity_experiment(n: int = 50, ratios: tuple[float, ...] = (0.5, 1.0, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0, 4.0), *,
                        trials: int = 200, seed: int = 0) -> CapacityResult:
    """For each P = round(ratio · N): the fraction of `trials` random dichotomies of P Gaussian points in N
    dimensions that are linearly separable through the origin, beside C(P, N) / 2^P."""
    rng = np.random.default_rng(seed)
    ps = sorted({max(1, int(round(r * n))) for r in ratios})
    measured, stderr = [], []
    for p in ps:
        hits = sum(separable(rng.standard_normal((p, n)), rng.choice([-1.0, 1.0], size=p)) for _ in range(trials))
        frac = hits / trials
        measured.append(frac)
        stderr.append(float(np.sqrt(max(frac * (1 - frac), 1e-12) / trials)))
    return CapacityResult(n, ps, measured, stderr, [cover_fraction(p, n) for p in ps], trials, seed)


def capacity_figure(res: CapacityResult) -> Figure:
    """Measured fraction (±2 SE) and Cover's formula against P/N."""
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ratios = np.array(res.p) / res.n
    dense = np.arange(1, int(max(res.p) * 1.05) + 1)
    ax.plot(dense / res.n, [cover_fraction(int(p), res.n) for p in dense], "-", label="Cover: C(P, N) / 2^P")
    ax.errorbar(ratios, res.measured, yerr=2 * np.array(res.stderr), fmt="o", ms=4,
                label=f"LP separability, {res.trials} dichotomies per P")
    ax.axvline(2.0, color="gray", ls=":", lw=1)
    ax.set(xlabel="P / N (points per weight)", ylabel="fraction realisable", ylim=(-0.03, 1.03),
           title=f"Perceptron capacity, N = {res.n}")
    ax.legend(fontsize=8)
    return fig
