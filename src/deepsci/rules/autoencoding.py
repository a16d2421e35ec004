"""Training rules for autoencoders: backprop (plain, denoising, variational) and recirculation.

Recirculation (Hinton & McClelland 1988) trains a one-hidden-layer autoencoder with no backward
pass at all: the reconstruction is sent round the loop a second time and each layer learns from the
difference between its two visits,

    h1 = s(W_e x0 + b_e)                          first pass, code of the input
    x2 = lam x0 + (1 - lam) s(W_d h1 + b_d)       reconstruction, regressed towards the input
    h3 = s(W_e x2 + b_e)                          code of the reconstruction
    dW_d = lr (x0 - x2) h1^T                      decoder: visible error x presynaptic hidden
    dW_e = lr (h1 - h3) x2^T                      encoder: hidden change x presynaptic visible

Every quantity is local to a synapse in space and time. Baldi & Sadowski (2018) show it is a form of
random backpropagation with the decoder's weights as the feedback matrix.

References:
    Hinton & McClelland (1988), NeurIPS, "Learning representations by recirculation".
    Baldi & Sadowski (2018), Neural Netw. 108, "Learning in the machine: recirculation is random
    backpropagation".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from deepsci.errors import ConfigError, DataError
from deepsci.models.autoencoder import Autoencoder, VariationalAutoencoder, vae_loss


def fit_autoencoder(model: nn.Module, X: Tensor, *, epochs: int = 100, lr: float = 1e-3, batch_size: int = 64,
                    weight_decay: float = 0.0, likelihood: str = "bernoulli", seed: int = 0) -> list[float]:
    """Train an Autoencoder (squared error; noise from the model if denoising) or a
    VariationalAutoencoder (negative ELBO) with Adam by backprop. Returns the training loss per epoch.

    Args:
        X: (n, d) inputs. batch_size: 0 or >= n for full-batch steps.
        likelihood: VAE only, "bernoulli" (data in [0, 1]) or "gaussian".
    """
    if X.ndim != 2:
        raise DataError(f"autoencoders take (n, d) inputs; received shape {tuple(X.shape)}.")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    bs = len(X) if batch_size <= 0 else min(batch_size, len(X))
    history = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=gen)
        total = 0.0
        for start in range(0, len(X), bs):
            xb = X[order[start:start + bs]]
            if isinstance(model, VariationalAutoencoder):
                recon, mu, logvar = model.elbo_terms(xb)
                loss = vae_loss(xb, recon, mu, logvar, likelihood=likelihood)
            else:
                loss = nn.functional.mse_loss(model(xb), xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(xb)
        history.append(total / len(X))
    model.eval()
    return history


@dataclass
class RecirculationResult:
    """Outcome of :func:`fit_recirculation`.

    Attributes:
        model: an Autoencoder(d, k, output_activation="sigmoid", code with sigmoid) holding the weights.
        mse: reconstruction mean squared error (plain forward pass, no regression) per epoch,
            with the initial error first.
    """

    model: Autoencoder
    mse: list[float] = field(default_factory=list)


def recirculation_step(W_e: Tensor, b_e: Tensor, W_d: Tensor, b_d: Tensor, x0: Tensor, *, lr: float,
                       regression: float = 0.75) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One recirculation update on a batch x0 (batch, d) with logistic units; returns the new weights.

    Shapes: W_e (k, d), b_e (k,), W_d (d, k), b_d (d,). Updates are averaged over the batch.
    """
    n = x0.shape[0]
    h1 = torch.sigmoid(x0 @ W_e.t() + b_e)  # (batch, k)
    x2 = regression * x0 + (1 - regression) * torch.sigmoid(h1 @ W_d.t() + b_d)  # (batch, d)
    h3 = torch.sigmoid(x2 @ W_e.t() + b_e)  # (batch, k)
    dv = x0 - x2  # visible: first visit minus second
    dh = h1 - h3  # hidden: first visit minus second
    return (W_e + lr * dh.t() @ x2 / n, b_e + lr * dh.mean(0),
            W_d + lr * dv.t() @ h1 / n, b_d + lr * dv.mean(0))


def fit_recirculation(X: Tensor, bottleneck: int, *, epochs: int = 50, lr: float = 1.0, batch_size: int = 16,
                      regression: float = 0.75, seed: int = 0) -> RecirculationResult:
    """Train a logistic autoencoder with ``bottleneck`` hidden units by recirculation (no backprop).

    Args:
        X: (n, d) data in [0, 1]. regression: lam, how much of x0 the reconstruction keeps.
        lr: step size for the batch-averaged updates.
    """
    if X.ndim != 2 or float(X.min()) < 0 or float(X.max()) > 1:
        raise DataError("recirculation uses logistic visible units: X must be (n, d) with values in [0, 1]; "
                        "rescale it (e.g. X / X.max()).")
    if not 0.0 <= regression < 1.0:
        raise ConfigError(f"recirculation regression must be in [0, 1); received {regression}.")
    d = X.shape[1]
    model = Autoencoder(d, bottleneck, activation="sigmoid", output_activation="sigmoid", seed=seed)
    enc, dec = model.encoder[0], model.decoder[0]
    assert isinstance(enc, nn.Linear) and isinstance(dec, nn.Linear)
    # the code is logistic too: replace the linear code of a hidden=() autoencoder
    model.encoder = nn.Sequential(enc, nn.Sigmoid())
    W_e, b_e, W_d, b_d = (p.detach().clone() for p in (enc.weight, enc.bias, dec.weight, dec.bias))
    gen = torch.Generator().manual_seed(seed)

    def mse() -> float:
        h = torch.sigmoid(X @ W_e.t() + b_e)
        return float(((torch.sigmoid(h @ W_d.t() + b_d) - X) ** 2).mean())

    history = [mse()]
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=gen)
        for start in range(0, len(X), batch_size):
            W_e, b_e, W_d, b_d = recirculation_step(W_e, b_e, W_d, b_d, X[order[start:start + batch_size]],
                                                    lr=lr, regression=regression)
        history.append(mse())
    with torch.no_grad():
        for p, v in zip((enc.weight, enc.bias, dec.weight, dec.bias), (W_e, b_e, W_d, b_d)):
            p.copy_(v)
    model.eval()
    return RecirculationResult(model, history)
