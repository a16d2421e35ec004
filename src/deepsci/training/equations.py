"""Differential equations for physics-informed training: a `Problem` states an equation, its domain and its
conditions as functions on tensors; the shipped problems (`PROBLEMS`) also state their closed-form solution.

A problem is given by
- a box domain: `coordinates` named, each from `lower` to `upper` (e.g. t in [0, 5], or (x, t) in [0, 1]^2);
- `residual(u, points)`: the equation written as F[u](points) = 0, computed with autograd derivatives of
  the candidate solution `u` (a function from points (n, d) to values (n, 1)) at collocation points that
  require grad; `derivative` and `gradient` below take those derivatives;
- `conditions`: boundary and initial conditions, each a residual of its own at its own points (the soft form:
  their squared residuals join the loss);
- optionally an `ansatz(points, network_output)` that meets every condition whatever the network outputs (the
  hard form: only the equation's residual is left to learn), and the `exact` solution to compare with.

The shipped problems, each residual divided by a natural scale so that the loss is dimensionless and of order 1:
- `oscillator`: m x'' + c x' + k x = 0, x(0) = x0, x'(0) = v0 (underdamped); ansatz x = x0 + v0 t + (t/T)^2 N(t);
  exact x = exp(-g t) (x0 cos(w t) + (v0 + g x0) / w sin(w t)), g = c / 2m, w = sqrt(k/m - g^2).
- `heat`: u_t = alpha u_xx on x in [0, 1], u(x, 0) = sin(pi x), u(0, t) = u(1, t) = 0; ansatz
  u = sin(pi x) + x (1 - x) (t/T) N(x, t); exact u = exp(-alpha pi^2 t) sin(pi x).

A user's own equation is a function that returns a `Problem`, named in a config as "module:function"
(`problem_of`; the module is imported as Python imports it, so it must be on sys.path, e.g. via PYTHONPATH)
or passed in Python. Lagaris, Likas & Fotiadis 1998 (IEEE TNN 9, 987) for the hard form; Raissi, Perdikaris &
Karniadakis 2019 (J. Comput. Phys. 378, 686) for the soft one.
"""

from __future__ import annotations

import importlib
import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
from pydantic import ValidationError
from torch import Tensor

from deepsci.errors import ConfigError, unknown_name
from deepsci.training.physics_spec import HeatSpec, OscillatorSpec

__all__ = ["Condition", "PROBLEMS", "Problem", "Residual", "Solution", "derivative", "gradient", "heat",
           "oscillator", "problem_of"]

Solution = Callable[[Tensor], Tensor]  # points (n, d) -> values (n, 1)
Residual = Callable[[Solution, Tensor], Tensor]  # (u, points (n, d)) -> residuals (n, ...), 0 where it holds


@dataclass(frozen=True)
class Condition:
    """A boundary or initial condition: `residual(u, points)` is zero where it holds, at `points` (m, d)."""

    name: str
    points: Tensor
    residual: Residual


@dataclass(frozen=True)
class Problem:
    """A differential equation on a box, with its conditions (module docstring).

    Attributes:
        name: what the report calls it.
        coordinates: the names of the d inputs, e.g. ("x", "t").
        lower, upper: (d,) the box's corners, lower < upper in every coordinate.
        residual: F[u](points), (n, ...) for points (n, d) that require grad.
        conditions: the boundary and initial conditions (the soft form's penalties).
        ansatz: (points (n, d), network output (n, 1)) -> solution (n, 1) meeting every condition; None: none known.
        exact: points (n, d) -> the exact solution (n, 1); None: unknown (no error can be measured).
        equation: the equation and its conditions as text, for the report.
        output: the solution's name (x, u, ...).
    """

    name: str
    coordinates: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    residual: Residual
    conditions: tuple[Condition, ...] = ()
    ansatz: Callable[[Tensor, Tensor], Tensor] | None = None
    exact: Callable[[Tensor], Tensor] | None = None
    equation: str = ""
    output: str = "u"

    def __post_init__(self) -> None:
        d = len(self.coordinates)
        if d < 1 or len(self.lower) != d or len(self.upper) != d:
            raise ConfigError(f"problem '{self.name}': coordinates {self.coordinates}, lower {self.lower} and upper "
                              f"{self.upper} must have one entry per coordinate (at least one).")
        if any(not lo < hi for lo, hi in zip(self.lower, self.upper)):
            raise ConfigError(f"problem '{self.name}': every lower bound must be below its upper bound; received "
                              f"lower {self.lower}, upper {self.upper}.")
        for condition in self.conditions:
            if condition.points.ndim != 2 or condition.points.shape[1] != d:
                raise ConfigError(f"problem '{self.name}': condition '{condition.name}' has points of shape "
                                  f"{tuple(condition.points.shape)}; give (m, {d}), one column per coordinate.")


