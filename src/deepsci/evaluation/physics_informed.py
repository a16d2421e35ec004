"""How good a physics-informed solution is: its error against the exact solution on a grid, and its figures.

The grid is a regular tensor-product grid of the problem's box (`evaluation_grid`), not the collocation
points the network was fitted at, so the error measures the solution between them too. The error is the
relative L2 error ||u - u*||_2 / ||u*||_2 over the grid's points (a discrete L2 norm on a uniform grid), and the
largest absolute error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor

from deepsci.training.equations import Problem, Solution

__all__ = ["SolutionCheck", "check_solution", "evaluation_grid", "history_figure", "relative_l2",
           "solution_figure"]

#: grid points per axis by the problem's dimension (1-D: 1001; 2-D: 101 x 101; more: 21 per axis)
GRID_POINTS = {1: 1001, 2: 101}
GRID_POINTS_ELSE = 21


@dataclass(frozen=True)
class SolutionCheck:
    """A solution on the evaluation grid, with its error where the exact solution is known.

    Attributes:
        coordinates: the names of the d inputs.
        output: the solution's name.
        shape: grid points per axis (the points are in C order of the axes).
        points: (n, d) grid points. predicted: (n,) the fitted solution there. exact: (n,) or None.
        relative_l2, max_abs_error: None where the exact solution is unknown.
    """

    coordinates: tuple[str, ...]
    output: str
    shape: tuple[int, ...]
    points: np.ndarray
    predicted: np.ndarray
    exact: np.ndarray | None
    relative_l2: float | None
    max_abs_error: float | None

    def metrics(self) -> dict[str, Any]:
        """The error block of metrics.json."""
        return {"relative_l2": self.relative_l2, "max_abs_error": self.max_abs_error,
                "grid": list(self.shape), "grid_points": int(len(self.points))}

    def frame(self) -> pd.DataFrame:
        """predictions.csv: one row per grid point: the coordinates, `<output>_pred`, [`<output>_exact`, error]."""
        frame = pd.DataFrame(self.points, columns=list(self.coordinates))
        frame[f"{self.output}_pred"] = self.predicted
        if self.exact is not None:
            frame[f"{self.output}_exact"] = self.exact
            frame["error"] = self.predicted - self.exact
        return frame


def relative_l2(predicted: np.ndarray | Tensor, exact: np.ndarray | Tensor) -> float:
    """||predicted - exact||_2 / ||exact||_2 over all entries (inf where exact is all zero and they differ)."""
    p, e = np.asarray(predicted, dtype=np.float64).ravel(), np.asarray(exact, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(e))
    difference = float(np.linalg.norm(p - e))
    return difference / norm if norm > 0 else (0.0 if difference == 0 else float("inf"))


def evaluation_grid(problem: Problem, points_per_axis: int | None = None) -> tuple[Tensor, tuple[int, ...]]:
    """((n, d) float64 grid points, shape): a regular grid of the box, ends included (GRID_POINTS by default)."""
    d = len(problem.coordinates)
    k = points_per_axis or GRID_POINTS.get(d, GRID_POINTS_ELSE)
    axes = [torch.linspace(lo, hi, k, dtype=torch.float64) for lo, hi in zip(problem.lower, problem.upper)]
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], dim=1), (k,) * d


def check_solution(problem: Problem, solution: Solution, points_per_axis: int | None = None) -> SolutionCheck:
    """The solution on the problem's evaluation grid, with its errors against `problem.exact` where known.

    `solution` is called without a graph, in float64 (the network is cast to it where it is not).
    """
    points, shape = evaluation_grid(problem, points_per_axis)
    with torch.no_grad():
        predicted = solution(points).reshape(-1).double().cpu().numpy()
        exact = problem.exact(points).reshape(-1).double().cpu().numpy() if problem.exact is not None else None
    error = None if exact is None else relative_l2(predicted, exact)
    worst = None if exact is None else float(np.max(np.abs(predicted - exact)))
    return SolutionCheck(coordinates=problem.coordinates, output=problem.output, shape=shape,
                         points=points.numpy(), predicted=predicted, exact=exact, relative_l2=error,
                         max_abs_error=worst)


def solution_figure(check: SolutionCheck, title: str = "") -> Figure:
    """1-D: the fitted and the exact solution over the coordinate, and their difference below. 2-D: the fitted
    solution, the exact one and their difference as maps over the two coordinates. More: not drawn (empty)."""
    fig = Figure(figsize=(9, 3.4) if len(check.shape) == 2 else (7, 4.6))
    if len(check.shape) == 1:
        _curves(fig, check)
    elif len(check.shape) == 2:
        _maps(fig, check)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _curves(fig: Figure, check: SolutionCheck) -> None:
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    t = check.points[:, 0]
    if check.exact is not None:
        top.plot(t, check.exact, color="0.6", lw=3, label="exact")
        bottom.plot(t, check.predicted - check.exact, color="C3", lw=1)
    top.plot(t, check.predicted, color="C0", lw=1.2, ls="--", label="network")
    top.set_ylabel(check.output)
    top.legend(frameon=False)
    bottom.set_ylabel("network - exact")
    bottom.set_xlabel(check.coordinates[0])


def _maps(fig: Figure, check: SolutionCheck) -> None:
    panels = [("network", check.predicted)]
    if check.exact is not None:
        panels += [("exact", check.exact), ("network - exact", check.predicted - check.exact)]
    axes = fig.subplots(1, len(panels))
    extent = (check.points[:, 1].min(), check.points[:, 1].max(), check.points[:, 0].min(), check.points[:, 0].max())
    for ax, (name, values) in zip(np.atleast_1d(axes), panels):
        image = ax.imshow(values.reshape(check.shape), origin="lower", aspect="auto", extent=extent,
                          cmap="RdBu_r" if name.endswith("exact") and "-" in name else "viridis")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(check.coordinates[1])
        ax.set_ylabel(check.coordinates[0])
        fig.colorbar(image, ax=ax)


def history_figure(history: Sequence[dict[str, Any]]) -> Figure:
    """The loss at every evaluation, log scale, Adam and L-BFGS told apart; with penalised conditions (soft form)
    its equation-residual part too."""
    fig = Figure(figsize=(6.5, 3.4))
    ax = fig.subplots()
    steps = np.array([row["evaluation"] for row in history])
    penalised = any(row["conditions"] > 0 for row in history)  # else the loss is the residual: one line
    for stage, color in (("adam", "C0"), ("lbfgs", "C1")):
        rows = [i for i, row in enumerate(history) if row["stage"] == stage]
        if rows:
            ax.semilogy(steps[rows], [history[i]["loss"] for i in rows], color=color, lw=1, label=f"loss ({stage})")
        if rows and penalised:
            ax.semilogy(steps[rows], [history[i]["residual"] for i in rows], color=color, lw=0.8, ls=":",
                        label=f"equation residual ({stage})")
    ax.set_xlabel("loss evaluation")
    ax.set_ylabel("mean squared residual")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
