"""Weight initialisations by name.

"gaussian" is the parameterisation of Roberts, Yaida & Hanin (2022), eq. (2.19):
W_ij ~ N(0, C_W / fan_in), b_i ~ N(0, C_b). "critical" is resolved by the caller to a gaussian
(C_b, C_W) at criticality for the activation (see deepsci.theory.critical), since models do not
depend on theory.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from deepsci.errors import ModelError, unknown_name

INITS: tuple[str, ...] = ("default", "xavier", "he", "lecun", "orthogonal", "gaussian")

# Gains for He (Kaiming) initialisation: the factor that keeps E[sigma(z)^2] / Var(z) at 1/2 for ReLU.
_NONLINEARITY = {"relu": "relu", "leaky-relu": "leaky_relu", "tanh": "tanh", "sigmoid": "sigmoid",
                 "linear": "linear", "selu": "selu"}


def check_init(name: str) -> str:
    """Return `name` if it is a known initialisation, else raise ModelError listing the known ones."""
    if name not in INITS:
        raise ModelError(unknown_name("initialisation", name, INITS))
    return name


def initialise_linear(layer: nn.Linear, scheme: str, *, activation: str = "relu",
                      generator: torch.Generator, cw: float | None = None, cb: float | None = None,
                      slope: float = 0.01) -> None:
    """Initialise one Linear layer in place with `scheme`, drawing from `generator`.

    Args:
        layer: weight (out, in), bias (out,).
        scheme: one of INITS. "default" re-draws PyTorch's own scheme (U(±1/sqrt(fan_in)) for both)
            from `generator` so that the run's seed controls it.
        activation: the activation that follows (sets the He gain).
        cw, cb: weight and bias variances for "gaussian" (C_W scales with 1/fan_in).
    """
    check_init(scheme)
    fan_in = layer.weight.shape[1]
    w, b = layer.weight, layer.bias
    with torch.no_grad():
        if scheme == "default":
            bound = 1.0 / math.sqrt(fan_in)
            w.uniform_(-bound, bound, generator=generator)
            if b is not None:
                b.uniform_(-bound, bound, generator=generator)
            return
        if scheme == "gaussian":
            if cw is None or cb is None or cw <= 0 or cb < 0:
                raise ModelError(f"init 'gaussian' needs cw > 0 and cb >= 0, got cw={cw}, cb={cb}. "
                                 "Set model.cw and model.cb.")
            w.normal_(0.0, math.sqrt(cw / fan_in), generator=generator)
            if b is not None:
                b.normal_(0.0, math.sqrt(cb), generator=generator)
            return
        if scheme == "xavier":
            nn.init.xavier_uniform_(w, generator=generator)
        elif scheme == "he":
            nonlinearity: Any = _NONLINEARITY.get(activation, "relu")
            nn.init.kaiming_normal_(w, a=slope, nonlinearity=nonlinearity, generator=generator)
        elif scheme == "lecun":
            w.normal_(0.0, math.sqrt(1.0 / fan_in), generator=generator)
        elif scheme == "orthogonal":
            nn.init.orthogonal_(w, generator=generator)
        if b is not None:
            b.zero_()
