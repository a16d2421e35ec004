"""Critical initialisation: the (C_b, C_W) where χ∥ = χ⊥ = 1 at a fixed point K* of the kernel recursion.

Universality classes (Roberts, Yaida & Hanin 2022, ch. 5):

- "scale-invariant" (§5.2): σ(λz) = λσ(z) for λ > 0, i.e. σ = a₊z (z>0), a₋z (z<0). Then
  χ∥ = χ⊥ = C_W (a₊² + a₋²)/2 at every K, so criticality is C_b = 0, C_W = 2/(a₊² + a₋²) and every
  K is a (marginal) fixed point. ReLU (0, 2); leaky ReLU of slope a (0, 2/(1+a²)); linear (0, 1).
- "K*=0" (§5.3): σ(0) = 0, σ'(0) = σ₁ ≠ 0. With C_b = 0, C_W = 1/σ₁², K* = 0 is a fixed point with
  χ∥ = χ⊥ = 1, approached from K > 0 as a power law iff a₁ = σ₃/σ₁ + (3/4)(σ₂/σ₁)² < 0
  (K' = K + a₁K² + ...). tanh: σ₁ = 1, a₁ = -2, so (0, 1).
- "half-stable" (§5.3.4): no valid K* = 0 point, but χ∥(K*) = χ⊥(K*) = 1 at some K* > 0 with
  C_b ≥ 0. The fixed point is marginal (dK'/dK = 1) with non-zero curvature, so it attracts from one
  side only. GELU: (0.17292, 1.98306), K* = 3.5616, as in the book. SWISH/SiLU σ(z) = z/(1 + e^(-z)):
  (0.55514, 1.98800), K* = 14.3202. Issue 5 quotes (0.056, 1.99) for SiLU; C_b = 0.055 cannot be
  critical: χ∥ and χ⊥ do not depend on C_b, so σ alone fixes K* (where χ∥/χ⊥ = 1) and
  C_W = 1/E[σ'²]_{K*} = 1.988 (the quoted C_W agrees, so the function is the same); C_b is then
  forced by the fixed point, C_b = K* - C_W E[σ²]_{K*} = 0.555. At (0.055, 1.988) the recursion maps
  K = 14.32 to 13.82, and its only fixed point is K* = 0.119 with χ∥ = 0.574, χ⊥ = 0.550 (ordered
  phase). Checked by quadrature and by Monte Carlo (8·10⁶ samples); 0.055 is 0.555 with a dropped 5.
- "none": no solution with C_b ≥ 0 (sigmoid: σ(0) = 1/2, so K* = 0 is never a fixed point; the
  solver reports what it found and why it was rejected).

The non-trivial solutions come from the C_W-free condition r(K) = χ∥/χ⊥ = E[σ²(z²-K)] / (2K² E[σ'²]) = 1,
solved by bracketing on a log grid of K and Brent's method; then C_W = 1/E[σ'²]_{K*} and
C_b = K* - C_W E[σ²]_{K*}.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from scipy.optimize import brentq

from deepsci.errors import ModelError
from deepsci.theory.activation import Activation, Fn, derivative, resolve_activation
from deepsci.theory.gaussian import gaussian_expectation
from deepsci.theory.recursion import ActivationLike, chi_parallel, chi_perp

Universality = Literal["scale-invariant", "K*=0", "half-stable", "none"]


@dataclass
class CriticalPoint:
    """A critical initialisation and what kind it is.

    Attributes:
        activation: the activation's name.
        cb, cw: critical bias and weight variances (weights ~ N(0, cw/fan_in)); NaN when none exists.
        universality: "scale-invariant", "K*=0", "half-stable" or "none".
        k_star: the fixed point K* (None for scale-invariant: every K is a fixed point).
        chi_parallel, chi_perp: the susceptibilities at K* (at K → 0 for the K*=0 class).
        notes: how the answer was found, and for "none" why there is no critical point.
        candidates: for "none"/"half-stable", every root of χ∥/χ⊥ = 1 found, as dicts (k, cb, cw).
    """

    activation: str
    cb: float
    cw: float
    universality: Universality
    k_star: float | None
    chi_parallel: float
    chi_perp: float
    notes: str = ""
    candidates: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (NaN kept as float)."""
        return asdict(self)

    def __str__(self) -> str:
        if self.universality == "none":
            return f"{self.activation}: no critical point (class none). {self.notes}"
        k = "any K (marginal line)" if self.k_star is None else f"{self.k_star:.6g}"
        return (
            f"{self.activation}: C_b = {self.cb:.6g}, C_W = {self.cw:.6g}, class {self.universality}, "
            f"K* = {k}, chi_par = {self.chi_parallel:.6g}, chi_perp = {self.chi_perp:.6g}. {self.notes}"
        )


