"""The "must show" experiments at small size (oracles: chance accuracy, the exponential χ⊥^L law)."""

import math

import pytest

from deepsci.theory.experiments import gradient_experiment, gradient_figure, trainability_experiment, trainability_figure


def test_gradients_flat_at_criticality_only():
    r = gradient_experiment("tanh", depth=30, width=64, cws=(0.5, 1.0, 2.0), n_inits=4)
    # Critical: weight gradients flat across layers (forward shrink and backward growth cancel).
    assert r.spread["1"] < 10
    # Backprop signal at C_W = 0.5 shrinks like ∏χ⊥^(1/2) with χ⊥ = C_W E[σ'²] ≤ 0.5: ≥ 2^(29/2) ≈ 2e4 expected.
    assert r.preact_spread["0.5"] > 1e3
    # C_W = 0.5: flat too, but vanishing: the whole profile is orders of magnitude below critical;
    # C_W = 2: chaotic phase, weight gradients grow (≈ 6x critical's median at depth 30).
    assert r.median_grad_norm["0.5"] < 1e-2 * r.median_grad_norm["1"]
    assert r.median_grad_norm["2"] > 3 * r.median_grad_norm["1"]
    assert len(r.grad_norm["2"]) == 30 and gradient_figure(r).axes


@pytest.mark.slow
def test_critical_tanh_trains_deep_where_others_do_not():
    # Depth 100 is needed: at depth 50, width 64 the chaotic C_W = 2 network still trains (measured 0.70 vs
    # 0.40 critical after 8 epochs), its correlation length being tens of layers. 12 epochs here are the
    # first 12 of benchmarks/theory_experiments.py's 40 (same seed, constant lr: the same trajectory).
    r = trainability_experiment(depth=100, width=128, epochs=12, lr=0.005, seed=0)
    acc = r.test_accuracy
    # Chance is 0.1; off-critical networks stay near it, the critical one learns.
    assert acc["1"] > 0.5, acc
    assert acc["0.5"] < 0.15 and acc["2"] < 0.3, acc
    assert all(math.isfinite(v) for v in r.train_loss["1"]) and r.train_loss["1"][-1] < 0.7 * r.train_loss["1"][0]
    assert len(r.test_accuracy_curve["1"]) == 12 and trainability_figure(r).axes
