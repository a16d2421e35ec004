"""Adversarial examples (FGSM, PGD) and adversarial training."""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from deepsci.errors import ConfigError


def adversarial_augment(model: nn.Module, loss: Callable[..., Any], *, epsilon: float, method: str,
                        steps: int) -> Callable[..., Any]:
    """A batch augmentation (xb, yb, generator) -> (x_adv, yb) attacking `model` under `loss`."""
    del model, loss, epsilon, method, steps
    raise ConfigError("train.adversarial is not available yet; set it to 0.")
