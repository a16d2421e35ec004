"""Autoencoders: linear, non-linear, denoising and variational, with a bottleneck of any size.

A linear autoencoder trained on squared error learns the principal subspace of its data: at every
minimum the decoder columns span the top-k principal components (Baldi & Hornik 1989), though not
the components themselves (any invertible mixing inside the bottleneck gives the same error).
:func:`pca_subspace_angles` measures that.

Training with backprop is in :mod:`deepsci.rules.autoencoding`; so is recirculation.

References:
    Baldi & Hornik (1989), Neural Netw. 2, 53.  Vincent et al. (2008), ICML (denoising).
    Kingma & Welling (2014), ICLR (variational).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from scipy.linalg import subspace_angles
from torch import Tensor, nn

from deepsci.errors import DataError, ModelError
from deepsci.models.activations import activation as make_activation
from deepsci.models.init import seeded


def _stack(sizes: Sequence[int], activation: str, final: str) -> nn.Sequential:
    """Linear layers between consecutive ``sizes``, ``activation`` between them, ``final`` after the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        act = activation if i < len(sizes) - 2 else final
        if act != "linear":
            layers.append(make_activation(act))
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """x -> encoder -> code (bottleneck) -> decoder -> reconstruction.

    Args:
        n_inputs: input size d.
        bottleneck: code size k (any size; k >= d is allowed, e.g. for denoising).
        hidden: hidden sizes of the encoder; the decoder mirrors them. () gives one layer each way.
        activation: between hidden layers, and on the code when ``hidden`` is not empty.
            "linear" everywhere (with hidden=()) is the linear autoencoder.
        output_activation: on the reconstruction: "linear" for real data, "sigmoid" for data in [0, 1].
        noise: std of Gaussian noise added to the input during training (denoising autoencoder);
            no noise in eval mode.
        seed: seeds the initial weights and the noise.

    Shapes: forward (batch, d) -> (batch, d); encode (batch, d) -> (batch, k).
    """

    def __init__(self, n_inputs: int, bottleneck: int, hidden: Sequence[int] = (), activation: str = "linear",
                 *, output_activation: str = "linear", noise: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        if n_inputs < 1 or bottleneck < 1:
            raise ModelError(f"autoencoder sizes must be >= 1; received n_inputs={n_inputs}, bottleneck={bottleneck}.")
        if noise < 0:
            raise ModelError(f"denoising noise is a standard deviation >= 0; received {noise}.")
        sizes = [n_inputs, *hidden, bottleneck]
        code_act = activation if hidden else "linear"
        with seeded(seed):  # seeded init without touching the global generator
            self.encoder = _stack(sizes, activation, code_act)
            self.decoder = _stack(sizes[::-1], activation, output_activation)
        self.noise = float(noise)
        self._gen = torch.Generator().manual_seed(seed + 1)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)  # type: ignore[no-any-return]

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)  # type: ignore[no-any-return]

    def forward(self, x: Tensor) -> Tensor:
        if self.training and self.noise > 0:
            x = x + self.noise * torch.randn(x.shape, generator=self._gen, dtype=x.dtype)
        return self.decode(self.encode(x))


