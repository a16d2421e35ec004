"""Loss functions by name, and the default loss for each task.

Every loss takes the model's raw output and the target as stored in a `Split`:
regression (batch, t) float; binary (batch,) int or float (soft labels after mixup) against
(batch, 1) logits; multiclass (batch,) int or (batch, k) probabilities against (batch, k) logits.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F

from deepsci.errors import ConfigError, unknown_name

Tensor = torch.Tensor
Loss = Callable[[Tensor, Tensor], Tensor]


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
    """Cross-entropy of a Bernoulli with logit output (batch, 1) against labels (batch,)."""
    return F.binary_cross_entropy_with_logits(output.squeeze(-1), target.to(output.dtype))


def cross_entropy(output: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy of the softmax of logits (batch, k) against labels (batch,) or probabilities (batch, k)."""
    return F.cross_entropy(output, target)


LOSSES: dict[str, Loss] = {
    "mse": mse,
    "mae": mae,
    "huber": huber,
    "binary-cross-entropy": binary_cross_entropy,
    "cross-entropy": cross_entropy,
}

DEFAULT_LOSS = {"regression": "mse", "binary": "binary-cross-entropy", "multiclass": "cross-entropy"}


def get_loss(name: str | None, task: str) -> Loss:
    """The loss called `name`, or the task's default loss when `name` is None."""
    name = name or DEFAULT_LOSS[task]
    if name not in LOSSES:
        raise ConfigError(unknown_name("loss", name, tuple(LOSSES)))
    return LOSSES[name]
