"""Contrastive divergence (CD-k) and persistent CD for Bernoulli RBMs.

The log-likelihood gradient of an RBM is a difference of correlations,

    d log p(v) / dW = <v h^T>_data - <v h^T>_model,

and CD-k estimates the model term with k Gibbs steps started at the data (Hinton 2002);
persistent CD keeps the negative chains running across updates instead (Tieleman 2008). Both are
local, Hebbian-minus-anti-Hebbian rules: each weight changes by the product of its two units'
activities. Hidden probabilities (not samples) are used in the statistics (Hinton 2012, §3).

References:
    Hinton (2002), Neural Comput. 14, 1771.  Tieleman (2008), ICML.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from deepsci.errors import ConfigError
from deepsci.models.rbm import BernoulliRBM, pseudo_log_likelihood, reconstruction_error


def cd_gradients(rbm: BernoulliRBM, v0: Tensor, negative: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Ascent directions (dW, da, db) from positive data ``v0`` and negative samples ``negative``.

    Args:
        v0: (batch, n_visible) data. negative: (m, n_visible) visible states from the chains.

    Returns:
        dW (n_visible, n_hidden), da (n_visible,), db (n_hidden,): <.>_data - <.>_model.
    """
    with torch.no_grad():
        h0 = rbm.hidden_probs(v0)
        hk = rbm.hidden_probs(negative)
        dW = v0.t() @ h0 / len(v0) - negative.t() @ hk / len(negative)
        da = v0.mean(0) - negative.mean(0)
        db = h0.mean(0) - hk.mean(0)
    return dW, da, db


@dataclass
class RBMHistory:
    """Per-epoch reconstruction error (MSE per pixel) and pseudo-log-likelihood per unit."""

    reconstruction: list[float] = field(default_factory=list)
    pseudo_likelihood: list[float] = field(default_factory=list)
    valid_reconstruction: list[float] = field(default_factory=list)


def fit_rbm(rbm: BernoulliRBM, V: Tensor, *, k: int = 1, persistent: bool = False, epochs: int = 20,
            lr: float = 0.05, batch_size: int = 32, momentum: float = 0.5, weight_decay: float = 1e-4,
            V_valid: Tensor | None = None, track_pll: bool = True, seed: int = 0) -> RBMHistory:
    """Train ``rbm`` in place by CD-k (or persistent CD with ``persistent=True``).

    Args:
        V: (n, n_visible) binary training data. V_valid: optional held-out data for the history.
        k: Gibbs steps per update. lr, momentum, weight_decay: SGD on the ascent direction.
        track_pll: compute the (exact, n_visible passes) pseudo-log-likelihood each epoch.
        seed: seeds shuffling and every Gibbs sample.
    """
    if k < 1:
        raise ConfigError(f"contrastive divergence needs k >= 1 Gibbs steps; received k={k}.")
    gen = torch.Generator().manual_seed(seed)
    V = V.to(rbm.W.dtype)
    params = (rbm.W, rbm.a, rbm.b)
    velocity = [torch.zeros_like(p) for p in params]
    chains = torch.bernoulli(torch.full((batch_size, rbm.n_visible), 0.5), generator=gen) if persistent else None
    hist = RBMHistory()
    for _ in range(epochs):
        order = torch.randperm(len(V), generator=gen)
        for start in range(0, len(V), batch_size):
            v0 = V[order[start:start + batch_size]]
            start_chain = chains if chains is not None else v0
            negative = rbm.gibbs(start_chain, k, gen)
            if chains is not None:
                chains = negative
            grads = cd_gradients(rbm, v0, negative)
            with torch.no_grad():
                for p, vel, g in zip(params, velocity, grads):
                    decay = weight_decay * p if p is rbm.W else 0.0
                    vel.mul_(momentum).add_(lr * (g - decay))
                    p.add_(vel)
        hist.reconstruction.append(reconstruction_error(rbm, V))
        if track_pll:
            hist.pseudo_likelihood.append(pseudo_log_likelihood(rbm, V[:500]))
        if V_valid is not None:
            hist.valid_reconstruction.append(reconstruction_error(rbm, V_valid.to(rbm.W.dtype)))
    return hist
