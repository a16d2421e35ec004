"""Bernoulli RBM against exact enumeration on a tiny machine, and CD training on binarised digits."""

import itertools

import pytest
import torch

from deepsci.errors import ConfigError, DataError
from deepsci.models.rbm import BernoulliRBM, pseudo_log_likelihood, reconstruction_error
from deepsci.rules import cd_gradients, fit_rbm
from deepsci.rules.experiments import binarised_digits


def _tiny(seed=0):
    rbm = BernoulliRBM(4, 3, seed=seed).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        rbm.W.copy_(torch.randn(4, 3, generator=g, dtype=torch.float64))
        rbm.a.copy_(0.5 * torch.randn(4, generator=g, dtype=torch.float64))
        rbm.b.copy_(0.5 * torch.randn(3, generator=g, dtype=torch.float64))
    return rbm


def _all(n):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def test_free_energy_and_conditionals_match_enumeration():
    rbm = _tiny()
    V, H = _all(4), _all(3)
    # F(v) = -log sum_h exp(-E(v, h))
    E = torch.stack([rbm.energy(V, h.expand(len(V), 3)) for h in H], 1)  # (16, 8)
    assert torch.allclose(rbm.free_energy(V), -torch.logsumexp(-E, 1), atol=1e-10)
    # p(h_j = 1 | v) from the joint
    p_h = torch.softmax(-E, 1) @ H
    assert torch.allclose(rbm.hidden_probs(V), p_h, atol=1e-10)


def test_gibbs_sampling_reaches_the_exact_distribution():
    rbm = _tiny(1)
    V = _all(4)
    p_exact = torch.softmax(-rbm.free_energy(V), 0)
    g = torch.Generator().manual_seed(0)
    samples = rbm.gibbs(torch.zeros(4000, 4, dtype=torch.float64), 30, g)
    idx = (samples * torch.tensor([8.0, 4.0, 2.0, 1.0], dtype=torch.float64)).sum(1).long()
    p_mc = torch.bincount(idx, minlength=16).double() / len(idx)
    assert 0.5 * (p_mc - p_exact).abs().sum() < 0.05  # total variation distance


def test_pseudo_likelihood_matches_brute_force():
    rbm = _tiny(2).requires_grad_(False)
    V = _all(4)
    logp = -rbm.free_energy(V) - torch.logsumexp(-rbm.free_energy(V), 0)
    v = V[[3, 9, 14]]
    total = 0.0
    for row in v:
        for i in range(4):
            other = row.clone()
            other[i] = 1 - other[i]
            lp = lambda x: logp[int((x * torch.tensor([8.0, 4, 2, 1], dtype=torch.float64)).sum())]  # noqa: E731
            total += float(lp(row) - torch.logaddexp(lp(row), lp(other)))
    assert pseudo_log_likelihood(rbm, v) == pytest.approx(total / (3 * 4), abs=1e-10)


def test_cd_with_long_chains_approximates_the_exact_gradient():
    rbm = _tiny(3)
    V, H = _all(4), _all(3)
    data = V[[1, 6, 6, 11, 15]]
    p_model = torch.softmax(-rbm.free_energy(V), 0)
    exact = data.T @ rbm.hidden_probs(data) / len(data) - (V * p_model[:, None]).T @ rbm.hidden_probs(V)
    g = torch.Generator().manual_seed(1)
    negative = rbm.gibbs(data.repeat(3000, 1), 25, g)
    dW, _, _ = cd_gradients(rbm, data, negative)
    assert torch.allclose(dW, exact, atol=0.02)


@pytest.mark.parametrize("persistent", [False, True])
def test_rbm_reconstructs_held_out_digits_better_than_chance(persistent):
    Vtr, Vte = binarised_digits()
    rbm = BernoulliRBM(64, 64, seed=0)
    hist = fit_rbm(rbm, Vtr, epochs=6, persistent=persistent, V_valid=Vte, track_pll=False)
    chance = float(((Vtr.mean(0) - Vte) ** 2).mean())  # predict each pixel by its training frequency
    assert hist.valid_reconstruction[-1] < 0.8 * chance
    assert hist.reconstruction[-1] < hist.reconstruction[0]
    assert reconstruction_error(rbm, Vte) == pytest.approx(hist.valid_reconstruction[-1])


def test_rbm_input_checks():
    with pytest.raises(DataError, match="\\(batch, 4\\)"):
        _tiny().free_energy(torch.zeros(2, 5, dtype=torch.float64))
    with pytest.raises(ConfigError, match="k >= 1"):
        fit_rbm(BernoulliRBM(4, 2), torch.zeros(3, 4), k=0)
