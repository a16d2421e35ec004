"""Weight initialisations by name.

"gaussian" is the parameterisation of Roberts, Yaida & Hanin (2022), eq. (2.19):
W_ij ~ N(0, C_W / fan_in), b_i ~ N(0, C_b). "critical" is the gaussian scheme at the activation's
critical (C_b, C_W) (ch. 5): `resolve_init` is the one place that turns it into numbers, by asking
`deepsci.theory.critical`; every builder (the config's `build_model`, the scikit-learn estimators)
goes through it.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterator

import torch
from torch import nn

from deepsci.errors import ConfigError, ModelError, unknown_name
from deepsci.models.arguments import check_known
from deepsci.models.specs import INIT_CHOICES, INITS

# Gains for He (Kaiming) initialisation: the factor that keeps E[sigma(z)^2] / Var(z) at 1/2 for ReLU.
_NONLINEARITY = {"relu": "relu", "leaky-relu": "leaky_relu", "tanh": "tanh", "sigmoid": "sigmoid",
                 "linear": "linear", "selu": "selu"}


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Layers built inside draw PyTorch's default initialisation from the global RNG seeded with `seed`;
    the RNG's state is restored afterwards, so building a model has no hidden side effect."""
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(state)


def check_init(name: str) -> str:
    """Return `name` if it is a known initialisation, else raise ModelError listing the known ones."""
    return check_known("initialisation", name, INITS)


def resolve_init(activation: str, init: str, *, cb: float | None = None, cw: float | None = None,
                 slope: float | None = None) -> tuple[str, float | None, float | None]:
    """(init, cb, cw) for a model builder, with "critical" turned into "gaussian" at the critical point.

    For init = "critical" the critical (C_b, C_W) of the activation solve chi_par(K*) = chi_perp(K*) = 1
    at a fixed point K* of K' = C_b + C_W E[sigma(z)^2], z ~ N(0, K) (Roberts, Yaida & Hanin 2022,
    ch. 5; `deepsci.theory.critical`): relu (0, 2), tanh (0, 1), gelu ~ (0.173, 1.983). Explicit
    `cb` / `cw` are ignored for "critical" (the point fixes them); other schemes pass them through.

    Args:
        activation: the hidden layers' activation (a name from ACTIVATIONS).
        init: one of INIT_CHOICES ("critical" or a scheme of INITS).
        cb, cw: bias and weight variances for "gaussian".
        slope: leaky-relu's negative slope (its critical C_W = 2 / (1 + slope^2)).

    Raises:
        ConfigError: an unknown scheme, "gaussian" without cw/cb, or "critical" for an activation that
            has no critical point (sigmoid, softplus, maxout), in one line with the fix.
    """
    if init not in INIT_CHOICES:
        raise ConfigError(unknown_name("initialisation", init, INIT_CHOICES))
    if init == "gaussian" and (cw is None or cb is None):
        raise ConfigError(f"init = 'gaussian' needs both model.cw (> 0) and model.cb (>= 0); received cw={cw}, "
                          f"cb={cb}. Set them, or use init = 'critical' to take the activation's critical values.")
    if init != "critical":
        return init, cb, cw
    point_cb, point_cw, why = _critical_point(activation, slope if activation == "leaky-relu" else None)
    if why:
        raise ConfigError(f"init = 'critical' needs an activation with a critical point, and '{activation}' has "
                          f"none ({why}). Use init = 'he' or 'xavier', or an activation with a critical point "
                          "(relu, leaky-relu, tanh, gelu, silu, elu, linear).")
    return "gaussian", point_cb, point_cw


@lru_cache(maxsize=64)
def _critical_point(activation: str, slope: float | None) -> tuple[float, float, str]:
    """(C_b, C_W, "") at the activation's critical point, or (nan, nan, why there is none)."""
    from deepsci.theory.criticality import critical  # imported on use: it loads scipy

    if activation == "maxout":
        return math.nan, math.nan, "maxout is not elementwise, so the single-unit kernel recursion does not apply"
    try:
        point = critical(activation, slope=slope)
    except ModelError as exc:
        return math.nan, math.nan, str(exc).rstrip(".")
    if point.universality == "none" or not math.isfinite(point.cw):
        notes = point.notes.split(";")[0].strip().rstrip(".")
        return math.nan, math.nan, f"no (C_b >= 0, C_W) makes chi_par = chi_perp = 1: {notes}"
    return float(point.cb), float(point.cw), ""


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
