"""Activation functions by name: one vocabulary for the TOML, the CLI, the API and the theory.

`activation(name)` gives an nn.Module for model builders; `activation_fn(name)` the pure elementwise
function the theory integrates against Gaussians.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from deepsci.errors import ModelError
from deepsci.models.arguments import check_known
from deepsci.models.specs import ACTIVATIONS

Tensor = torch.Tensor


class Maxout(nn.Module):
    """Maxout (Goodfellow et al. 2013): the max over groups of `pieces` consecutive units of the last dim.

    Input (..., pieces * h) -> output (..., h). Preceded by a Linear layer with pieces * h outputs.
    """

    def __init__(self, pieces: int = 2) -> None:
        super().__init__()
        if pieces < 2:
            raise ModelError(f"maxout needs at least 2 pieces, got {pieces}. Set model.maxout_pieces >= 2.")
        self.pieces = pieces

    def forward(self, x: Tensor) -> Tensor:
        return x.unflatten(-1, (-1, self.pieces)).amax(dim=-1)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


def _linear(x: Tensor) -> Tensor:
    return x


_FUNCTIONS: dict[str, Callable[..., Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky-relu": lambda x, slope=0.01: F.leaky_relu(x, slope),
    "elu": lambda x, alpha=1.0: F.elu(x, alpha),
    "gelu": F.gelu,
    "silu": F.silu,
    "softplus": F.softplus,
    "linear": _linear,
}

if set(ACTIVATIONS) != {*_FUNCTIONS, "maxout"}:  # one vocabulary: the config validates against specs.py
    raise ImportError(f"deepsci.models.specs.ACTIVATIONS {ACTIVATIONS} and the implemented activations "
                      f"{(*_FUNCTIONS, 'maxout')} differ; update both together.")


def check_activation(name: str) -> str:
    """Return `name` if it is a known activation, else raise ModelError listing the known ones."""
    return check_known("activation", name, ACTIVATIONS)


def activation_fn(name: str, **kwargs: float) -> Callable[[Tensor], Tensor]:
    """The pure elementwise function for `name` (kwargs: `slope` for leaky-relu, `alpha` for elu)."""
    check_activation(name)
    if name == "maxout":
        raise ModelError("maxout is not elementwise (it maxes over groups of units); pick another activation.")
    fn = _FUNCTIONS[name]
    return partial(fn, **kwargs) if kwargs else fn


class Elementwise(nn.Module):
    """An activation function as a module, named so that `repr` and specs read well."""

    def __init__(self, name: str, **kwargs: float) -> None:
        super().__init__()
        self.name, self.kwargs = name, kwargs
        self.fn = activation_fn(name, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return ", ".join([self.name, *(f"{k}={v}" for k, v in self.kwargs.items())])


def activation(name: str, *, slope: float = 0.01, pieces: int = 2) -> nn.Module:
    """An nn.Module for the activation `name` (slope for leaky-relu, pieces for maxout)."""
    check_activation(name)
    if name == "maxout":
        return Maxout(pieces)
    if name == "leaky-relu":
        return Elementwise(name, slope=slope)
    return Elementwise(name)
