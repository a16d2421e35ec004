"""The kernel recursion of a deep MLP at initialisation, its susceptibilities and fixed points.

For an MLP with Gaussian initialisation b ~ N(0, C_b), W_ij ~ N(0, C_W / n_{l-1}) the
preactivations are Gaussian at infinite width, with kernel (Roberts, Yaida & Hanin 2022, ch. 4,
eqs. 4.118 / 5.1 in their notation)

    K^(1)_ab   = C_b + C_W x_a·x_b / n_0
    K^(l+1)_ab = C_b + C_W E[σ(z_a) σ(z_b)],   (z_a, z_b) ~ N(0, K^(l)).

Linearising around a single-input kernel K gives the two susceptibilities (ch. 5, §5.1)

    χ∥(K) = (C_W / 2K²) E[σ(z)² (z² - K)]     (how a change of the variance propagates)
    χ⊥(K) = C_W E[σ'(z)²]                     (how a small difference between two inputs propagates)

all with z ~ N(0, K). Criticality is χ∥ = χ⊥ = 1 at a fixed point K* of the recursion
(see `deepsci.theory.criticality`).

The leading finite-width correction is the four-point vertex V (ch. 4, eq. 4.90 for one input,
equal widths):

    V^(l+1) = C_W² (E[σ⁴] - E[σ²]²) + χ∥(K^(l))² V^(l),   V^(1) = 0,

so that the excess kurtosis of one output preactivation is 3 V / (n K²) (ch. 4 §4.3). The
"normalised four-point vertex" below is V / (n K²) (ch. 5, eq. 5.? "V/(nK²)"), which at criticality
grows like ν·l/n with ν = 5 for ReLU (exactly 5(l-1)/n) and ν = 2/3 for tanh at large l (§5.4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from deepsci.errors import ConfigError
from deepsci.theory.activation import Activation, Fn, derivative, resolve_activation
from deepsci.theory.gaussian import gaussian_expectation, gaussian_expectation_2d

ActivationLike = str | Fn | Activation


def _check(cb: float, cw: float) -> None:
    if cb < 0 or cw <= 0:
        raise ConfigError(f"initialisation variances must be C_b >= 0 and C_W > 0; received C_b={cb}, C_W={cw}. "
                          "Typical critical values are C_b=0, C_W=2 (ReLU) or C_b=0, C_W=1 (tanh).")


def _e(act: Activation, f: Fn, k: Tensor | float, order: int) -> Tensor:
    return gaussian_expectation(f, k, order=order, breakpoints=act.breakpoints)


def kernel_map(k: Tensor | float, activation: ActivationLike, cb: float, cw: float, *, order: int = 64) -> Tensor:
    """One layer of the single-input recursion: K' = C_b + C_W E[σ(z)²], z ~ N(0, K).

    Args:
        k: variance(s) K of the layer's preactivations, any shape.
        activation: name, function or `Activation`.
        cb, cw: bias and weight variances (weights drawn with variance C_W / fan_in).

    Returns:
        K' with the shape of `k` (float64).
    """
    act = resolve_activation(activation)
    return cb + cw * _e(act, lambda z: act(z) ** 2, k, order)


def chi_parallel(k: Tensor | float, activation: ActivationLike, cw: float, *, order: int = 64) -> Tensor:
    """χ∥(K) = (C_W / 2K²) E[σ(z)² (z² - K)] = dK'/dK  (Roberts, Yaida & Hanin 2022, §5.1)."""
    act = resolve_activation(activation)
    kk = torch.as_tensor(k, dtype=torch.float64)
    return cw * _e(act, lambda z: act(z) ** 2 * (z * z - kk[..., None]), kk, order) / (2 * kk * kk)


def chi_perp(k: Tensor | float, activation: ActivationLike, cw: float, *, order: int = 64) -> Tensor:
    """χ⊥(K) = C_W E[σ'(z)²]  (Roberts, Yaida & Hanin 2022, §5.1)."""
    act = resolve_activation(activation)
    d = derivative(act.fn)
    return cw * _e(act, lambda z: d(z) ** 2, k, order)