def _e(act: Activation, f: Fn, k: float) -> float:
    return float(gaussian_expectation(f, k, order=96, breakpoints=act.breakpoints))


def _scale_invariant_slopes(act: Activation) -> tuple[float, float] | None:
    """(a₊, a₋) when σ(λz) = λσ(z) for λ > 0 on a test grid, else None."""
    z = torch.linspace(-5, 5, 201, dtype=torch.float64)
    s = act(z)
    for lam in (0.37, 2.0, 3.3):
        if not torch.allclose(act(lam * z), lam * s, rtol=1e-9, atol=1e-12):
            return None
    one = torch.tensor([1.0, -1.0], dtype=torch.float64)
    v = act(one)
    return float(v[0]), float(-v[1])


def _ratio(act: Activation, k: float) -> float:
    d = derivative(act.fn)
    num = _e(act, lambda z: act(z) ** 2 * (z * z - k), k)
    den = 2 * k * k * _e(act, lambda z: d(z) ** 2, k)
    return num / den - 1.0


def _nontrivial_roots(act: Activation, k_min: float, k_max: float, points: int) -> list[dict[str, float]]:
    grid = np.geomspace(k_min, k_max, points)
    vals = [_ratio(act, float(k)) for k in grid]
    d = derivative(act.fn)
    roots = []
    for k_lo, k_hi, v_lo, v_hi in zip(grid[:-1], grid[1:], vals[:-1], vals[1:]):
        if not (math.isfinite(v_lo) and math.isfinite(v_hi)) or v_lo * v_hi > 0:
            continue
        k = brentq(lambda x: _ratio(act, x), k_lo, k_hi, xtol=1e-14, rtol=1e-13, maxiter=200)
        cw = 1.0 / _e(act, lambda z: d(z) ** 2, k)
        cb = k - cw * _e(act, lambda z: act(z) ** 2, k)
        roots.append({"k": float(k), "cb": float(cb), "cw": float(cw)})
    return roots


def _kstar_zero(act: Activation) -> tuple[float, float] | None:
    """(σ₁, a₁-estimate) when σ(0) = 0 and σ'(0) ≠ 0, else None."""
    zero = torch.zeros(1, dtype=torch.float64)
    if abs(float(act(zero))) > 1e-12:
        return None
    s1 = float(derivative(act.fn)(zero))
    if abs(s1) < 1e-12:
        return None
    # a₁ from the recursion itself: (C_W E[σ²]_K - K)/K² at small K; quadrature works for kinks too.
    cw = 1.0 / s1**2
    k = 1e-3
    a1 = (cw * _e(act, lambda z: act(z) ** 2, k) - k) / k**2
    return s1, a1


