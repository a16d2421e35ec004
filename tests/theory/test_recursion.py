"""Kernel recursion: ReLU closed forms and a Monte Carlo network oracle."""

import pytest
import torch

from deepsci.errors import ConfigError
from deepsci.theory.recursion import chi_parallel, chi_perp, fixed_point, propagate_pair, propagate_variance, vertex_recursion


def test_relu_recursion_is_linear():
    ks = propagate_variance(1.5, 6, "relu", 0.0, 2.0)
    assert torch.allclose(ks, torch.full((6,), 1.5, dtype=torch.float64), rtol=1e-12)
    assert float(chi_parallel(0.3, "relu", 2.0)) == pytest.approx(1.0, abs=1e-10)
    assert float(chi_perp(0.3, "relu", 2.0)) == pytest.approx(1.0, abs=1e-10)


def test_relu_vertex_is_five_per_layer():
    _, v = vertex_recursion(1.0, 8, "relu", 0.0, 2.0)  # exact: V/K² = 5 (l - 1)
    assert torch.allclose(v, 5.0 * torch.arange(8, dtype=torch.float64), atol=1e-9)


def test_tanh_vertex_slope_near_two_thirds():
    _, v = vertex_recursion(1.0, 200, "tanh", 0.0, 1.0)
    assert float(v[199] - v[99]) / 100 == pytest.approx(2 / 3, rel=0.03)


def test_pair_recursion_against_sampled_wide_layer():
    # Oracle: one very wide random layer, sampled (width 200k), for two correlated inputs.
    g = torch.Generator().manual_seed(0)
    k11, k12, k22 = 1.0, 0.6, 1.5
    pk = propagate_pair(k11, k12, k22, 2, "tanh", 0.1, 1.3)
    z = torch.randn(400_000, 2, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(
        torch.tensor([[k11, k12], [k12, k22]], dtype=torch.float64)).T
    s = torch.tanh(z)
    assert float(pk.k12[1]) == pytest.approx(0.1 + 1.3 * float((s[:, 0] * s[:, 1]).mean()), abs=5e-3)


def test_fixed_point_and_errors():
    # tanh with C_W = 2 has a non-zero fixed point K* = 2 E[tanh²]_{K*}.
    k = fixed_point("tanh", 0.0, 2.0)
    assert k > 0.1
    assert float(propagate_variance(k, 2, "tanh", 0.0, 2.0)[1]) == pytest.approx(k, rel=1e-9)
    with pytest.raises(ConfigError):
        propagate_variance(1.0, 3, "tanh", -1.0, 1.0)