def propagate_variance(k1: float, depth: int, activation: ActivationLike, cb: float, cw: float, *,
                       order: int = 64) -> Tensor:
    """K^(l) for l = 1..depth from the first layer's K^(1) (single input).

    Args:
        k1: K^(1) = C_b + C_W |x|²/n_0.
        depth: number of layers L (the output is layer L).

    Returns:
        (depth,) float64 tensor, entry l-1 is K^(l).
    """
    _check(cb, cw)
    ks = [torch.tensor(float(k1), dtype=torch.float64)]
    for _ in range(depth - 1):
        ks.append(kernel_map(ks[-1], activation, cb, cw, order=order))
    return torch.stack(ks)


@dataclass
class PairKernel:
    """Two-input kernels per layer: each field is (depth,) float64; rho = K12 / √(K11 K22)."""

    k11: Tensor
    k12: Tensor
    k22: Tensor

    @property
    def rho(self) -> Tensor:
        return self.k12 / (self.k11 * self.k22).sqrt()


def pair_step(k11: Tensor, k12: Tensor, k22: Tensor, activation: ActivationLike, cb: float, cw: float, *,
              order: int = 48) -> tuple[Tensor, Tensor, Tensor]:
    """One layer of the two-input recursion (K11, K12, K22) -> (K11', K12', K22') (broadcasting)."""
    act = resolve_activation(activation)
    e11, e22 = (_e(act, lambda z: act(z) ** 2, k, order) for k in (k11, k22))
    e12 = gaussian_expectation_2d(act.fn, None, k11, k12, k22, order=order, breakpoints=act.breakpoints)
    return cb + cw * e11, cb + cw * e12, cb + cw * e22


def propagate_pair(k11: float, k12: float, k22: float, depth: int, activation: ActivationLike, cb: float, cw: float,
                   *, order: int = 48) -> PairKernel:
    """Two-input kernels K^(l) for l = 1..depth from the first layer's (K11, K12, K22)."""
    _check(cb, cw)
    a, c, b = (torch.tensor(float(v), dtype=torch.float64) for v in (k11, k12, k22))
    rows = [(a, c, b)]
    for _ in range(depth - 1):
        rows.append(pair_step(*rows[-1], activation, cb, cw, order=order))
    return PairKernel(*(torch.stack([r[i] for r in rows]) for i in range(3)))


def fixed_point(activation: ActivationLike, cb: float, cw: float, *, k0: float = 1.0, max_iter: int = 100_000,
                tol: float = 1e-12) -> float:
    """The fixed point K* = C_b + C_W E[σ²]_{K*} reached by iterating the recursion from K = k0.

    Returns inf when the iteration diverges (K grows without bound). Convergence near a marginal
    fixed point (χ∥ = 1) is a power law, so the result there is only as good as `max_iter` allows.
    """
    _check(cb, cw)
    k = torch.tensor(float(k0), dtype=torch.float64)
    for _ in range(max_iter):
        nxt = kernel_map(k, activation, cb, cw)
        if not torch.isfinite(nxt) or nxt > 1e12:
            return float("inf")
        if abs(float(nxt - k)) <= tol * max(1.0, float(k)):
            return float(nxt)
        k = nxt
    return float(k)


def vertex_recursion(k1: float, depth: int, activation: ActivationLike, cb: float, cw: float, *,
                     order: int = 64) -> tuple[Tensor, Tensor]:
    """Infinite-width kernel K^(l) and the normalised four-point vertex V^(l) / (K^(l))² per layer.

    Recursion (Roberts, Yaida & Hanin 2022, eq. 4.90, one input, equal widths n):
    V^(l+1) = C_W² (E[σ⁴] - E[σ²]²) + χ∥(K^(l))² V^(l), V^(1) = 0, expectations at K^(l).
    Divide the returned ratio by the width n to get the book's normalised vertex V/(nK²); the
    excess kurtosis of one output preactivation is 3 V/(nK²) to leading order in 1/n.

    Returns:
        (K, V/K²), each (depth,) float64 tensors indexed by l - 1.
    """
    act = resolve_activation(activation)
    ks = propagate_variance(k1, depth, act, cb, cw, order=order)
    v = torch.zeros(depth, dtype=torch.float64)
    for layer in range(depth - 1):
        k = ks[layer]
        e2 = _e(act, lambda z: act(z) ** 2, k, order)
        e4 = _e(act, lambda z: act(z) ** 4, k, order)
        chi = chi_parallel(k, act, cw, order=order)
        v[layer + 1] = cw * cw * (e4 - e2 * e2) + chi * chi * v[layer]
    return ks, v / ks**2
