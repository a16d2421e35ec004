"""Physics-informed training: a network fitted to a differential equation at collocation points, not to data.

The loss is the mean squared residual of the problem's equation (deepsci.training.equations) at fixed
collocation points in its domain, its derivatives taken by autograd, plus, in the soft form, the weighted mean
squared residuals of its boundary and initial conditions:

    L = mean_i F[u](p_i)^2 + w sum_c mean_j B_c[u](q_cj)^2,    u(p) = network(p scaled to [-1, 1]^d)

In the hard form u(p) = ansatz(p, network(...)) meets every condition by construction and only the first term
is left. Training is Adam for `epochs` full-batch steps, then L-BFGS with a strong Wolfe line search for
`lbfgs_steps` iterations: Adam leaves the flat start, L-BFGS's curvature takes the residual down by orders
of magnitude where Adam crawls. It runs in float64 by default (the residual reaches 1e-8 and below, where
float32 rounding would dominate) and on one thread (`one_thread`: the same numbers on any machine).

The collocation points are a scrambled Sobol sequence in the box (torch.quasirandom, seeded by the run's
seed), fixed for the whole fit: low discrepancy covers the domain evenly in any dimension.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import torch
from torch import Tensor, nn
from torch.quasirandom import SobolEngine

from deepsci.errors import ConfigError, TrainingError
from deepsci.models.mlp import MLP
from deepsci.training.equations import Problem, Solution
from deepsci.training.physics_spec import CONSTRAINTS, SMOOTH_ACTIVATIONS

__all__ = ["PhysicsFit", "collocation_points", "fit", "one_thread", "physics_loss", "solution_of"]


@dataclass(frozen=True)
class PhysicsFit:
    """A network fitted to a problem.

    Attributes:
        problem: the problem it solves.
        network: the MLP (d inputs scaled to [-1, 1], 1 output), on the host, in eval mode.
        hard: True when the solution is the problem's ansatz around the network (conditions built in).
        collocation: (n, d) the collocation points it was fitted at.
        history: one row per loss evaluation: stage ("adam" or "lbfgs"; L-BFGS rows include its line
            search's trial points), evaluation (counted from 1), loss, residual (mean squared equation
            residual), conditions (weighted mean squared condition residuals; 0 in the hard form).
        seconds: wall time of the fit.
    """

    problem: Problem
    network: nn.Module
    hard: bool
    collocation: Tensor
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def solution(self) -> Solution:
        """The fitted solution u: points (n, d) -> (n, 1), differentiable (for residuals of new points)."""
        return solution_of(self.network, self.problem, hard=self.hard)

    def predict(self, points: Tensor) -> Tensor:
        """u at `points` (n, d) as (n, 1), without a graph, in the network's dtype and device."""
        parameter = next(self.network.parameters())
        with torch.no_grad():
            return self.solution()(points.to(parameter.device, parameter.dtype))