def critical(activation: ActivationLike, *, slope: float | None = None, k_range: tuple[float, float] = (1e-3, 1e3),
             grid_points: int = 121) -> CriticalPoint:
    """Critical (C_b, C_W) for an MLP with this activation, and its universality class.

    Solves χ∥(K*) = χ⊥(K*) = 1 at a fixed point K* = C_b + C_W E[σ²]_{K*} of the recursion
    K' = C_b + C_W E[σ(z)²], z ~ N(0, K). Roberts, Yaida & Hanin (2022), ch. 5 (§5.2 scale-invariant,
    §5.3 K*=0 and the half-stable SWISH/GELU points). Class detection, in order: scale invariance on
    a grid; σ(0) = 0 with a₁ < 0 (K*=0); roots K* > 0 of χ∥/χ⊥ = 1 with C_b ≥ 0 (half-stable);
    otherwise none.

    Args:
        activation: registry name ("relu", "tanh", "gelu", ...), "erf", or an elementwise function.
        slope: leaky-ReLU negative slope (default 0.01).
        k_range, grid_points: where to bracket non-trivial roots K*.

    Returns:
        CriticalPoint. Examples: relu → (0, 2) scale-invariant; tanh → (0, 1) K*=0;
        gelu → ≈ (0.1729, 1.9831) half-stable, K* ≈ 3.562; silu → ≈ (0.5551, 1.9880), K* ≈ 14.32
        (not the (0.056, 1.99) quoted in issue 5: see the module docstring); sigmoid → none.
    """
    act = resolve_activation(activation, slope=slope)
    slopes = _scale_invariant_slopes(act)
    if slopes is not None:
        a_pos, a_neg = slopes
        if a_pos**2 + a_neg**2 == 0:
            raise ModelError(f"activation '{act.name}' is identically zero; no network can propagate a signal.")
        cw = 2.0 / (a_pos**2 + a_neg**2)
        return CriticalPoint(
            act.name, 0.0, cw, "scale-invariant", None,
            float(chi_parallel(1.0, act, cw)), float(chi_perp(1.0, act, cw)),
            f"sigma(z) = {a_pos:g} z (z>0), {abs(a_neg):g} z (z<0): chi_par = chi_perp = C_W (a+^2 + a-^2)/2 at "
            "every K, so C_b = 0, C_W = 2/(a+^2 + a-^2); every K is a marginal fixed point.",
        )
    k0 = _kstar_zero(act)
    if k0 is not None and k0[1] < 0:
        s1, a1 = k0
        cw = 1.0 / s1**2
        small = 1e-6
        return CriticalPoint(
            act.name, 0.0, cw, "K*=0", 0.0,
            float(chi_parallel(small, act, cw)), float(chi_perp(small, act, cw)),
            f"sigma(0) = 0, sigma'(0) = {s1:.6g}: C_b = 0, C_W = 1/sigma_1^2; K* = 0 is approached as a "
            f"power law ((K' - K)/K^2 at K = 1e-3 is a1 ≈ {a1:.4g} < 0; for smooth sigma "
            f"a1 = sigma_3/sigma_1 + (3/4)(sigma_2/sigma_1)^2; for sigma not smooth at 0 only its sign is "
            f"meaningful). chi values are at K = {small:g}.",
        )
    roots = _nontrivial_roots(act, *k_range, grid_points)
    valid = [r for r in roots if r["cb"] >= -1e-12]
    why_not_zero = (
        f"sigma(0) = {float(act(torch.zeros(1, dtype=torch.float64))):.4g} != 0, so K* = 0 cannot be a fixed point"
        if k0 is None
        else f"sigma(0) = 0 but a1 ≈ {k0[1]:.4g} >= 0, so K* = 0 repels (K grows away from it)"
    )
    if valid:
        r = min(valid, key=lambda x: x["k"])
        return CriticalPoint(
            act.name, max(r["cb"], 0.0), r["cw"], "half-stable", r["k"],
            float(chi_parallel(r["k"], act, r["cw"])), float(chi_perp(r["k"], act, r["cw"])),
            f"{why_not_zero}. Non-trivial fixed point K* = {r['k']:.6g} where chi_par/chi_perp = 1 with "
            "C_b >= 0; marginal (dK'/dK = 1) with curvature, so it attracts from one side only (half-stable).",
            roots,
        )
    found = ("; ".join(f"K*={r['k']:.4g} needs C_b={r['cb']:.4g} < 0" for r in roots)
             or "chi_par/chi_perp never equals 1")
    return CriticalPoint(act.name, math.nan, math.nan, "none", None, math.nan, math.nan,
                         f"{why_not_zero}; and for K in [{k_range[0]:g}, {k_range[1]:g}] {found}.", roots)


def critical_init(activation: ActivationLike, *, slope: float | None = None) -> dict[str, Any]:
    """Keyword arguments for a model builder's Gaussian init at criticality: {"init", "cb", "cw"}.

    Meant for `MLP(..., init="gaussian", cb=..., cw=...)`. `deepsci.models.init.resolve_init(name,
    "critical")`, the path every model builder takes for `init = "critical"`, solves with `critical` too.

    Raises:
        ModelError: the activation has no critical point (e.g. sigmoid), with the reason.
    """
    point = critical(activation, slope=slope)
    if point.universality == "none":
        raise ModelError(f"init 'critical' is not available for activation '{point.activation}': {point.notes} "
                         "Use tanh (critical at C_b=0, C_W=1) or relu (C_b=0, C_W=2), or set init explicitly.")
    return {"init": "gaussian", "cb": point.cb, "cw": point.cw}
