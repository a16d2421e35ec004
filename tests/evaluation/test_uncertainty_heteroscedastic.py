"""Heteroscedastic heads, ensemble variance parts and MC dropout, against torch's GaussianNLLLoss,
hand-worked mixtures, closed-form dropout moments, and a sine with known noise."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deepsci.errors import ConfigError, DataError, ModelError
from deepsci.evaluation.uncertainty import decompose, gaussian_nll, interval_coverage, mc_dropout_predict, mean_variance
from deepsci.models import MLP
from deepsci.training import Trainer
from deepsci.training.ensemble import build_ensemble, ensemble_loss


pytestmark = pytest.mark.usefixtures("one_thread")


def test_gaussian_nll_matches_torch():
    g = torch.Generator().manual_seed(0)
    out, y = torch.randn(32, 4, generator=g), torch.randn(32, 2, generator=g)
    for link in ("softplus", "exp"):
        mu, var = mean_variance(out, link=link, floor=1e-4)
        ref = nn.GaussianNLLLoss(full=True, eps=1e-12)(mu, y, var)
        torch.testing.assert_close(gaussian_nll(out, y, link=link, floor=1e-4), ref)
    _, var = mean_variance(torch.tensor([[0.0, -50.0]]), floor=1e-3)
    assert var.item() == pytest.approx(1e-3)  # the floor holds a collapsing variance
    with pytest.raises(DataError, match="even"):
        mean_variance(torch.zeros(2, 3))
    with pytest.raises(ConfigError, match="Known variance links"):
        mean_variance(torch.zeros(2, 2), link="square")  # type: ignore[arg-type]


def test_decompose_by_hand():
    means = torch.tensor([[[1.0]], [[3.0]]])  # (K=2, n=1, t=1)
    variances = torch.tensor([[[1.0]], [[3.0]]])
    parts = decompose(means, variances)
    assert parts["mean"].item() == 2.0 and parts["epistemic"].item() == 1.0 and parts["aleatoric"].item() == 2.0
    assert parts["total"].item() == 3.0 and parts["std"].item() == pytest.approx(3**0.5)
    assert decompose(means)["aleatoric"].item() == 0.0


def test_heteroscedastic_ensemble_recovers_known_noise():
    """y = sin(x) + N(0, sigma(x)^2): the aleatoric sd is within 20% of sigma(x), and 90% intervals cover ~90%."""
    g = torch.Generator().manual_seed(0)

    def sample(n):
        x = torch.rand(n, 1, generator=g) * 6 - 3
        sigma = 0.1 + 0.2 * (x / 3) ** 2  # smooth, from 0.1 to 0.3
        return x, torch.sin(x) + sigma * torch.randn(n, 1, generator=g), sigma

    X, y, _ = sample(3000)
    ens = build_ensemble(lambda s: MLP(1, 2, (32, 32), activation="tanh", seed=s), members=4, seed=0)
    Trainer(ens, loss=ensemble_loss(gaussian_nll, target_dims=2), epochs=80, batch_size=64, lr=3e-3, seed=0).fit(X, y)
    ens.eval()
    grid = torch.linspace(-2.7, 2.7, 28).unsqueeze(1)
    with torch.no_grad():
        parts = decompose(*mean_variance(ens(grid)))
    true_sigma = 0.1 + 0.2 * (grid / 3) ** 2
    rel = (parts["aleatoric"].sqrt() / true_sigma - 1).abs()
    assert rel.max() < 0.2, rel.squeeze().tolist()
    assert (parts["mean"] - torch.sin(grid)).abs().max() < 0.15
    assert (parts["epistemic"] < parts["aleatoric"]).all()  # 3000 points: noise dominates model doubt
    Xt, yt, _ = sample(2000)
    with torch.no_grad():
        p = decompose(*mean_variance(ens(Xt)))
    z = 1.6449  # 90% central Gaussian interval
    cov = interval_coverage(yt.numpy(), (p["mean"] - z * p["std"]).numpy(), (p["mean"] + z * p["std"]).numpy())
    assert abs(cov - 0.9) < 0.03


def test_mc_dropout_matches_closed_form_moments():
    """For y = w . dropout(x) (inverted dropout, keep prob q): E y = w . x, Var y = sum w_i^2 x_i^2 (1 - q) / q."""
    torch.manual_seed(123)
    lin = nn.Linear(6, 1, bias=False)
    model = nn.Sequential(nn.Dropout(0.3), lin)
    x = torch.randn(3, 6, generator=torch.Generator().manual_seed(1))
    mean, std = mc_dropout_predict(model, x, samples=20000, seed=0)
    w = lin.weight.detach()[0]
    torch.testing.assert_close(mean[:, 0], x @ w, atol=0.03, rtol=0)
    torch.testing.assert_close(std[:, 0] ** 2, (w**2 * x**2).sum(1) * 0.3 / 0.7, atol=0, rtol=0.05)
    state = torch.random.get_rng_state()
    again, _ = mc_dropout_predict(model, x, samples=20000, seed=0)
    torch.testing.assert_close(again, mean)  # same seed, same masks
    assert torch.equal(state, torch.random.get_rng_state())  # global RNG untouched


def test_mc_dropout_keeps_batch_norm_in_eval_and_restores_modes():
    net = MLP(4, 2, (8,), batch_norm=True, dropout=0.2, seed=0)
    net.train()
    before = net.layers[1].running_mean.clone()
    _, std = mc_dropout_predict(net, torch.randn(10, 4), samples=5)
    assert torch.equal(net.layers[1].running_mean, before)  # batch norm ran on its running statistics
    assert net.training and all(m.training for m in net.modules())
    assert (std > 0).any()
    with pytest.raises(ModelError, match="dropout"):
        mc_dropout_predict(MLP(4, 2, (8,)), torch.randn(3, 4), samples=5)
    with pytest.raises(ConfigError, match="samples"):
        mc_dropout_predict(net, torch.randn(3, 4), samples=1)
