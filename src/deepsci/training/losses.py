"""Loss functions by name, each loss's per-sample form, and the Gaussian NLL of a heteroscedastic head.

Every loss takes the model's raw output and the target as stored in a `Split`:
regression (batch, t) float; binary (batch,) int or float (soft labels after mixup) against
(batch, 1) logits; multiclass (batch,) int or (batch, k) probabilities against (batch, k) logits;
multilabel (batch, k) 0/1 against (batch, k) logits (binary cross-entropy per label); tagging (batch, T)
int, -100 on padded steps, against (batch, T, k) logits (cross-entropy over the real steps only).

Each named loss also has a per-sample form, `(output, target) -> (batch,)`, whose mean over the batch is
the loss itself. Sample weights use it: the weighted loss of a batch is sum_i w_i l_i / sum_i w_i
(`weighted_loss`), which equals the plain loss when every weight is the same. A task's default loss is
`deepsci.tasks.Task.default_loss`.

A heteroscedastic model for t targets has 2t raw outputs: the first t are means, the last t set the
variance through a positive link with a floor, var = softplus(raw) + floor (or exp(raw) + floor). The
floor keeps the NLL finite when a network drives a variance to zero (Nix & Weigend 1994; Kendall & Gal
2017; Lakshminarayanan et al. 2017). It trains on `gaussian_nll`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal

import torch
from torch.nn import functional as F

from deepsci.errors import ConfigError, DataError, unknown_name
from deepsci.tasks import task_of
from deepsci.training.names import LOSSES as LOSS_NAMES
from deepsci.training.uncertainty_spec import LINKS

Tensor = torch.Tensor
Loss = Callable[[Tensor, Tensor], Tensor]
PerSampleLoss = Callable[[Tensor, Tensor], Tensor]  # (output, target) -> (batch,)
Link = Literal["softplus", "exp"]


def mse(output: Tensor, target: Tensor) -> Tensor:
    """Mean squared error (the Gaussian log-likelihood up to constants)."""
    return F.mse_loss(output, target)


def mae(output: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error (the Laplace log-likelihood up to constants; robust to outliers)."""
    return F.l1_loss(output, target)


def huber(output: Tensor, target: Tensor) -> Tensor:
    """Huber loss with delta = 1 (in scaled target units)."""
    return F.huber_loss(output, target)


def binary_cross_entropy(output: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy of a Bernoulli with logit output (batch, 1) against labels (batch,); multilabel: the
    mean over labels and rows of one Bernoulli per label, logits (batch, k) against 0/1 (batch, k)."""
    return F.binary_cross_entropy_with_logits(output.squeeze(-1), target.to(output.dtype))


def cross_entropy(output: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy of the softmax of logits (batch, k) against labels (batch,) or probabilities (batch, k).

    Per-step logits (batch, T, k) against tags (batch, T): the mean over real steps; a tag of -100 (padding,
    torch's ignore_index) adds nothing to the loss or to the count it is divided by.
    """
    if output.dim() == 3:
        return F.cross_entropy(output.transpose(1, 2), target)
    return F.cross_entropy(output, target)


def _rows(values: Tensor) -> Tensor:
    """Elementwise losses (batch, ...) averaged within each row: (batch,)."""
    return values.reshape(values.shape[0], -1).mean(1) if values.dim() > 1 else values


def mse_per_sample(output: Tensor, target: Tensor) -> Tensor:
    """Squared error averaged over each row's targets: (batch,)."""
    return _rows(F.mse_loss(output, target, reduction="none"))


def mae_per_sample(output: Tensor, target: Tensor) -> Tensor:
    """Absolute error averaged over each row's targets: (batch,)."""
    return _rows(F.l1_loss(output, target, reduction="none"))


def huber_per_sample(output: Tensor, target: Tensor) -> Tensor:
    """Huber loss (delta = 1) averaged over each row's targets: (batch,)."""
    return _rows(F.huber_loss(output, target, reduction="none"))


def binary_cross_entropy_per_sample(output: Tensor, target: Tensor) -> Tensor:
    """Bernoulli cross-entropy of each row: (batch,)."""
    return _rows(F.binary_cross_entropy_with_logits(output.squeeze(-1), target.to(output.dtype), reduction="none"))


def cross_entropy_per_sample(output: Tensor, target: Tensor) -> Tensor:
    """Softmax cross-entropy of each row: (batch,); per-step logits: each row's mean over its real steps."""
    if output.dim() == 3:
        steps = F.cross_entropy(output.transpose(1, 2), target, reduction="none")  # (batch, T), 0 on padding
        return steps.sum(1) / (target != -100).sum(1).clamp_min(1)
    return F.cross_entropy(output, target, reduction="none")


LOSSES: dict[str, Loss] = {
    "mse": mse,
    "mae": mae,
    "huber": huber,
    "binary-cross-entropy": binary_cross_entropy,
    "cross-entropy": cross_entropy,
}

if tuple(LOSSES) != LOSS_NAMES:  # one vocabulary: deepsci.config validates against training.names
    raise ImportError(f"training.losses implements {tuple(LOSSES)} but training.names lists {LOSS_NAMES}")

PER_SAMPLE: dict[Loss, PerSampleLoss] = {
    mse: mse_per_sample,
    mae: mae_per_sample,
    huber: huber_per_sample,
    binary_cross_entropy: binary_cross_entropy_per_sample,
    cross_entropy: cross_entropy_per_sample,
}


def get_loss(name: str | None, task: str) -> Loss:
    """The loss called `name`, or the task's default loss (`Task.default_loss`) when `name` is None."""
    name = name or task_of(task).default_loss
    if name not in LOSSES:
        raise ConfigError(unknown_name("loss", name, tuple(LOSSES)))
    return LOSSES[name]


def per_sample_form(loss: Any) -> PerSampleLoss | None:
    """The per-sample form of `loss`: a named loss of this module, or any callable with a `per_sample`
    attribute (e.g. `ensemble_loss(mse)`); None for a loss without one."""
    try:
        form = PER_SAMPLE.get(loss)
    except TypeError:  # unhashable callables
        form = None
    return form or getattr(loss, "per_sample", None)


def per_sample_loss(loss: Any) -> PerSampleLoss:
    """`per_sample_form(loss)`, or a ConfigError for a loss without one."""
    form = per_sample_form(loss)
    if form is None:
        raise ConfigError(f"sample weights need the loss's per-sample form, and {getattr(loss, '__name__', loss)!r} "
                          f"has none. Use one of {', '.join(LOSSES)} (or their ensemble_loss), or fit without "
                          "sample_weight.")
    return form


def weighted_loss(per_sample: PerSampleLoss, output: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """The weighted mean loss sum_i w_i l_i / sum_i w_i of a batch (0 when every weight is 0).

    Args:
        per_sample: (output, target) -> (batch,) losses.
        weight: (batch,) non-negative weights.
    """
    values = per_sample(output, target)
    if values.shape != weight.shape:
        raise DataError(f"per-sample losses {tuple(values.shape)} and sample weights {tuple(weight.shape)} must "
                        "both have one value per row.")
    return (values * weight).sum() / weight.sum().clamp_min(torch.finfo(weight.dtype).tiny)


# -- the Gaussian NLL of a mean-and-variance (heteroscedastic) head ----------------------------------------------
_LINK_FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {"softplus": F.softplus, "exp": torch.exp}


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
    if link not in _LINK_FUNCTIONS:
        raise ConfigError(unknown_name("variance link", str(link), LINKS))
    t = output.shape[-1] // 2
    return output[..., :t], _LINK_FUNCTIONS[link](output[..., t:]) + floor


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
