"""Probes of real networks vs the recursion (oracle: infinite-width recursion, exact ReLU kurtosis)."""

import pytest
import torch
from torch import nn

from deepsci.errors import ModelError
from deepsci.theory.probes import mlp_plan, probe, probe_mlp
from deepsci.theory.recursion import propagate_variance


def _x(n0=32):
    x = torch.randn(2, n0, generator=torch.Generator().manual_seed(1))
    return x / x.pow(2).mean(1, keepdim=True).sqrt()


@pytest.mark.parametrize("act,cw", [("tanh", 1.0), ("relu", 2.0)])
def test_variance_matches_recursion(act, cw):
    r = probe_mlp([32] + [256] * 8, act, _x(), cb=0.0, cw=cw, n_inits=60, seed=0)
    pred = propagate_variance(cw * 1.0, 8, act, 0.0, cw)
    rel = (r.variance[:, 0] / pred - 1).abs()
    # Tolerance: 4 standard errors across initialisations, plus 1% for 1/n corrections.
    assert bool((rel <= 4 * r.variance_se[:, 0] / pred + 0.01).all()), rel


def test_relu_kurtosis_exact_finite_width():
    # Exact for ReLU, C_b = 0: E[z⁴]/E[z²]² = 3 (1 + 5/n)^(l-1) at layer l (chi-square argument).
    n, L = 64, 6
    r = probe_mlp([16] + [n] * L, "relu", _x(16)[:1], cb=0.0, cw=2.0, n_inits=3000, seed=0, chunk=500,
                  gradients=False)
    exact = 3 * ((1 + 5 / n) ** torch.arange(L, dtype=torch.float64) - 1)
    assert bool(((r.kurtosis - exact).abs() <= 4 * r.kurtosis_se + 0.02).all()), (r.kurtosis, exact)


def test_gradients_vanish_below_criticality():
    r = probe_mlp([32] + [128] * 30, "tanh", _x(), cb=0.0, cw=0.5, n_inits=4, seed=0)
    assert float(r.grad_norm[0] / r.grad_norm[-1]) < 1e-3


def test_probe_model_and_plan():
    model = nn.Sequential(nn.Linear(32, 64), nn.Tanh(), nn.Dropout(0.1), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 3))
    widths, _ = mlp_plan(model)
    assert widths == [32, 64, 64, 3]
    r = probe(model, _x(), cb=0.0, cw=1.0, n_inits=4)
    assert r.variance.shape == (3, 2)
    with pytest.raises(ModelError):
        mlp_plan(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1)))
