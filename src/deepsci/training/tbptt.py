"""Truncated backpropagation through time (TBPTT) for long sequences.

A sequence of length T is cut into chunks of k steps. The hidden state is carried from one chunk
to the next (so the model sees the whole history in its forward pass), but the graph is cut at
each chunk boundary (`detach_state`), so gradients flow back at most k steps and memory is O(k),
not O(T). This is TBPTT(k, k) of Williams & Peng (1990); Sutskever (2013), ch. 2.

The model must expose `step(x, state) -> (outputs, new_state)` (as `SequenceModel` in
many-to-many mode and `CharLM` do). Gradients are clipped to a global L2 norm (default 1.0,
Pascanu et al. 2013), as for every recurrent model in deepsci.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn

from deepsci.errors import TrainingError
from deepsci.models.rnn import State, detach_state

LossFn = Callable[[Tensor, Tensor], Tensor]


def chunk_bounds(length: int, chunk: int) -> list[tuple[int, int]]:
    """[start, stop) of consecutive chunks covering 0..length (the last may be shorter)."""
    if chunk < 1:
        raise TrainingError(f"TBPTT chunk length must be >= 1; received {chunk}.")
    return [(s, min(s + chunk, length)) for s in range(0, length, chunk)]


def tbptt_epoch(model: nn.Module, inputs: Tensor, targets: Tensor, *, loss: LossFn,
                optimizer: torch.optim.Optimizer, chunk: int, clip_grad_norm: float | None = 1.0) -> float:
    """One pass over long sequences with truncated BPTT; returns the mean loss per chunk.

    Args:
        model: has `step(x, state) -> (outputs, state)`.
        inputs: (batch, T, ...) time-major along axis 1 (int64 symbols or float features).
        targets: (batch, T, ...) aligned with the model's per-step outputs.
        loss: loss(outputs_chunk, targets_chunk) -> scalar.
        optimizer: steps once per chunk.
        chunk: k, steps per chunk (gradient horizon).
        clip_grad_norm: global gradient-norm clip; None switches it off.
    """
    state: State = None
    total, n = 0.0, 0
    model.train()
    for start, stop in chunk_bounds(int(inputs.shape[1]), chunk):
        out, state = model.step(inputs[:, start:stop], detach_state(state))  # type: ignore[operator]
        value = loss(out, targets[:, start:stop])
        if not torch.isfinite(value):
            raise TrainingError(f"non-finite loss ({float(value)}) at steps {start}-{stop}; lower the learning "
                                "rate, keep gradient clipping on, or shorten the chunk.")
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        if clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        total += float(value.detach())
        n += 1
    return total / max(n, 1)


def fit_tbptt(model: nn.Module, inputs: Tensor, targets: Tensor, *, loss: LossFn, chunk: int = 50,
              epochs: int = 10, lr: float = 1e-3, clip_grad_norm: float | None = 1.0,
              optimizer: torch.optim.Optimizer | None = None) -> list[float]:
    """Train `model` on long sequences with truncated BPTT; returns the mean loss of each epoch.

    Defaults: Adam(lr), chunks of 50 steps, gradient-norm clipping at 1.0.
    """
    opt = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(epochs):
        history.append(tbptt_epoch(model, inputs, targets, loss=loss, optimizer=opt, chunk=chunk,
                                   clip_grad_norm=clip_grad_norm))
        if not math.isfinite(history[-1]):
            break
    return history
