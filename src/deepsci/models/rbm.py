"""Bernoulli restricted Boltzmann machine: energy, free energy, Gibbs sampling, reconstruction.

Binary visible v (n_v) and hidden h (n_h) units with energy

    E(v, h) = -v^T W h - a^T v - b^T h,        p(v, h) = exp(-E) / Z,

so p(h_j = 1 | v) = sigmoid(b_j + v^T W_:j), p(v_i = 1 | h) = sigmoid(a_i + W_i: h), and the
free energy F(v) = -a^T v - sum_j softplus(b_j + v^T W_:j) gives p(v) = exp(-F(v)) / Z.
Training (contrastive divergence) is in :mod:`deepsci.rules.contrastive`.

References:
    Smolensky (1986); Hinton (2002), Neural Comput. 14, 1771; Hinton (2012), "A practical guide to
    training restricted Boltzmann machines", in *Neural Networks: Tricks of the Trade*.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from deepsci.errors import DataError


class BernoulliRBM(nn.Module):
    """A Bernoulli–Bernoulli RBM.

    Args:
        n_visible, n_hidden: numbers of units.
        seed: seeds the initial weights, W ~ N(0, 0.01^2) (Hinton 2012), biases 0.

    Attributes:
        W: (n_visible, n_hidden); a: (n_visible,) visible biases; b: (n_hidden,) hidden biases.
    """

    def __init__(self, n_visible: int, n_hidden: int, *, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.W = nn.Parameter(0.01 * torch.randn(n_visible, n_hidden, generator=gen))
        self.a = nn.Parameter(torch.zeros(n_visible))
        self.b = nn.Parameter(torch.zeros(n_hidden))

    @property
    def n_visible(self) -> int:
        return int(self.W.shape[0])

    @property
    def n_hidden(self) -> int:
        return int(self.W.shape[1])

    def _check(self, v: Tensor) -> Tensor:
        if v.ndim != 2 or v.shape[1] != self.n_visible:
            raise DataError(f"RBM expects visible states of shape (batch, {self.n_visible}); received {tuple(v.shape)}.")
        return v.to(self.W.dtype)

    def hidden_probs(self, v: Tensor) -> Tensor:
        """p(h = 1 | v): (batch, n_visible) -> (batch, n_hidden)."""
        return torch.sigmoid(self._check(v) @ self.W + self.b)

    def visible_probs(self, h: Tensor) -> Tensor:
        """p(v = 1 | h): (batch, n_hidden) -> (batch, n_visible)."""
        return torch.sigmoid(h.to(self.W.dtype) @ self.W.t() + self.a)

    def sample_hidden(self, v: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return torch.bernoulli(self.hidden_probs(v), generator=generator)

    def sample_visible(self, h: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return torch.bernoulli(self.visible_probs(h), generator=generator)

    def gibbs(self, v: Tensor, steps: int = 1, generator: torch.Generator | None = None) -> Tensor:
        """Run ``steps`` block-Gibbs steps v -> h -> v and return the binary visible sample."""
        with torch.no_grad():
            for _ in range(steps):
                v = self.sample_visible(self.sample_hidden(v, generator), generator)
        return v

    def energy(self, v: Tensor, h: Tensor) -> Tensor:
        """E(v, h) for matching rows: (batch,)."""
        v = self._check(v)
        h = h.to(self.W.dtype)
        return -((v @ self.W) * h).sum(1) - v @ self.a - h @ self.b

    def free_energy(self, v: Tensor) -> Tensor:
        """F(v) = -a^T v - sum_j softplus(b_j + v^T W_:j): (batch,)."""
        v = self._check(v)
        return -(v @ self.a) - nn.functional.softplus(v @ self.W + self.b).sum(1)

    def reconstruct(self, v: Tensor) -> Tensor:
        """Mean-field reconstruction p(v | E[h | v]): (batch, n_visible) probabilities."""
        with torch.no_grad():
            return self.visible_probs(self.hidden_probs(v))

    def forward(self, v: Tensor) -> Tensor:
        return self.reconstruct(v)


def reconstruction_error(rbm: BernoulliRBM, v: Tensor) -> float:
    """Mean squared error between binary v and its mean-field reconstruction (per pixel)."""
    return float(((rbm.reconstruct(v) - v) ** 2).mean())


def pseudo_log_likelihood(rbm: BernoulliRBM, v: Tensor) -> float:
    """Exact pseudo-log-likelihood per visible unit, averaged over rows.

    PLL(v) = sum_i log p(v_i | v_-i), with p(v_i | v_-i) = sigmoid(F(v with v_i flipped) - F(v)).
    Computed for every unit i (n_visible free-energy passes), then divided by n_visible, so
    log(0.5) = -0.693 is a coin and 0 is perfect.
    """
    with torch.no_grad():
        v = rbm._check(v)
        f = rbm.free_energy(v)
        total = torch.zeros(len(v), dtype=v.dtype)
        for i in range(rbm.n_visible):
            flipped = v.clone()
            flipped[:, i] = 1 - flipped[:, i]
            total += nn.functional.logsigmoid(rbm.free_energy(flipped) - f)
        return float(total.mean() / rbm.n_visible)
