"""Autoencoder training: linear AE recovers PCA's subspace; recirculation learns without backprop."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from deepsci.errors import ConfigError, DataError
from deepsci.models.autoencoder import Autoencoder, decoder_matrix, pca_subspace_angles
from deepsci.rules import fit_autoencoder, fit_recirculation, recirculation_step


def test_linear_autoencoder_spans_pca_top5_subspace_on_digits():
    X = load_digits().data
    Xs = (X - X.mean(0)) / X.std()
    model = Autoencoder(64, 5, seed=0)
    hist = fit_autoencoder(model, torch.tensor(Xs, dtype=torch.float32), epochs=300, lr=1e-2, batch_size=0)
    angles = pca_subspace_angles(decoder_matrix(model), Xs)
    assert angles.shape == (5,) and angles.max() < 5.0
    pca = PCA(5).fit(Xs)
    pca_mse = np.mean((pca.inverse_transform(pca.transform(Xs)) - Xs) ** 2)
    assert hist[-1] == pytest.approx(pca_mse, rel=0.01)  # PCA is the optimum of the linear AE


def test_recirculation_learns_digits_without_backprop():
    X = load_digits().data / 16.0
    T = torch.tensor(X, dtype=torch.float32)
    res = fit_recirculation(T, 16, epochs=20, lr=1.0, seed=0)
    pca = PCA(16).fit(X)
    pca_mse = np.mean((pca.inverse_transform(pca.transform(X)) - X) ** 2)
    assert res.mse[-1] < 0.15 * res.mse[0]
    assert res.mse[-1] < 1.5 * pca_mse  # close to the best linear 16-dimensional code
    with torch.no_grad():
        assert float(((res.model(T) - T) ** 2).mean()) == pytest.approx(res.mse[-1], rel=1e-4)


def test_recirculation_step_matches_hinton_mcclelland_equations():
    # hand-written numpy version of the four equations of Hinton & McClelland (1988)
    rng = np.random.default_rng(0)
    We, be, Wd, bd = rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=(4, 3)), rng.normal(size=4)
    x0 = rng.uniform(size=(5, 4))
    s = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    lam, lr = 0.75, 0.3
    h1 = s(x0 @ We.T + be)
    x2 = lam * x0 + (1 - lam) * s(h1 @ Wd.T + bd)
    h3 = s(x2 @ We.T + be)
    expected = (We + lr * (h1 - h3).T @ x2 / 5, be + lr * (h1 - h3).mean(0),
                Wd + lr * (x0 - x2).T @ h1 / 5, bd + lr * (x0 - x2).mean(0))
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    got = recirculation_step(t(We), t(be), t(Wd), t(bd), t(x0), lr=lr, regression=lam)
    for g, e in zip(got, expected):
        assert np.allclose(g.numpy(), e, atol=1e-12)


def test_recirculation_input_checks():
    with pytest.raises(DataError, match="\\[0, 1\\]"):
        fit_recirculation(torch.randn(10, 4), 2)
    with pytest.raises(ConfigError, match="regression"):
        fit_recirculation(torch.rand(10, 4), 2, regression=1.0)
