"""Activations as the theory sees them: a pure elementwise function plus where it is not smooth.

The kernel recursions only need σ(z) as a function on float64 tensors. Names come from the
model registry (`deepsci.models.activations.activation_fn`) so the theory and the networks share
one vocabulary; "erf" is added here because its infinite-width kernels have a closed form
(Williams 1997). A user's own Python function works too (it must be elementwise and accept tensors).

Breakpoints (points where σ or a low derivative jumps) matter for quadrature: integrating across a
kink with a polynomial rule converges slowly, so the Gaussian integrals are split there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from deepsci.errors import ModelError
from deepsci.models.activations import activation_fn
from deepsci.models.specs import ACTIVATIONS

Fn = Callable[[Tensor], Tensor]

# Where each built-in is not smooth (σ or one of its first two derivatives jumps).
_BREAKPOINTS: dict[str, tuple[float, ...]] = {"relu": (0.0,), "leaky-relu": (0.0,), "elu": (0.0,)}

THEORY_ONLY = ("erf",)


@dataclass(frozen=True)
class Activation:
    """An elementwise activation for the kernel recursions.

    Attributes:
        name: registry name, or the function's ``__name__`` for a user's function.
        fn: σ, elementwise on tensors of any shape (float64 in the theory).
        breakpoints: points where σ is not smooth; quadrature rules are split there.
    """

    name: str
    fn: Fn
    breakpoints: tuple[float, ...] = (0.0,)

    def __call__(self, z: Tensor) -> Tensor:
        return self.fn(z)


def resolve_activation(activation: str | Fn | Activation, *, slope: float | None = None) -> Activation:
    """The activation for a name, a user's function, or an `Activation` (returned unchanged).

    Args:
        activation: a registry name ("relu", "tanh", "gelu", ...; plus "erf"), or an elementwise
            function of a tensor.
        slope: negative-side slope for "leaky-relu" (default 0.01, as in the model registry).

    Raises:
        ModelError: unknown name, or "maxout" (not elementwise, so no single-neuron kernel map).
    """
    if isinstance(activation, Activation):
        return activation
    if callable(activation):
        name = getattr(activation, "__name__", "custom")
        return Activation(name=name, fn=activation, breakpoints=(0.0,))
    name = str(activation).lower()
    if name == "maxout":
        raise ModelError("activation 'maxout' takes the max over groups of units, so it has no elementwise kernel map; "
                         "the theory covers elementwise activations. Pick one of: "
                         f"{', '.join(sorted([*(a for a in ACTIVATIONS if a != name), *THEORY_ONLY]))}.")
    if name == "erf":
        return Activation(name="erf", fn=torch.erf, breakpoints=(0.0,))
    shown = f"leaky-relu(slope={slope:g})" if name == "leaky-relu" and slope is not None else name
    fn = activation_fn(name, **({} if slope is None else {"slope": slope}))  # one vocabulary with the networks
    return Activation(name=shown, fn=fn, breakpoints=_BREAKPOINTS.get(name, (0.0,)))


def derivative(fn: Fn, order: int = 1) -> Fn:
    """The elementwise derivative σ^(order) of an elementwise function, by autograd (float64)."""
    if order < 1:
        return fn

    def d(z: Tensor) -> Tensor:
        with torch.enable_grad():
            x = z.detach().clone().requires_grad_(True)
            y = fn(x)
            (g,) = torch.autograd.grad(y.sum(), x, create_graph=order > 1)
            for _ in range(order - 1):
                if not g.requires_grad:  # piecewise-linear pieces: higher derivatives vanish
                    return torch.zeros_like(z)
                (g,) = torch.autograd.grad(g.sum(), x, create_graph=True)
        return g.detach()

    return d

