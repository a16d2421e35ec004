"""A fast path for dense stacks: explicit forward and backward with a fused optimiser step.

Built in issue 13; until then no model takes it and every model trains through autograd.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

Tensor = torch.Tensor


def dense_step(model: nn.Module, loss: Callable[[Tensor, Tensor], Tensor], optimizer: torch.optim.Optimizer, *,
               clip_grad_norm: float | None = None) -> Callable[[Tensor, Tensor], Tensor] | None:
    """A step function (xb, yb) -> detached loss for `model` where the fast path applies, else None."""
    del model, loss, optimizer, clip_grad_norm
    return None
