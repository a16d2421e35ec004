"""Gaussian expectations E[f(z)], z ~ N(0, K), and E[f(z1) g(z2)] for a correlated pair.

Quadrature, not sampling: the standardised variable u = z/√K is integrated over [-R, R] (R = 10,
so the neglected tails weigh < 2e-23) with Gauss–Legendre rules on pieces split at the function's
breakpoints (kinks). On each piece the integrand f(√K u)·φ(u) is analytic, so the rule converges
exponentially: order 64 reproduces the closed forms of ReLU (arc-cosine, Cho & Saul 2009) and erf
(Williams 1997) to ~1e-13. Plain Gauss–Hermite would be cheaper for smooth f but converges only
algebraically across a kink, which is why the rule is piecewise.

The pair (z1, z2) with covariance [[K11, K12], [K12, K22]] is written z1 = s1 u1,
z2 = s2 (ρ u1 + √(1-ρ²) u2) with u1, u2 independent N(0, 1): an outer rule over u1 and, for each
node, an inner rule over u2 split where g has its breakpoints (which move with u1).

Everything is float64 and vectorised over any batch shape of variances.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

Fn = Callable[[Tensor], Tensor]

RANGE = 10.0
_TINY = 1e-150
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@lru_cache(maxsize=32)
def _legendre(order: int) -> tuple[Tensor, Tensor]:
    t, w = np.polynomial.legendre.leggauss(order)
    return torch.from_numpy(t), torch.from_numpy(w)


def hermite_rule(order: int = 64) -> tuple[Tensor, Tensor]:
    """Gauss–Hermite nodes and weights for the standard normal: Σ w f(u) ≈ E[f(u)], u ~ N(0, 1).

    Exact for polynomials of degree < 2·order. Returns float64 tensors of shape (order,).
    """
    u, w = np.polynomial.hermite_e.hermegauss(order)
    return torch.from_numpy(u), torch.from_numpy(w / math.sqrt(2.0 * math.pi))


def _piecewise_rule(breaks: Tensor, order: int) -> tuple[Tensor, Tensor]:
    """Nodes u and weights w·φ(u) on [-R, R] split at `breaks` (..., k), standardised units.

    Returns (..., (k+1)·order) nodes and weights; pieces of zero length get zero weight.
    """
    t, w = _legendre(order)
    b = breaks.clamp(-RANGE, RANGE).sort(dim=-1).values
    lo = torch.full_like(b[..., :1], -RANGE)
    hi = torch.full_like(b[..., :1], RANGE)
    edges = torch.cat([lo, b, hi], dim=-1)  # (..., k+2)
    a, c = edges[..., :-1, None], edges[..., 1:, None]  # (..., k+1, 1)
    half = (c - a) / 2
    u = half * t + (a + c) / 2  # (..., k+1, order)
    weight = half * w * torch.exp(-0.5 * u * u) * _INV_SQRT_2PI
    return u.flatten(-2), weight.flatten(-2)


def gaussian_expectation(f: Fn, var: Tensor | float, *, order: int = 64,
                         breakpoints: Sequence[float] = (0.0,)) -> Tensor:
    """E[f(z)] for z ~ N(0, var), by piecewise Gauss–Legendre quadrature in u = z/√var.

    Args:
        f: elementwise function of a float64 tensor.
        var: variance K ≥ 0, a float or a tensor of any shape (S...). K = 0 gives f(0).
        order: nodes per piece. 64 gives ~1e-13 for polynomially bounded f that vary on the scale of
            √var; f that change on much smaller scales lose accuracy (erf² at var = 50: ~1e-10).
        breakpoints: points z where f is not smooth (kinks); the rule is split there.

    Returns:
        Tensor of shape (S...) (0-d for a float `var`), float64.

    Example: ``gaussian_expectation(torch.relu, 2.0, order=64)`` ≈ E[relu(z)] = √(2/(2π)).
    """
    k = torch.as_tensor(var, dtype=torch.float64)
    s = k.clamp_min(0).sqrt().clamp_min(_TINY)
    bp = torch.tensor(list(breakpoints), dtype=torch.float64)
    breaks = bp / s[..., None]  # (S..., k)
    u, w = _piecewise_rule(breaks, order)
    return (w * f(s[..., None] * u)).sum(-1)


def gaussian_expectation_2d(f: Fn, g: Fn | None, k11: Tensor | float, k12: Tensor | float, k22: Tensor | float, *,
                            order: int = 48, breakpoints: Sequence[float] = (0.0,), chunk: int = 4096) -> Tensor:
    """E[f(z1) g(z2)] for (z1, z2) ~ N(0, [[k11, k12], [k12, k22]]), by nested quadrature.

    Args:
        f, g: elementwise functions (g = None means g = f).
        k11, k12, k22: covariances, broadcastable to a common shape (S...); |k12| ≤ √(k11 k22).
        order: nodes per piece per dimension; cost is ((pieces)·order)² evaluations per entry.
        breakpoints: kinks of f and g (the same list for both).
        chunk: entries evaluated at once (memory is chunk·((pieces)·order)² doubles).
            Accuracy: ~1e-14 against the arc-cosine and erf closed forms at order 48–64; it drops for
            nearly degenerate pairs (|ρ| → 1) of discontinuous functions (~1e-7 at ρ = 0.9998).

    Returns:
        float64 tensor of shape (S...). Reference: the pair parametrisation above; closed forms to
        check against are in `deepsci.theory.kernels` (arc-cosine, erf).
    """
    g = f if g is None else g
    a, c, b = torch.broadcast_tensors(*(torch.as_tensor(k, dtype=torch.float64) for k in (k11, k12, k22)))
    shape = a.shape
    a, c, b = a.reshape(-1), c.reshape(-1), b.reshape(-1)
    bp = torch.tensor(list(breakpoints), dtype=torch.float64)
    out = torch.empty_like(a)
    for i in range(0, a.numel(), chunk):
        s1 = a[i : i + chunk].clamp_min(0).sqrt().clamp_min(_TINY)  # (C,)
        s2 = b[i : i + chunk].clamp_min(0).sqrt().clamp_min(_TINY)
        rho = (c[i : i + chunk] / (s1 * s2)).clamp(-1.0, 1.0)
        comp = (1 - rho * rho).clamp_min(0).sqrt().clamp_min(_TINY)
        u1, w1 = _piecewise_rule(bp / s1[:, None], order)  # (C, P)
        # For z2 = s2 (ρ u1 + comp u2) the kinks of g sit at u2 = (bp/s2 - ρ u1)/comp.
        breaks2 = (bp / s2[:, None, None] - rho[:, None, None] * u1[..., None]) / comp[:, None, None]
        u2, w2 = _piecewise_rule(breaks2, order)  # (C, P, P)
        z1 = s1[:, None] * u1
        z2 = s2[:, None, None] * (rho[:, None, None] * u1[..., None] + comp[:, None, None] * u2)
        inner = (w2 * g(z2)).sum(-1)  # (C, P)
        out[i : i + chunk] = (w1 * f(z1) * inner).sum(-1)
    return out.reshape(shape)
