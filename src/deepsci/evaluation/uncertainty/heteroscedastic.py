"""Heteroscedastic regression and ensemble variance: a mean-and-variance head, its Gaussian NLL, and the
split of an ensemble's predictive variance into aleatoric and epistemic parts.

A heteroscedastic model for t targets has 2t raw outputs: the first t are means, the last t set the
variance through a positive link with a floor, var = softplus(raw) + floor (or exp(raw) + floor). The
floor keeps the NLL finite when a network drives a variance to zero (Nix & Weigend 1994; Kendall & Gal
2017; Lakshminarayanan et al. 2017). Build such a model with `MLP(n_inputs, 2 * t, ...)`.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch.nn import functional as F

from deepsci.errors import ConfigError, DataError, unknown_name

Tensor = torch.Tensor
Link = Literal["softplus", "exp"]
LINKS = ("softplus", "exp")

__all__ = ["LINKS", "mean_variance", "gaussian_nll", "gaussian_nll_per_sample", "decompose"]


def mean_variance(output: Tensor, *, link: Link = "softplus", floor: float = 1e-6) -> tuple[Tensor, Tensor]:
    """Split a heteroscedastic head's raw output (..., 2t) into mean (..., t) and variance (..., t).

    Args:
        output: raw outputs; last dim 2t: means, then raw variances.
        link: "softplus" (var = softplus(raw) + floor; gentle gradients, the default) or "exp"
            (raw is a log-variance).
        floor: smallest variance, in squared target units.
    """
    if output.shape[-1] % 2:
        raise DataError(f"a heteroscedastic output needs an even last dim (t means, then t variances); received "
                        f"{tuple(output.shape)}. Build the model with n_outputs = 2 * targets.")
    t = output.shape[-1] // 2
    mean, raw = output[..., :t], output[..., t:]
    if link == "softplus":
        var = F.softplus(raw) + floor
    elif link == "exp":
        var = torch.exp(raw) + floor
    else:
        raise ConfigError(unknown_name("variance link", str(link), LINKS))
    return mean, var


def gaussian_nll(output: Tensor, target: Tensor, *, link: Link = "softplus", floor: float = 1e-6,
                 beta: float = 0.0) -> Tensor:
    """Mean Gaussian negative log-likelihood of `target` under a heteroscedastic head's `output`.

    NLL = 0.5 * [log(2 pi) + log var + (y - mu)^2 / var], averaged over batch and targets (the constant
    is included so the value is a true NLL; it does not change gradients). Same semantics as
    `torch.nn.GaussianNLLLoss(full=True)` given (mu, var).

    With beta > 0 each element's NLL is weighted by stop-gradient(var)^beta (beta-NLL, Seitzer et al.
    2022): plain NLL (beta = 0) lets a network give up on hard points by inflating their variance, which
    slows the fit of the mean; beta = 0.5 keeps the mean's gradient close to MSE's and the variance
    still learned; beta = 1 gives the mean exactly the MSE gradient.

    Args:
        output: (batch, 2t) raw outputs (see `mean_variance`).
        target: (batch, t).
        beta: the beta-NLL exponent in [0, 1].
    """
    return _elementwise_nll(output, target, link, floor, beta).mean()


def gaussian_nll_per_sample(output: Tensor, target: Tensor, *, link: Link = "softplus", floor: float = 1e-6,
                            beta: float = 0.0) -> Tensor:
    """`gaussian_nll` of each row, averaged over its targets: (batch,). Their mean is `gaussian_nll`."""
    nll = _elementwise_nll(output, target, link, floor, beta)
    return nll.reshape(nll.shape[0], -1).mean(1)


def _elementwise_nll(output: Tensor, target: Tensor, link: Link, floor: float, beta: float) -> Tensor:
    """The (beta-weighted) NLL of every element, shaped like target."""
    mean, var = mean_variance(output, link=link, floor=floor)
    if mean.shape != target.shape:
        raise DataError(f"target {tuple(target.shape)} does not match the predicted mean {tuple(mean.shape)} "
                        "(the head has 2t outputs for t targets).")
    nll = 0.5 * (math.log(2 * math.pi) + torch.log(var) + (target - mean) ** 2 / var)
    return nll * var.detach() ** beta if beta else nll


def decompose(means: Tensor, variances: Tensor | None = None) -> dict[str, Tensor]:
    """Combine K members' Gaussian predictions into one mean and its variance parts.

    With member means mu_k and variances s2_k (the ensemble as a uniform mixture, Lakshminarayanan et al.
    2017): mean = E_k[mu_k]; aleatoric = E_k[s2_k] (noise the members agree is in the data); epistemic =
    Var_k[mu_k] (population variance: disagreement between members, which shrinks with more data);
    total = aleatoric + epistemic, the variance of the mixture.

    Args:
        means: (K, n, t) member means (or (K, n) for one target).
        variances: same shape, member variances; None for members with no variance head (aleatoric = 0).

    Returns:
        dict with "mean", "aleatoric", "epistemic", "total" (variances), "std" (sqrt of total), each (n, t).
    """
    if variances is not None and variances.shape != means.shape:
        raise DataError(f"member means {tuple(means.shape)} and variances {tuple(variances.shape)} must have the "
                        "same shape (members, n, targets).")
    mean = means.mean(0)
    epistemic = means.var(0, unbiased=False)
    aleatoric = variances.mean(0) if variances is not None else torch.zeros_like(mean)
    total = aleatoric + epistemic
    return {"mean": mean, "aleatoric": aleatoric, "epistemic": epistemic, "total": total, "std": total.sqrt()}
