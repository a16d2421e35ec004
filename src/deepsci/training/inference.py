"""Inference: a model's raw outputs for every row of its inputs, in batches, on the host.

The one batched no-grad loop of the house: the Trainer's `predict`, evaluation's predictions and every
uncertainty method (ensembles, MC dropout, cross-conformal members) call `predict_batches`. Batches are
index slices (`deepsci.data.batch.take`); each goes to the model's device and its outputs come back to the
CPU. A stacked ensemble answers (K, batch, ...) (`is_stacked`), so its batches join on dim 1, every other
network's on dim 0: the rule reads the model, not an option, so a network holding one member stays right.
"""

from __future__ import annotations

import torch
from torch import nn

from deepsci.data.batch import Inputs, forward, n_rows, take
from deepsci.training.device import model_device, move_batch
from deepsci.training.ensemble import is_stacked

Tensor = torch.Tensor

__all__ = ["predict_batches", "row_dim"]


def row_dim(model: nn.Module) -> int:
    """The dimension of the model's output that indexes rows: 1 for a stacked ensemble (K, n, ...), else 0."""
    return 1 if is_stacked(model) else 0


@torch.no_grad()
def predict_batches(model: nn.Module, X: Inputs, *, batch_size: int = 4096, device: torch.device | None = None,
                    stochastic: bool = False) -> Tensor:
    """The model's raw outputs for every row of X, without gradients, on the CPU.

    Args:
        model: any network: a tensor or named inputs in (`deepsci.data.batch.forward`).
        X: (n, ...) inputs, named inputs, or a RowSource (molecular graphs, rows on disk).
        batch_size: rows per forward pass.
        device: where the batches go; None: the model's own device (`model_device`).
        stochastic: run in the modes the model is in (MC dropout switches its dropout layers on itself);
            False (the default) puts the model in eval mode first (dropout off, batch norm's running
            statistics) and leaves it there.

    Returns:
        (n, ...) outputs, or (K, n, ...) for a stacked ensemble (`row_dim`). Empty inputs go through the
        model once, so the result keeps the output's shape with n = 0.
    """
    if not stochastic:
        model.eval()
    device = model_device(model) if device is None else device
    n = n_rows(X)
    if n == 0:
        return forward(model, move_batch(X, device)).cpu()
    parts = [forward(model, move_batch(take(X, slice(i, i + batch_size)), device)).cpu()
             for i in range(0, n, batch_size)]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=row_dim(model))
