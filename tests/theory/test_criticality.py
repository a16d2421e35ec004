"""critical() against χ∥ = χ⊥ = 1 and the fixed-point condition computed by Monte Carlo.

Monte Carlo oracle: z = √K u with 4·10⁶ fixed standard-normal samples u (seed 0);
χ∥ = C_W mean(σ²(z²-K))/(2K²), χ⊥ = C_W mean(σ'(z)²) with σ' by finite differences.
Tolerance 1% (the χ∥ estimator's relative standard error is below 0.2% at this size).
"""

import math

import pytest
import torch

from deepsci.errors import ConfigError, ModelError
from deepsci.theory.criticality import critical, critical_init

U = torch.randn(4_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
FNS = {
    "relu": torch.relu, "tanh": torch.tanh, "gelu": torch.nn.functional.gelu, "silu": torch.nn.functional.silu,
    "sigmoid": torch.sigmoid, "softplus": torch.nn.functional.softplus,
}


def mc_chis(fn, k, cb, cw):
    z = k**0.5 * U
    h = 1e-5
    d = (fn(z + h) - fn(z - h)) / (2 * h)
    s2 = fn(z) ** 2
    return (cw * float((s2 * (z * z - k)).mean()) / (2 * k * k), cw * float((d * d).mean()),
            cb + cw * float(s2.mean()))


@pytest.mark.parametrize("name,cw", [("relu", 2.0), ("tanh", 1.0), ("linear", 1.0)])
def test_textbook_points(name, cw):
    p = critical(name)
    assert p.cb == pytest.approx(0.0, abs=1e-12) and p.cw == pytest.approx(cw, abs=1e-6)


@pytest.mark.parametrize("a", [0.01, 0.1, 0.3])
def test_leaky_relu(a):
    p = critical("leaky-relu", slope=a)
    assert p.universality == "scale-invariant"
    assert p.cw == pytest.approx(2 / (1 + a * a), abs=1e-6)
    chi_par, chi_perp, _ = mc_chis(lambda z: torch.nn.functional.leaky_relu(z, a), 0.8, p.cb, p.cw)
    assert chi_par == pytest.approx(1, rel=1e-2) and chi_perp == pytest.approx(1, rel=1e-2)


def test_relu_and_tanh_monte_carlo():
    p = critical("relu")
    assert all(v == pytest.approx(1, rel=1e-2) for v in mc_chis(torch.relu, 1.7, p.cb, p.cw)[:2])
    p = critical("tanh")
    assert p.universality == "K*=0" and p.k_star == 0.0
    chi_par, chi_perp, k_next = mc_chis(torch.tanh, 1e-4, p.cb, p.cw)  # K → 0 limit
    assert chi_par == pytest.approx(1, abs=5e-3) and chi_perp == pytest.approx(1, abs=5e-3)


@pytest.mark.parametrize("name,cb,cw", [("gelu", 0.17, 1.98), ("silu", 0.555, 1.99)])
def test_half_stable_points(name, cb, cw):
    p = critical(name)
    assert p.universality == "half-stable"
    assert p.cw == pytest.approx(cw, abs=0.01)
    assert p.cb == pytest.approx(cb, abs=0.01)
    chi_par, chi_perp, k_next = mc_chis(FNS[name], p.k_star, p.cb, p.cw)
    assert chi_par == pytest.approx(1, rel=1e-2)
    assert chi_perp == pytest.approx(1, rel=1e-2)
    assert k_next == pytest.approx(p.k_star, rel=1e-2)


@pytest.mark.parametrize("name", ["sigmoid", "softplus"])
def test_no_critical_point(name):
    p = critical(name)
    assert p.universality == "none" and math.isnan(p.cw)
    assert "sigma(0)" in p.notes
    # Oracle for "no K* = 0 point": with C_b = 0, K = 0 maps to C_W σ(0)² > 0 for any C_W.
    assert float(FNS[name](torch.zeros(1))) ** 2 > 0.1
    with pytest.raises(ModelError):
        critical_init(name)


def test_user_function_and_errors():
    p = critical(lambda z: 3 * torch.tanh(z))
    assert p.universality == "K*=0" and p.cw == pytest.approx(1 / 9, abs=1e-9)
    assert critical_init("relu") == {"init": "gaussian", "cb": 0.0, "cw": 2.0}
    with pytest.raises(ModelError):
        critical("maxout")
    with pytest.raises((ConfigError, ModelError)):
        critical("relux")


def test_silu_quoted_point_is_not_critical():
    # Issue 5 quotes (C_b, C_W) ≈ (0.056, 1.99) for SiLU; χ∥, χ⊥ do not depend on C_b, so at the
    # returned K* they equal 1 for C_b = 0.055 too, but K* is then no fixed point (Monte Carlo oracle).
    p = critical("silu")
    assert p.cb == pytest.approx(0.5551, abs=1e-3) and p.k_star == pytest.approx(14.32, abs=0.01)
    chi_par, chi_perp, k_next = mc_chis(FNS["silu"], p.k_star, 0.055, p.cw)
    assert chi_par == pytest.approx(1, rel=1e-2) and chi_perp == pytest.approx(1, rel=1e-2)
    assert p.k_star - k_next == pytest.approx(0.5, abs=0.05)  # K' = K* - 0.5: C_b short by 0.5
    # The only fixed point of (0.055, 1.988) is K ≈ 0.119, deep in the ordered phase (χ⊥ ≈ 0.55).
    chi_par, chi_perp, k_next = mc_chis(FNS["silu"], 0.1189, 0.055, 1.988)
    assert k_next == pytest.approx(0.1189, rel=1e-2)
    assert chi_perp == pytest.approx(0.55, abs=0.01) and chi_par == pytest.approx(0.574, abs=0.01)