class VariationalAutoencoder(nn.Module):
    """Gaussian-latent VAE: q(z|x) = N(mu(x), diag exp(logvar(x))), p(z) = N(0, I).

    Args:
        n_inputs: d. latent: code size k. hidden: encoder hidden sizes (decoder mirrors them).
        activation: hidden activation. output_activation: "sigmoid" (Bernoulli likelihood, data in
            [0, 1]) or "linear" (Gaussian likelihood with unit variance).
        seed: seeds the weights and the reparameterisation noise.

    forward returns the reconstruction mean (using z = mu in eval mode, a sample in train mode);
    :meth:`elbo_terms` returns everything the loss needs.
    """

    def __init__(self, n_inputs: int, latent: int, hidden: Sequence[int] = (64,), activation: str = "relu",
                 *, output_activation: str = "sigmoid", seed: int = 0) -> None:
        super().__init__()
        if output_activation not in ("sigmoid", "linear"):
            raise ModelError(f"VAE output_activation must be 'sigmoid' or 'linear'; received '{output_activation}'.")
        width = hidden[-1] if hidden else n_inputs
        with seeded(seed):
            self.body = _stack([n_inputs, *hidden], activation, activation) if hidden else nn.Sequential()
            self.mu = nn.Linear(width, latent)
            self.logvar = nn.Linear(width, latent)
            self.decoder = _stack([latent, *hidden[::-1], n_inputs], activation, output_activation)
        self.output_activation = output_activation
        self._gen = torch.Generator().manual_seed(seed + 1)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(batch, d) -> mu, logvar, each (batch, k)."""
        h = self.body(x)
        return self.mu(h), self.logvar(h)

    def elbo_terms(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Reconstruction from a reparameterised sample z = mu + exp(logvar/2) eps, plus mu, logvar."""
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=self._gen, dtype=mu.dtype)
        return self.decoder(mu + torch.exp(0.5 * logvar) * eps), mu, logvar

    def sample(self, n: int, seed: int = 0) -> Tensor:
        """n decoded draws from the prior: (n, d)."""
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            return self.decoder(torch.randn(n, self.mu.out_features, generator=gen))  # type: ignore[no-any-return]

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            return self.elbo_terms(x)[0]
        return self.decoder(self.encode(x)[0])  # type: ignore[no-any-return]


def vae_loss(x: Tensor, recon: Tensor, mu: Tensor, logvar: Tensor, *, likelihood: str = "bernoulli") -> Tensor:
    """Negative ELBO per sample (nats): reconstruction NLL + KL(q(z|x) || N(0, I)).

    KL = -1/2 sum(1 + logvar - mu^2 - exp(logvar)) (Kingma & Welling 2014, app. B).
    ``likelihood`` "bernoulli" expects ``recon`` as probabilities; "gaussian" uses unit variance.
    """
    if likelihood == "bernoulli":
        nll = nn.functional.binary_cross_entropy(recon.clamp(1e-6, 1 - 1e-6), x, reduction="sum")
    elif likelihood == "gaussian":
        nll = 0.5 * ((recon - x) ** 2).sum() + 0.5 * x.numel() * math.log(2 * math.pi)
    else:
        raise ModelError(f"VAE likelihood must be 'bernoulli' or 'gaussian'; received '{likelihood}'.")
    kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum()
    return (nll + kl) / x.shape[0]


def decoder_matrix(model: Autoencoder) -> np.ndarray:
    """(d, k) weight of a one-layer linear decoder; its columns span the learned subspace."""
    layers = [m for m in model.decoder if isinstance(m, nn.Linear)]
    if len(layers) != 1 or len(model.decoder) != 1:
        raise ModelError("decoder_matrix needs a linear autoencoder (hidden=(), activation and "
                         "output_activation 'linear').")
    return layers[0].weight.detach().double().numpy()


def pca_subspace_angles(basis: np.ndarray, X: np.ndarray, k: int | None = None) -> np.ndarray:
    """Principal angles (degrees) between span(basis) and the top-k principal subspace of X.

    Args:
        basis: (d, k) matrix whose columns span a subspace (e.g. :func:`decoder_matrix`).
        X: (n, d) data; centred here. k: defaults to basis.shape[1].

    Returns:
        (k,) angles in degrees, largest first (scipy.linalg.subspace_angles).
    """
    X = np.asarray(X, dtype=float)
    basis = np.asarray(basis, dtype=float)
    if X.ndim != 2 or basis.ndim != 2 or basis.shape[0] != X.shape[1]:
        raise DataError(f"expected basis (d, k) and X (n, d); received {basis.shape} and {X.shape}.")
    k = basis.shape[1] if k is None else k
    _, _, vt = np.linalg.svd(X - X.mean(0), full_matrices=False)
    return np.degrees(subspace_angles(basis, vt[:k].T))
