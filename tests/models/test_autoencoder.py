"""Autoencoder models: shapes, denoising noise, VAE loss against torch.distributions, PCA angles."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from deepsci.errors import DataError, ModelError
from deepsci.models.autoencoder import (Autoencoder, VariationalAutoencoder, decoder_matrix, pca_subspace_angles,
                                        vae_loss)
from deepsci.rules import fit_autoencoder


@pytest.mark.parametrize("hidden,activation,k", [((), "linear", 3), ((16,), "relu", 2), ((16, 8), "tanh", 40)])
def test_shapes_for_any_bottleneck(hidden, activation, k):
    model = Autoencoder(12, k, hidden, activation, seed=0)
    x = torch.randn(5, 12)
    assert model.encode(x).shape == (5, k)
    assert model(x).shape == (5, 12)
    same = Autoencoder(12, k, hidden, activation, seed=0)
    assert torch.equal(model(x), same(x))  # the seed fixes the weights


def test_seeded_init_leaves_global_generator_alone():
    torch.manual_seed(7)
    a = torch.rand(3)
    torch.manual_seed(7)
    Autoencoder(10, 2, (8,), "relu", seed=3)
    assert torch.equal(torch.rand(3), a)


def test_denoising_noise_only_in_training():
    model = Autoencoder(8, 4, noise=0.5, seed=0)
    x = torch.randn(3, 8)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))
    with pytest.raises(ModelError, match="noise"):
        Autoencoder(8, 4, noise=-1.0)


def test_vae_kl_term_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
    x = torch.rand(6, 5, generator=g)
    recon = torch.rand(6, 5, generator=g)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    kl = torch.distributions.kl_divergence(q, p).sum() / 6
    nll = torch.nn.functional.binary_cross_entropy(recon, x, reduction="sum") / 6
    assert float(vae_loss(x, recon, mu, logvar)) == pytest.approx(float(kl + nll), rel=1e-5)
    gauss = -torch.distributions.Normal(recon, 1.0).log_prob(x).sum() / 6
    assert float(vae_loss(x, recon, mu, logvar, likelihood="gaussian")) == pytest.approx(float(kl + gauss), rel=1e-5)


def test_vae_and_denoising_autoencoder_learn_digits():
    X = load_digits().data[:600]
    B = torch.tensor((X >= 8).astype(np.float32))
    vae = VariationalAutoencoder(64, 4, (64,), seed=0)
    hist = fit_autoencoder(vae, B, epochs=10, lr=5e-3)
    assert hist[-1] < 0.7 * hist[0]
    assert vae.sample(5).shape == (5, 64) and float(vae.sample(5).max()) <= 1.0
    dae = Autoencoder(64, 16, (64,), "relu", output_activation="sigmoid", noise=0.3, seed=0)
    hist = fit_autoencoder(dae, torch.tensor(X / 16, dtype=torch.float32), epochs=10, lr=5e-3)
    assert hist[-1] < 0.5 * hist[0]


def test_pca_subspace_angles_oracle():
    X = load_digits().data
    comps = PCA(5).fit(X).components_.T  # (64, 5)
    mixed = comps @ np.random.default_rng(0).normal(size=(5, 5))  # any basis of the same subspace
    assert pca_subspace_angles(mixed, X).max() < 1e-6
    assert pca_subspace_angles(PCA(10).fit(X).components_[5:].T, X).min() == pytest.approx(90.0)
    with pytest.raises(DataError, match="basis"):
        pca_subspace_angles(np.ones((3, 2)), X)
    with pytest.raises(ModelError, match="linear autoencoder"):
        decoder_matrix(Autoencoder(64, 5, (8,), "relu"))
