"""Loss functions by name, the default loss for each task, and each loss's per-sample form.

Every loss takes the model's raw output and the target as stored in a `Split`:
regression (batch, t) float; binary (batch,) int or float (soft labels after mixup) against
(batch, 1) logits; multiclass (batch,) int or (batch, k) probabilities against (batch, k) logits;
multilabel (batch, k) 0/1 against (batch, k) logits (binary cross-entropy per label); tagging (batch, T)
int, -100 on padded steps, against (batch, T, k) logits (cross-entropy over the real steps only).

Each named loss also has a per-sample form, `(output, target) -> (batch,)`, whose mean over the batch is
the loss itself. Sample weights use it: the weighted loss of a batch is sum_i w_i l_i / sum_i w_i
(`weighted_loss`), which equals the plain loss when every weight is the same.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch.nn import functional as F

from deepsci.training.names import LOSSES as LOSS_NAMES
from deepsci.errors import ConfigError, DataError, unknown_name

Tensor = torch.Tensor
Loss = Callable[[Tensor, Tensor], Tensor]
PerSampleLoss = Callable[[Tensor, Tensor], Tensor]  # (output, target) -> (batch,)


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

DEFAULT_LOSS = {"regression": "mse", "binary": "binary-cross-entropy", "multiclass": "cross-entropy",
                "multilabel": "binary-cross-entropy", "tagging": "cross-entropy"}


def get_loss(name: str | None, task: str) -> Loss:
    """The loss called `name`, or the task's default loss when `name` is None."""
    name = name or DEFAULT_LOSS[task]
    if name not in LOSSES:
        raise ConfigError(unknown_name("loss", name, tuple(LOSSES)))
    return LOSSES[name]


def per_sample_loss(loss: Any) -> PerSampleLoss:
    """The per-sample form of `loss`: a named loss of this module, or any callable with a `per_sample`
    attribute (e.g. `ensemble_loss(mse)`). Raises ConfigError for a loss without one."""
    try:
        form = PER_SAMPLE.get(loss)
    except TypeError:  # unhashable callables
        form = None
    form = form or getattr(loss, "per_sample", None)
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