def gradient(values: Tensor, points: Tensor) -> Tensor:
    """(n, d) derivatives of `values` (n, 1) with respect to each coordinate of `points` (n, d), by autograd.

    The graph is kept (create_graph), so the result can be differentiated again and the loss built from it
    trained; points must require grad, and each value must depend on its own point only (as a network's do).
    """
    return torch.autograd.grad(values.sum(), points, create_graph=True)[0]


def derivative(values: Tensor, points: Tensor, dim: int, order: int = 1) -> Tensor:
    """(n, 1) d^order values / d points[:, dim]^order: `gradient` taken `order` times along coordinate `dim`."""
    out = values
    for _ in range(order):
        out = gradient(out, points)[:, dim:dim + 1]
    return out


# -- the shipped problems ------------------------------------------------------------------------------
def _spec(kind: type[Any], params: Mapping[str, Any]) -> Any:
    """params validated as the problem's spec type, a ConfigError naming the bad key otherwise."""
    try:
        return kind(**params)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        where = f"physics.{key}: " if key else ""
        raise ConfigError(f"{where}{first['msg'].removeprefix('Value error, ')}.") from None


def oscillator(condition_points: int = 1, **params: Any) -> Problem:
    """The damped harmonic oscillator of `OscillatorSpec` (params: its keys; defaults there).

    The residual is divided by k A, A = max(|x0|, |v0| / w0) the motion's amplitude scale, w0 = sqrt(k/m), so it
    is dimensionless; both conditions sit at t = 0 (`condition_points` is unused: one point holds them).
    """
    p: OscillatorSpec = _spec(OscillatorSpec, params)
    m, c, k, x0, v0, T = p.mass, p.damping, p.stiffness, p.x0, p.v0, p.t_end
    w0 = math.sqrt(k / m)
    g, amplitude = c / (2.0 * m), max(abs(x0), abs(v0) / w0)
    w = math.sqrt(w0 ** 2 - g ** 2)

    def residual(u: Solution, t: Tensor) -> Tensor:
        x = u(t)
        dx = gradient(x, t)
        return (m * gradient(dx, t) + c * dx + k * x) / (k * amplitude)

    def exact(t: Tensor) -> Tensor:
        return torch.exp(-g * t) * (x0 * torch.cos(w * t) + (v0 + g * x0) / w * torch.sin(w * t))

    start = torch.zeros(1, 1, dtype=torch.float64)
    conditions = (Condition("x(0) = x0", start, lambda u, t: (u(t) - x0) / amplitude),
                  Condition("x'(0) = v0", start, lambda u, t: (gradient(u(t), t) - v0) / (w0 * amplitude)))
    return Problem(name="oscillator", coordinates=("t",), lower=(0.0,), upper=(T,), residual=residual,
                   conditions=conditions, ansatz=lambda t, n: x0 + v0 * t + (t / T) ** 2 * n, exact=exact,
                   equation=f"{m:g} x'' + {c:g} x' + {k:g} x = 0 on t in [0, {T:g}], x(0) = {x0:g}, x'(0) = {v0:g}",
                   output="x")