def collocation_points(problem: Problem, n: int, seed: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """(n, d) scrambled Sobol points in the problem's box, drawn from `seed` (the same seed, the same points)."""
    if n < 1:
        raise ConfigError(f"collocation_points = {n}: the residual needs at least one point; use e.g. 256.")
    unit = SobolEngine(len(problem.coordinates), scramble=True, seed=seed).draw(n, dtype=torch.float64)
    lower, upper = (torch.tensor(b, dtype=torch.float64) for b in (problem.lower, problem.upper))
    return (lower + unit * (upper - lower)).to(dtype)


def solution_of(network: nn.Module, problem: Problem, *, hard: bool) -> Solution:
    """u(points): the network on the points scaled to [-1, 1]^d, inside the problem's ansatz when `hard`."""

    def u(points: Tensor) -> Tensor:
        lower = torch.tensor(problem.lower, dtype=points.dtype, device=points.device)
        upper = torch.tensor(problem.upper, dtype=points.dtype, device=points.device)
        raw = network(2.0 * (points - lower) / (upper - lower) - 1.0)  # (n, 1)
        return problem.ansatz(points, raw) if hard and problem.ansatz is not None else raw

    return u


def physics_loss(u: Solution, problem: Problem, points: Tensor, conditions: Sequence[Tensor], *,
                 condition_weight: float) -> tuple[Tensor, Tensor, Tensor]:
    """(loss, residual term, condition term) of the module docstring's L for the solution `u`.

    Args:
        points: (n, d) collocation points that require grad.
        conditions: one (m, d) tensor of points per problem condition, requiring grad; empty in the hard form.
    """
    residual = problem.residual(u, points).pow(2).mean()
    terms = [c.residual(u, q).pow(2).mean() for c, q in zip(problem.conditions, conditions)]
    penalty = condition_weight * torch.stack(terms).sum() if terms else torch.zeros_like(residual)
    return residual + penalty, residual, penalty


def fit(problem: Problem, *, hidden: Sequence[int] = (32, 32), activation: str = "tanh", init: str = "xavier",
        seed: int = 0, epochs: int = 200, lr: float = 1e-2, lbfgs_steps: int = 300, collocation: int = 400,
        constraints: str = "hard", condition_weight: float = 1.0, dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu") -> PhysicsFit:
    """Fit a tanh MLP to `problem` by its residual (module docstring): Adam, then L-BFGS.

    Args:
        hidden, activation, init: the MLP (deepsci.models.mlp); the activation must be smooth
            (SMOOTH_ACTIVATIONS), since the residual differentiates the network.
        seed: the initial weights and the collocation points.
        epochs: full-batch Adam steps at learning rate `lr` (0: none).
        lbfgs_steps: L-BFGS iterations after Adam (0: none); at most 1.25 times as many loss evaluations.
        collocation: the number of collocation points.
        constraints: "hard" (the problem's ansatz holds the conditions) or "soft" (they are penalised, with
            weight `condition_weight`).
        dtype, device: where the fit computes.

    Raises:
        ConfigError: a name that is not allowed, "hard" for a problem without an ansatz, "soft" for one
            without conditions.
        TrainingError: the loss became NaN or infinite.
    """
    hard = _check_options(problem, activation=activation, constraints=constraints, steps=epochs + lbfgs_steps)
    network = MLP(len(problem.coordinates), 1, hidden, activation, init=init, seed=seed).to(device, dtype)
    points = collocation_points(problem, collocation, seed, dtype).to(device).requires_grad_(True)
    conditions = [] if hard else [c.points.to(device, dtype).requires_grad_(True) for c in problem.conditions]
    u = solution_of(network, problem, hard=hard)
    history: list[dict[str, Any]] = []

    def evaluate(stage: str) -> Tensor:
        loss, residual, penalty = physics_loss(u, problem, points, conditions, condition_weight=condition_weight)
        value = float(loss.detach())  # one host sync per evaluation: the history is the point of this loop
        if value != value or value in (float("inf"), float("-inf")):
            raise TrainingError(f"the physics loss became {value} at {stage} evaluation {len(history) + 1}; lower "
                                f"train.lr (now {lr}) or check the problem's residual for a division by zero.")
        history.append({"stage": stage, "evaluation": len(history) + 1, "loss": value,
                        "residual": float(residual.detach()), "conditions": float(penalty.detach())})
        return loss

    start = time.perf_counter()
    with one_thread():
        _adam(network, evaluate, epochs=epochs, lr=lr)
        _lbfgs(network, evaluate, steps=lbfgs_steps)
    network.eval()
    return PhysicsFit(problem=problem, network=network.cpu(), hard=hard, collocation=points.detach().cpu(),
                      history=history, seconds=time.perf_counter() - start)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one intra-op thread, then give back the caller's count.

    The weight gradients sum over the collocation points, and MKL splits such sums across threads in a
    thread-dependent order: with two threads the last digits change, and L-BFGS carries them into a different
    trajectory. At a few MFLOP a step a second thread gains nothing anyway (deepsci.training.threads: a dense
    step gains from 15.8 MFLOP). So the fit gives the same numbers on any machine, whatever its cores.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_options(problem: Problem, *, activation: str, constraints: str, steps: int) -> bool:
    """True for the hard form, after refusing options that cannot work (ConfigError, each with its fix)."""
    if constraints not in CONSTRAINTS:
        raise ConfigError(f"constraints = '{constraints}' is not one of {', '.join(CONSTRAINTS)}.")
    if activation not in SMOOTH_ACTIVATIONS:
        raise ConfigError(f"activation '{activation}' has no smooth second derivative, which the equation's "
                          f"residual differentiates; use one of {', '.join(SMOOTH_ACTIVATIONS)} (tanh is usual).")
    if constraints == "hard" and problem.ansatz is None:
        raise ConfigError(f"problem '{problem.name}' has no ansatz that builds its conditions in; use constraints "
                          "= 'soft' (its conditions penalised), or give the Problem an ansatz.")
    if constraints == "soft" and not problem.conditions:
        raise ConfigError(f"problem '{problem.name}' has no conditions to penalise, and an equation alone does not "
                          "fix its solution; give the Problem conditions, or use constraints = 'hard' with an ansatz.")
    if steps < 1:
        raise ConfigError("epochs and lbfgs_steps are both 0: nothing would train; set one of them above 0.")
    return constraints == "hard"


def _adam(network: nn.Module, evaluate: Any, *, epochs: int, lr: float) -> None:
    """`epochs` full-batch Adam steps on the loss `evaluate("adam")`."""
    optimiser = torch.optim.Adam(network.parameters(), lr=lr)
    for _ in range(epochs):
        optimiser.zero_grad(set_to_none=True)
        evaluate("adam").backward()
        optimiser.step()


def _lbfgs(network: nn.Module, evaluate: Any, *, steps: int) -> None:
    """`steps` L-BFGS iterations with a strong Wolfe line search on the loss `evaluate("lbfgs")`.

    The tolerances are set below float64's reach so that the iteration count, not a stall test, ends it.
    """
    if steps < 1:
        return
    optimiser = torch.optim.LBFGS(network.parameters(), lr=1.0, max_iter=steps, history_size=50,
                                  tolerance_grad=1e-15, tolerance_change=1e-20, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimiser.zero_grad(set_to_none=True)
        loss = evaluate("lbfgs")
        loss.backward()
        return loss

    optimiser.step(closure)  # type: ignore[no-untyped-call]