def heat(condition_points: int = 64, **params: Any) -> Problem:
    """The 1-D heat equation of `HeatSpec` (params: its keys), with its conditions on `condition_points`
    points of each edge: the initial line t = 0 and the two ends x = 0, x = 1.

    The residual is divided by alpha pi^2, the decay rate of the solution, so it is dimensionless.
    """
    p: HeatSpec = _spec(HeatSpec, params)
    alpha, T = p.alpha, p.t_end

    def residual(u: Solution, points: Tensor) -> Tensor:
        grad = gradient(u(points), points)  # (n, 2): u_x, u_t
        u_xx = gradient(grad[:, :1], points)[:, :1]
        return (grad[:, 1:] - alpha * u_xx) / (alpha * math.pi ** 2)

    def exact(points: Tensor) -> Tensor:
        x, t = points[:, :1], points[:, 1:]
        return torch.exp(-alpha * math.pi ** 2 * t) * torch.sin(math.pi * x)

    def ansatz(points: Tensor, n: Tensor) -> Tensor:
        x, t = points[:, :1], points[:, 1:]
        return torch.sin(math.pi * x) + x * (1.0 - x) * (t / T) * n

    s = torch.linspace(0.0, 1.0, condition_points, dtype=torch.float64)
    zeros, ones = torch.zeros_like(s), torch.ones_like(s)
    conditions = (
        Condition("u(x, 0) = sin(pi x)", torch.stack([s, zeros], 1),
                  lambda u, q: u(q) - torch.sin(math.pi * q[:, :1])),
        Condition("u(0, t) = 0", torch.stack([zeros, s * T], 1), lambda u, q: u(q)),
        Condition("u(1, t) = 0", torch.stack([ones, s * T], 1), lambda u, q: u(q)))
    return Problem(name="heat", coordinates=("x", "t"), lower=(0.0, 0.0), upper=(1.0, T), residual=residual,
                   conditions=conditions, ansatz=ansatz, exact=exact, output="u",
                   equation=f"u_t = {alpha:g} u_xx on x in [0, 1], t in [0, {T:g}], u(x, 0) = sin(pi x), "
                            "u(0, t) = u(1, t) = 0")


#: the problems deepsci ships, by the name `[train] physics` takes (their parameters: physics_spec.PROBLEM_SPECS)
PROBLEMS: dict[str, Callable[..., Problem]] = {"oscillator": oscillator, "heat": heat}


def problem_of(name: str, params: Mapping[str, Any] | None = None, *, condition_points: int = 64) -> Problem:
    """The problem `name` names: a shipped one (PROBLEMS) built from `params`, or "module:function", a user's
    function called with `params` as keyword arguments, which must return a Problem.

    Raises:
        ConfigError: an unknown name, a module that does not import, a function that is missing, does not take
            these parameters or does not return a Problem.
    """
    params = dict(params or {})
    if name in PROBLEMS:
        return PROBLEMS[name](condition_points=condition_points, **params)
    if ":" not in name:
        raise ConfigError(unknown_name("physics problem", name, list(PROBLEMS)).rstrip(".")
                          + ", or 'module:function' for your own (a function returning a Problem).")
    return _user_problem(name, params)


def _user_problem(name: str, params: dict[str, Any]) -> Problem:
    """The Problem returned by the user's function named "module:function", called with `params`."""
    module_name, _, function_name = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"train.physics = '{name}': module '{module_name}' does not import ({exc}). Put its "
                          "folder on PYTHONPATH, or fix the module name.") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ConfigError(f"train.physics = '{name}': module '{module_name}' has no function '{function_name}'. "
                          "Name a function that returns a deepsci.training.equations.Problem.")
    try:
        inspect.signature(function).bind(**params)
    except TypeError as exc:
        raise ConfigError(f"train.physics = '{name}': the [physics] keys {sorted(params)} do not fit "
                          f"{function_name}{inspect.signature(function)} ({exc}). Make the keys its parameters."
                          ) from None
    problem = function(**params)
    if not isinstance(problem, Problem):
        raise ConfigError(f"train.physics = '{name}' returned {type(problem).__name__}, not a Problem. Return "
                          "deepsci.training.equations.Problem(...) from it.")
    return problem
